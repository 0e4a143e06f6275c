#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Safeguards

/// What every fuzz target shares: a scratch folder that each input is written into (so that the
/// readers are exercised through the same file path the command line uses: open, fstat, mmap),
/// and a small allocation budget (libFuzzer's -rss_limit_mb and -malloc_limit_mb report anything
/// that gets past it).
public enum FuzzInput {
    /// The budget every target runs under: far below libFuzzer's default 2 GiB malloc limit, so
    /// a size check that is missing shows up as a malloc-limit finding.
    public static let budget = 256 << 20

    /// A fresh folder for this process (under /dev/shm when it exists: no disk writes).
    public static let folder: String = {
        AllocationBudget.limit = budget
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        var template = Array("\(base)/modelforget-fuzz-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fatalError("cannot create a scratch folder in \(base)")
        }
        let path = String(cString: made)
        // A data file beside the model, so that fuzzed ONNX external-data references can hit it.
        write(Array((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }), to: path + "/data.bin")
        atexit { FuzzInput.removeFolder() }
        return path
    }()

    /// Writes `bytes` to `name` in ``folder`` and returns its path.
    @discardableResult
    public static func write(_ data: UnsafeRawBufferPointer, named name: String) -> String {
        let path = folder + "/" + name
        write(Array(data), to: path)
        return path
    }

    static func write(_ bytes: [UInt8], to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { fatalError("cannot write \(path)") }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { fatalError("cannot write \(path)") }
            offset += written
        }
    }

    /// The raw bytes libFuzzer hands to `LLVMFuzzerTestOneInput`.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size)
    }

    static func removeFolder() {
        guard let directory = opendir(folder) else { return }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { unlink(folder + "/" + name) }
        }
        closedir(directory)
        rmdir(folder)
    }
}

/// libFuzzer's entry for programs with their own `main` (clang_rt.fuzzer, LLVM ≥ 11).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

extension FuzzInput {
    /// Runs libFuzzer with the command line and `test` as the target. SwiftPM links an
    /// executable's `main` to a symbol named after its module (`fuzz_npy_main`, …), so each
    /// target defines that symbol and calls this, instead of linking libFuzzer's `main`.
    public static func runDriver(
        _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
        _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32 {
        var count = argc
        var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        return LLVMFuzzerRunDriver(&count, &arguments, test)
    }
}
