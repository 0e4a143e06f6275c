import Foundation
import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

/// Hand-built ONNX files (protobuf written field by field) for the cases the real exports do not
/// show: initializers shared between modules, graphs without scopes, dynamo's fold metadata.
enum SyntheticONNX {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, out: [UInt8] = []
        repeat {
            out.append(UInt8(value & 0x7F) | (value > 0x7F ? 0x80 : 0))
            value >>= 7
        } while value != 0
        return out
    }

    static func int(_ field: Int, _ value: Int) -> [UInt8] { varint(UInt64(field << 3)) + varint(UInt64(bitPattern: Int64(value))) }
    static func bytes(_ field: Int, _ payload: [UInt8]) -> [UInt8] { varint(UInt64(field << 3 | 2)) + varint(UInt64(payload.count)) + payload }
    static func string(_ field: Int, _ text: String) -> [UInt8] { bytes(field, Array(text.utf8)) }

    /// A float32 initializer.
    static func initializer(_ name: String, _ tensor: Tensor) -> [UInt8] {
        bytes(5, tensor.shape.flatMap { int(1, $0) } + int(2, 1) + string(8, name) + bytes(9, tensor.data.withUnsafeBytes { Array($0) }))
    }

    /// A node; `ints` are INT attributes, `metadata` its `metadata_props`.
    static func node(_ op: String, name: String, inputs: [String], outputs: [String], ints: [String: Int] = [:],
                     metadata: [String: String] = [:]) -> [UInt8] {
        let attributes = ints.sorted { $0.key < $1.key }.flatMap { bytes(5, string(1, $0.key) + int(3, $0.value) + int(20, 2)) }
        let props = metadata.sorted { $0.key < $1.key }.flatMap { bytes(9, string(1, $0.key) + string(2, $0.value)) }
        return bytes(1, inputs.flatMap { string(1, $0) } + outputs.flatMap { string(2, $0) } + string(3, name) + string(4, op) + attributes + props)
    }

    /// A float input or output of shape `[batch] + dims`.
    static func value(_ field: Int, _ name: String, _ dims: [Int]) -> [UInt8] {
        let shape = bytes(1, string(2, "batch")) + dims.flatMap { bytes(1, int(1, $0)) }
        return bytes(field, string(1, name) + bytes(2, bytes(1, int(1, 1) + bytes(2, shape))))
    }

    /// Writes a model (IR 8, opset 17) with one input `x` and one output `y`.
    static func write(_ path: String, input: [Int], output: [Int], nodes: [[UInt8]], initializers: [[UInt8]]) throws {
        let graph = nodes.flatMap { $0 } + string(2, "g") + initializers.flatMap { $0 } + value(11, "x", input) + value(12, "y", output)
        let model = int(1, 8) + bytes(8, string(1, "") + int(2, 17)) + bytes(7, graph)
        try Data(model).write(to: URL(fileURLWithPath: path))
    }

    /// Writes a float32 safetensors checkpoint.
    static func checkpoint(_ path: String, _ tensors: [String: Tensor]) throws {
        let infos = tensors.keys.sorted().map { TensorInfo(name: $0, dtype: .F32, shape: tensors[$0]!.shape) }
        try Checkpoint.write(to: path, tensors: infos, options: CheckpointWriteOptions(container: .safetensors)) { info, consume in
            try tensors[info.name]!.data.withUnsafeBytes { try consume($0) }
        }
    }
}

@Suite("checkpoint binding on hand-built graphs: shared initializers, scope-less graphs, exporter metadata")
struct CheckpointBindingGraphTests {
    func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return Tensor.random(shape, using: &generator)
    }

    /// `x Wᵀ + b` for `x` `[n, d]`, `W` `[m, d]`.
    func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor) -> Tensor {
        let (n, d, m) = (x.shape[0], x.shape[1], w.shape[0])
        var y = [Float](repeating: 0, count: n * m)
        for i in 0..<n { for j in 0..<m { y[i * m + j] = b.data[j] + (0..<d).reduce(0) { $0 + x.data[i * d + $1] * w.data[j * d + $1] } } }
        return Tensor(shape: [n, m], data: y)
    }

    /// Two heads summed, the second reading the first's bias (as the dynamo exporter writes
    /// DeiT's `head_dist` after training made both biases equal).
    func twoHeads(_ directory: TemporaryDirectory, metadata: Bool) throws -> String {
        let path = directory.path("heads.onnx")
        let scopes = { (module: String, op: String) in metadata ? ["pkg.torch.onnx.name_scopes": "['', '\(module)', '\(op)']"] : [:] }
        try SyntheticONNX.write(path, input: [4], output: [3], nodes: [
            SyntheticONNX.node("Gemm", name: metadata ? "node_linear" : "/head/Gemm", inputs: ["x", "head.weight", "head.bias"], outputs: ["a"],
                               ints: ["transB": 1], metadata: scopes("head", "linear")),
            SyntheticONNX.node("Gemm", name: metadata ? "node_linear_1" : "/head_dist/Gemm", inputs: ["x", "head_dist.weight", "head.bias"],
                               outputs: ["b"], ints: ["transB": 1], metadata: scopes("head_dist", "linear_1")),
            SyntheticONNX.node("Add", name: metadata ? "node_add" : "/Add", inputs: ["a", "b"], outputs: ["y"], metadata: scopes("", "add")),
        ], initializers: [SyntheticONNX.initializer("head.weight", random([3, 4], seed: 1)), SyntheticONNX.initializer("head_dist.weight", random([3, 4], seed: 2)),
                          SyntheticONNX.initializer("head.bias", random([3], seed: 3))])
        return path
    }

    @Test("an initializer the exporter shares between two modules is filled per module: head_dist's own bias, or the shared one when the checkpoint ties them",
          arguments: [false, true])
    func sharedInitializer(metadata: Bool) throws {
        let directory = TemporaryDirectory()
        let onnx = try twoHeads(directory, metadata: metadata)
        let w1 = random([3, 4], seed: 11), w2 = random([3, 4], seed: 12), b1 = random([3], seed: 13), b2 = random([3], seed: 14)
        let x = random([2, 4], seed: 15)
        let own = directory.path("own.safetensors")
        try SyntheticONNX.checkpoint(own, ["head.weight": w1, "head.bias": b1, "head_dist.weight": w2, "head_dist.bias": b2])
        let binding = try CheckpointBinding.of(try Checkpoint.open(own), to: try ONNXModel(path: onnx))
        #expect(binding.bound["head.bias::head_dist"]?.tensor == "head_dist.bias")
        #expect(binding.bound["head.bias"]?.tensor == "head.bias")
        var expected = linear(x, w1, b1), other = linear(x, w2, b2)
        for i in expected.data.indices { expected.data[i] += other.data[i] }
        #expect(maxAbsDifference(try Model.load(own, architecture: onnx).logits(x), expected) <= 1e-5)
        // A checkpoint that stores the bias once (tied): both heads read it.
        let tied = directory.path("tied.safetensors")
        try SyntheticONNX.checkpoint(tied, ["head.weight": w1, "head.bias": b1, "head_dist.weight": w2])
        #expect(try CheckpointBinding.of(try Checkpoint.open(tied), to: try ONNXModel(path: onnx)).bound["head.bias::head_dist"]?.evidence == .shared)
        other = linear(x, w2, b1)
        expected = linear(x, w1, b1)
        for i in expected.data.indices { expected.data[i] += other.data[i] }
        let model = try Model.load(tied, architecture: onnx)
        #expect(maxAbsDifference(try model.logits(x), expected) <= 1e-5)
        #expect(model.warnings.isEmpty)
    }

    @Test("a graph without scopes or checkpoint names: weights are bound by shape when each shape is unique, refused when two tensors of one shape could fill a slot")
    func withoutScopes() throws {
        let directory = TemporaryDirectory()
        let onnx = directory.path("chain.onnx")
        func write(_ second: [Int]) throws {
            try SyntheticONNX.write(onnx, input: [4], output: [second[1]], nodes: [
                SyntheticONNX.node("MatMul", name: "", inputs: ["x", "onnx::MatMul_1"], outputs: ["h"]),
                SyntheticONNX.node("Relu", name: "", inputs: ["h"], outputs: ["r"]),
                SyntheticONNX.node("MatMul", name: "", inputs: ["r", "onnx::MatMul_2"], outputs: ["y"]),
            ], initializers: [SyntheticONNX.initializer("onnx::MatMul_1", random([4, 4], seed: 1)),
                              SyntheticONNX.initializer("onnx::MatMul_2", random(second, seed: 2))])
        }
        let a = random([4, 4], seed: 21), b = random([3, 4], seed: 22), x = random([2, 4], seed: 23)
        try write([4, 3])
        let checkpoint = directory.path("c.safetensors")
        try SyntheticONNX.checkpoint(checkpoint, ["first.weight": a, "second.weight": b])
        let binding = try CheckpointBinding.of(try Checkpoint.open(checkpoint), to: try ONNXModel(path: onnx))
        #expect(binding.bound["onnx::MatMul_1"] == .init(tensor: "first.weight", form: .transposed, evidence: .module))
        #expect(binding.bound["onnx::MatMul_2"] == .init(tensor: "second.weight", form: .transposed, evidence: .module))
        var hidden = linear(x, a, Tensor(zeros: [4]))
        hidden.data = hidden.data.map { max($0, 0) }
        #expect(maxAbsDifference(try Model.load(checkpoint, architecture: onnx).logits(x), linear(hidden, b, Tensor(zeros: [3]))) <= 1e-5)
        try write([4, 4])
        let square = directory.path("s.safetensors")
        try SyntheticONNX.checkpoint(square, ["first.weight": a, "second.weight": random([4, 4], seed: 24)])
        do {
            _ = try Model.load(square, architecture: onnx)
            Issue.record("two [4, 4] tensors for two [4, 4] slots without names must be refused")
        } catch {
            #expect("\(error)" == "\(square): the graph's module 'onnx::MatMul_1' (weight of MatMul 'MatMul_0' [4, 4]) fits 2 checkpoint modules "
                    + "equally well: 'first', 'second'; no name decides which one it is")
        }
    }

    @Test("dynamo's FuseBatchNormIntoConv record names the batch norm and its epsilon; the fold is undone with them")
    func foldMetadata() throws {
        let directory = TemporaryDirectory()
        let w = random([2, 1, 3, 3], seed: 1), gamma = random([2], seed: 2), beta = random([2], seed: 3), mean = random([2], seed: 4)
        let variance = Tensor(shape: [2], data: [0.5, 2])
        let epsilon: Float = 1e-3
        // The folded kernel and bias, as onnxscript's rewriter computes them.
        let scale = (0..<2).map { gamma.data[$0] / (variance.data[$0] + epsilon).squareRoot() }
        let folded = Tensor(shape: w.shape, data: w.data.enumerated().map { $0.element * scale[$0.offset / 9] })
        let bias = Tensor(shape: [2], data: (0..<2).map { beta.data[$0] - mean.data[$0] * scale[$0] })
        let onnx = directory.path("conv.onnx")
        try SyntheticONNX.write(onnx, input: [1, 5, 5], output: [2, 3, 3], nodes: [
            SyntheticONNX.node("Conv", name: "node_Conv_3", inputs: ["x", "stem.conv.weight", "stem.conv.weight_bias"], outputs: ["y"], metadata: [
                "pkg.torch.onnx.name_scopes": "['', 'stem', 'stem.norm', '_native_batch_norm_legit_no_training']",
                "pkg.onnxscript.rewriter.rule_name": "FuseBatchNormIntoConv, RemoveOptionalBiasFromConv",
                "pkg.torch.onnx.fx_node": "%_native_batch_norm_legit_no_training : [num_users=1] = "
                    + "call_function[target=torch.ops.aten._native_batch_norm_legit_no_training.default]"
                    + "(args = (%conv2d, %p_stem_norm_weight, %p_stem_norm_bias, %b_stem_norm_running_mean, %b_stem_norm_running_var, 0.01, 0.001), kwargs = {})",
            ]),
        ], initializers: [SyntheticONNX.initializer("stem.conv.weight", folded), SyntheticONNX.initializer("stem.conv.weight_bias", bias)])
        let checkpoint = directory.path("c.safetensors")
        try SyntheticONNX.checkpoint(checkpoint, ["stem.conv.weight": w, "stem.norm.weight": gamma, "stem.norm.bias": beta,
                                                  "stem.norm.running_mean": mean, "stem.norm.running_var": variance])
        let binding = try CheckpointBinding.of(try Checkpoint.open(checkpoint), to: try ONNXModel(path: onnx))
        let fold = try #require(binding.folds.first)
        #expect(binding.folds.count == 1)
        #expect(fold.norm.module == "stem.norm" && fold.epsilon == 1e-3 && fold.epsilonSource == .exporter && fold.verified)
        let x = random([2, 1, 5, 5], seed: 9)
        let model = try Model.load(checkpoint, architecture: onnx), exported = try Model.fromONNXFile(onnx)
        // The graph's output is a feature map, not logits: compare the raw outputs.
        func output(_ m: Model) throws -> Tensor { try #require(try m.graph.forward([m.inputName: x]).0[m.outputName]) }
        #expect(maxAbsDifference(try output(model), try output(exported)) <= 1e-5)
        #expect(model.graph.weightLayers.map(\.weight) == ["stem.conv.weight"])
    }

    @Test("exporter scopes: legacy node names, dynamo's name_scopes list and the epsilon of an FX batch-norm call")
    func scopes() {
        #expect(ExporterScope.legacyModule("/layer1/layer1.0/conv1/Conv") == "layer1.0.conv1")
        #expect(ExporterScope.legacyModule("/stages/stages.0/blocks/blocks.0/Mul") == "stages.0.blocks.0")
        #expect(ExporterScope.legacyModule("/vit/layers.0/attention/q_proj/MatMul") == "vit.layers.0.attention.q_proj")
        #expect(ExporterScope.legacyModule("/Gemm") == "")
        #expect(ExporterScope.legacyModule("node_Conv_3") == nil)
        #expect(ExporterScope.pythonStrings("['', 'bn1', \"x.y\", '_native_batch_norm_legit_no_training']") == ["", "bn1", "x.y", "_native_batch_norm_legit_no_training"])
        #expect(ExporterScope.pythonStrings("bn1") == nil)
        #expect(ExporterScope.batchNormEpsilon("call_function[target=torch.ops.aten.batch_norm.default]"
            + "(args = (%x, %w, %b, %m, %v, False, 0.1, 1e-05, True), kwargs = {})") == 1e-5)
        #expect(CheckpointBinding.naturalLess("bn2", "bn10") && !CheckpointBinding.naturalLess("bn10", "bn2"))
        #expect(CheckpointBinding.PathFit("vit.layers.0.attention.q_proj", "vit.encoder.layer.0.attention.attention.query")
                > CheckpointBinding.PathFit("vit.layers.0.attention.q_proj", "vit.encoder.layer.0.attention.attention.key"))
    }
}
