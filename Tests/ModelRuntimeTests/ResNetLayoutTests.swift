import Foundation
import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

@Suite("ResNet read from torchvision, timm and transformers checkpoints")
struct ResNetLayoutTests {
    @Test("a committed ResNet folder (safetensors + config.json, no --arch) gives PyTorch's logits within 1e-4",
          arguments: ["timm-resnet-basic", "timm-resnet-bottleneck", "transformers-resnet-basic", "transformers-resnet-bottleneck"])
    func committedParity(name: String) throws {
        let folder = try RealModelFolder(RealModelFolder.committed(name))
        let (model, maxAbs) = try folder.parity()
        #expect(maxAbs < 1e-4, "max |Δ| \(maxAbs)")
        let reading = try #require(model.layout)
        #expect(reading.family == (name.hasSuffix("basic") ? "ResNet (BasicBlock)" : "ResNet (Bottleneck)"))
        #expect(reading.naming == (name.hasPrefix("timm") ? "torchvision/timm" : "transformers"))
        #expect(model.warnings.isEmpty)
        #expect(model.labelNames?.count == 10)
    }

    @Test("torchvision's full-width ResNets (not committed) give PyTorch's logits within 1e-4",
          arguments: ["torchvision-resnet-basic", "torchvision-resnet-bottleneck"])
    func torchvisionParity(name: String) throws {
        guard RealModelFolder.available(name) else { return }   // only on the development machine
        let (model, maxAbs) = try RealModelFolder(RealModelFolder.uncommitted(name)).parity()
        #expect(maxAbs < 1e-4, "max |Δ| \(maxAbs)")
        #expect(model.layout?.naming == "torchvision/timm")
    }

    @Test("variants: timm's deep stem, avg_down shortcut and grouped convs; transformers' stride switches and GELU",
          arguments: ["timm-resnext-d", "transformers-resnet-switches"])
    func variants(name: String) throws {
        let (model, maxAbs) = try RealModelFolder(Fixtures.path("Tests/Fixtures/LayoutVariants/\(name)")).parity()
        #expect(maxAbs < 1e-4, "max |Δ| \(maxAbs)")
        let facts = try #require(model.layout?.facts)
        if name.hasPrefix("timm") {
            #expect(facts.contains(LayoutFact("groups (3×3 conv)", "2", from: "tensor shapes")))
            #expect(facts.contains { $0.key == "shortcut" && $0.value.contains("avg_down") })
            #expect(facts.contains { $0.key == "stem" && $0.value.hasPrefix("deep") })
        } else {
            #expect(facts.contains(LayoutFact("downsample_in_first_stage", "true", from: "config.json")))
            #expect(facts.contains(LayoutFact("downsample_in_bottleneck", "true", from: "config.json")))
        }
    }

    @Test("facts say what came from config.json, the tensors and the library's defaults")
    func facts() throws {
        let transformers = try #require(try Model.load(RealModelFolder.committed("transformers-resnet-bottleneck")).layout)
        let facts = Dictionary(transformers.facts.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(facts["depths"]?.value == "1,1,1,1" && facts["depths"]?.source == "tensor names and config.json")
        #expect(facts["hidden_sizes"]?.value == "16,32,64,128")
        #expect(facts["downsample_in_bottleneck"]?.value == "false" && facts["downsample_in_bottleneck"]?.source == "config.json")
        #expect(facts["batchnorm_eps"]?.source == "transformers default")
        let timm = try #require(try Model.load(RealModelFolder.committed("timm-resnet-basic")).layout)
        #expect(timm.facts.contains(LayoutFact("architecture", "resnet18", from: "config.json")))
        #expect(timm.facts.contains(LayoutFact("input size (trained at)", "3×32×32", from: "config.json")))
        #expect(timm.facts.contains(LayoutFact("classes", "10", from: "config.json and fc.weight")))
    }

    @Test("without config.json the transformers ResNet uses transformers' defaults and still matches")
    func transformersWithoutConfig() throws {
        let directory = TemporaryDirectory()
        let name = "transformers-resnet-basic"
        try rewriteCheckpoint(RealModelFolder.committed(name) + "/model.safetensors", to: directory.path("model.safetensors"))
        let folder = try RealModelFolder(RealModelFolder.committed(name))
        let model = try Model.load(directory.path("model.safetensors"))
        #expect(maxAbsDifference(try model.logits(folder.x), folder.logits) < 1e-4)
        #expect(model.layout?.facts.contains(LayoutFact("downsample_in_first_stage", "false", from: "transformers default")) == true)
    }

    @Test("a missing or mis-shaped tensor, an extra module and a contradicting config are named errors")
    func errors() throws {
        let directory = TemporaryDirectory()
        let timm = RealModelFolder.committed("timm-resnet-bottleneck") + "/model.safetensors"
        let missing = directory.path("missing.safetensors")
        try rewriteCheckpoint(timm, to: missing, rename: { $0 == "layer2.0.conv2.weight" ? nil : $0 })
        #expect(loadingError(missing) == "\(missing): missing tensor 'layer2.0.conv2.weight' (expected shape [-1, 8, -1, -1])")
        let misshaped = directory.path("misshaped.safetensors")
        try rewriteCheckpoint(timm, to: misshaped, substitute: ["layer3.0.conv3.weight": "layer4.0.conv3.weight"])
        #expect(loadingError(misshaped) == "\(misshaped): tensor 'layer3.0.conv3.weight' has shape [128, 32, 1, 1], the architecture needs [128, 16, 1, 1]")
        let extra = directory.path("extra.safetensors")
        try rewriteCheckpoint(timm, to: extra, rename: { $0 == "fc.bias" ? "layer1.0.se.fc1.bias" : $0 })
        #expect(loadingError(extra)?.hasSuffix("a torchvision/timm ResNet: tensor 'layer1.0.se.fc1.bias' has no place in it; "
            + "squeeze-excitation, attention and other additions to the ResNet blocks are not supported") == true)

        let folder = directory.path("contradicting")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try rewriteCheckpoint(RealModelFolder.committed("transformers-resnet-basic") + "/model.safetensors", to: folder + "/model.safetensors")
        try copyConfig("transformers-resnet-basic", to: folder) { $0["depths"] = [2, 2, 2, 2] }
        #expect(loadingError(folder) == "\(folder): a transformers ResNet: config.json says depths [2,2,2,2], the checkpoint has [1,1,1,1]")
        try copyConfig("transformers-resnet-basic", to: folder) { $0["layer_type"] = "bottleneck" }
        #expect(loadingError(folder)?.contains("config.json says layer_type 'bottleneck', the blocks have 2 conv layers") == true)
        let timmFolder = directory.path("timm")
        try FileManager.default.createDirectory(atPath: timmFolder, withIntermediateDirectories: true)
        try rewriteCheckpoint(RealModelFolder.committed("timm-resnet-basic") + "/model.safetensors", to: timmFolder + "/model.safetensors")
        try copyConfig("timm-resnet-basic", to: timmFolder) { config in
            var arguments = config["model_args"] as? [String: Any] ?? [:]
            arguments["output_stride"] = 16
            config["model_args"] = arguments
        }
        #expect(loadingError(timmFolder)?.contains("output_stride 16") == true)
    }
}
