#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens files that one file names relative to its folder (the shards of a sharded safetensors
/// index, the external data of an ONNX model) so that they stay inside that folder.
///
/// Rules, checked in this order:
/// 1. The name is relative: not empty, no leading `/` or `\`, no `..` component (either
///    separator) — a lexical check that needs no file system.
/// 2. The file is opened (symbolic links followed, `O_NONBLOCK`) and must be a regular file.
/// 3. The path the open descriptor really refers to (Linux: `/proc/self/fd/N`; macOS:
///    `F_GETPATH`) must lie inside the canonical path of the folder. A symbolic link inside the
///    folder that points elsewhere inside it is fine; one that leads out of it is refused.
///
/// Checking the descriptor after opening, rather than the name before, leaves no window in
/// which a path component could be swapped for a link between the check and the read.
public enum PathContainment {
    /// Whether `name` passes the lexical rule 1.
    public static func isRelativeInside(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.hasPrefix("\\") else { return false }
        return !name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).contains("..")
    }

    /// Opens `name` inside `folder` by the rules above.
    /// - Throws: ``FileAccessError/outsideFolder(path:folder:)`` when a rule is broken,
    ///   ``FileAccessError/cannotOpen(path:reason:)`` or ``FileAccessError/notARegularFile(path:kind:)``.
    static func open(_ name: String, inFolder folder: String) throws(FileAccessError) -> InputFile.Opened {
        let joined = (folder.hasSuffix("/") ? folder : folder + "/") + name
        guard isRelativeInside(name) else { throw .outsideFolder(path: joined, folder: folder) }
        guard let root = canonicalPath(folder) else {
            throw .cannotOpen(path: folder, reason: String(cString: strerror(errno)))
        }
        let opened = try InputFile.open(joined)
        guard let actual = path(of: opened.descriptor) ?? canonicalPath(joined),
              isInside(actual, root: root) else {
            close(opened.descriptor)
            throw .outsideFolder(path: joined, folder: folder)
        }
        return opened
    }

    /// Whether the canonical path `path` lies strictly inside the canonical folder `root`.
    static func isInside(_ path: String, root: String) -> Bool {
        root == "/" ? path.hasPrefix("/") && path != "/" : path.hasPrefix(root + "/")
    }

    /// The canonical absolute path (links resolved), or `nil` when it does not exist.
    public static func canonicalPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The path an open descriptor refers to, from the kernel, or `nil` where it cannot say.
    static func path(of descriptor: Int32) -> String? {
        #if os(Linux)
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/fd/\(descriptor)", &buffer, buffer.count - 1)
        guard count > 0, buffer[0] == CChar(UInt8(ascii: "/")) else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #else
        var buffer = [CChar](repeating: 0, count: Int(MAXPATHLEN) + 1)
        guard fcntl(descriptor, F_GETPATH, &buffer) != -1 else { return nil }
        return String(cString: buffer)
        #endif
    }
}
