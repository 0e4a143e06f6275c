import FuzzSupport
import ModelRuntime
import Safeguards
import TensorCore
import WeightFormats

/// libFuzzer target: the bytes as an ONNX model imported into a runnable graph (operators,
/// attributes, fusions) and run forward on a one-sample batch of the declared input shape (or
/// `[1, 4]`), under a small allocation budget so that sizes taken from the graph are checked
/// before they are allocated.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNXGraph(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.write(FuzzInput.bytes(data, size), named: "model.onnx")
    AllocationBudget.limit = 16 << 20   // also bounds the work of one pass
    guard let onnx = try? ONNXModel(path: path), let model = try? Model.fromONNX(onnx) else { return 0 }
    var shape = [1, 4]
    if let sample = model.sampleShape, let count = Checked.product(sample), count > 0, count <= 1 << 14 {
        shape = [1] + sample
    }
    let count = shape.reduce(1, *)
    let input = Tensor(shape: shape, data: (0..<count).map { Float($0 % 17) / 8 - 1 })
    _ = try? model.graph.forward([model.inputName: input])
    return 0
}

@_cdecl("fuzz_onnx_graph_main")
public func fuzz_onnx_graphMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzInput.runDriver(argc, argv, fuzzONNXGraph)
}
