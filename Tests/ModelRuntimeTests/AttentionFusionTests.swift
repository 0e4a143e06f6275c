import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

@Suite("attention fusion: PyTorch's exported nn.MultiheadAttention becomes one attention node")
struct AttentionFusionTests {
    /// The ViT sample as exported (about a hundred nodes per attention block; only the GELUs fused).
    func exportedViT() throws -> Model {
        try Model.fromONNX(ONNXModel(path: sample("vit.onnx")), checkpoint: nil, fusingKernels: false)
    }

    func attentionNodes(_ graph: ComputeGraph) -> [GraphNode] {
        graph.nodes.filter { if case .multiHeadAttention = $0.operation { true } else { false } }
    }

    /// `Σ x xᵀ` (float64) of every weight layer's captured vectors, by layer.
    func grams(_ graph: ComputeGraph, _ inputName: String, _ batch: Tensor) throws -> [Int: [Double]] {
        var grams: [Int: [Double]] = [:]
        _ = try graph.forward([inputName: batch], capture: { input in
            let rows = input.rows, d = rows.shape[1]
            var g = grams[input.layer] ?? [Double](repeating: 0, count: d * d)
            for r in 0..<rows.shape[0] {
                for i in 0..<d { for j in 0..<d { g[i * d + j] += Double(rows.data[r * d + i]) * Double(rows.data[r * d + j]) } }
            }
            grams[input.layer] = g
        })
        return grams
    }

    @Test("the ViT sample's two blocks fold into attention nodes: same logits, same weight layers, same Grams, rows per sample")
    func vitSample() throws {
        let exported = try exportedViT()
        let model = try Model.fromONNX(ONNXModel(path: sample("vit.onnx")))
        let fused = attentionNodes(model.graph)
        #expect(fused.count == 2)
        #expect(fused.allSatisfy { $0.operation == .multiHeadAttention(heads: 4, batchFirst: true) })
        #expect(fused.map(\.name) == ["/encoder/layers/encoder_layer_0/self_attention", "/encoder/layers/encoder_layer_1/self_attention"])
        #expect(model.graph.nodes.count < exported.graph.nodes.count - 150)
        #expect(!model.graph.nodes.contains { $0.operation == .softmax(axis: -1) })
        // The edited weights are the same parameters, in the same order and layout.
        #expect(model.graph.weightLayers.map(\.weight) == exported.graph.weightLayers.map(\.weight))
        #expect(model.graph.weightLayers.map(\.layout) == exported.graph.weightLayers.map(\.layout))
        // PyTorch's logits (Samples/vit.expected.npz), as close as the node-by-node graph gets them.
        let expected = try ExpectedLogits(model: "vit")
        let logits = try model.logits(expected.x), reference = try exported.logits(expected.x)
        #expect(zip(logits.data, expected.logits.data).allSatisfy { abs($0 - $1) <= 1e-4 })
        #expect(zip(logits.data, reference.data).allSatisfy { abs($0 - $1) <= 1e-5 })
        // Statistics: the same Gram per layer (the rows come in another order; after the first
        // attention, the activations differ by float32 rounding).
        let batch = Tensor(shape: [3, 1, 8, 8], data: Array(expected.x.data.prefix(192)))
        let ours = try grams(model.graph, model.inputName, batch), theirs = try grams(exported.graph, exported.inputName, batch)
        #expect(ours.keys.sorted() == theirs.keys.sorted())
        for (layer, g) in ours {
            let h = theirs[layer]!, scale = h.map(abs).max()!
            #expect(zip(g, h).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "layer \(layer)")
        }
        // The in-projection's vectors are per sample: 17 tokens of each of the 3 samples (the
        // exported MatMul sees the sequence-first tensor, 3 vectors for each of 17 "samples").
        var shapes: [String: (Int, Int)] = [:]
        _ = try model.graph.forward([model.inputName: batch], capture: { shapes[$0.weight] = ($0.samples, $0.vectorsPerSample) })
        #expect(shapes["encoder.layers.encoder_layer_0.self_attention.in_proj_weight"]! == (3, 17))
        #expect(shapes["encoder.layers.encoder_layer_1.self_attention.out_proj.weight"]! == (3, 17))
    }

    /// Every sample's vectors of every weight layer, by layer (in the layer's own row order).
    func perSampleVectors(_ model: Model, _ batch: Tensor) throws -> [Int: [[Float]]] {
        var vectors: [Int: [[Float]]] = [:]
        _ = try model.graph.forward([model.inputName: batch], capture: { input in
            vectors[input.layer] = (0..<input.samples).map { s in
                var v = [Float](repeating: .nan, count: input.vectorsPerSample * input.dimension)
                v.withUnsafeMutableBufferPointer { input.copyVectors(sample: s, positions: 0..<input.vectorsPerSample, into: $0.baseAddress!) }
                return v
            }
        })
        return vectors
    }

    @Test("""
          torchvision's VisionTransformer from both torch 2.15 exporters: each nn.MultiheadAttention fuses on the stored in_proj_weight.T; \
          same logits, layers and per-sample vectors as the graph as exported
          """,
          arguments: ["model.onnx", "model.legacy.onnx"])
    func torchvisionViT(file: String) throws {
        let entry = try #require(RealModelFixtures.entries.first { $0.folder == "torchvision-vit" })
        let path = Fixtures.path("\(RealModelFixtures.root)/torchvision-vit/\(file)")
        let exported = try Model.fromONNX(ONNXModel(path: path), checkpoint: nil, fusingKernels: false)
        let model = try Model.fromONNXFile(path)
        let fused = attentionNodes(model.graph)
        #expect(fused.map(\.operation) == Array(repeating: .multiHeadAttention(heads: 2, batchFirst: true), count: 2))
        #expect(!model.graph.nodes.contains { $0.operation == .softmax(axis: -1) })
        // The in-projection's weight is the exporter's transposed copy [E, 3E], read through a Transpose.
        let inProjections = model.graph.weightLayers.filter { $0.nodeName.hasSuffix(".in_proj") }
        #expect(inProjections.count == 2)
        #expect(inProjections.allSatisfy { $0.layout == .inputsByOutputs && model.graph.parameters[$0.weight]?.shape == [32, 96] })
        #expect(model.graph.weightLayers.map(\.weight) == exported.graph.weightLayers.map(\.weight))
        #expect(model.graph.weightLayers.map(\.layout) == exported.graph.weightLayers.map(\.layout))
        // The exported graph's projections read sequence-first rows; the import orders them.
        #expect(exported.graph.weightLayers.map(\.rowOrder).filter { $0 == .positionMajor }.count == 4)
        #expect(model.graph.weightLayers.allSatisfy { $0.rowOrder == .sampleMajor })
        let expected = try RealModelExpectation(entry)
        let logits = try model.logits(expected.x), reference = try exported.logits(expected.x)
        #expect(maxAbsDifference(logits, expected.logits) <= 1e-4)
        #expect(maxAbsDifference(logits, reference) <= 1e-5)
        // Statistics see the same vectors per sample (token j of sample s) in both graphs.
        let ours = try perSampleVectors(model, expected.x), theirs = try perSampleVectors(exported, expected.x)
        #expect(ours.keys.sorted() == theirs.keys.sorted())
        for (layer, samples) in ours {
            let other = try #require(theirs[layer])
            #expect(samples.count == 4 && other.count == 4)
            for (a, b) in zip(samples, other) {
                #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "layer \(layer)")
            }
        }
    }

    @Test("timm's and transformers' ViTs (MatMul, Softmax, MatMul attention) have no nn.MultiheadAttention to fuse",
          arguments: ["timm-vit", "timm-deit-distilled", "transformers-vit"])
    func otherViTsStay(folder: String) throws {
        for file in ["model.onnx", "model.legacy.onnx"] {
            let model = try Model.fromONNXFile(Fixtures.path("\(RealModelFixtures.root)/\(folder)/\(file)"))
            #expect(attentionNodes(model.graph).isEmpty, "\(file)")
            #expect(model.graph.weightLayers.allSatisfy { $0.rowOrder == .sampleMajor }, "\(file)")
        }
    }

    @Test("head counts are tried hinted first, each group by head width nearest 64")
    func headOrder() {
        #expect(Array(AttentionFusion.headCandidates(embedding: 768, hints: [3, 12, 17]).prefix(4)) == [12, 3, 16, 8])
        #expect(AttentionFusion.headCandidates(embedding: 64, hints: []) == [1, 2, 4, 8, 16, 32, 64])
    }

    @Test("a block that computes something else, or whose intermediate is read outside, stays as it is")
    func refusesLookAlikes() throws {
        let exported = try exportedViT().graph
        let probe = AttentionFusion.probe(samples: 2, shape: [1, 8, 8])
        // Block 0's softmax over the wrong axis: the anchors match, the values do not.
        var nodes = exported.nodes
        let softmaxes = nodes.indices.filter { nodes[$0].operation == .softmax(axis: -1) }
        #expect(softmaxes.count == 2)
        nodes[softmaxes[0]].operation = .softmax(axis: -2)
        let altered = ComputeGraph(nodes: nodes, parameters: exported.parameters, constants: exported.constants,
                                   inputNames: exported.inputNames, outputNames: exported.outputNames)
        let fused = AttentionFusion.fused(altered, probe: probe, inputName: exported.inputNames[0])
        #expect(attentionNodes(fused).count == 1)
        #expect(fused.nodes.contains { $0.operation == .softmax(axis: -2) })
        let before = try altered.outputs(for: [exported.inputNames[0]: probe]), after = try fused.outputs(for: [exported.inputNames[0]: probe])
        let name = exported.outputNames[0]
        #expect(zip(before[name]!.data, after[name]!.data).allSatisfy { abs($0 - $1) <= 1e-5 })
        // Block 1's attention probabilities are also a graph output: that block cannot go.
        let observed = ComputeGraph(nodes: exported.nodes, parameters: exported.parameters, constants: exported.constants,
                                    inputNames: exported.inputNames, outputNames: exported.outputNames + [exported.nodes[softmaxes[1]].outputs[0]])
        let partly = AttentionFusion.fused(observed, probe: probe, inputName: exported.inputNames[0])
        #expect(attentionNodes(partly).map(\.inputs[1]) == ["encoder.layers.encoder_layer_0.self_attention.in_proj_weight"])
    }
}

@Suite("linear fusion: MatMul + Add of a bias becomes one linear node")
struct LinearFusionTests {
    let parameters: [String: Tensor] = {
        var rng = SeededGenerator(seed: 11)
        return ["w": Tensor.random([5, 3], using: &rng), "b": Tensor.random([5], using: &rng), "b3": Tensor.random([3], using: &rng)]
    }()

    /// `y = Add(b, MatMul(x, Transpose(w)))` as torch.onnx writes `nn.Linear` on a 3-D input.
    func exported(bias: String = "b", transposeReaders: Int = 1) -> [GraphNode] {
        var nodes = [
            GraphNode(name: "t", operation: .transpose(perm: [1, 0]), inputs: ["w"], outputs: ["wt"]),
            GraphNode(name: "mm", operation: .matMul, inputs: ["x", "wt"], outputs: ["p"]),
            GraphNode(name: "add", operation: .binary(.add), inputs: [bias, "p"], outputs: ["y"]),
        ]
        if transposeReaders > 1 { nodes.append(GraphNode(name: "peek", operation: .unary(.neg), inputs: ["wt"], outputs: ["z"])) }
        return nodes
    }

    @Test("the pair becomes one linear node on the parameter itself, with the same values (1e-6) and weight layer")
    func fusesAndMatches() throws {
        let nodes = exported()
        let fused = LinearFusion.fused(nodes, parameters: parameters, graphOutputs: ["y"])
        #expect(fused == [GraphNode(name: "mm", operation: .linear(.outputsByInputs), inputs: ["x", "w", "b"], outputs: ["y"])])
        var rng = SeededGenerator(seed: 12)
        let x = Tensor.random([2, 4, 3], using: &rng)
        let before = ComputeGraph(nodes: nodes, parameters: parameters, inputNames: ["x"], outputNames: ["y"])
        let after = ComputeGraph(nodes: fused, parameters: parameters, inputNames: ["x"], outputNames: ["y"])
        let a = try before.outputs(for: ["x": x])["y"]!, b = try after.outputs(for: ["x": x])["y"]!
        #expect(a.shape == [2, 4, 5] && b.shape == [2, 4, 5])
        #expect(zip(a.data, b.data).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($0)) })
        #expect(after.weightLayers.map(\.weight) == ["w"] && after.weightLayers.map(\.layout) == before.weightLayers.map(\.layout))
    }

    @Test("nothing changes for a bias of the wrong length, a product read elsewhere or a graph output; a shared transpose stays")
    func leavesOthers() {
        #expect(LinearFusion.fused(exported(bias: "b3"), parameters: parameters, graphOutputs: ["y"]) == exported(bias: "b3"))
        #expect(LinearFusion.fused(exported(), parameters: parameters, graphOutputs: ["y", "p"]) == exported())
        let shared = LinearFusion.fused(exported(transposeReaders: 2), parameters: parameters, graphOutputs: ["y", "z"])
        #expect(shared.map(\.name) == ["t", "mm", "peek"])
        #expect(shared[1] == GraphNode(name: "mm", operation: .linear(.inputsByOutputs), inputs: ["x", "wt", "b"], outputs: ["y"]))
    }
}
