#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file through a temporary sibling and renames it into place on ``commit()``.
///
/// Guarantees:
/// - The destination is either untouched or holds the complete new contents; a writer that is
///   dropped without committing removes its temporary file, and so does a process stopped by a
///   signal or by `exit` while the writer lives (``TemporaryFiles``).
/// - The destination is never an open input: a destination that is the same file (device and
///   inode) as a file some reader has mapped is refused with
///   ``FileAccessError/outputIsInput(path:input:)`` when the writer is created and again just
///   before the rename (see ``InputFiles``).
/// - The new file's permissions are those of the file it replaces, or for a new file
///   `0666 & ~umask`, as any other tool creating a file would give it.
/// - Errors are ``WeightFileError``s naming the destination being written.
/// - Bytes handed over as a view into an input's memory mapping (a tensor copied unchanged) of
///   at least ``InKernelCopy/minimumBytes`` are copied from the input file by the kernel
///   (`copy_file_range`), else through the buffer; the file's bytes are the same either way.
///
/// A set of files that must appear together (the shards of a sharded checkpoint and their
/// index, an ONNX model and its external data) calls ``prepare()`` on every writer and then
/// ``publish()`` on every writer, so that nothing is renamed until every file is complete.
public final class AtomicFileWriter {
    public let destination: String
    public let temporaryPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let bufferCapacity = 1 << 20
    private var prepared = false
    private var committed = false
    private let temporarySlot: Int?
    /// Bytes written so far.
    public private(set) var bytesWritten: Int = 0
    /// Cleared when the kernel cannot copy into this file (another file system): every later view
    /// goes through the buffer without asking again.
    private var copiesInKernel = !InKernelCopy.disabled
    /// A view of a mapped input not yet copied (always after the buffer's bytes), and its file region.
    private var pending: (view: UnsafeRawBufferPointer, region: FileRegion)?
    /// Bytes copied by the kernel so far (part of ``bytesWritten``).
    package private(set) var bytesCopiedInKernel: Int = 0

    public init(destination: String) throws {
        self.destination = destination
        if let input = InputFiles.input(sameAs: destination) {
            throw WeightFileError(path: destination, underlying: FileAccessError.outputIsInput(path: destination, input: input))
        }
        let slash = destination.lastIndex(of: "/")
        let directory = slash.map { String(destination[..<$0]) } ?? "."
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        let created = TemporaryFiles.create(template: "\(directory.isEmpty ? "/" : directory)/.\(base).tmp-XXXXXX")
        guard created.descriptor >= 0 else {
            throw WeightFileError(path: destination, underlying: FileAccessError.cannotWrite(path: destination, reason: String(cString: strerror(errno))))
        }
        fd = created.descriptor
        temporaryPath = created.path
        temporarySlot = created.slot
        _ = fchmod(fd, Self.mode(replacing: destination))
        buffer.reserveCapacity(bufferCapacity)
    }

    /// The permission bits for a file written to `destination`: those of the regular file there
    /// now, else `0666 & ~umask`.
    static func mode(replacing destination: String) -> mode_t {
        var existing = stat()
        if stat(destination, &existing) == 0, (existing.st_mode & S_IFMT) == S_IFREG {
            return existing.st_mode & 0o7777 & ~mode_t(S_ISUID | S_ISGID)
        }
        return 0o666 & ~processUmask
    }

    /// The process's file-creation mask, read once (Linux: from `/proc/self/status`, so that no
    /// other thread ever sees a changed mask; elsewhere by setting and restoring it).
    static let processUmask: mode_t = {
        #if os(Linux)
        if let status = try? InputFile.contents(of: "/proc/self/status") {
            for line in String(decoding: status, as: UTF8.self).split(separator: "\n") where line.hasPrefix("Umask:") {
                if let value = mode_t(line.dropFirst("Umask:".count).trimmingCharacters(), radix: 8) { return value }
            }
        }
        #endif
        let mask = umask(0o022)
        umask(mask)
        return mask
    }()

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if copiesInKernel, !bytes.isEmpty, pending != nil || bytes.count >= InKernelCopy.minimumBytes,
           let region = MappedRegions.region(of: bytes) {
            // A view (of any size) that continues the pending one in the same file — the next
            // tensor of a shard — joins its copy.
            if let pending, pending.region.file === region.file, pending.region.offset + pending.region.count == region.offset {
                self.pending = (UnsafeRawBufferPointer(start: pending.view.baseAddress!, count: pending.view.count + bytes.count),
                                FileRegion(file: region.file, offset: pending.region.offset, count: pending.region.count + region.count))
                bytesWritten += bytes.count
                return
            }
            if bytes.count >= InKernelCopy.minimumBytes {
                try flushPending()
                startPending(bytes, region)
                bytesWritten += bytes.count
                return
            }
        }
        try flushPending()
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

    /// Makes `view` the pending copy. Buffered bytes that equal the input's bytes just before it
    /// (a header identical to the input's, when a file is copied whole) join the copy instead of
    /// being written: the same bytes, and a copy from offset 0 runs on whole pages.
    private func startPending(_ view: UnsafeRawBufferPointer, _ region: FileRegion) {
        let held = buffer.count
        if held > 0, region.offset >= held, let base = region.file.bytes.baseAddress,
           buffer.withUnsafeBytes({ memcmp(base + region.offset - held, $0.baseAddress!, held) == 0 }) {
            pending = (UnsafeRawBufferPointer(start: view.baseAddress! - held, count: view.count + held),
                       FileRegion(file: region.file, offset: region.offset - held, count: region.count + held))
            buffer.removeAll(keepingCapacity: true)
            return
        }
        pending = (view, region)
    }

    /// Copies the pending view in the kernel, or through `write(2)` from the mapping when the
    /// kernel cannot copy into this file (and stops asking).
    private func flushPending() throws {
        guard let (view, region) = pending else { return }
        pending = nil
        try flush()
        switch InKernelCopy.copy(region, to: fd) {
        case .copied:
            bytesCopiedInKernel += region.count
        case .unsupported(let done):
            copiesInKernel = false
            bytesCopiedInKernel += done
            // In pieces, each dropped from memory once written, as the readers do for one tensor:
            // a pending view can be a whole shard.
            var start = done
            while start < view.count {
                let piece = UnsafeRawBufferPointer(rebasing: view[start..<min(start + bufferCapacity * 8, view.count)])
                try writeAll(piece)
                region.file.release(view: piece)
                start += piece.count
            }
        case .failed(_, let code):
            throw failure(String(cString: strerror(code)))
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
                throw failure(String(cString: strerror(errno)))
            }
            offset += written
        }
    }

    private func failure(_ reason: String) -> WeightFileError {
        WeightFileError(path: destination, underlying: FileAccessError.cannotWrite(path: destination, reason: reason))
    }

    /// Flushes and closes the temporary file and checks that the destination is still no open
    /// input; after this only ``publish()`` (a rename) remains.
    public func prepare() throws {
        guard !prepared else { return }
        try flush()
        try flushPending()
        let status = close(fd)
        fd = -1
        guard status == 0 else { throw failure(String(cString: strerror(errno))) }
        if let input = InputFiles.input(sameAs: destination) {
            throw WeightFileError(path: destination, underlying: FileAccessError.outputIsInput(path: destination, input: input))
        }
        prepared = true
    }

    /// Renames the prepared temporary file onto the destination.
    public func publish() throws {
        try prepare()
        guard rename(temporaryPath, destination) == 0 else { throw failure(String(cString: strerror(errno))) }
        committed = true
        if let temporarySlot { TemporaryFiles.remove(temporarySlot) }
    }

    /// ``prepare()`` then ``publish()``.
    public func commit() throws {
        try prepare()
        try publish()
    }

    /// Publishes a set of files that belong together: every writer is prepared (flushed,
    /// closed, checked) before the first rename, so a write error anywhere leaves nothing
    /// behind; if a rename fails, the files already renamed are removed again.
    public static func publishTogether(_ writers: [AtomicFileWriter]) throws {
        do {
            for writer in writers { try writer.prepare() }
        } catch {
            for writer in writers { writer.discard() }
            throw error
        }
        var published: [AtomicFileWriter] = []
        do {
            for writer in writers {
                try writer.publish()
                published.append(writer)
            }
        } catch {
            for writer in published { unlink(writer.destination) }
            for writer in writers where !writer.committed { writer.discard() }
            throw error
        }
    }

    /// Removes the temporary file now (a writer that will not be committed).
    public func discard() {
        guard !committed else { return }
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(temporaryPath)
        if let temporarySlot { TemporaryFiles.remove(temporarySlot) }
        committed = true   // nothing left for deinit to remove
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed {
            unlink(temporaryPath)
            if let temporarySlot { TemporaryFiles.remove(temporarySlot) }
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    fileprivate func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
