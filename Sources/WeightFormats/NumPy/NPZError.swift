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

    public var description: String {
        switch self {
        case .notAZip(let reason): "not a readable zip archive: \(reason)"
        case .corrupt(let reason): "corrupt archive: \(reason)"
        case .unreadableMember(let member, let reason): "member '\(member)' cannot be read: \(reason)"
        case .checksumMismatch(let member): "member '\(member)' is corrupt: its data does not match its CRC-32"
        case .notAnArray(let member): "member '\(member)' is not a .npy array; an .npz holds only NAME.npy members"
        case .duplicateKey(let key): "two members are named '\(key).npy'"
        case .objectMember(let member):
            "member '\(member)' is an object array; object arrays are pickles and are never loaded"
        case .member(let member, let error): "member '\(member)': \(error)"
        case .cannotWrite(let reason): "cannot write archive: \(reason)"
        }
    }
}
