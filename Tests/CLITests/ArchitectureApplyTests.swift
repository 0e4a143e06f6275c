import Foundation
import Testing
import ModelRuntime
import TensorCore
import WeightFormats
import _TestSupport

@Suite("apply on a real-library checkpoint with --arch an ONNX file from either exporter")
struct ArchitectureApplyTests {
    @Test("apply --classes 5,7 CKPT --arch ONNX writes a safetensors with the checkpoint's names, shapes and dtypes; only weight layers change, under the checkpoint's names",
          .tags(.slow), arguments: RealModelFixtures.onnxFiles)
    func apply(_ file: RealModelFixtures.File) throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data.npz"), output = directory.path("out.safetensors")
        try RealModelApplyTests().writeData(file.entry, to: data)
        let checkpoint = Fixtures.path("\(RealModelFixtures.root)/\(file.entry.folder)/model.safetensors")
        let result = try ProcessRunner.modelforget(["apply", checkpoint, "--method", "svd", "--arch", file.path, "--classes", "5,7", "--data", data,
                                                    "--batch-size", "8", "-o", output, "--json", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        guard result.status == 0 else { return }
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let layers = try Model.load(checkpoint, architecture: file.path).graph.weightLayers
        let weights = Set(layers.map(\.weight)), grouped = Set(layers.filter { $0.groups > 1 }.map(\.weight))
        #expect(summary["layers_edited"] as? Int == weights.count)
        let original = try Checkpoint.open(checkpoint), written = try Checkpoint.open(output)
        #expect(written.format == .safetensors)
        #expect(written.tensors == original.tensors)
        #expect(written.metadata["modelforget.classes"] == "5,7")
        var changed: [String] = []
        for info in original.tensors {
            let before = try original.withBytes(of: info.name) { Array($0) }, after = try written.withBytes(of: info.name) { Array($0) }
            if before != after { changed.append(info.name) }
        }
        #expect(!changed.isEmpty && Set(changed).isSubset(of: weights), "changed outside the weight layers: \(Set(changed).subtracting(weights).sorted())")
        // Depthwise convolutions on the last stages' 1×1 or 2×2 maps are projected by the identity.
        let unchanged = weights.subtracting(changed)
        #expect(unchanged.isSubset(of: grouped), "unchanged weight layers that are not depthwise: \(unchanged.subtracting(grouped).sorted())")
    }
}
