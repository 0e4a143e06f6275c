import Foundation
import Testing
import ModelRuntime
import TensorCore
import WeightFormats
import _TestSupport

@Suite("apply on torchvision, timm and transformers classifiers exported by both ONNX exporters")
struct RealModelApplyTests {
    /// 40 labelled samples of the fixture's input shape (uniform in ±1.5, seeded; 4 per class).
    func writeData(_ entry: RealModelFixtures.Entry, to path: String) throws {
        var rng = SeededGenerator(seed: 16)
        let x = Tensor.random([40] + entry.sampleShape, using: &rng)
        let y = (0..<40).map { Int64($0 % entry.classes) }
        let contents: [String: [UInt8]] = ["x": x.data.withUnsafeBytes { Array($0) }, "y": y.withUnsafeBytes { Array($0) }]
        try Checkpoint.write(to: path, tensors: [TensorInfo(name: "x", dtype: .F32, shape: x.shape), TensorInfo(name: "y", dtype: .I64, shape: [40])],
                             options: CheckpointWriteOptions(container: .npz(.stored)),
                             bytes: { info, consume in try contents[info.name]!.withUnsafeBytes { try consume($0) } })
    }

    @Test("apply --classes 5,7 exits 0; in the ONNX file it writes the weight-layer initializers differ, every other one is byte-identical",
          .tags(.slow), arguments: RealModelFixtures.onnxFiles)
    func apply(_ file: RealModelFixtures.File) throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data.npz"), output = directory.path("out.onnx")
        try writeData(file.entry, to: data)
        // Batches of 8: fewer samples than a ViT has tokens (17).
        let result = try ProcessRunner.modelforget(["apply", file.path, "--method", "svd", "--classes", "5,7", "--data", data, "--batch-size", "8",
                                                    "-o", output, "--json", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        guard result.status == 0 else { return }
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let edited = try #require(summary["layers_edited"] as? Int)
        let layers = try Model.fromONNXFile(file.path).graph.weightLayers
        let weights = Set(layers.map(\.weight))
        let grouped = Set(layers.filter { $0.groups > 1 }.map(\.weight))
        let original = try ONNXModel(path: file.path), written = try ONNXModel(path: output)
        #expect(written.tensors.map(\.name) == original.tensors.map(\.name))
        #expect(written.metadata["modelforget.classes"] == "5,7")
        var changed: [String] = []
        for info in original.tensors {
            #expect(written.info(named: info.name)?.shape == info.shape && written.info(named: info.name)?.dtype == info.dtype)
            if try written.bytes(of: info.name) != original.bytes(of: info.name) { changed.append(info.name) }
        }
        #expect(Set(changed).isSubset(of: weights), "changed outside the weight layers: \(Set(changed).subtracting(weights).sorted())")
        #expect(edited == weights.count && !changed.isEmpty)
        // A depthwise convolution on the last stage's 1×1 (or 2×2) maps sees one tap per channel
        // inside the input: the retain samples span its forget vectors and its projection is the
        // identity. Every other weight layer changes.
        let unchanged = weights.subtracting(changed)
        #expect(unchanged.isSubset(of: grouped), "unchanged weight layers that are not depthwise: \(unchanged.subtracting(grouped).sorted())")
    }
}
