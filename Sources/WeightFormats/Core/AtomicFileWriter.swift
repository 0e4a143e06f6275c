#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file through a temporary sibling and renames it into place on ``commit()``.
///
/// Guarantees: the destination is either untouched or holds the complete new contents; a writer
/// that is dropped without committing removes its temporary file. Writing over a file that is
/// currently memory-mapped (an input) is safe: the mapping keeps the old inode alive.
public final class AtomicFileWriter {
    public let destination: String
    public let temporaryPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let bufferCapacity = 1 << 20
    private var committed = false
    /// Bytes written so far.
    public private(set) var bytesWritten: Int = 0

    public init(destination: String) throws {
        self.destination = destination
        let slash = destination.lastIndex(of: "/")
        let directory = slash.map { String(destination[..<$0]) } ?? "."
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        var template = Array("\(directory.isEmpty ? "/" : directory)/.\(base).tmp-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw FileAccessError.cannotWrite(path: destination, reason: String(cString: strerror(errno)))
        }
        fd = descriptor
        temporaryPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        _ = fchmod(fd, 0o644)
        buffer.reserveCapacity(bufferCapacity)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        bytesWritten += bytes.count
        if buffer.count + bytes.count <= bufferCapacity {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        if bytes.count >= bufferCapacity {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (raw) in try write(raw) }
    }

    public func write(_ string: String) throws {
        try write(Array(string.utf8))
    }

    /// Writes `count` zero bytes.
    public func writeZeros(_ count: Int) throws {
        try write([UInt8](repeating: 0, count: count))
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { (raw) in try writeAll(raw) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw FileAccessError.cannotWrite(path: destination, reason: String(cString: strerror(errno)))
            }
            offset += written
        }
    }

    /// Flushes, closes and renames the temporary file onto the destination.
    public func commit() throws {
        try flush()
        guard close(fd) == 0 else {
            fd = -1
            throw FileAccessError.cannotWrite(path: destination, reason: String(cString: strerror(errno)))
        }
        fd = -1
        guard rename(temporaryPath, destination) == 0 else {
            throw FileAccessError.cannotWrite(path: destination, reason: String(cString: strerror(errno)))
        }
        committed = true
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(temporaryPath) }
    }
}
