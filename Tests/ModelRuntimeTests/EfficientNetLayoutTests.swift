import Foundation
import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

@Suite("EfficientNet read from torchvision and timm checkpoints")
struct EfficientNetLayoutTests {
    @Test("a committed EfficientNet folder (no --arch) gives PyTorch's logits within 1e-4",
          arguments: ["RealModels/torchvision-efficientnet-b0", "RealModels/timm-efficientnet-test",
                      "LayoutVariants/torchvision-efficientnet-v2-tiny", "LayoutVariants/timm-tf-efficientnet-tiny"])
    func committedParity(folder: String) throws {
        let (model, maxAbs) = try RealModelFolder(Fixtures.path("Tests/Fixtures/\(folder)")).parity()
        #expect(maxAbs < 1e-4, "max |Δ| \(maxAbs)")
        #expect(model.layout?.family == (folder.contains("v2") ? "EfficientNetV2" : "EfficientNet"))
        #expect(model.layout?.naming == (folder.contains("torchvision") ? "torchvision" : "timm"))
        #expect(model.warnings.isEmpty)
    }

    @Test("timm's efficientnet_b0 (not committed, 4M parameters) gives PyTorch's logits within 1e-4")
    func timmB0() throws {
        guard RealModelFolder.available("timm-efficientnet-b0") else { return }   // only on the development machine
        let (model, maxAbs) = try RealModelFolder(RealModelFolder.uncommitted("timm-efficientnet-b0")).parity()
        #expect(maxAbs < 1e-4, "max |Δ| \(maxAbs)")
        #expect(model.layout?.facts.contains(LayoutFact("blocks per stage", "1,2,2,3,3,4,1", from: "tensor names")) == true)
    }

    @Test("strides come from the stage table; ε from the builder the widths and depths identify, or the class default")
    func facts() throws {
        let torchvision = try #require(try Model.load(RealModelFolder.committed("torchvision-efficientnet-b0")).layout)
        #expect(torchvision.facts.contains(LayoutFact("stage strides", "1,2,2,2,1,2,1", from: "torchvision stage table")))
        #expect(torchvision.facts.contains(LayoutFact("batchnorm_eps", "1e-05", from: "torchvision EfficientNet class default")))
        let v2 = try #require(try Model.load(Fixtures.path("Tests/Fixtures/LayoutVariants/torchvision-efficientnet-v2-tiny")).layout)
        #expect(v2.facts.contains(LayoutFact("stage strides", "1,2,2,2,1,2", from: "torchvision stage table")))
        let tf = try #require(try Model.load(Fixtures.path("Tests/Fixtures/LayoutVariants/timm-tf-efficientnet-tiny")).layout)
        #expect(tf.facts.contains(LayoutFact("padding", "TensorFlow SAME", from: "timm tf_ port default")))
        #expect(tf.facts.contains(LayoutFact("batchnorm_eps", "0.001", from: "timm tf_ port default")))
        let test = try #require(try Model.load(RealModelFolder.committed("timm-efficientnet-test")).layout)
        #expect(test.facts.contains(LayoutFact("stage strides", "1,2,2,2,2", from: "timm test_efficientnet stage table")))
    }

    @Test("torchvision's builders, as their stem width, blocks per stage and head width identify them (checked against torchvision 0.29)")
    func torchvisionBuilders() {
        let builders = TorchvisionEfficientNetLayout.tables.flatMap(\.builders)
        let expected: [(String, Int, [Int], Int, Float)] = [
            ("efficientnet_b0", 32, [1, 2, 2, 3, 3, 4, 1], 1280, 1e-5), ("efficientnet_b1", 32, [2, 3, 3, 4, 4, 5, 2], 1280, 1e-5),
            ("efficientnet_b2", 32, [2, 3, 3, 4, 4, 5, 2], 1408, 1e-5), ("efficientnet_b3", 40, [2, 3, 3, 5, 5, 6, 2], 1536, 1e-5),
            ("efficientnet_b4", 48, [2, 4, 4, 6, 6, 8, 2], 1792, 1e-5), ("efficientnet_b5", 48, [3, 5, 5, 7, 7, 9, 3], 2048, 1e-3),
            ("efficientnet_b6", 56, [3, 6, 6, 8, 8, 11, 3], 2304, 1e-3), ("efficientnet_b7", 64, [4, 7, 7, 10, 10, 13, 4], 2560, 1e-3),
            ("efficientnet_v2_s", 24, [2, 4, 4, 6, 9, 15], 1280, 1e-3), ("efficientnet_v2_m", 24, [3, 5, 5, 7, 14, 18, 5], 1280, 1e-3),
            ("efficientnet_v2_l", 32, [4, 7, 7, 10, 19, 25, 7], 1280, 1e-3),
        ]
        #expect(builders.count == expected.count)
        for (builder, want) in zip(builders, expected) {
            #expect(builder.name == want.0 && builder.stem == want.1 && builder.depths == want.2 && builder.head == want.3 && builder.epsilon == want.4,
                    "\(builder.name)")
        }
    }

    @Test("a missing or mis-shaped tensor, an unknown stage table or architecture, a contradicting config are named errors")
    func errors() throws {
        let directory = TemporaryDirectory()
        let torchvision = RealModelFolder.committed("torchvision-efficientnet-b0") + "/model.safetensors"
        let missing = directory.path("missing.safetensors")
        try rewriteCheckpoint(torchvision, to: missing, rename: { $0.hasPrefix("features.3.0.block.2.fc2.") ? nil : $0 })
        #expect(loadingError(missing) == "\(missing): missing tensor 'features.3.0.block.2.fc2.weight' (expected shape [48, 2, 1, 1])")
        let misshaped = directory.path("misshaped.safetensors")
        try rewriteCheckpoint(torchvision, to: misshaped, substitute: ["features.3.0.block.1.0.weight": "features.2.0.block.1.0.weight"])
        // The depthwise 5×5 of stage 3 replaced by stage 2's 3×3: the kernels are no longer B0's.
        #expect(loadingError(misshaped) == "\(misshaped): a torchvision EfficientNet: its stages (kernels 3,3,3,3,5,5,3, 0 fused) are not those of "
            + "efficientnet_b0…b7 or efficientnet_v2_s/m/l, so their strides are unknown")

        let folder = directory.path("timm")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try rewriteCheckpoint(RealModelFolder.committed("timm-efficientnet-test") + "/model.safetensors", to: folder + "/model.safetensors")
        try copyConfig("timm-efficientnet-test", to: folder) { $0["architecture"] = "mixnet_s" }
        #expect(loadingError(folder)?.contains("config.json's architecture 'mixnet_s' is not one whose stage table (strides, activations) this tool knows") == true)
        try copyConfig("timm-efficientnet-test", to: folder) { $0["architecture"] = "efficientnet_b0" }
        #expect(loadingError(folder)?.contains("config.json says 'efficientnet_b0' but the blocks (kinds cn,er,er,ir,ir, kernels 3,3,3,3,3) are not its stages") == true)
        try copyConfig("timm-efficientnet-test", to: folder) { $0["num_classes"] = 7 }
        #expect(loadingError(folder)?.hasSuffix("config.json declares 7 classes but 'classifier.weight' has 10 rows") == true)

        let extra = directory.path("extra.safetensors")
        try rewriteCheckpoint(RealModelFolder.committed("timm-efficientnet-test") + "/model.safetensors", to: extra,
                              rename: { $0 == "blocks.3.0.se.conv_reduce.bias" ? "blocks.3.0.aa.bias" : $0 })
        #expect(loadingError(extra) == "\(extra): missing tensor 'blocks.3.0.se.conv_reduce.bias' (expected shape [8])")
    }

    @Test("without config.json the timm stage table is the one the tensors fit, with timm's defaults")
    func timmWithoutConfig() throws {
        let directory = TemporaryDirectory()
        let name = "timm-efficientnet-test"
        try rewriteCheckpoint(RealModelFolder.committed(name) + "/model.safetensors", to: directory.path("model.safetensors"))
        let folder = try RealModelFolder(RealModelFolder.committed(name))
        let model = try Model.load(directory.path("model.safetensors"))
        #expect(maxAbsDifference(try model.logits(folder.x), folder.logits) < 1e-4)
        #expect(model.layout?.facts.contains(LayoutFact("stage table", "test_efficientnet", from: "tensor shapes (no config.json)")) == true)
        #expect(model.layout?.facts.contains(LayoutFact("batchnorm_eps", "1e-05", from: "timm default (no config.json)")) == true)
    }
}
