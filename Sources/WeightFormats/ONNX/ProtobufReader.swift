/// A cursor over protobuf wire-format bytes (the subset ONNX uses: wire types 0, 1, 2 and 5).
///
/// Every read is bounds-checked against the enclosing message; offsets are absolute positions
/// in the underlying buffer, so spans can be kept and spliced later.
struct ProtobufReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>? = nil) {
        self.bytes = bytes
        position = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var atEnd: Bool { position >= end }

    mutating func varint() throws(ONNXError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw .truncated(offset: position) }
            let byte = bytes[position]
            position += 1
            guard shift < 64 else { throw .overlongVarint(offset: position - 1) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// The next field's number and wire type, or `nil` at the end of the message.
    mutating func nextField() throws(ONNXError) -> (number: Int, wireType: Int, start: Int)? {
        guard !atEnd else { return nil }
        let start = position
        let tag = try varint()
        let wireType = Int(tag & 7)
        guard [0, 1, 2, 5].contains(wireType) else { throw .unsupportedWireType(wireType, offset: start) }
        guard tag >> 3 > 0, tag >> 3 < (1 << 29) else { throw .invalidFieldNumber(offset: start) }
        return (Int(tag >> 3), wireType, start)
    }

    /// The span of a length-delimited field's payload.
    mutating func lengthDelimited() throws(ONNXError) -> Range<Int> {
        let length = try varint()
        guard length <= UInt64(end - position) else { throw .fieldOverrunsMessage(offset: position) }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    mutating func fixed32() throws(ONNXError) -> UInt32 {
        guard end - position >= 4 else { throw .truncated(offset: position) }
        defer { position += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    mutating func fixed64() throws(ONNXError) -> UInt64 {
        guard end - position >= 8 else { throw .truncated(offset: position) }
        defer { position += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    mutating func skip(wireType: Int) throws(ONNXError) {
        switch wireType {
        case 0: _ = try varint()
        case 1: _ = try fixed64()
        case 2: _ = try lengthDelimited()
        default: _ = try fixed32()
        }
    }

    mutating func string() throws(ONNXError) -> String {
        let range = try lengthDelimited()
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// A repeated varint field, packed (wire type 2) or not (wire type 0); appends to `values`.
    mutating func appendVarints(wireType: Int, to values: inout [UInt64]) throws(ONNXError) {
        if wireType == 0 {
            values.append(try varint())
        } else if wireType == 2 {
            var inner = ProtobufReader(bytes, range: try lengthDelimited())
            while !inner.atEnd { values.append(try inner.varint()) }
        } else {
            throw .wrongWireType(expected: "varint", offset: position)
        }
    }
}

/// Protobuf encoding helpers for the writer.
enum ProtobufWriter {
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

    static func lengthDelimited(_ field: Int, _ payload: [UInt8]) -> [UInt8] {
        tag(field, 2) + varint(UInt64(payload.count)) + payload
    }
}
