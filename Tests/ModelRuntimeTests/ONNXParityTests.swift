import Testing
import TensorCore
import WeightFormats
import ModelRuntime
import _TestSupport

/// The expected logits recorded by Samples/make_samples.py with PyTorch.
struct ExpectedLogits {
    let x: Tensor
    let labels: [Int]
    let logits: Tensor

    init(model: String) throws {
        let file = try Checkpoint.open(Fixtures.path("Samples/\(model).expected.npz"))
        x = try TensorLoading.floatTensor(file, file.info(named: "x")!)
        logits = try TensorLoading.floatTensor(file, file.info(named: "logits")!)
        labels = try file.withBytes(of: "y") { TensorLoading.integers($0, dtype: .I64)! }
    }
}

func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
    return zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
}

@Suite("PyTorch parity of the sample models")
struct ONNXParityTests {
    @Test("ONNX graphs reproduce PyTorch's logits within 1e-4 (max abs, float32)", arguments: ["mlp", "cnn", "resnet", "vit"])
    func onnxParity(model name: String) throws {
        let expected = try ExpectedLogits(model: name)
        let model = try Model.fromONNX(ONNXModel(path: Fixtures.path("Samples/\(name).onnx")))
        let logits = try model.logits(expected.x)
        #expect(maxAbsDifference(logits, expected.logits) < 1e-4)
    }
}
