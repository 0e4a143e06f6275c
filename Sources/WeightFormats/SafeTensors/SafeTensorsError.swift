import Safeguards

/// Every way a safetensors file can be malformed, one case per defect.
///
/// Reading checks in the order the reference implementation does (length field, UTF-8, JSON,
/// header structure, offsets, coverage), so a file has the defect the reference would name first.
/// The last cases are refusals of the writer.
public enum SafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer than the 8 bytes of the header-length field.
    case headerTooSmall(fileSize: Int)
    /// The declared header length exceeds the 100,000,000-byte limit.
    case headerTooLarge(declared: UInt64, limit: Int)
    /// The header runs past the end of the file.
    case invalidHeaderLength(declared: UInt64, fileSize: Int)
    /// The header bytes are not UTF-8.
    case invalidUTF8
    /// The header is not valid JSON (the reason, and the byte offset in the header where parsing
    /// stopped); includes a header that ends inside a value.
    case invalidJSON(reason: String, offset: Int)
    /// The header is JSON, but not an object.
    case headerNotAnObject
    /// `__metadata__` is not an object whose values are all strings.
    case invalidMetadata(reason: String)
    /// A tensor entry that is not an object with `dtype` (string), `shape` (array of non-negative
    /// integers) and `data_offsets` (two non-negative integers).
    case malformedTensorEntry(tensor: String, reason: String)
    /// A `dtype` that is not one of the format's spellings (they are case-sensitive).
    case unknownDType(tensor: String, dtype: String)
    /// A tensor name containing U+0000 (the reference accepts it; modelforget does not, as C
    /// strings and most tools would cut the name short).
    case nulInTensorName(tensor: String)
    /// Offsets with a hole, an overlap, an end before the begin, or not starting at 0.
    case invalidOffset(tensor: String)
    /// Π shape × element bits overflows 64 bits (or a dimension does not fit in `Int`).
    case overflow(tensor: String)
    /// A sub-byte dtype (F4, F6_*) whose tensor is not a whole number of bytes.
    case misalignedSlice(tensor: String)
    /// END − BEGIN ≠ Π shape × element size.
    case sizeMismatch(tensor: String, expected: UInt64, actual: UInt64)
    /// The data buffer is not covered exactly: trailing bytes (a polyglot file) or missing bytes.
    case incompleteBuffer(expected: UInt64, actual: UInt64)
    /// Writing: the header would exceed the 100,000,000-byte limit.
    case headerTooLargeToWrite(size: Int)
    /// Writing: two tensors with the same name.
    case duplicateTensorName(tensor: String)

    public var description: String {
        switch self {
        case .headerTooSmall(let size):
            "header too small: the file has \(size) bytes, fewer than the 8-byte header length"
        case .headerTooLarge(let declared, let limit):
            "header too large: \(declared) bytes declared, the limit is \(limit)"
        case .invalidHeaderLength(let declared, let size):
            "invalid header length: \(declared) bytes declared but only \(max(0, size - 8)) follow the length field (truncated file?)"
        case .invalidUTF8:
            "invalid UTF-8 in header"
        case .invalidJSON(let reason, let offset):
            "invalid JSON in header: \(reason) at byte \(offset)"
        case .headerNotAnObject:
            "invalid header: not a JSON object"
        case .invalidMetadata(let reason):
            "invalid __metadata__: \(reason)"
        case .malformedTensorEntry(let tensor, let reason):
            "invalid entry for tensor '\(Self.printable(tensor))': \(reason)"
        case .unknownDType(let tensor, let dtype):
            "unknown dtype '\(Self.printable(dtype))' for tensor '\(Self.printable(tensor))'"
        case .nulInTensorName(let tensor):
            "tensor name '\(Self.printable(tensor))' contains a NUL character; rename the tensor"
        case .invalidOffset(let tensor):
            "invalid offset for tensor '\(Self.printable(tensor))': data offsets must tile the buffer from 0 without holes or overlaps"
        case .overflow(let tensor):
            "shape of tensor '\(Self.printable(tensor))' overflows"
        case .misalignedSlice(let tensor):
            "tensor '\(Self.printable(tensor))' is not a whole number of bytes"
        case .sizeMismatch(let tensor, let expected, let actual):
            "invalid shape, data type, or offset for tensor '\(Self.printable(tensor))': \(actual) bytes, its shape and dtype need \(expected)"
        case .incompleteBuffer(let expected, let actual):
            actual > expected
                ? "incomplete metadata, file not fully covered: \(actual - expected) bytes after the last tensor (expected \(expected) data bytes, found \(actual))"
                : "file truncated: the header needs \(expected) bytes of data, the file has \(actual)"
        case .headerTooLargeToWrite(let size):
            "header of \(size) bytes exceeds the 100,000,000-byte limit; write fewer tensors or less metadata per file"
        case .duplicateTensorName(let tensor):
            "two tensors are named '\(Self.printable(tensor))'; names must be unique"
        }
    }

    /// `text` made safe for a one-line message (``Escaping/printable(_:)``).
    static func printable(_ text: String) -> String {
        Escaping.printable(text)
    }
}
