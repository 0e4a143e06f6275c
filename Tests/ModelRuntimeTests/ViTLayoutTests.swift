import Foundation
import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

@Suite("ViT layouts: torchvision, timm (incl. DeiT distilled) and transformers checkpoints without --arch")
struct ViTLayoutTests {
    /// The committed ViT folders; torchvision's has no config.json, so its head count (2) comes from a given config.
    static let folders = ["torchvision-vit", "timm-vit", "timm-deit-distilled", "transformers-vit"]

    /// The folder's model: its own names and config.json, or for torchvision a config file with the head count.
    static func load(_ folder: ZooFolder, in directory: TemporaryDirectory) throws -> Model {
        guard folder.name == "torchvision-vit" else { return try Model.load(folder.path) }
        try writeJSON(["num_heads": 2], to: directory.path("heads.json"))
        return try Model.load(folder.path, architecture: directory.path("heads.json"))
    }

    @Test("each folder's logits are PyTorch's within 1e-4 (max abs) on its x", arguments: folders)
    func parity(name: String) throws {
        let folder = try ZooFolder(name)
        let directory = TemporaryDirectory()
        let model = try Self.load(folder, in: directory)
        #expect(model.sampleShape == [3, 32, 32])
        #expect(model.warnings.isEmpty)
        let logits = try model.logits(folder.x)
        #expect(logits.shape == folder.logits.shape)
        #expect(maxAbsDifference(logits, folder.logits) < 1e-4)
        #expect(model.labelNames == (name == "torchvision-vit" ? nil : (0..<10).map(String.init)))
    }

    @Test("each folder is claimed by its own layout only", arguments: folders)
    func claimedOnce(name: String) throws {
        let expected = switch name {
        case "torchvision-vit": TorchvisionViTLayout.description
        case "transformers-vit": TransformersViTLayout.description
        default: TimmViTLayout.description
        }
        #expect(claimingLayouts(try ZooFolder(name).context()) == [expected])
    }

    @Test("families and namings as inspect shows them; the config's numbers are facts with their source")
    func readings() throws {
        func reading(_ name: String) throws -> LayoutReading {
            let folder = try ZooFolder(name)
            return try RecognizedLayouts.recognize(try Checkpoint.open(folder.path + "/model.safetensors"),
                                                   config: try ModelConfig.find(besides: folder.path), sampleShape: nil)
        }
        let timm = try reading("timm-vit"), deit = try reading("timm-deit-distilled")
        let transformers = try reading("transformers-vit"), torchvision = try reading("torchvision-vit")
        #expect([timm.family, deit.family, transformers.family, torchvision.family] == ["ViT", "DeiT (distilled)", "ViT", "ViT"])
        #expect([timm.naming, deit.naming, transformers.naming, torchvision.naming] == ["timm", "timm", "transformers", "torchvision"])
        #expect(timm.facts.contains(LayoutFact("num_heads", "2", from: "config.json (num_heads)")))
        #expect(transformers.facts.contains(LayoutFact("num_heads", "2", from: "config.json (num_attention_heads)")))
        #expect(transformers.facts.contains(LayoutFact("layer_norm_eps", "1e-12", from: "config.json")))
        #expect(deit.facts.contains { $0.key == "logits" && $0.value.contains("head_dist") })
        // torchvision stores no head count: recognised (inspect shows it), with a fact saying how to give it.
        #expect(torchvision.facts.contains(LayoutFact("num_heads", "not in the checkpoint (1, 2, 4, 8, 16 or 32); set num_heads in a config", from: "-")))
        #expect(torchvision.sampleShape == [3, 32, 32])
    }

    @Test("weight layers: fused qkv / in_proj per block, transformers' query, key and value as three layers under their own names")
    func weightLayers() throws {
        let directory = TemporaryDirectory()
        let transformers = try Model.load(try ZooFolder("transformers-vit").path)
        let names = transformers.graph.weightLayers.map(\.nodeName)
        // patch projection; per layer query, key, value, output, intermediate, output; classifier
        #expect(names.count == 1 + 2 * 6 + 1)
        #expect(Array(names[1...4]) == ["vit.encoder.layer.0.attention.attention.query", "vit.encoder.layer.0.attention.attention.key",
                                        "vit.encoder.layer.0.attention.attention.value", "vit.encoder.layer.0.attention.output.dense"])
        #expect(transformers.graph.weightLayers.allSatisfy { transformers.graph.parameters[$0.weight] != nil })
        let timm = try Model.load(try ZooFolder("timm-vit").path)
        #expect(timm.graph.weightLayers.map(\.weight).prefix(5) == ["patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight",
                                                                     "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight"])
        let deit = try Model.load(try ZooFolder("timm-deit-distilled").path)
        #expect(deit.graph.weightLayers.suffix(2).map(\.weight) == ["head.weight", "head_dist.weight"])
        let torchvision = try Self.load(try ZooFolder("torchvision-vit"), in: directory)
        #expect(torchvision.graph.weightLayers.count == 1 + 2 * 4 + 1)
    }

    @Test("gradients through the transformers ViT's separate query weights match finite differences")
    func separateProjectionGradient() throws {
        let folder = try ZooFolder("transformers-vit")
        let model = try Model.load(folder.path)
        let x = Tensor(shape: [2, 3, 32, 32], data: Array(folder.x.data.prefix(2 * 3 * 32 * 32)))
        let labels = [3, 7]
        let (outputs, record) = try model.graph.forward([model.inputName: x], recording: true)
        let (_, dlogits) = Normalization.crossEntropy(logits: outputs[model.outputName]!, labels: labels)
        let gradients = try model.graph.backward(record, outputGradients: [model.outputName: dlogits])
        for name in ["vit.encoder.layer.1.attention.attention.query.weight", "vit.encoder.layer.0.attention.attention.value.bias"] {
            let analytic = try #require(gradients.parameters[name])
            func loss(_ delta: Float, at index: Int) throws -> Double {
                var perturbed = model.graph.parameters[name]!
                perturbed.data[index] += delta
                return Double(Normalization.crossEntropy(logits: try model.logits(x, parameters: [name: perturbed]), labels: labels).loss)
            }
            for index in [0, 5, 31] {
                let numeric = (try loss(1e-2, at: index) - loss(-1e-2, at: index)) / 2e-2
                #expect(abs(Double(analytic.data[index]) - numeric) < 1e-3 + 2e-2 * abs(numeric), "d/d\(name)[\(index)]")
            }
        }
    }

    @Test("the sample ViT (torchvision names, 4 heads) runs from a config given as --arch, within 1e-4 of PyTorch; without one it is refused",
          arguments: ["num_heads", "num_attention_heads"])
    func sampleWithConfig(key: String) throws {
        let directory = TemporaryDirectory()
        let config = directory.path("vit.config.json")
        try writeJSON([key: 4], to: config)
        let expected = try ExpectedLogits(model: "vit")
        let model = try Model.load(sample("vit.safetensors"), architecture: config)
        #expect(model.sampleShape == [1, 8, 8])
        #expect(model.layout?.facts.contains(LayoutFact("num_heads", "4", from: "given config (\(key))")) == true)
        #expect(maxAbsDifference(try model.logits(expected.x), expected.logits) < 1e-4)
        #expect(errorMessage { _ = try Model.load(sample("vit.safetensors")) } == "\(sample("vit.safetensors")): a torchvision ViT: the checkpoint does not fix "
            + "the number of attention heads (hidden size 64 allows 1, 2, 4, 8, 16, 32 or 64 heads; torchvision's own ViTs with hidden size 768, 1024 or 1280 have 12, 16 or 16); "
            + "a config must set 'num_heads' or 'num_attention_heads'")
    }

    @Test("a config that contradicts the tensors is refused, naming both")
    func contradictingConfig() throws {
        let directory = TemporaryDirectory()
        try writeJSON(["num_heads": 5], to: directory.path("five.json"))
        #expect(errorMessage { _ = try Model.load(sample("vit.safetensors"), architecture: directory.path("five.json")) }
            == "\(sample("vit.safetensors")): a torchvision ViT: the config says num_heads 5, which does not divide the hidden size 64")
        // A timm folder whose config says another depth.
        let folder = try ZooFolder("timm-vit")
        try FileManager.default.copyItem(atPath: folder.path + "/model.safetensors", toPath: directory.path("model.safetensors"))
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.path + "/config.json"))) as? [String: Any])
        var arguments = try #require(config["model_args"] as? [String: Any])
        arguments["depth"] = 3
        config["model_args"] = arguments
        try writeJSON(config, to: directory.path("config.json"))
        #expect(errorMessage { _ = try Model.load(directory.path) } == "\(directory.path): a timm ViT: config.json says depth 3 but the number of blocks is 2")
    }

    @Test("a missing or renamed tensor of a recognised ViT is a precise error",
          arguments: [("timm-vit", "blocks.1.mlp.fc2.weight", "blocks.1.mlp.fc_2.weight"),
                      ("transformers-vit", "vit.encoder.layer.0.attention.attention.key.weight", nil),
                      ("timm-deit-distilled", "head_dist.weight", nil),
                      ("torchvision-vit", "encoder.ln.weight", "encoder.norm.weight")])
    func damagedCheckpoint(name: String, tensor: String, renamed: String?) throws {
        let directory = TemporaryDirectory()
        let folder = try ZooFolder(name)
        let path = directory.path("model.safetensors")
        try rewriteTensors(of: folder.path + "/model.safetensors", to: path) { $0 == tensor ? renamed : $0 }
        if FileManager.default.fileExists(atPath: folder.path + "/config.json") {
            try FileManager.default.copyItem(atPath: folder.path + "/config.json", toPath: directory.path("config.json"))
        } else {
            try writeJSON(["num_heads": 2], to: directory.path("config.json"))   // read beside the checkpoint only as --arch
        }
        let message = errorMessage {
            _ = name == "torchvision-vit" ? try Model.load(path, architecture: directory.path("config.json")) : try Model.load(path)
        }
        let shape = try #require(try Checkpoint.open(folder.path + "/model.safetensors").info(named: tensor)?.shape)
        #expect(message == "\(path): missing tensor '\(tensor)' (expected shape \(shape))")
    }

    @Test("an extra module the layout does not compute (timm qk-norm) is refused, not dropped; no pos_embed and no config: no image size")
    func unknownVariant() throws {
        let directory = TemporaryDirectory()
        let folder = try ZooFolder("timm-vit")
        let extra = directory.path("extra.safetensors")
        try rewriteTensors(of: folder.path + "/model.safetensors", to: extra, adding: ["blocks.0.attn.q_norm.weight": "blocks.0.norm1.weight",
                                                                                        "blocks.0.attn.k_norm.weight": "blocks.0.norm1.weight"])
        #expect(errorMessage { _ = try Model.load(extra) }
            == "\(extra): a timm ViT: tensor 'blocks.0.attn.k_norm.weight' (and 1 more) has no place in it: a variant this layout does not compute")
        let noPosition = directory.path("no-pos.safetensors")
        try rewriteTensors(of: folder.path + "/model.safetensors", to: noPosition) { $0 == "pos_embed" ? nil : $0 }
        #expect(errorMessage { _ = try Model.load(noPosition) }
            == "\(noPosition): a timm ViT: the checkpoint does not fix the image size (the checkpoint has no pos_embed); a config must set 'img_size' or 'input_size'")
    }

    /// torchvision's `vit_b_16` (random init, 224×224, 1000 classes), written by
    /// `Benchmarks/real_models/make_real_models.py --tier large`; not committed (330 MiB).
    static let vitB16 = "/work/models/large/torchvision-vit-b-16"

    @Test("torchvision ViT-B/16: 12 heads from torchvision's configuration for hidden size 768, logits within 1e-4 of PyTorch's",
          .tags(.slow), .enabled(if: FileManager.default.fileExists(atPath: vitB16 + "/expected.npz"),
                                 "needs \(vitB16) (make_real_models.py --tier large)"))
    func vitB16Parity() throws {
        let model = try Model.load(Self.vitB16)
        #expect(model.layout?.facts.contains(LayoutFact("num_heads", "12", from: "torchvision's ViT-B/L/H (hidden size 768)")) == true)
        #expect(model.sampleShape == [3, 224, 224])
        let file = try Checkpoint.open(Self.vitB16 + "/expected.npz")
        let x = try TensorLoading.floatTensor(file, try #require(file.info(named: "x")))
        let logits = try TensorLoading.floatTensor(file, try #require(file.info(named: "logits")))
        #expect(maxAbsDifference(try model.logits(x), logits) < 1e-4)
    }

    @Test("CNN and other-naming checkpoints are not claimed by the ViT layouts",
          arguments: ["timm-resnet-basic", "transformers-resnet-basic", "torchvision-convnext", "timm-efficientnet-test"])
    func notClaimed(name: String) throws {
        let context = try ZooFolder(name).context()
        for layout in [TorchvisionViTLayout.self, TimmViTLayout.self, TransformersViTLayout.self] as [any ModelLayout.Type] {
            #expect(try layout.read(context) == nil, "\(layout.description) on \(name)")
        }
    }
}
