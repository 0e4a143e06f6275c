import Foundation
import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

@Suite("MobileNetV2/V3 read from torchvision, timm and transformers checkpoints")
struct MobileNetLayoutTests {
    @Test("a committed MobileNet folder (no --arch) gives PyTorch's logits within 1e-4",
          arguments: ["RealModels/torchvision-mobilenet-v2", "RealModels/torchvision-mobilenet-v3-small", "RealModels/transformers-mobilenet-v2",
                      "LayoutVariants/torchvision-mobilenet-v3-large", "LayoutVariants/timm-mobilenetv3-large",
                      "LayoutVariants/transformers-mobilenet-v2-switches"])
    func committedParity(folder: String) throws {
        let (model, maxAbs) = try RealModelFolder(Fixtures.path("Tests/Fixtures/\(folder)")).parity()
        #expect(maxAbs < 1e-4, "max |Δ| \(maxAbs)")
        #expect(model.layout?.family == (folder.contains("v3") ? "MobileNetV3" : "MobileNetV2"))
        #expect(model.layout?.naming == (folder.contains("torchvision") ? "torchvision" : folder.contains("timm") ? "timm" : "transformers"))
        #expect(model.warnings.isEmpty)
    }

    @Test("timm's registered mobilenetv2_035 and mobilenetv3_small_050 (not committed) give PyTorch's logits within 1e-4",
          arguments: ["timm-mobilenet-v2", "timm-mobilenet-v3-small"])
    func timmRegistered(name: String) throws {
        guard RealModelFolder.available(name) else { return }   // only on the development machine
        let (model, maxAbs) = try RealModelFolder(RealModelFolder.uncommitted(name)).parity()
        #expect(maxAbs < 1e-4, "max |Δ| \(maxAbs)")
        #expect(model.layout?.naming == "timm")
    }

    @Test("facts: torchvision's tables and eps, transformers' config switches")
    func facts() throws {
        let v3 = try #require(try Model.load(RealModelFolder.committed("torchvision-mobilenet-v3-small")).layout)
        #expect(v3.facts.contains(LayoutFact("block strides", "2,2,1,2,1,1,1,1,2,1,1", from: "torchvision MobileNetV3-Small table")))
        #expect(v3.facts.contains(LayoutFact("batchnorm_eps", "0.001", from: "torchvision mobilenet_v3 builders")))
        let large = try #require(try Model.load(Fixtures.path("Tests/Fixtures/LayoutVariants/torchvision-mobilenet-v3-large")).layout)
        #expect(large.facts.contains { $0.key == "variant" && $0.value == "MobileNetV3-Large" })
        let transformers = try #require(try Model.load(RealModelFolder.committed("transformers-mobilenet-v2")).layout)
        #expect(transformers.facts.contains(LayoutFact("tf_padding", "true", from: "config.json")))
        #expect(transformers.facts.contains(LayoutFact("layer_norm_eps", "0.001", from: "config.json")))
        let switches = try #require(try Model.load(Fixtures.path("Tests/Fixtures/LayoutVariants/transformers-mobilenet-v2-switches")).layout)
        #expect(switches.facts.contains { $0.key == "dilated layers" && $0.value.hasPrefix("6,7,8,9,10,11,12,13,14,15") })
    }

    @Test("TensorFlow SAME padding follows the input size: odd-sized inputs (31×29, 33×35) give PyTorch's logits too",
          arguments: ["transformers-mobilenet-v2-odd-input", "timm-tf-efficientnet-tiny"])
    func samePaddingOddInput(name: String) throws {
        let folder = try RealModelFolder(Fixtures.path("Tests/Fixtures/LayoutVariants/\(name)"))
        #expect(folder.x.shape[2] % 2 == 1)
        let (_, maxAbs) = try folder.parity()
        #expect(maxAbs < 1e-4, "max |Δ| \(maxAbs)")
    }

    @Test("a missing tensor, another block table and contradicting configs are named errors")
    func errors() throws {
        let directory = TemporaryDirectory()
        let v2 = RealModelFolder.committed("torchvision-mobilenet-v2") + "/model.safetensors"
        let missing = directory.path("missing.safetensors")
        try rewriteCheckpoint(v2, to: missing, rename: { $0.hasPrefix("features.18.") ? nil : $0 })
        #expect(loadingError(missing)?.contains("it has 16 inverted-residual blocks; torchvision's mobilenet_v2 has 17") == true)
        let v3 = RealModelFolder.committed("torchvision-mobilenet-v3-small") + "/model.safetensors"
        let noSqueeze = directory.path("nose.safetensors")
        try rewriteCheckpoint(v3, to: noSqueeze,
                              rename: { $0.hasPrefix("features.1.block.1.") ? nil : $0.replacingOccurrences(of: "features.1.block.2.", with: "features.1.block.1.") })
        #expect(loadingError(noSqueeze)?.contains("its 11 blocks (kernels 3,3,3,5,5,5,5,5,5,5,5) are not those of mobilenet_v3_large or mobilenet_v3_small") == true)

        let folder = directory.path("transformers")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try rewriteCheckpoint(RealModelFolder.committed("transformers-mobilenet-v2") + "/model.safetensors", to: folder + "/model.safetensors")
        try copyConfig("transformers-mobilenet-v2", to: folder) { $0["depth_multiplier"] = 0.5 }
        #expect(loadingError(folder)?.contains("depth_multiplier 0.5 (min_depth 8, finegrained_output false) gives widths") == true)
        try copyConfig("transformers-mobilenet-v2", to: folder) { $0["first_layer_is_expansion"] = false }
        #expect(loadingError(folder)?.hasSuffix("first_layer_is_expansion is false but the stem has no expand_1x1") == true)
        try copyConfig("transformers-mobilenet-v2", to: folder) { $0["hidden_act"] = "mish" }
        #expect(loadingError(folder)?.hasSuffix("hidden_act 'mish' is not an activation this tool computes") == true)
    }
}
