#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A file's identity: its device and inode, the same whatever path (link, `./`, `..`, an
/// absolute spelling or a hard link) leads to it.
public struct FileIdentity: Hashable, Sendable {
    public let device: UInt64
    public let inode: UInt64

    init(_ status: stat) {
        device = UInt64(truncatingIfNeeded: status.st_dev)
        inode = UInt64(truncatingIfNeeded: status.st_ino)
    }

    /// The identity of the file at `path` (symbolic links followed), or `nil` if there is none.
    public init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        self.init(status)
    }
}

/// The files currently open as inputs, so that no output ever replaces one.
///
/// Every ``MappedFile`` — each input file, shard, external data file and index a reader opens —
/// registers its ``FileIdentity`` for as long as it is mapped (the mapping keeps the inode from
/// being reused). ``AtomicFileWriter`` refuses a destination that is one of them when it is
/// created and again just before it renames its temporary file into place, so `convert X X`,
/// `convert X ./X`, an absolute spelling, `dir/../X`, a hard link, and a sharded write into the
/// folder of its own input all fail with a message instead of replacing their input.
public enum InputFiles {
    private struct Entry {
        var path: String
        var count: Int
    }

    private static let open = Mutex<[FileIdentity: Entry]>([:])
    private static let remembering = Atomic<Bool>(false)

    /// From now on, files stay listed after they are closed: for a command-line run, where every
    /// file read is an input of the run even when its reader is gone by the time an output is
    /// written (a data set decompressed into memory, a statistics file read and closed). A
    /// long-running process should not call this (a closed file's inode can be reused).
    public static func rememberEveryInput() {
        remembering.store(true, ordering: .relaxed)
    }

    static func register(_ identity: FileIdentity, path: String) {
        open.withLock { entries in
            entries[identity, default: Entry(path: path, count: 0)].count += 1
        }
    }

    static func unregister(_ identity: FileIdentity) {
        guard !remembering.load(ordering: .relaxed) else { return }
        open.withLock { entries in
            guard var entry = entries[identity] else { return }
            entry.count -= 1
            entries[identity] = entry.count > 0 ? entry : nil
        }
    }

    /// The path of the open input that `path` is the same file as, or `nil` when `path` does not
    /// exist or is no open input.
    public static func input(sameAs path: String) -> String? {
        guard let identity = FileIdentity(path: path) else { return nil }
        return open.withLock { $0[identity]?.path }
    }
}
