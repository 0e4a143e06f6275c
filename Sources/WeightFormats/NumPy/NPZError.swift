import Safeguards

/// How `.npz` members are stored.
public enum NPZCompression: Sendable, Equatable {
    /// Like `numpy.savez` (ZIP_STORED).
    case stored
    /// Like `numpy.savez_compressed` (ZIP_DEFLATED).
    case deflated
}

/// Defects of an `.npz` archive and failures writing one.
public enum NPZError: Error, Equatable, Sendable, CustomStringConvertible {
    /// libarchive could not read the file as a ZIP archive (its message).
    case notAZip(reason: String)
    /// The archive's structure is damaged after its first member (libarchive's message).
    case corrupt(reason: String)
    /// A member's data cannot be read or decompressed (libarchive's message).
    case unreadableMember(String, reason: String)
    /// A member's data does not match its CRC-32.
    case checksumMismatch(member: String)
    /// A member whose name does not end in `.npy`.
    case notAnArray(member: String)
    /// Two members with the same name (when reading) or two tensors with the same name (writing).
    case duplicateKey(String)
    /// A member holding an object array (a pickle), never loaded.
    case objectMember(String)
    /// A member whose `.npy` content is malformed.
    case member(String, NPYError)
    /// libarchive failed while writing (its message).
    case cannotWrite(reason: String)
    /// A member name that is absolute or has a `..` component (a path out of any folder it would
    /// be extracted to), when reading or writing.
    case unsafeMemberName(String)
    /// A member whose declared decompressed size exceeds the allocation budget.
    case memberTooLarge(member: String, bytes: Int)
    /// A member whose data decompresses to more than the `bytes` its `.npy` header and the
    /// archive declare (reading stopped there).
    case longerThanDeclared(member: String, bytes: Int)

    public var description: String {
        switch self {
        case .notAZip(let reason): "not a readable zip archive: \(Escaping.printable(reason))"
        case .corrupt(let reason): "corrupt archive: \(Escaping.printable(reason))"
        case .unreadableMember(let member, let reason): "member '\(Escaping.printable(member))' cannot be read: \(Escaping.printable(reason))"
        case .checksumMismatch(let member): "member '\(Escaping.printable(member))' is corrupt: its data does not match its CRC-32"
        case .notAnArray(let member): "member '\(Escaping.printable(member))' is not a .npy array; an .npz holds only NAME.npy members"
        case .duplicateKey(let key): "two members are named '\(Escaping.printable(key)).npy'"
        case .objectMember(let member):
            "member '\(Escaping.printable(member))' is an object array; object arrays are pickles and are never loaded"
        case .member(let member, let error): "member '\(Escaping.printable(member))': \(error)"
        case .cannotWrite(let reason): "cannot write archive: \(Escaping.printable(reason))"
        case .unsafeMemberName(let member):
            "member name '\(Escaping.printable(member))' is absolute or contains '..'; member names must be relative paths inside the archive"
        case .longerThanDeclared(let member, let bytes):
            "member '\(Escaping.printable(member))' decompresses to more than the \(bytes) bytes its header and the archive declare (reading stopped there)"
        case .memberTooLarge(let member, let bytes):
            "member '\(Escaping.printable(member))': decompressing it \(AllocationBudget.exceeded(bytes))"
        }
    }
}
