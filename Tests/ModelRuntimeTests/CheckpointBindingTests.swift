import Foundation
import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

/// The checkpoint and one ONNX file of a committed real-library folder.
struct ArchitecturePair {
    let file: RealModelFixtures.File
    var folder: String { Fixtures.path("\(RealModelFixtures.root)/\(file.entry.folder)") }
    var checkpoint: String { folder + "/model.safetensors" }

    /// The binding of the folder's checkpoint (or `checkpoint`) to the file's graph.
    func binding(_ checkpoint: String? = nil) throws -> CheckpointBinding {
        try CheckpointBinding.of(try Checkpoint.open(checkpoint ?? self.checkpoint), to: try ONNXModel(path: file.path))
    }
}

@Suite("a real-library checkpoint runs on an ONNX graph of its architecture from either torch exporter (--arch)")
struct CheckpointBindingTests {
    @Test("Model.load(model.safetensors, architecture: model[.legacy].onnx) gives PyTorch's logits within 1e-4",
          arguments: RealModelFixtures.onnxFiles)
    func parity(_ file: RealModelFixtures.File) throws {
        let pair = ArchitecturePair(file: file)
        let expected = try RealModelExpectation(file.entry)
        let model = try Model.load(pair.checkpoint, architecture: file.path)
        let difference = maxAbsDifference(try model.logits(expected.x), expected.logits)
        let binding = try pair.binding()
        print("PARITY \(file.entry.folder) \(file.exporter) \(difference) folds=\(binding.folds.count) "
              + "eps=\(Set(binding.folds.map { "\($0.epsilon)/\($0.epsilonSource.rawValue)/\($0.verified)" }).sorted()) "
              + "evidence=\(Dictionary(grouping: binding.bound.values, by: \.evidence.rawValue).mapValues(\.count)) kept=\(binding.kept.count) "
              + "warnings=\(model.warnings)")
        #expect(difference <= 1e-4, "max abs difference \(difference)")
    }
}
