import CArchive
import Safeguards
import Synchronization

/// A NumPy `.npz` archive: a ZIP of `.npy` members (stored or deflated, zip64 included), read
/// with libarchive. The tensor of member `KEY.npy` is named `KEY`.
///
/// Rules beyond the ZIP format (see `Formats/numpy.md`):
/// - the archive must end with an end-of-central-directory record and a complete central
///   directory, as Python's `zipfile` (and so `np.load`) requires: a truncated directory or a
///   missing end record is refused, never read leniently from the local headers;
/// - member names are relative paths without `..` (no `/x.npy`, no `../x.npy`);
/// - a member is decompressed into at most the size it declares, and only if that size is
///   within the allocation budget (``AllocationBudget``).
///
/// Guarantees:
/// - Opening reads only each member's `.npy` header (a deflated member is decompressed just far
///   enough), so its time does not grow with the data; every member must be a `.npy` array of a
///   supported dtype whose declared size matches its shape, or opening fails.
/// - ``withBytes(of:_:)`` hands out data whose CRC-32 was checked (a stored member once per
///   archive object, on its first read). Stored members (`np.savez`)
///   are read in place from the memory-mapped file (zero-copy unless big-endian or Fortran
///   order); deflated ones are decompressed into one buffer of that tensor.
public final class NPZArchive: CheckpointReader, @unchecked Sendable {
    public let path: String
    public var format: WeightFormat { .npz }
    public var metadata: [String: String] { [:] }
    public let tensors: [TensorInfo]
    private let file: MappedFile
    private let members: [String: Member]
    /// Stored members whose CRC-32 has been checked: a data set read batch by batch asks for the
    /// same member once per batch, and re-checking all of it each time made reading quadratic.
    private let verifiedMembers = Mutex<Set<String>>([])

    struct Member {
        var entryName: String
        var header: NPYHeader
        /// Offset of the array data in the member.
        var dataOffset: Int
        /// The member's bytes in the mapped file, when stored uncompressed.
        var stored: ZIPStoredMembers.Location?
    }

    public init(path: String) throws {
        self.path = path
        let file = try MappedFile(path: path)
        self.file = file
        let directory = ZIPStoredMembers(file.bytes)
        if let defect = directory.defect, !file.bytes.isEmpty { throw NPZError.notAZip(reason: defect) }
        let stored = directory.locations
        var tensors: [TensorInfo] = []
        var members: [String: Member] = [:]
        try Self.withArchive(file.bytes) { archive, entry, name in
            guard PathContainment.isRelativeInside(name) else { throw NPZError.unsafeMemberName(name) }
            guard name.hasSuffix(".npy") else { throw NPZError.notAnArray(member: name) }
            let key = String(name.dropLast(4))
            guard members[key] == nil else { throw NPZError.duplicateKey(key) }
            let prefix = try Self.readPrefix(archive, member: name)
            let (header, offset) = try Self.parseHeader(prefix, member: name)
            let info = TensorInfo(name: key, dtype: header.dtype, shape: header.shape)
            var location: ZIPStoredMembers.Location?
            if archive_entry_size_is_set(entry) != 0 {
                let size = Int(archive_entry_size(entry))
                do throws(NPYError) {
                    try NPYFile.checkDataSize(info: info, available: size - offset)
                } catch {
                    throw NPZError.member(name, error)
                }
                // Read in place only where the directory and libarchive agree on the bytes.
                if let candidate = stored[name], candidate.range.count == size,
                   UnsafeRawBufferPointer(rebasing: file.bytes[candidate.range]).starts(with: prefix) {
                    location = candidate
                }
            }
            members[key] = Member(entryName: name, header: header, dataOffset: offset, stored: location)
            tensors.append(info)
            return false
        }
        self.tensors = tensors
        self.members = members
    }

    /// The `.npy` header of the member holding `name`.
    public func header(of name: String) -> NPYHeader? { members[name]?.header }

    /// Whether the tensor's member is stored uncompressed and read in place from the mapped file
    /// (then ``withBytes(of:_:)`` copies nothing unless the data is big-endian or Fortran order).
    public func readsInPlace(_ name: String) -> Bool {
        members[name]?.stored != nil
    }

    public func releasePages(_ view: UnsafeRawBufferPointer) { file.release(view: view) }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let member = members[name], let info = info(named: name), let byteCount = info.byteCount else {
            throw CheckpointError.tensorNotFound(name: name)
        }
        if let stored = member.stored {
            let bytes = UnsafeRawBufferPointer(rebasing: file.bytes[stored.range])
            defer { file.release(stored.range) }
            if !verifiedMembers.withLock({ $0.contains(name) }) {
                guard CRC32.checksum(bytes) == stored.crc else { throw NPZError.checksumMismatch(member: member.entryName) }
                verifiedMembers.withLock { _ = $0.insert(name) }
            }
            return try Self.hand(UnsafeRawBufferPointer(rebasing: bytes[member.dataOffset...]), member.header, body)
        }
        let needed = member.dataOffset + byteCount
        guard AllocationBudget.allows(needed) else { throw NPZError.memberTooLarge(member: member.entryName, bytes: needed) }
        var data: [UInt8] = []
        try Self.withArchive(file.bytes) { archive, _, entryName in
            guard entryName == member.entryName else { return false }
            data = try Self.readAll(archive, member: entryName, expected: needed)
            return true
        }
        guard data.count <= needed else { throw NPZError.longerThanDeclared(member: member.entryName, bytes: needed) }
        guard data.count == needed else {
            throw NPZError.member(member.entryName, .truncatedData(expected: byteCount, actual: max(0, data.count - member.dataOffset)))
        }
        return try data.withUnsafeBytes { raw in
            try Self.hand(UnsafeRawBufferPointer(rebasing: raw[member.dataOffset...]), member.header, body)
        }
    }

    /// Calls `body` with `payload` in little-endian C order.
    private static func hand<R>(
        _ payload: UnsafeRawBufferPointer, _ header: NPYHeader, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        if let converted = NPYLayout.normalized(payload, header: header) {
            return try converted.withUnsafeBytes(body)
        }
        return try body(payload)
    }

    private static func parseHeader(_ prefix: [UInt8], member: String) throws(NPZError) -> (NPYHeader, Int) {
        switch prefix.withUnsafeBytes({ raw in Result { () throws(NPYError) in try NPYHeader.parse(raw) } }) {
        case .success(let parsed): return parsed
        case .failure(.objectArray): throw .objectMember(member)
        case .failure(let error): throw .member(member, error)
        }
    }

    /// Opens the archive in `bytes` (the mapped file: the path is never opened a second time)
    /// and calls `visit` with each entry and its name until it returns `true`.
    private static func withArchive(
        _ bytes: UnsafeRawBufferPointer, _ visit: (OpaquePointer, OpaquePointer, String) throws -> Bool
    ) throws {
        try ArchiveLocale.utf8 { try iterate(bytes, visit) }
    }

    private static func iterate(
        _ bytes: UnsafeRawBufferPointer, _ visit: (OpaquePointer, OpaquePointer, String) throws -> Bool
    ) throws {
        guard let archive = archive_read_new() else { throw NPZError.notAZip(reason: "out of memory") }
        defer { archive_read_free(archive) }
        archive_read_support_format_zip(archive)
        var empty: UInt8 = 0
        let opened = withUnsafeMutablePointer(to: &empty) { placeholder in
            archive_read_open_memory(archive, bytes.baseAddress ?? UnsafeRawPointer(placeholder), bytes.count)
        }
        guard opened == ARCHIVE_OK else {
            throw NPZError.notAZip(reason: message(archive))
        }
        var entry: OpaquePointer?
        var first = true
        while true {
            let status = archive_read_next_header(archive, &entry)
            if status == ARCHIVE_EOF { return }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                throw first ? NPZError.notAZip(reason: message(archive)) : NPZError.corrupt(reason: message(archive))
            }
            first = false
            let name = (archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry)).map { String(cString: $0) } ?? ""
            if try visit(archive, entry, name) { return }
        }
    }

    /// Reads enough of the current member to hold its `.npy` header (or all of a shorter member).
    private static func readPrefix(_ archive: OpaquePointer, member: String) throws -> [UInt8] {
        var prefix: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while prefix.count <= NPYHeader.maximumHeaderLength + 16 {
            let count = chunk.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress, $0.count) }
            if count < 0 { throw readError(archive, member: member) }
            if count == 0 { break }
            prefix += chunk[0..<count]
            let complete = prefix.withUnsafeBytes { raw -> Bool in
                if case .failure(.truncatedHeader) = Result(catching: { () throws(NPYError) in try NPYHeader.parse(raw) }) {
                    return false
                }
                return true
            }
            if complete { break }
        }
        return prefix
    }

    /// Reads the current member completely (libarchive checks its CRC at the end), but never more
    /// than `expected + 1` bytes: a member whose data runs on past the size its header and the
    /// archive declare (a deflate stream that inflates to gigabytes) is cut short there and
    /// reported (``NPZError/longerThanDeclared(member:bytes:)``), with memory bounded by what was
    /// declared.
    private static func readAll(_ archive: OpaquePointer, member: String, expected: Int) throws -> [UInt8] {
        var data = [UInt8](repeating: 0, count: expected + 1)
        var filled = 0
        while filled < data.count {
            let count = data.withUnsafeMutableBytes {
                archive_read_data(archive, $0.baseAddress! + filled, $0.count - filled)
            }
            if count < 0 { throw readError(archive, member: member) }
            if count == 0 { break }
            filled += count
        }
        data.removeLast(data.count - filled)
        return data
    }

    private static func readError(_ archive: OpaquePointer, member: String) -> NPZError {
        let text = message(archive)
        return text.contains("CRC") ? .checksumMismatch(member: member) : .unreadableMember(member, reason: text)
    }

    static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}
