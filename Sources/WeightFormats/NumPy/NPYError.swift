import Safeguards

/// Every way a `.npy` file (or an `.npz` member) can be malformed or unsupported, and the dtypes
/// a `.npy` file cannot hold when writing. Messages follow NumPy's wording where it has one.
public enum NPYError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file does not start with `\x93NUMPY`.
    case badMagic
    /// A version other than 1.0, 2.0 or 3.0.
    case unsupportedVersion(major: UInt8, minor: UInt8)
    /// The file ends inside the magic, the length field or the header dict (sizes in bytes of file).
    case truncatedHeader(expected: Int, actual: Int)
    /// The header length field exceeds ``NPYHeader/maximumHeaderLength``.
    case headerTooLong(length: Int, limit: Int)
    /// The header is not a dict literal of the accepted grammar, or not UTF-8 (3.0).
    case invalidHeader(reason: String)
    /// Some of `descr`, `fortran_order`, `shape` are absent.
    case missingKeys([String])
    /// Keys other than `descr`, `fortran_order`, `shape`.
    case extraKeys([String])
    /// `shape` is not a tuple of non-negative integers, or its byte size overflows.
    case invalidShape(String)
    /// `fortran_order` is not `True` or `False`.
    case invalidFortranOrder(String)
    /// A descr modelforget has no dtype for (strings, structured records, `<c16`, …), quoted.
    case unsupportedDescr(String)
    /// An untyped void such as `|V2`.
    case voidDescr(String)
    /// `|O`, or a structured dtype with an object field: the data is a pickle.
    case objectArray
    /// Fewer data bytes than the header describes.
    case truncatedData(expected: Int, actual: Int)
    /// More bytes after the data than the header describes.
    case extraBytes(count: Int)
    /// A dtype NumPy has no type for (when writing).
    case unwritableDType(DType)

    public var description: String {
        switch self {
        case .badMagic: "not a .npy file: the magic string is not \\x93NUMPY"
        case .unsupportedVersion(let major, let minor):
            "unsupported .npy format version \(major).\(minor); only 1.0, 2.0 and 3.0 exist"
        case .truncatedHeader(let expected, let actual):
            "truncated header: expected \(expected) bytes, the file has \(actual)"
        case .headerTooLong(let length, let limit):
            "header of \(length) bytes is longer than the \(limit)-byte limit"
        case .invalidHeader(let reason): "cannot parse header: \(Escaping.printable(reason))"
        case .missingKeys(let keys): "header does not contain the key(s) \(Escaping.printable(keys.joined(separator: ", ")))"
        case .extraKeys(let keys):
            "header contains unexpected key(s) \(Escaping.printable(keys.joined(separator: ", "))); only descr, fortran_order and shape are allowed"
        case .invalidShape(let text): "shape is not valid: \(Escaping.printable(text))"
        case .invalidFortranOrder(let text): "fortran_order is not True or False: \(Escaping.printable(text))"
        case .unsupportedDescr(let descr):
            "unsupported dtype descr \(descr.hasPrefix("[") ? Escaping.printable(descr) : "'\(Escaping.printable(descr))'")"
        case .voidDescr(let descr):
            descr.hasSuffix("V2")
                ? "dtype '\(Escaping.printable(descr))' is an untyped 2-byte void (probably bfloat16 saved through ml_dtypes, which loses the type); save the array as float32"
                : "dtype '\(Escaping.printable(descr))' is an untyped void of raw bytes; save the array with a numeric dtype"
        case .objectArray: "object arrays are pickles and are never loaded; save a numeric array"
        case .truncatedData(let expected, let actual):
            "truncated data: the header needs \(expected) bytes, the file has \(actual)"
        case .extraBytes(let count): "\(count) unexpected bytes after the array data"
        case .unwritableDType(let dtype):
            "cannot write \(dtype) to .npy/.npz: NumPy has no such dtype; convert it to F32 first"
        }
    }
}
