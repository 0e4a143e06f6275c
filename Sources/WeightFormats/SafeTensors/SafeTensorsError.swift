/// Every way a safetensors file can be malformed, one case per defect, in the order the
/// reference implementation checks them.
public enum SafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer than the 8 bytes of the header-length field.
    case headerTooSmall(fileSize: Int)
    /// The declared header length exceeds the 100,000,000-byte limit.
    case headerTooLarge(declared: UInt64, limit: Int)
    /// The header runs past the end of the file.
    case invalidHeaderLength(declared: UInt64, fileSize: Int)
    case invalidUTF8
    /// The header is not valid JSON (json-c's reason, and where it stopped).
    case invalidJSON(reason: String, offset: Int)
    case headerNotAnObject
    case invalidMetadata(reason: String)
    /// A tensor entry without `dtype`, `shape` or `data_offsets`, or with ill-typed values.
    case malformedTensorEntry(tensor: String, reason: String)
    case unknownDType(tensor: String, dtype: String)
    case nulInTensorName
    /// Offsets with a hole, an overlap, or not starting at 0.
    case invalidOffset(tensor: String)
    /// Π shape × element bits overflows.
    case overflow(tensor: String)
    /// A sub-byte dtype whose tensor is not a whole number of bytes.
    case misalignedSlice(tensor: String)
    /// END − BEGIN ≠ Π shape × element size.
    case sizeMismatch(tensor: String, expected: Int, actual: Int)
    /// The data buffer is not covered exactly: trailing bytes or missing bytes.
    case incompleteBuffer(expected: Int, actual: Int)
    /// A header that would exceed the limit when writing.
    case headerTooLargeToWrite(size: Int)

    public var description: String {
        switch self {
        case .headerTooSmall(let size):
            "header too small: the file has \(size) bytes, fewer than the 8-byte header length"
        case .headerTooLarge(let declared, let limit):
            "header too large: \(declared) bytes declared, the limit is \(limit)"
        case .invalidHeaderLength(let declared, let size):
            "invalid header length: \(declared) bytes declared but the file has only \(max(0, size - 8)) after the length field (truncated?)"
        case .invalidUTF8:
            "invalid UTF-8 in header"
        case .invalidJSON(let reason, let offset):
            "invalid JSON in header: \(reason) at byte \(offset)"
        case .headerNotAnObject:
            "invalid header: not a JSON object"
        case .invalidMetadata(let reason):
            "invalid __metadata__: \(reason)"
        case .malformedTensorEntry(let tensor, let reason):
            "invalid entry for tensor '\(tensor)': \(reason)"
        case .unknownDType(let tensor, let dtype):
            "unknown dtype '\(dtype)' for tensor '\(tensor)'"
        case .nulInTensorName:
            "a tensor name contains a NUL character"
        case .invalidOffset(let tensor):
            "invalid offset for tensor '\(tensor)': data offsets must tile the buffer from 0 without holes or overlaps"
        case .overflow(let tensor):
            "shape of tensor '\(tensor)' overflows"
        case .misalignedSlice(let tensor):
            "tensor '\(tensor)' is not a whole number of bytes"
        case .sizeMismatch(let tensor, let expected, let actual):
            "invalid shape, data type, or offset for tensor '\(tensor)': \(actual) bytes, its shape and dtype need \(expected)"
        case .incompleteBuffer(let expected, let actual):
            actual > expected
                ? "incomplete metadata, file not fully covered: \(actual - expected) bytes after the last tensor"
                : "file truncated: the header needs \(expected) bytes of data, the file has \(actual)"
        case .headerTooLargeToWrite(let size):
            "header of \(size) bytes exceeds the 100,000,000-byte limit"
        }
    }
}
