import Foundation
import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

/// A model folder of the real-library zoo (`Tests/Fixtures/RealModels/<name>`, made by
/// `Benchmarks/real_models/make_real_models.py`), or one of the larger ones in `/work/models/tiny`
/// that are not committed: PyTorch's input `x` and eval-mode `logits` from its `expected.npz`.
struct RealModelFolder {
    let path: String
    let x: Tensor
    let logits: Tensor

    /// The committed folder `name`.
    static func committed(_ name: String) -> String { Fixtures.path("Tests/Fixtures/RealModels/\(name)") }

    /// The uncommitted tiny-tier folder `name` (present on the development machine only).
    static func uncommitted(_ name: String) -> String { "/work/models/tiny/\(name)" }

    /// Whether the uncommitted folder `name` is present.
    static func available(_ name: String) -> Bool { FileManager.default.fileExists(atPath: uncommitted(name) + "/expected.npz") }

    init(_ path: String) throws {
        self.path = path
        let file = try Checkpoint.open(path + "/expected.npz")
        x = try TensorLoading.floatTensor(file, try #require(file.info(named: "x")))
        logits = try TensorLoading.floatTensor(file, try #require(file.info(named: "logits")))
    }

    /// Max |Δ| between the logits of the folder's safetensors, read without `--arch` (its names and
    /// `config.json`), and PyTorch's.
    func parity() throws -> (model: Model, maxAbs: Float) {
        let model = try Model.load(path)
        return (model, maxAbsDifference(try model.logits(x), logits))
    }
}

/// Writes the tensors of `source` to a new safetensors file at `path`, renamed by `rename`
/// (returning `nil` drops a tensor); a name in `substitute` gets the shape and values of the
/// tensor it maps to instead of its own.
func rewriteCheckpoint(_ source: String, to path: String, rename: (String) -> String? = { $0 },
                       substitute: [String: String] = [:]) throws {
    let checkpoint = try Checkpoint.open(source)
    var tensors: [TensorInfo] = []
    var origin: [String: String] = [:]
    for info in checkpoint.tensors {
        guard let name = rename(info.name) else { continue }
        var copy = try #require(checkpoint.info(named: substitute[name] ?? info.name))
        origin[name] = copy.name
        copy.name = name
        tensors.append(copy)
    }
    try Checkpoint.write(to: path, tensors: tensors, options: CheckpointWriteOptions(container: .safetensors)) { info, consume in
        try checkpoint.withBytes(of: origin[info.name]!) { try consume($0) }
    }
}

/// Copies a committed folder's `config.json` (when it has one) into `folder`, edited by `edit`.
func copyConfig(_ name: String, to folder: String, edit: (inout [String: Any]) -> Void = { _ in }) throws {
    let source = RealModelFolder.committed(name) + "/config.json"
    guard FileManager.default.fileExists(atPath: source) else { return }
    var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source))) as? [String: Any])
    edit(&object)
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: folder + "/config.json"))
}

/// The one-line message of loading `path`.
func loadingError(_ path: String) -> String? {
    do {
        _ = try Model.load(path)
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite("each real-library checkpoint is claimed by exactly its own layout")
struct LayoutClaimTests {
    /// The CNN layouts and the committed folders each must claim; every other layout must pass
    /// on them (return `nil`, not throw).
    static let claims: [(folder: String, layout: String)] = [
        ("timm-resnet-basic", ResNetLayout.description), ("timm-resnet-bottleneck", ResNetLayout.description),
        ("transformers-resnet-basic", TransformersResNetLayout.description), ("transformers-resnet-bottleneck", TransformersResNetLayout.description),
        ("torchvision-efficientnet-b0", TorchvisionEfficientNetLayout.description), ("timm-efficientnet-test", TimmEfficientNetLayout.description),
        ("torchvision-mobilenet-v2", TorchvisionMobileNetV2Layout.description), ("torchvision-mobilenet-v3-small", TorchvisionMobileNetV3Layout.description),
        ("transformers-mobilenet-v2", TransformersMobileNetV2Layout.description),
        ("torchvision-vit", ""), ("timm-vit", ""), ("timm-deit-distilled", ""), ("transformers-vit", ""),
        ("torchvision-convnext", ""), ("timm-convnext", ""), ("transformers-convnext", ""),
    ]

    static let cnnLayouts: [any ModelLayout.Type] = [
        ResNetLayout.self, TransformersResNetLayout.self, TorchvisionEfficientNetLayout.self, TimmEfficientNetLayout.self,
        TorchvisionMobileNetV2Layout.self, TorchvisionMobileNetV3Layout.self, TransformersMobileNetV2Layout.self, VGGLayout.self, MLPLayout.self,
    ]

    @Test("a committed folder is read by its own layout only; VGG (strict about flat names), MLP and the other CNN layouts pass on it",
          arguments: claims.map(\.folder))
    func claimedOnce(folder: String) throws {
        let expected = try #require(Self.claims.first { $0.folder == folder }?.layout)
        let path = RealModelFolder.committed(folder)
        let context = LayoutContext(checkpoint: try Checkpoint.open(path + "/model.safetensors"), config: try ModelConfig.find(besides: path),
                                    sampleShape: [3, 32, 32])
        for layout in Self.cnnLayouts {
            let reading = try layout.read(context)
            #expect((reading != nil) == (layout.description == expected), "\(layout.description) on \(folder)")
        }
    }

    @Test("torchvision MobileNet/EfficientNet checkpoints are read as what they are, never as a VGG whose pools do not fit",
          arguments: ["torchvision-mobilenet-v2", "torchvision-mobilenet-v3-small", "torchvision-efficientnet-b0"])
    func notVGG(folder: String) throws {
        for sample in [[3, 32, 32], [3, 224, 224]] {
            let reading = try RecognizedLayouts.recognize(try Checkpoint.open(RealModelFolder.committed(folder) + "/model.safetensors"), config: nil,
                                                          sampleShape: sample)
            #expect(reading.family == (folder.contains("efficientnet") ? "EfficientNet" : folder.contains("v2") ? "MobileNetV2" : "MobileNetV3"))
            #expect(reading.naming == "torchvision")
        }
    }
}
