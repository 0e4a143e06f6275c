#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening input files so that no file can block, escape or be mistaken for another.
///
/// Every input is opened read-only with `O_NONBLOCK` (opening a FIFO for reading would otherwise
/// wait for a writer for ever) and checked with `fstat` on the open descriptor — never by name
/// first — to be a regular file; FIFOs, devices, sockets and folders are refused before a byte
/// is read. Files named by other files (shards of a sharded set, ONNX external data) are opened
/// through ``PathContainment``, which also keeps them inside the model's folder.
public enum InputFile {
    /// An open, regular input file: its descriptor and `fstat` result. The caller closes it.
    struct Opened {
        let descriptor: Int32
        let status: stat
    }

    /// Opens `path` for reading.
    /// - Parameter followingSymlinks: `false` refuses a path whose last component is a
    ///   symbolic link (`O_NOFOLLOW`).
    /// - Throws: ``FileAccessError/cannotOpen(path:reason:)``, or
    ///   ``FileAccessError/notARegularFile(path:)`` for anything but a regular file.
    static func open(_ path: String, followingSymlinks: Bool = true) throws(FileAccessError) -> Opened {
        var flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK
        if !followingSymlinks { flags |= O_NOFOLLOW }
        let descriptor = systemOpen(path, flags)
        guard descriptor >= 0 else {
            let code = errno
            if code == ELOOP && !followingSymlinks { throw .cannotOpen(path: path, reason: "it is a symbolic link") }
            throw .cannotOpen(path: path, reason: String(cString: strerror(code)))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw .cannotOpen(path: path, reason: reason)
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw .notARegularFile(path: path, kind: fileKind(status.st_mode))
        }
        return Opened(descriptor: descriptor, status: status)
    }

    /// The whole contents of a small regular file (an architecture spec, an audit record),
    /// opened as above and read through a memory mapping.
    /// - Throws: ``FileAccessError``.
    public static func contents(of path: String) throws(FileAccessError) -> [UInt8] {
        let file = try MappedFile(path: path)
        return Array(file.bytes)
    }

    /// How messages name a file type other than a regular file.
    static func fileKind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFDIR: "a folder"
        case S_IFLNK: "a symbolic link"
        default: "a special file"
        }
    }
}

/// `open(2)`, for code inside types that have an `open` of their own.
func systemOpen(_ path: String, _ flags: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.open(path, flags)
    #else
    Darwin.open(path, flags)
    #endif
}
