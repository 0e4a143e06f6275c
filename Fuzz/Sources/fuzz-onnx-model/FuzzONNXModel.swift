import FuzzSupport
import WeightFormats

/// libFuzzer target: the bytes as an ONNX model (protobuf walk, graph, initializers, attribute
/// tensors, external data beside it), every tensor's bytes, and the splice writer replacing the
/// first initializer that can be replaced.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNXModel(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.write(FuzzInput.bytes(data, size), named: "model.onnx")
    guard let model = try? ONNXModel(path: path) else { return 0 }
    for tensor in model.initializers + model.graph.attributeTensors {
        _ = try? model.withBytes(of: tensor) { $0.first }
    }
    if let first = model.initializers.first(where: { ($0.info.byteCount ?? Int.max) <= 1 << 16 }),
       let count = first.info.byteCount {
        let replacement = [UInt8](repeating: 7, count: count)
        try? model.write(to: FuzzInput.folder + "/edited.onnx", replacing: [first.info], addingMetadata: ["k": "v"]) { _, consume in
            try replacement.withUnsafeBytes { try consume($0) }
        }
    }
    return 0
}

@_cdecl("fuzz_onnx_model_main")
public func fuzz_onnx_modelMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzInput.runDriver(argc, argv, fuzzONNXModel)
}
