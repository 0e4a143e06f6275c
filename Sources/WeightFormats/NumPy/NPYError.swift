/// Every way a `.npy` file (or an `.npz` member) can be malformed or unsupported.
public enum NPYError: Error, Equatable, Sendable, CustomStringConvertible {
    case badMagic
    case unsupportedVersion(major: UInt8, minor: UInt8)
    case truncatedHeader(expected: Int, actual: Int)
    case headerTooLong(length: Int, limit: Int)
    case invalidHeader(reason: String)
    case missingKeys([String])
    case extraKeys([String])
    case invalidShape(String)
    case invalidFortranOrder(String)
    case unsupportedDescr(String)
    case voidDescr(String)
    case objectArray
    case truncatedData(expected: Int, actual: Int)
    case extraBytes(count: Int)
    /// A dtype NumPy has no type for (when writing).
    case unwritableDType(DType)

    public var description: String {
        switch self {
        case .badMagic: "not a .npy file: the magic string is not \\x93NUMPY"
        case .unsupportedVersion(let major, let minor):
            "unsupported .npy format version \(major).\(minor); only 1.0, 2.0 and 3.0 exist"
        case .truncatedHeader(let expected, let actual):
            "truncated header: expected \(expected) bytes, got \(actual)"
        case .headerTooLong(let length, let limit):
            "header of \(length) bytes is longer than the \(limit)-byte limit"
        case .invalidHeader(let reason): "cannot parse header: \(reason)"
        case .missingKeys(let keys): "header does not contain the key(s) \(keys.joined(separator: ", "))"
        case .extraKeys(let keys): "header contains unexpected key(s) \(keys.joined(separator: ", "))"
        case .invalidShape(let text): "shape is not a tuple of non-negative integers: \(text)"
        case .invalidFortranOrder(let text): "fortran_order is not True or False: \(text)"
        case .unsupportedDescr(let descr): "unsupported dtype descr '\(descr)'"
        case .voidDescr(let descr):
            "dtype '\(descr)' is an untyped void (bfloat16 saved through ml_dtypes loses its type); save the array as float32"
        case .objectArray: "object arrays are Python pickles and are never loaded; save a numeric array"
        case .truncatedData(let expected, let actual):
            "truncated data: the header needs \(expected) bytes, the file has \(actual)"
        case .extraBytes(let count): "\(count) unexpected bytes after the array data"
        case .unwritableDType(let dtype): "NumPy has no dtype for \(dtype); convert with --dtype F32"
        }
    }
}
