import Foundation
import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

@Suite("ConvNeXt layouts: torchvision, timm and transformers checkpoints without --arch")
struct ConvNeXtLayoutTests {
    static let folders = ["torchvision-convnext", "timm-convnext", "transformers-convnext"]

    @Test("each folder's logits are PyTorch's within 1e-4 (max abs) on its x", arguments: folders)
    func parity(name: String) throws {
        let folder = try ZooFolder(name)
        let model = try Model.load(folder.path)
        #expect(model.warnings.isEmpty)
        #expect(model.layout?.family == "ConvNeXt")
        let logits = try model.logits(folder.x)
        #expect(logits.shape == folder.logits.shape)
        #expect(maxAbsDifference(logits, folder.logits) < 1e-4)
    }

    @Test("each folder is claimed by its own layout only", arguments: folders)
    func claimedOnce(name: String) throws {
        let expected = switch name {
        case "torchvision-convnext": TorchvisionConvNeXtLayout.description
        case "timm-convnext": TimmConvNeXtLayout.description
        default: TransformersConvNeXtLayout.description
        }
        #expect(claimingLayouts(try ZooFolder(name).context()) == [expected])
    }

    @Test("every Linear and convolution is a weight layer under the checkpoint's name: stem, depthwise, MLP, downsampling, head")
    func weightLayers() throws {
        // Per stage: downsampling conv (stages 2–4), per block depthwise conv, fc1, fc2; plus the stem and the head.
        let counts = [1 + 3 + 4 * 3 + 1]
        for name in Self.folders {
            let model = try Model.load(try ZooFolder(name).path)
            let layers = model.graph.weightLayers
            #expect([layers.count] == counts, "\(name)")
            #expect(layers.allSatisfy { model.graph.parameters[$0.weight] != nil && $0.weight.hasSuffix(".weight") }, "\(name)")
        }
        let timm = try Model.load(try ZooFolder("timm-convnext").path).graph.weightLayers
        #expect(timm.map(\.weight).prefix(4) == ["stem.0.weight", "stages.0.blocks.0.conv_dw.weight", "stages.0.blocks.0.mlp.fc1.weight",
                                                 "stages.0.blocks.0.mlp.fc2.weight"])
        #expect(timm[1].groups == 8 && timm[1].kind == .convolution)
        let transformers = try Model.load(try ZooFolder("transformers-convnext").path).graph.weightLayers
        #expect(transformers[2].weight == "convnext.encoder.stages.0.layers.0.pwconv1.weight" && transformers[2].kind == .linear)
    }

    @Test("the facts name where each number came from", arguments: folders)
    func facts(name: String) throws {
        let folder = try ZooFolder(name)
        let reading = try RecognizedLayouts.recognize(try Checkpoint.open(folder.path + "/model.safetensors"),
                                                      config: try ModelConfig.find(besides: folder.path), sampleShape: nil)
        #expect(reading.family == "ConvNeXt")
        #expect(reading.naming == name.split(separator: "-")[0].description)
        #expect(reading.facts.contains(LayoutFact("stage widths", "8,16,32,64", from: "tensor shapes")))
        if name == "transformers-convnext" {
            #expect(reading.facts.contains(LayoutFact("layer_norm_eps (convnext.layernorm)", "1e-12", from: "config.json")))
        }
        if name == "timm-convnext" {
            #expect(reading.facts.contains(LayoutFact("mlp", "1×1 convolutions (conv_mlp)", from: "mlp.fc1.weight shape")))
        }
    }

    @Test("a missing tensor of a recognised ConvNeXt is a precise error",
          arguments: [("torchvision-convnext", "features.3.0.block.5.bias"), ("timm-convnext", "stages.2.downsample.1.weight"),
                      ("transformers-convnext", "convnext.layernorm.weight")])
    func missingTensor(name: String, tensor: String) throws {
        let directory = TemporaryDirectory()
        let folder = try ZooFolder(name)
        try rewriteTensors(of: folder.path + "/model.safetensors", to: directory.path("model.safetensors")) { $0 == tensor ? nil : $0 }
        if FileManager.default.fileExists(atPath: folder.path + "/config.json") {
            try FileManager.default.copyItem(atPath: folder.path + "/config.json", toPath: directory.path("config.json"))
        }
        let shape = try #require(try Checkpoint.open(folder.path + "/model.safetensors").info(named: tensor)?.shape)
        let expected = name == "timm-convnext" ? [-1, 16, -1, -1] : shape
        #expect(errorMessage { _ = try Model.load(directory.path) } == "\(directory.path): missing tensor '\(tensor)' (expected shape \(expected))")
    }

    @Test("ConvNeXt V2's GRN is refused, not dropped; a config contradicting the widths is refused")
    func refusals() throws {
        let directory = TemporaryDirectory()
        let folder = try ZooFolder("timm-convnext")
        try rewriteTensors(of: folder.path + "/model.safetensors", to: directory.path("model.safetensors"),
                           adding: ["stages.1.blocks.0.mlp.grn.weight": "stages.1.blocks.0.norm.weight"])
        #expect(errorMessage { _ = try Model.load(directory.path("model.safetensors")) }
            == "\(directory.path("model.safetensors")): a timm ConvNeXt: tensor 'stages.1.blocks.0.mlp.grn.weight' has no place in it: a variant this layout does not compute")
        let transformers = try ZooFolder("transformers-convnext")
        try FileManager.default.createDirectory(atPath: directory.path("t"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: transformers.path + "/model.safetensors", toPath: directory.path("t/model.safetensors"))
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: transformers.path + "/config.json"))) as? [String: Any])
        config["hidden_sizes"] = [8, 16, 32, 128]
        try writeJSON(config, to: directory.path("t/config.json"))
        #expect(errorMessage { _ = try Model.load(directory.path("t")) }
            == "\(directory.path("t")): a transformers ConvNeXt: config.json says hidden_sizes [8, 16, 32, 128] but the stages are [8, 16, 32, 64] wide")
    }

    @Test("ViT, ResNet and MobileNet checkpoints are not claimed by the ConvNeXt layouts",
          arguments: ["timm-vit", "transformers-vit", "torchvision-vit", "timm-resnet-basic", "torchvision-mobilenet-v2", "torchvision-efficientnet-b0",
                      "transformers-mobilenet-v2"])
    func notClaimed(name: String) throws {
        let context = try ZooFolder(name).context()
        for layout in [TorchvisionConvNeXtLayout.self, TimmConvNeXtLayout.self, TransformersConvNeXtLayout.self] as [any ModelLayout.Type] {
            #expect(try layout.read(context) == nil, "\(layout.description) on \(name)")
        }
    }
}
