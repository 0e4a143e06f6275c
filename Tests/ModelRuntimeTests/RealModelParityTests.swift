import Testing
import TensorCore
import WeightFormats
import ModelRuntime
import _TestSupport

/// PyTorch's logits for a real-library fixture: `x` (the seeded input) and `logits` of `expected.npz`.
struct RealModelExpectation {
    let x: Tensor
    let logits: Tensor

    init(_ entry: RealModelFixtures.Entry) throws {
        let file = try Checkpoint.open(Fixtures.path("\(RealModelFixtures.root)/\(entry.folder)/expected.npz"))
        x = try TensorLoading.floatTensor(file, try #require(file.info(named: "x")))
        logits = try TensorLoading.floatTensor(file, try #require(file.info(named: "logits")))
    }
}

@Suite("PyTorch parity of torchvision, timm and transformers classifiers exported by both ONNX exporters")
struct RealModelParityTests {
    @Test("the manifest lists the 16 committed folders, each with both ONNX files and its expected logits")
    func manifest() {
        #expect(RealModelFixtures.entries.count == 16)
        #expect(Set(RealModelFixtures.entries.map(\.library)) == ["torchvision", "timm", "transformers"])
        #expect(RealModelFixtures.onnxFiles.count == 32)
    }

    @Test("Model.fromONNXFile reproduces PyTorch's logits within 1e-4 (max abs, float32)", arguments: RealModelFixtures.onnxFiles)
    func parity(_ file: RealModelFixtures.File) throws {
        let expected = try RealModelExpectation(file.entry)
        #expect(Array(expected.x.shape.dropFirst()) == file.entry.sampleShape)
        let model = try Model.fromONNXFile(file.path)
        #expect(model.sampleShape == file.entry.sampleShape)
        let logits = try model.logits(expected.x)
        #expect(logits.shape == [expected.x.shape[0], file.entry.classes])
        let difference = maxAbsDifference(logits, expected.logits)
        #expect(difference <= 1e-4, "max abs difference \(difference)")
    }
}
