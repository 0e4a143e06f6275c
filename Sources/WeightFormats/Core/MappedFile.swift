#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Safeguards

/// A read-only, private memory mapping of a whole file; unmapped when the last reference goes.
///
/// Reads are zero-copy: tensor bytes are views into the mapping. The file must not be truncated
/// by another process while it is mapped (that would raise SIGBUS); modelforget itself never
/// writes to a path in place (see ``AtomicFileWriter``).
package final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The whole file's bytes. Empty for an empty file.
    public let bytes: UnsafeRawBufferPointer
    /// The file's device and inode (registered in ``InputFiles`` while the mapping lives).
    public let identity: FileIdentity
    private let mapping: UnsafeMutableRawPointer?
    /// The file, open read-only while the mapping lives: writers copy unchanged views from it in
    /// the kernel (``InKernelCopy``, ``MappedRegions``).
    let descriptor: Int32

    /// Maps the regular file at `path` (see ``InputFile``: opened without blocking, checked with
    /// `fstat` before anything is read).
    /// - Throws: ``FileAccessError``.
    public convenience init(path: String) throws(FileAccessError) {
        try self.init(path: path, opened: InputFile.open(path))
    }

    /// Maps the file `name` inside `folder`, which must stay inside it (see ``PathContainment``);
    /// ``path`` is `folder/name`.
    /// - Throws: ``FileAccessError/outsideFolder(path:folder:)`` and the errors of ``init(path:)``.
    public convenience init(named name: String, inFolder folder: String) throws(FileAccessError) {
        let path = (folder.hasSuffix("/") ? folder : folder + "/") + name
        try self.init(path: path, opened: PathContainment.open(name, inFolder: folder))
    }

    private init(path: String, opened: InputFile.Opened) throws(FileAccessError) {
        self.path = path
        let fd = opened.descriptor
        identity = FileIdentity(opened.status)
        guard let size = Int(exactly: opened.status.st_size), size >= 0 else {
            close(fd)
            throw .cannotOpen(path: path, reason: "the file size \(opened.status.st_size) is not valid")
        }
        if size == 0 {
            mapping = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
        } else {
            guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), pointer != MAP_FAILED else {
                let reason = "mmap failed: " + String(cString: strerror(errno))
                close(fd)
                throw .cannotOpen(path: path, reason: reason)
            }
            mapping = pointer
            bytes = UnsafeRawBufferPointer(start: pointer, count: size)
        }
        descriptor = fd
        InputFiles.register(identity, path: path)
        MappedRegions.register(self)
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
        MappedRegions.unregister(bytes)
        if let mapping { munmap(mapping, bytes.count) }
        close(descriptor)
        InputFiles.unregister(identity)
    }
}

/// Errors opening, reading or writing files, independent of their format.
public enum FileAccessError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    /// A FIFO, device, socket or folder where a regular file was expected (`kind` says which).
    case notARegularFile(path: String, kind: String)
    case cannotWrite(path: String, reason: String)
    /// A file named by another file (a shard, external data) that lies outside `folder`: an
    /// absolute name, a `..` component, or a symbolic link that leads out of the folder.
    case outsideFolder(path: String, folder: String)
    /// An output that is the same file as the open input `input` (inputs are never modified).
    case outputIsInput(path: String, input: String)

    public var description: String {
        switch self {
        case .cannotOpen(_, let reason): "cannot open: \(Escaping.printable(reason))"
        case .notARegularFile(_, let kind): "is \(kind), not a regular file; give a regular file"
        case .cannotWrite(_, let reason): "cannot write: \(Escaping.printable(reason)); nothing was written"
        case .outsideFolder(_, let folder):
            "resolves to a file outside the folder '\(Escaping.printable(folder))' (an absolute name, '..' or a symbolic link out of it); "
                + "files named by a model must stay inside its folder"
        case .outputIsInput(_, let input):
            "is the same file as the input '\(Escaping.printable(input))'; inputs are never modified, write to another path"
        }
    }
}
