import FuzzSupport
import WeightFormats

/// libFuzzer target: the bytes as a safetensors file (format detection, header validation, every
/// tensor's bytes) and as a sharded-set index (its JSON, the shards it names: `data.bin` and the
/// file itself live beside it).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzInput.bytes(data, size)
    let path = FuzzInput.write(bytes, named: "model.safetensors")
    if let reader = try? Checkpoint.open(path) {
        for info in reader.tensors { _ = try? reader.withBytes(of: info.name) { $0.first } }
    }
    let index = FuzzInput.write(bytes, named: "model.safetensors.index.json")
    if let set = try? ShardedSafeTensors(indexPath: index) {
        for info in set.tensors { _ = try? set.withBytes(of: info.name) { $0.last } }
    }
    return 0
}

@_cdecl("fuzz_safetensors_main")
public func fuzz_safetensorsMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzInput.runDriver(argc, argv, fuzzSafeTensors)
}
