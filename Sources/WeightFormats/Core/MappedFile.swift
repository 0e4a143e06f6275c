#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only, private memory mapping of a whole file; unmapped when the last reference goes.
///
/// Reads are zero-copy: tensor bytes are views into the mapping. The file must not be truncated
/// by another process while it is mapped (that would raise SIGBUS); modelforget itself never
/// writes to a path in place (see ``AtomicFileWriter``).
package final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The whole file's bytes. Empty for an empty file.
    public let bytes: UnsafeRawBufferPointer
    private let mapping: UnsafeMutableRawPointer?

    public init(path: String) throws(FileAccessError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .notARegularFile(path: path) }
        let size = Int(info.st_size)
        if size == 0 {
            mapping = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), pointer != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: "mmap failed: " + String(cString: strerror(errno)))
        }
        mapping = pointer
        bytes = UnsafeRawBufferPointer(start: pointer, count: size)
    }

    /// Tells the kernel the mapping will be read front to back (a hint; errors are ignored).
    public func adviseSequential() {
        if let mapping { _ = madvise(mapping, bytes.count, MADV_SEQUENTIAL) }
    }

    /// Drops the resident pages of `range` (rounded out to whole pages) so that streaming through a
    /// large file keeps memory bounded; the bytes stay readable and fault back in from the file.
    public func release(_ range: Range<Int>) {
        guard let mapping, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let end = min(bytes.count, (range.upperBound + page - 1) / page * page)
        _ = madvise(mapping + start, end - start, MADV_DONTNEED)
    }

    /// ``release(_:)`` for a view into this mapping (a part of ``bytes``); a view that does not
    /// lie inside the mapping, such as a decoded copy, is ignored.
    public func release(view: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, let start = view.baseAddress, !view.isEmpty,
              start >= base, start + view.count <= base + bytes.count else { return }
        let offset = start - base
        release(offset..<(offset + view.count))
    }

    deinit {
        if let mapping { munmap(mapping, bytes.count) }
    }
}

/// Errors opening, reading or writing files, independent of their format.
public enum FileAccessError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case notARegularFile(path: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(_, let reason): "cannot open: \(reason)"
        case .notARegularFile: "not a regular file"
        case .cannotWrite(_, let reason): "cannot write: \(reason)"
        }
    }
}
