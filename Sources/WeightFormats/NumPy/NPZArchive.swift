import CArchive

/// A NumPy `.npz` archive read with libarchive: stored and deflated members, zip64.
///
/// Opening reads only each member's `.npy` header, so its time does not grow with the data;
/// a tensor's bytes are read (and their CRC checked by libarchive) when they are asked for.
/// Keys are the member names without `.npy`.
public final class NPZArchive: CheckpointReader, @unchecked Sendable {
    public let path: String
    public var format: WeightFormat { .npz }
    public var metadata: [String: String] { [:] }
    public let tensors: [TensorInfo]
    private var members: [String: Member] = [:]

    struct Member {
        var entryName: String
        var header: NPYHeader
        var dataOffset: Int
    }

    public init(path: String) throws {
        self.path = path
        // Fail with the usual "cannot open" before libarchive's own wording.
        _ = try MappedFile(path: path)
        var tensors: [TensorInfo] = []
        var members: [String: Member] = [:]
        try Self.withArchive(path) { archive, entry, name in
            guard name.hasSuffix(".npy") else { throw NPZError.notAnArray(member: name) }
            let key = String(name.dropLast(4))
            guard members[key] == nil else { throw NPZError.duplicateKey(key) }
            let prefix = try Self.readPrefix(archive, member: name)
            let parsed = prefix.withUnsafeBytes { raw in
                Result { () throws(NPYError) in try NPYHeader.parse(raw) }
            }
            guard case .success(let (header, offset)) = parsed else {
                throw NPZError.member(name, parsed.failureValue!)
            }
            let info = TensorInfo(name: key, dtype: header.dtype, shape: header.shape)
            if archive_entry_size_is_set(entry) != 0 {
                if case .failure(let error) = Result(catching: { () throws(NPYError) in
                    try NPYFile.checkDataSize(info: info, available: Int(archive_entry_size(entry)) - offset)
                }) {
                    throw NPZError.member(name, error)
                }
            }
            members[key] = Member(entryName: name, header: header, dataOffset: offset)
            tensors.append(info)
            return false
        }
        self.tensors = tensors
        self.members = members
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let member = members[name], let info = tensors.first(where: { $0.name == name }) else {
            throw CheckpointError.tensorNotFound(name: name)
        }
        var data: [UInt8] = []
        try Self.withArchive(path) { archive, _, entryName in
            guard entryName == member.entryName else { return false }
            data = try Self.readAll(archive, member: entryName, expected: member.dataOffset + info.byteCount!)
            return true
        }
        let needed = member.dataOffset + info.byteCount!
        guard data.count == needed else {
            throw NPZError.member(member.entryName, data.count < needed
                ? .truncatedData(expected: info.byteCount!, actual: max(0, data.count - member.dataOffset))
                : .extraBytes(count: data.count - needed))
        }
        return try data.withUnsafeBytes { raw in
            let payload = UnsafeRawBufferPointer(rebasing: raw[member.dataOffset...])
            if let converted = NPYLayout.normalized(payload, header: member.header) {
                return try converted.withUnsafeBytes(body)
            }
            return try body(payload)
        }
    }

    /// Opens the archive and calls `visit` for each entry until it returns `true`.
    private static func withArchive(
        _ path: String, _ visit: (OpaquePointer, OpaquePointer, String) throws -> Bool
    ) throws {
        guard let archive = archive_read_new() else { throw NPZError.notAZip(reason: "out of memory") }
        defer { archive_read_free(archive) }
        archive_read_support_format_zip(archive)
        guard archive_read_open_filename(archive, path, 1 << 16) == ARCHIVE_OK else {
            throw NPZError.notAZip(reason: message(archive))
        }
        var entry: OpaquePointer?
        while true {
            let status = archive_read_next_header(archive, &entry)
            if status == ARCHIVE_EOF { return }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                throw NPZError.corrupt(reason: message(archive))
            }
            let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            if try visit(archive, entry, name) { return }
        }
    }

    /// Reads enough of the current member to hold its `.npy` header.
    private static func readPrefix(_ archive: OpaquePointer, member: String) throws -> [UInt8] {
        var prefix: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while prefix.count <= NPYHeader.maximumHeaderLength + 16 {
            let count = chunk.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress, $0.count) }
            if count < 0 { throw NPZError.corrupt(reason: "\(member): " + message(archive)) }
            if count == 0 { break }
            prefix += chunk[0..<count]
            let complete = prefix.withUnsafeBytes { raw -> Bool in
                if case .truncatedHeader = Result(catching: { () throws(NPYError) in try NPYHeader.parse(raw) }).failureValue {
                    return false
                }
                return true
            }
            if complete { break }
        }
        return prefix
    }

    /// Reads the current member completely.
    private static func readAll(_ archive: OpaquePointer, member: String, expected: Int) throws -> [UInt8] {
        var data = [UInt8](repeating: 0, count: expected + 1)
        var filled = 0
        while true {
            if filled == data.count { data += [UInt8](repeating: 0, count: 1 << 16) }
            let count = data.withUnsafeMutableBytes {
                archive_read_data(archive, $0.baseAddress! + filled, $0.count - filled)
            }
            if count < 0 { throw NPZError.corrupt(reason: "\(member): " + message(archive)) }
            if count == 0 { break }
            filled += count
        }
        data.removeLast(data.count - filled)
        return data
    }

    static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// How `.npz` members are stored.
public enum NPZCompression: Sendable, Equatable {
    /// Like `numpy.savez`.
    case stored
    /// Like `numpy.savez_compressed`.
    case deflated
}

/// Defects of an `.npz` archive.
public enum NPZError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAZip(reason: String)
    case corrupt(reason: String)
    case notAnArray(member: String)
    case duplicateKey(String)
    case member(String, NPYError)
    case cannotWrite(reason: String)

    public var description: String {
        switch self {
        case .notAZip(let reason): "not a readable zip archive: \(reason)"
        case .corrupt(let reason): "corrupt archive: \(reason)"
        case .notAnArray(let member): "member '\(member)' is not a .npy array"
        case .duplicateKey(let key): "two members are named '\(key).npy'"
        case .member(let member, let error): "member '\(member)': \(error)"
        case .cannotWrite(let reason): "cannot write archive: \(reason)"
        }
    }
}
