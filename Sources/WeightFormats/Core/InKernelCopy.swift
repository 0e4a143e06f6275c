#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A byte range of an open input file: what a view into a ``MappedFile`` is on disk. Holds the
/// mapped file, so its descriptor stays open for as long as the region is kept.
package struct FileRegion {
    let file: MappedFile
    public var offset: Int
    public var count: Int
    /// The input's descriptor, open (read-only) for as long as ``file`` lives.
    public var descriptor: Int32 { file.descriptor }
}

/// Copies of unchanged input bytes that never pass through user space.
///
/// Every writer hands ``AtomicFileWriter/write(_:)-(UnsafeRawBufferPointer)`` the bytes it
/// copies unchanged as views into the input's memory mapping (a safetensors tensor, a shard's
/// tensors, the bytes of an ONNX model around its spliced initializers, an external data file).
/// The writer asks ``MappedRegions`` which file and offset such a view is and copies it with
/// `copy_file_range(2)` from the input's descriptor: on one file system the kernel copies page
/// cache to page cache (or shares the blocks, on XFS and Btrfs), so the input's pages are never
/// mapped into the process, and the copy costs what `cp` costs. The output is the same bytes
/// either way.
///
/// Where the kernel cannot copy — another file system (`EXDEV`), a kernel or C library without
/// the call (`ENOSYS`, or no symbol), a file system that does not support it (`EOPNOTSUPP`,
/// `EINVAL`) — the writer falls back to writing the view's bytes from the mapping, and remembers
/// that for the rest of its file. Views smaller than ``minimumBytes`` are always buffered (one
/// system call per small bias would cost more than copying it).
package enum InKernelCopy {
    /// Views at least this large are copied in the kernel.
    public static let minimumBytes = 64 << 10

    /// The result of one attempt.
    enum Outcome: Equatable {
        /// All bytes copied.
        case copied
        /// The kernel cannot copy between these files: `done` bytes were copied, write the rest.
        case unsupported(done: Int)
        /// A real error (`errno`), after `done` bytes.
        case failed(done: Int, errno: Int32)
    }

    private typealias CopyFileRange = @convention(c) (Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32) -> Int

    /// `copy_file_range` from the C library, looked up at run time (it is not in Swift's Glibc
    /// module; a C library without it, or Darwin, gets the buffered path).
    private static let copyFileRange: CopyFileRange? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "copy_file_range") else { return nil }
        return unsafeBitCast(symbol, to: CopyFileRange.self)
        #else
        return nil
        #endif
    }()

    /// Off unless set: an `errno` every call fails with (tests force the fallback with `EXDEV`,
    /// `ENOSYS`, `EINVAL`, `EOPNOTSUPP`); 0 is no simulation.
    package static let simulatedErrno = Atomic<Int32>(0)

    /// `MODELFORGET_BUFFERED_COPY=1` turns in-kernel copies off for the process (for comparing
    /// both paths in `Benchmarks/copy_bench.py`).
    static let disabled: Bool = {
        guard let value = getenv("MODELFORGET_BUFFERED_COPY") else { return false }
        return String(cString: value) != "0"
    }()

    /// Whether `errno` means the kernel cannot copy between these two files (as opposed to an I/O
    /// error or a full disk, which must surface).
    static func meansUnsupported(_ code: Int32) -> Bool {
        code == EXDEV || code == ENOSYS || code == EINVAL || code == EOPNOTSUPP || code == EBADF
            || code == ETXTBSY || code == EPERM
    }

    /// Copies `region` to `destination` at its current file position (which advances), looping
    /// over short copies.
    static func copy(_ region: FileRegion, to destination: Int32) -> Outcome {
        guard !disabled, let copyFileRange else { return .unsupported(done: 0) }
        var done = 0
        while done < region.count {
            var offset = Int64(region.offset + done)
            let simulated = simulatedErrno.load(ordering: .relaxed)
            let result = simulated != 0 ? -1 : copyFileRange(region.descriptor, &offset, destination, nil, region.count - done, 0)
            if result < 0 {
                let code = simulated != 0 ? simulated : errno
                if code == EINTR { continue }
                return meansUnsupported(code) ? .unsupported(done: done) : .failed(done: done, errno: code)
            }
            // 0 before the end: the input is shorter than its mapping (truncated by someone else).
            if result == 0 { return .failed(done: done, errno: EIO) }
            done += result
        }
        return .copied
    }
}

/// The address ranges of live ``MappedFile`` mappings, so that a writer can tell which file and
/// offset a view is (``region(of:)``). Entries hold their files weakly: a file being released
/// is never handed out.
package enum MappedRegions {
    private struct Mapping {
        let start: UInt
        let count: Int
        weak var file: MappedFile?
    }

    private static let live = Mutex<[Mapping]>([])

    static func register(_ file: MappedFile) {
        guard let base = file.bytes.baseAddress, !file.bytes.isEmpty else { return }
        live.withLock { $0.append(Mapping(start: UInt(bitPattern: base), count: file.bytes.count, file: file)) }
    }

    static func unregister(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        let start = UInt(bitPattern: base)
        live.withLock { mappings in
            if let index = mappings.firstIndex(where: { $0.start == start }) { mappings.remove(at: index) }
        }
    }

    /// The file region `view` is, when it lies wholly inside a live mapping; `nil` for any other
    /// memory (a converted or edited tensor, a header being built).
    public static func region(of view: UnsafeRawBufferPointer) -> FileRegion? {
        guard let base = view.baseAddress, !view.isEmpty else { return nil }
        let start = UInt(bitPattern: base)
        return live.withLock { mappings in
            for mapping in mappings where view.count <= mapping.count && start >= mapping.start
                && start - mapping.start <= UInt(mapping.count - view.count) {
                guard let file = mapping.file else { return nil }
                return FileRegion(file: file, offset: Int(start - mapping.start), count: view.count)
            }
            return nil
        }
    }
}
