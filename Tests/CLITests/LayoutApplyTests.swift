import Foundation
import Testing
import TensorCore
import WeightFormats
import ModelRuntime
import _TestSupport

@Suite("apply on real-library checkpoints read by their layouts (no --arch)")
struct LayoutApplyTests {
    /// One folder per CNN layout, the quick ones.
    static let folders = [
        "RealModels/timm-resnet-bottleneck", "RealModels/transformers-resnet-basic", "LayoutVariants/torchvision-efficientnet-v2-tiny",
        "RealModels/timm-efficientnet-test", "RealModels/torchvision-mobilenet-v2", "RealModels/torchvision-mobilenet-v3-small",
        "RealModels/transformers-mobilenet-v2",
    ]

    @Test("apply --classes 5,7 on random labelled data edits every weight layer the layout found and nothing else", .tags(.slow),
          arguments: folders)
    func applyEditsWeightLayers(folder: String) throws {
        let directory = TemporaryDirectory()
        let path = Fixtures.path("Tests/Fixtures/\(folder)")
        let model = try Model.load(path)
        // 40 random 3×32×32 samples, four per class.
        var generator = SeededGenerator(seed: 5)
        let x = Tensor.random([40, 3, 32, 32], using: &generator)
        let y = (0..<40).map { Int64($0 % 10) }
        let data = directory.path("data.npz")
        try Checkpoint.write(to: data, tensors: [TensorInfo(name: "x", dtype: .F32, shape: x.shape), TensorInfo(name: "y", dtype: .I64, shape: [40])],
                             options: CheckpointWriteOptions(container: .npz(.stored))) { info, consume in
            if info.name == "x" { try x.data.withUnsafeBytes { try consume($0) } } else { try y.withUnsafeBytes { try consume($0) } }
        }
        let output = directory.path("out.safetensors")
        let result = try ProcessRunner.modelforget(["apply", path, "--method", "svd", "--classes", "5,7", "--data", data, "-o", output])
        #expect(result.status == 0, "\(result.stderr)")
        let layers = model.graph.weightLayers.map(\.weight)
        #expect(result.stdout.contains("\(layers.count) weight layers edited"), "\(result.stdout)")
        let before = try Checkpoint.open(path + "/model.safetensors"), after = try Checkpoint.open(output)
        var changed: [String] = []
        for info in before.tensors {
            let a = try before.withBytes(of: info.name) { Array($0) }, b = try after.withBytes(of: info.name) { Array($0) }
            if a != b { changed.append(info.name) }
        }
        #expect(!changed.isEmpty && Set(changed).isSubset(of: Set(layers)), "changed: \(changed)")
        #expect(changed.count * 10 >= layers.count * 8, "\(changed.count) of \(layers.count) weight layers changed")
    }

    @Test("inspect FOLDER names the family and the naming read from the checkpoint and its config",
          arguments: zip(folders, ["ResNet (Bottleneck), torchvision/timm", "ResNet (BasicBlock), transformers", "EfficientNetV2, torchvision",
                                   "EfficientNet, timm", "MobileNetV2, torchvision", "MobileNetV3, torchvision", "MobileNetV2, transformers"]))
    func inspectFamily(folder: String, family: String) throws {
        let result = try ProcessRunner.modelforget(["inspect", Fixtures.path("Tests/Fixtures/\(folder)")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("model: \(family) names"), "\(result.stdout.prefix(300))")
    }
}
