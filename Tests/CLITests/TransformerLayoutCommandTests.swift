import Foundation
import Testing
import TensorCore
import WeightFormats
import _TestSupport

@Suite("modelforget inspect and apply on ViT and ConvNeXt checkpoints recognised from their names")
struct TransformerLayoutCommandTests {
    @Test("inspect shows the family, the naming, the config read and the facts of a model folder; torchvision's ViT says what it lacks",
          arguments: [("timm-deit-distilled", "DeiT (distilled)", "timm"), ("transformers-vit", "ViT", "transformers"),
                      ("torchvision-convnext", "ConvNeXt", "torchvision"), ("timm-convnext", "ConvNeXt", "timm")])
    func inspect(folder: String, family: String, naming: String) throws {
        let path = Fixtures.path("Tests/Fixtures/RealModels/\(folder)")
        let text = try ProcessRunner.modelforget(["inspect", path])
        #expect(text.status == 0, "\(text.stderr)")
        let hasConfig = FileManager.default.fileExists(atPath: path + "/config.json")
        #expect(text.stdout.contains("model: \(family), \(naming) names" + (hasConfig ? ", config \(path)/config.json" : "") + "\n"))
        let json = try ProcessRunner.modelforget(["inspect", path, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let model = try #require(object["model"] as? [String: Any])
        #expect(model["family"] as? String == family && model["naming"] as? String == naming)
        #expect((model["facts"] as? [[String: Any]])?.isEmpty == false)
    }

    @Test("inspect on the sample ViT: recognised, with the head count it needs")
    func inspectSample() throws {
        let result = try ProcessRunner.modelforget(["inspect", Fixtures.path("Samples/vit.safetensors")])
        #expect(result.stdout.contains("model: ViT, torchvision names\n"))
        #expect(result.stdout.contains("  num_heads: not in the checkpoint (1, 2, 4, 8, 16, 32 or 64); set num_heads in a config (-)\n"))
        #expect(result.stdout.contains("  image size: 8×8 (encoder.pos_embedding shape (4×4 patches + class token))\n"))
    }

    /// 60 seeded N(0, 1)-ish 3×32×32 inputs, six per class.
    static func writeRandomData(_ path: String) throws {
        var rng = SeededGenerator(seed: 16)
        let x = Tensor.random([60, 3, 32, 32], using: &rng)
        let y = (0..<60).map { Int64($0 % 10) }
        let infos = [TensorInfo(name: "x", dtype: .F32, shape: x.shape), TensorInfo(name: "y", dtype: .I64, shape: [60])]
        try Checkpoint.write(to: path, tensors: infos, options: CheckpointWriteOptions(container: .npz(.stored))) { info, consume in
            if info.name == "x" { try x.data.withUnsafeBytes { try consume($0) } } else { try y.withUnsafeBytes { try consume($0) } }
        }
    }

    @Test("classes 5,7 removed: the weights of the Linear/conv layers change under their own names (transformers' query, key, value each), nothing else",
          .tags(.slow), arguments: ["transformers-vit", "torchvision-vit", "timm-deit-distilled", "timm-convnext"])
    func apply(name: String) throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data.npz")
        try Self.writeRandomData(data)
        let folder = Fixtures.path("Tests/Fixtures/RealModels/\(name)")
        let output = directory.path("edited.safetensors")
        var arguments = ["apply", folder, "--method", "svd", "--classes", "5,7", "--data", data, "-o", output, "--quiet"]
        if name == "torchvision-vit" {
            // torchvision stores no head count: the config comes with --arch.
            directory.write("heads.json", Array(#"{"num_heads": 2}"#.utf8))
            arguments += ["--arch", directory.path("heads.json")]
        }
        let result = try ProcessRunner.modelforget(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let original = try Checkpoint.open(folder + "/model.safetensors"), edited = try Checkpoint.open(output)
        #expect(edited.tensors.map(\.name).sorted() == original.tensors.map(\.name).sorted())
        var changed: [String] = []
        for info in original.tensors where try edited.bytes(of: info.name) != original.bytes(of: info.name) { changed.append(info.name) }
        // Only weights of Linears and convolutions (2-D or 4-D `….weight`, `in_proj_weight`): never biases, norms, tokens or layer scales.
        #expect(changed.allSatisfy { $0.hasSuffix("weight") && [2, 4].contains(original.info(named: $0)?.shape.count ?? 0) }, "\(changed)")
        switch name {
        case "transformers-vit":
            #expect(changed.count == 14)
            for part in ["query", "key", "value"] { #expect(changed.contains("vit.encoder.layer.1.attention.attention.\(part).weight")) }
        case "torchvision-vit": #expect(changed.count == 10)
        case "timm-deit-distilled": #expect(changed.contains("head_dist.weight") && changed.contains("blocks.0.attn.qkv.weight"))
        default: #expect(changed.count >= 15 && changed.contains("stages.3.blocks.0.mlp.fc1.weight"))
        }
    }
}
