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

/// The uncommitted real-library folders of the development machine (`/work/models/trained`: the
/// trained tier, `/work/models/tiny`: the tiny models too big to commit), each with both ONNX files.
enum UncommittedRealModels {
    static let roots = ["/work/models/trained", "/work/models/tiny"]

    static let files: [String] = roots.flatMap { root -> [String] in
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return folders.sorted().flatMap { folder in
            ["model.onnx", "model.legacy.onnx"].map { "\(root)/\(folder)/\($0)" }
        }.filter { FileManager.default.fileExists(atPath: $0) }
    }
}

@Suite("--arch ONNX on the uncommitted trained and tiny real-library models")
struct UncommittedCheckpointBindingTests {
    @Test("every folder's checkpoint with either ONNX file gives PyTorch's logits within 1e-4", .tags(.slow),
          .enabled(if: !UncommittedRealModels.files.isEmpty, "no /work/models folders on this machine"), arguments: UncommittedRealModels.files)
    func parity(_ onnx: String) throws {
        let folder = String(onnx[..<onnx.lastIndex(of: "/")!])
        let expected = try Checkpoint.open(folder + "/expected.npz")
        let x = try TensorLoading.floatTensor(expected, try #require(expected.info(named: "x")))
        let logits = try TensorLoading.floatTensor(expected, try #require(expected.info(named: "logits")))
        let model = try Model.load(folder + "/model.safetensors", architecture: onnx)
        let difference = maxAbsDifference(try model.logits(x), logits)
        let binding = try CheckpointBinding.of(try Checkpoint.open(folder + "/model.safetensors"), to: try ONNXModel(path: onnx))
        print("PARITY \(onnx) \(difference) folds=\(binding.folds.count) "
              + "eps=\(Set(binding.folds.map { "\($0.epsilon)/\($0.epsilonSource.rawValue)/\($0.verified)" }).sorted()) "
              + "evidence=\(Dictionary(grouping: binding.bound.values, by: \.evidence.rawValue).mapValues(\.count)) warnings=\(model.warnings)")
        #expect(difference <= 1e-4, "max abs difference \(difference)")
    }
}
