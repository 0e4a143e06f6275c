/// Protobuf wire-format encoding for the splice writer.
enum ProtobufWriter {
    /// `value` as a base-128 varint (1–10 bytes).
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
        return out
    }

    static func tag(_ field: Int, _ wireType: Int) -> [UInt8] { varint(UInt64(field << 3 | wireType)) }

    /// A whole varint field.
    static func varintField(_ field: Int, _ value: UInt64) -> [UInt8] { tag(field, 0) + varint(value) }

    /// A whole length-delimited field.
    static func lengthDelimited(_ field: Int, _ payload: [UInt8]) -> [UInt8] {
        tag(field, 2) + varint(UInt64(payload.count)) + payload
    }

    /// A `StringStringEntryProto` field (key = 1, value = 2).
    static func stringEntry(_ field: Int, key: String, value: String) -> [UInt8] {
        lengthDelimited(field, lengthDelimited(1, Array(key.utf8)) + lengthDelimited(2, Array(value.utf8)))
    }
}
