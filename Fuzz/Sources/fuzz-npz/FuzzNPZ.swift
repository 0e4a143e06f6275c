import FuzzSupport
import WeightFormats

/// libFuzzer target: the bytes as an `.npz` archive (central directory, members, their `.npy`
/// headers, decompression and CRC checks of every member).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPZ(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.write(FuzzInput.bytes(data, size), named: "archive.npz")
    if let archive = try? NPZArchive(path: path) {
        for info in archive.tensors { _ = try? archive.withBytes(of: info.name) { $0.first } }
    }
    return 0
}

@_cdecl("fuzz_npz_main")
public func fuzz_npzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzInput.runDriver(argc, argv, fuzzNPZ)
}
