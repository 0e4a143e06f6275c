import Foundation
import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

/// The checkpoint and one ONNX file of a committed real-library folder.
struct ArchitecturePair {
    let file: RealModelFixtures.File
    var folder: String { Fixtures.path("\(RealModelFixtures.root)/\(file.entry.folder)") }
    var checkpoint: String { folder + "/model.safetensors" }

    /// The binding of the folder's checkpoint (or `checkpoint`) to the file's graph.
    func binding(_ checkpoint: String? = nil) throws -> CheckpointBinding {
        try CheckpointBinding.of(try Checkpoint.open(checkpoint ?? self.checkpoint), to: try ONNXModel(path: file.path))
    }
}

/// Writes a copy of `source` to `path` with `edit` applied to each float tensor (by name; the
/// zoo's checkpoints are float32); `rename` renames (`nil`: drops) tensors; `extra` adds tensors.
func rewrittenCheckpoint(_ source: String, to path: String, rename: (String) -> String? = { $0 },
                         edit: (String, inout [Float]) -> Void = { _, _ in }, extra: [String: Tensor] = [:]) throws {
    let checkpoint = try Checkpoint.open(source)
    var infos: [TensorInfo] = [], bytes: [String: [UInt8]] = [:]
    for info in checkpoint.tensors {
        guard let name = rename(info.name) else { continue }
        var data = try checkpoint.withBytes(of: info.name) { Array($0) }
        if info.dtype == .F32 {
            var values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            edit(info.name, &values)
            data = values.withUnsafeBytes { Array($0) }
        }
        infos.append(TensorInfo(name: name, dtype: info.dtype, shape: info.shape))
        bytes[name] = data
    }
    for (name, tensor) in extra.sorted(by: { $0.key < $1.key }) {
        infos.append(TensorInfo(name: name, dtype: .F32, shape: tensor.shape))
        bytes[name] = tensor.data.withUnsafeBytes { Array($0) }
    }
    try Checkpoint.write(to: path, tensors: infos, options: CheckpointWriteOptions(container: .safetensors)) { info, consume in
        try bytes[info.name]!.withUnsafeBytes { try consume($0) }
    }
}

/// The one-line message of loading `checkpoint` with `architecture`, or `nil` when it loads.
func architectureError(_ checkpoint: String, _ architecture: String) -> String? {
    do {
        _ = try Model.load(checkpoint, architecture: architecture)
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite("a real-library checkpoint runs on an ONNX graph of its architecture from either torch exporter (--arch)")
struct CheckpointBindingTests {
    @Test("Model.load(model.safetensors, architecture: model[.legacy].onnx) gives PyTorch's logits within 1e-4",
          arguments: RealModelFixtures.onnxFiles)
    func parity(_ file: RealModelFixtures.File) throws {
        let pair = ArchitecturePair(file: file)
        let expected = try RealModelExpectation(file.entry)
        let model = try Model.load(pair.checkpoint, architecture: file.path)
        let difference = maxAbsDifference(try model.logits(expected.x), expected.logits)
        #expect(difference <= 1e-4, "max abs difference \(difference)")
        #expect(model.warnings.isEmpty, "\(model.warnings)")
    }

    @Test("the checkpoint's values are the ones used: a perturbed copy gives what its recognised layout gives (within 1e-4), not PyTorch's logits",
          arguments: RealModelFixtures.onnxFiles)
    func checkpointValuesAreUsed(_ file: RealModelFixtures.File) throws {
        let pair = ArchitecturePair(file: file)
        let directory = TemporaryDirectory()
        let perturbed = directory.path("model.safetensors")
        // The legacy exporter keeps no batch-norm epsilon: its folds are left as they are, so that
        // the epsilon is read from their values (assuming it is a separate test).
        let kept = file.exporter == "legacy"
            ? Set(try pair.binding().folds.flatMap { [$0.weight, $0.bias, $0.norm.scale, $0.norm.shift, $0.norm.mean, $0.norm.variance].compactMap { $0 } })
            : []
        var generator = SeededGenerator(seed: 16)
        try rewrittenCheckpoint(pair.checkpoint, to: perturbed, edit: { name, values in
            guard !kept.contains(name) else { return }
            for i in values.indices { values[i] *= 0.8 + 0.4 * Float(generator.next() >> 40) / Float(1 << 24) }
        })
        try copyConfig(file.entry.folder, to: directory.path)
        let expected = try RealModelExpectation(file.entry)
        let model = try Model.load(perturbed, architecture: file.path)
        let logits = try model.logits(expected.x)
        // torchvision stores no head count: its layout takes it from a config given as --arch.
        let heads = directory.path("heads.json")
        try Data(#"{"num_heads": 2}"#.utf8).write(to: URL(fileURLWithPath: heads))
        let reference = try Model.load(perturbed, architecture: file.entry.folder == "torchvision-vit" ? heads : nil).logits(expected.x)
        #expect(maxAbsDifference(logits, reference) <= 1e-4, "\(maxAbsDifference(logits, reference))")
        #expect(maxAbsDifference(logits, expected.logits) > 1e-2)
        #expect(model.warnings.isEmpty, "\(model.warnings)")
    }

    @Test("the model's parameters are the checkpoint's tensors: every weight layer edits a checkpoint tensor of its own name and shape, one per PyTorch Conv/Linear",
          arguments: RealModelFixtures.onnxFiles)
    func parametersAreCheckpointTensors(_ file: RealModelFixtures.File) throws {
        let pair = ArchitecturePair(file: file)
        let checkpoint = try Checkpoint.open(pair.checkpoint)
        let model = try Model.load(pair.checkpoint, architecture: file.path)
        let layers = model.graph.weightLayers
        let expected = try #require(RealModelWeightLayerTests.pytorchLayers[file.entry.folder])
        #expect(layers.filter { $0.kind == .convolution }.count == expected.convolutions)
        #expect(layers.filter { $0.kind == .linear }.count == expected.linear)
        for layer in layers {
            let info = try #require(checkpoint.info(named: layer.weight), "\(layer.weight) is no checkpoint tensor")
            #expect(model.graph.parameters[layer.weight]?.shape == info.shape)
            // PyTorch stores Conv and Linear weights with rows as outputs.
            #expect(layer.layout == .outputsByInputs, "\(layer.weight)")
        }
        let shared = Set(model.graph.parameters.keys).subtracting(checkpoint.tensors.map(\.name))
        #expect(shared.allSatisfy { model.graph.parameters[$0]!.count == 1 }, "graph values kept: \(shared.sorted())")
    }

    @Test("""
          BatchNorm folded by either exporter is undone: one fold per checkpoint BatchNorm, each reproducing the folded conv on a probe, \
          epsilon from the exporter's record (dynamo) or the values (legacy)
          """,
          arguments: RealModelFixtures.onnxFiles.filter { file in ["resnet", "efficientnet", "mobilenet"].contains { file.entry.folder.contains($0) } })
    func foldsUndone(_ file: RealModelFixtures.File) throws {
        let pair = ArchitecturePair(file: file)
        let binding = try pair.binding()
        let checkpoint = try Checkpoint.open(pair.checkpoint)
        let norms = Set(checkpoint.tensors.map(\.name).filter { $0.hasSuffix(".running_mean") }.map { CheckpointBinding.parent(of: $0) })
        #expect(Set(binding.folds.map(\.norm.module)) == norms)
        #expect(binding.folds.count == norms.count)
        #expect(binding.folds.allSatisfy { $0.verified })
        #expect(binding.folds.allSatisfy { $0.epsilonSource == (file.exporter == "dynamo" ? .exporter : .values) })
        // torchvision's MobileNetV3 and transformers' MobileNetV2 use 1e-3, the others PyTorch's 1e-5.
        let epsilon: Float = ["torchvision-mobilenet-v3-small", "transformers-mobilenet-v2"].contains(file.entry.folder) ? 1e-3 : 1e-5
        #expect(binding.folds.allSatisfy { $0.epsilon == epsilon })
        // Each fold pairs a conv with the batch norm of its own block.
        for fold in binding.folds {
            #expect(CheckpointBinding.parent(of: CheckpointBinding.parent(of: fold.weight)) == CheckpointBinding.parent(of: fold.norm.module),
                    "\(fold.weight) with \(fold.norm.module)")
        }
        let model = try Model.load(pair.checkpoint, architecture: file.path)
        let batchNorms = model.graph.nodes.filter { if case .batchNormalization = $0.operation { true } else { false } }
        #expect(batchNorms.count == norms.count)
        #expect(batchNorms.allSatisfy { $0.inputs.dropFirst().allSatisfy { checkpoint.info(named: $0) != nil } })
    }

    @Test("copies are bound through the exporter's transform: transposed Linear weights, timm's reshaped layer scale, transformers' renamed modules")
    func copies() throws {
        func file(_ folder: String, _ exporter: String) throws -> RealModelFixtures.File {
            try #require(RealModelFixtures.onnxFiles.first { $0.entry.folder == folder && $0.exporter == exporter })
        }
        for exporter in ["dynamo", "legacy"] {
            let vit = try ArchitecturePair(file: file("transformers-vit", exporter)).binding()
            let byTensor = Dictionary(uniqueKeysWithValues: vit.bound.values.map { ($0.tensor, $0) })
            for (saved, form) in [("vit.encoder.layer.1.attention.attention.query.weight", CheckpointBinding.Form.transposed),
                                  ("vit.encoder.layer.1.attention.attention.key.bias", .same),
                                  ("vit.encoder.layer.0.attention.output.dense.weight", .transposed),
                                  ("vit.encoder.layer.0.intermediate.dense.weight", .transposed),
                                  ("vit.encoder.layer.1.layernorm_after.weight", .same)] {
                #expect(byTensor[saved]?.form == form, "\(saved)")
                #expect(byTensor[saved]?.evidence == .module, "\(saved)")
            }
            // The in-memory name of the graph for the saved name of the checkpoint.
            #expect(vit.bound["vit.layers.1.attention.k_proj.bias"]?.tensor == "vit.encoder.layer.1.attention.attention.key.bias")
            #expect(vit.bound["vit.layers.0.layernorm_before.bias"]?.tensor == "vit.encoder.layer.0.layernorm_before.bias")
            let convnext = try ArchitecturePair(file: file("timm-convnext", exporter)).binding()
            let gamma = try #require(convnext.bound.values.first { $0.tensor == "stages.2.blocks.0.gamma" })
            #expect(gamma.form == .reshaped([1, 32, 1, 1]))
            let timm = try ArchitecturePair(file: file("timm-vit", exporter)).binding()
            #expect(timm.bound.values.first { $0.tensor == "blocks.0.attn.qkv.weight" }?.form == .transposed)
        }
    }

    @Test("a missing or renamed tensor is named in one line with what was looked for and the unused tensors of its shape")
    func missingAndRenamed() throws {
        let folder = RealModelFolder.committed("timm-resnet-basic")
        let directory = TemporaryDirectory()
        let dropped = directory.path("dropped.safetensors")
        try rewrittenCheckpoint(folder + "/model.safetensors", to: dropped, rename: { $0 == "layer1.0.conv2.weight" ? nil : $0 })
        #expect(architectureError(dropped, folder + "/model.onnx") == "\(dropped): missing tensor 'layer1.0.conv2.weight' (expected shape [8, 8, 3, 3])")
        let legacy = try #require(architectureError(dropped, folder + "/model.legacy.onnx"))
        #expect(legacy.hasPrefix("\(dropped): no checkpoint tensor fills the graph's 'onnx::Conv_"))
        #expect(legacy.hasSuffix("[8, 8, 3, 3], the weight of Conv '/layer1/layer1.0/conv2/Conv' in module 'layer1.0.conv2'; "
                                 + "looked for 'layer1.0.conv2.weight'"))
        let renamed = directory.path("renamed.safetensors")
        try rewrittenCheckpoint(folder + "/model.safetensors", to: renamed, rename: { $0 == "layer2.0.conv1.weight" ? "layer2.0.conv1.w" : $0 })
        #expect(architectureError(renamed, folder + "/model.onnx")
                == "\(renamed): missing tensor 'layer2.0.conv1.weight' (expected shape [16, 8, 3, 3]); unused checkpoint tensors of that shape: 'layer2.0.conv1.w'")
        let message = try #require(architectureError(renamed, folder + "/model.legacy.onnx"))
        #expect(message.hasSuffix("the weight of Conv '/layer2/layer2.0/conv1/Conv' in module 'layer2.0.conv1'; looked for 'layer2.0.conv1.weight'; "
                                  + "unused checkpoint tensors of that shape: 'layer2.0.conv1.w'"), "\(message)")
        let head = directory.path("head.safetensors")
        try rewrittenCheckpoint(folder + "/model.safetensors", to: head, rename: { ["fc.weight": "head.weight"][$0] ?? $0 })
        for onnx in ["model.onnx", "model.legacy.onnx"] {
            #expect(architectureError(head, folder + "/" + onnx)
                    == "\(head): missing tensor 'fc.weight' (expected shape [10, 64]); unused checkpoint tensors of that shape: 'head.weight'")
        }
    }

    @Test("""
          a genuinely ambiguous match is refused: two LayerNorms whose names do not tell which is which; \
          two batch norms of a size moved away from their convs; a batch norm nothing folded
          """)
    func ambiguous() throws {
        let directory = TemporaryDirectory()
        let vit = RealModelFolder.committed("timm-vit")
        let norms = directory.path("norms.safetensors")
        try rewrittenCheckpoint(vit + "/model.safetensors", to: norms) {
            $0.replacingOccurrences(of: "blocks.0.norm1.", with: "blocks.0.na.").replacingOccurrences(of: "blocks.0.norm2.", with: "blocks.0.nb.")
        }
        for onnx in ["model.onnx", "model.legacy.onnx"] {
            let message = try #require(architectureError(norms, vit + "/" + onnx))
            #expect(message.hasPrefix("\(norms): the graph's module 'blocks.0.norm1' (scale of LayerNormalization '"), "\(message)")
            #expect(message.hasSuffix("[32]) fits 2 checkpoint modules equally well: 'blocks.0.na', 'blocks.0.nb'; no name decides which one it is"))
        }
        let resnet = RealModelFolder.committed("timm-resnet-basic")
        let moved = directory.path("moved.safetensors")
        try rewrittenCheckpoint(resnet + "/model.safetensors", to: moved) {
            $0.replacingOccurrences(of: "layer1.0.bn1.", with: "norms.a.").replacingOccurrences(of: "layer1.0.bn2.", with: "norms.b.")
        }
        for onnx in ["model.onnx", "model.legacy.onnx"] {
            let message = try #require(architectureError(moved, resnet + "/" + onnx))
            #expect(message.hasSuffix("(module 'layer1.0.conv1') has a bias the checkpoint does not hold (a BatchNorm the exporter folded into it) "
                                      + "and no unused checkpoint BatchNorm of 8 channels pairs with it: 2 unused batch norms of that size "
                                      + "('norms.a', 'norms.b') for 2 such convs, and neither module names nor their places decide"), "\(message)")
        }
        let extra = directory.path("extra.safetensors")
        let ones = Tensor(shape: [64], data: Array(repeating: 1, count: 64))
        try rewrittenCheckpoint(resnet + "/model.safetensors", to: extra, extra: ["extra.bn.weight": ones, "extra.bn.bias": ones,
                                                                                 "extra.bn.running_mean": ones, "extra.bn.running_var": ones])
        for onnx in ["model.onnx", "model.legacy.onnx"] {
            #expect(architectureError(extra, resnet + "/" + onnx) == "\(extra): the checkpoint's BatchNorm 'extra.bn' (64 channels) is used by no node "
                    + "of the graph, which has batch norms folded into convolutions, and no folded Conv pairs with it: none of the graph's "
                    + "4 convs with 64 outputs has a bias the checkpoint does not hold or sits beside it")
        }
    }

    @Test("a legacy export of a checkpoint whose values all differ from the file's: the lost epsilon is assumed (1e-5) and said so")
    func assumedEpsilon() throws {
        let pair = ArchitecturePair(file: try #require(RealModelFixtures.onnxFiles.first { $0.entry.folder == "timm-resnet-bottleneck" && $0.exporter == "legacy" }))
        let directory = TemporaryDirectory()
        var generator = SeededGenerator(seed: 7)
        try rewrittenCheckpoint(pair.checkpoint, to: directory.path("model.safetensors"), edit: { _, values in
            for i in values.indices { values[i] *= 0.8 + 0.4 * Float(generator.next() >> 40) / Float(1 << 24) }
        })
        try copyConfig("timm-resnet-bottleneck", to: directory.path)
        let model = try Model.load(directory.path("model.safetensors"), architecture: pair.file.path)
        #expect(model.warnings == ["17 BatchNorm epsilon(s) folded away by the exporter could not be read from the graph's values "
                                   + "(the checkpoint's differ from the ONNX file's): assumed 1e-05, PyTorch's default"])
        let binding = try pair.binding(directory.path("model.safetensors"))
        #expect(binding.folds.allSatisfy { $0.epsilonSource == .assumed && !$0.verified })
        let x = try RealModelExpectation(pair.file.entry).x
        #expect(maxAbsDifference(try model.logits(x), try Model.load(directory.path("model.safetensors")).logits(x)) <= 1e-4)
    }
}

/// The uncommitted real-library folders of the development machine (`/work/models/trained`: the
/// trained tier, `/work/models/tiny`: the tiny models too big to commit), each with both ONNX files.
enum UncommittedRealModels {
    static let roots = ["/work/models/trained", "/work/models/tiny"]

    static let files: [String] = roots.flatMap { root -> [String] in
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return folders.sorted().flatMap { folder in
            ["model.onnx", "model.legacy.onnx"].map { "\(root)/\(folder)/\($0)" }
        }.filter { FileManager.default.fileExists(atPath: $0) }
    }
}

@Suite("--arch ONNX on the uncommitted trained and tiny real-library models")
struct UncommittedCheckpointBindingTests {
    @Test("every folder's checkpoint with either ONNX file gives PyTorch's logits within 1e-4", .tags(.slow),
          .enabled(if: !UncommittedRealModels.files.isEmpty, "no /work/models folders on this machine"), arguments: UncommittedRealModels.files)
    func parity(_ onnx: String) throws {
        let folder = String(onnx[..<onnx.lastIndex(of: "/")!])
        let expected = try Checkpoint.open(folder + "/expected.npz")
        let x = try TensorLoading.floatTensor(expected, try #require(expected.info(named: "x")))
        let logits = try TensorLoading.floatTensor(expected, try #require(expected.info(named: "logits")))
        let model = try Model.load(folder + "/model.safetensors", architecture: onnx)
        let difference = maxAbsDifference(try model.logits(x), logits)
        #expect(difference <= 1e-4, "max abs difference \(difference)")
    }
}
