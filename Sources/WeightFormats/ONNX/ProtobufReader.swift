/// A cursor over protobuf wire-format bytes: the subset ONNX uses (wire types 0 varint,
/// 1 fixed64, 2 length-delimited, 5 fixed32; the deprecated groups 3 and 4 are refused).
///
/// Guarantees: every read is bounds-checked against the message the cursor was made for (never
/// past `end`), varints are at most 10 bytes, and offsets are absolute positions in the
/// underlying buffer, so spans can be kept and spliced later. Nothing is copied.
struct ProtobufReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int
    let end: Int

    /// A cursor over `range` of `bytes` (the whole buffer when `nil`).
    init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>? = nil) {
        self.bytes = bytes
        position = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var atEnd: Bool { position >= end }

    /// A base-128 varint of at most 10 bytes (bits past the 64th are dropped, as protobuf does).
    mutating func varint() throws(ONNXError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = position
        while true {
            guard position < end else { throw .truncated(offset: position) }
            guard shift < 70 else { throw .overlongVarint(offset: start) }
            let byte = bytes[position]
            position += 1
            if shift < 64 { result |= UInt64(byte & 0x7F) << shift }
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// The next field's number and wire type, and where its tag starts; `nil` at the end.
    mutating func nextField() throws(ONNXError) -> (number: Int, wireType: Int, start: Int)? {
        guard !atEnd else { return nil }
        let start = position
        let tag = try varint()
        let wireType = Int(tag & 7)
        guard wireType == 0 || wireType == 1 || wireType == 2 || wireType == 5 else {
            throw .unsupportedWireType(wireType, offset: start)
        }
        guard tag >> 3 > 0, tag >> 3 < (1 << 29) else { throw .invalidFieldNumber(offset: start) }
        return (Int(tag >> 3), wireType, start)
    }

    /// The span of a length-delimited field's payload; the payload must lie inside this message.
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

    /// Skips one value of `wireType` (the field's tag already read).
    mutating func skip(wireType: Int) throws(ONNXError) {
        switch wireType {
        case 0: _ = try varint()
        case 1: _ = try fixed64()
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed32()
        default: throw .unsupportedWireType(wireType, offset: position)
        }
    }

    /// A length-delimited field read as UTF-8 (invalid sequences become U+FFFD).
    mutating func string() throws(ONNXError) -> String {
        let range = try lengthDelimited()
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// Checks that the field has one of `allowed` wire types.
    func expect(_ wireType: Int, in allowed: [Int], _ what: String, fieldStart: Int) throws(ONNXError) {
        guard allowed.contains(wireType) else { throw .wrongWireType(expected: what, offset: fieldStart) }
    }

    /// One occurrence of a repeated varint field, packed (wire type 2) or not (wire type 0),
    /// appended to `values`.
    mutating func appendVarints(wireType: Int, fieldStart: Int, to values: inout [UInt64]) throws(ONNXError) {
        try expect(wireType, in: [0, 2], "varint", fieldStart: fieldStart)
        if wireType == 0 {
            values.append(try varint())
        } else {
            var inner = ProtobufReader(bytes, range: try lengthDelimited())
            while !inner.atEnd { values.append(try inner.varint()) }
        }
    }

    /// One occurrence of a repeated fixed32 field, packed (wire type 2) or not (wire type 5).
    mutating func appendFixed32(wireType: Int, fieldStart: Int, to values: inout [UInt32]) throws(ONNXError) {
        try expect(wireType, in: [2, 5], "fixed32", fieldStart: fieldStart)
        if wireType == 5 {
            values.append(try fixed32())
        } else {
            var inner = ProtobufReader(bytes, range: try lengthDelimited())
            while !inner.atEnd { values.append(try inner.fixed32()) }
        }
    }
}

extension ProtobufReader {
    /// A `StringStringEntryProto` (key = 1, value = 2; other fields skipped) occupying `range`.
    static func stringEntry(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(ONNXError) -> (String, String) {
        var entry = ProtobufReader(bytes, range: range)
        var key = "", value = ""
        while let inner = try entry.nextField() {
            switch (inner.number, inner.wireType) {
            case (1, 2): key = try entry.string()
            case (2, 2): value = try entry.string()
            default: try entry.skip(wireType: inner.wireType)
            }
        }
        return (key, value)
    }
}
