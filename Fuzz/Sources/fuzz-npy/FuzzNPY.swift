import FuzzSupport
import WeightFormats

/// libFuzzer target: the bytes as a `.npy` header (``NPYHeader/parse(_:)``) and as a whole
/// `.npy` file, whose data is converted to little-endian C order when it is not.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzInput.bytes(data, size)
    _ = try? NPYHeader.parse(bytes)
    let path = FuzzInput.write(bytes, named: "array.npy")
    if let file = try? NPYFile(path: path) {
        for info in file.tensors { _ = try? file.withBytes(of: info.name) { $0.first } }
    }
    return 0
}

@_cdecl("fuzz_npy_main")
public func fuzz_npyMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzInput.runDriver(argc, argv, fuzzNPY)
}
