import Testing
import TensorCore
import WeightFormats
import ModelRuntime
import _TestSupport

@Suite("GELU fusion: PyTorch's exported erf expansion becomes one Gelu node")
struct GeluFusionTests {
    /// `x → Div(√2) → Erf → Add(1) → Mul(x, ·) → Mul(·, 0.5) → y` as torch.onnx writes `nn.GELU()`,
    /// with the scalars as Constant nodes; `extraReader` adds a node that also reads the Erf output.
    func expansion(extraReader: Bool = false) -> [GraphNode] {
        func constant(_ name: String, _ value: Float) -> GraphNode {
            GraphNode(name: name, operation: .constant(.float(Tensor(scalar: value))), inputs: [], outputs: [name])
        }
        var nodes = [
            constant("root2", Float(2).squareRoot()), constant("one", 1), constant("half", 0.5),
            GraphNode(name: "div", operation: .binary(.div), inputs: ["x", "root2"], outputs: ["d"]),
            GraphNode(name: "erf", operation: .unary(.erf), inputs: ["d"], outputs: ["e"]),
            GraphNode(name: "add", operation: .binary(.add), inputs: ["one", "e"], outputs: ["a"]),
            GraphNode(name: "mul", operation: .binary(.mul), inputs: ["a", "x"], outputs: ["m"]),
            GraphNode(name: "half_mul", operation: .binary(.mul), inputs: ["m", "half"], outputs: ["y"]),
        ]
        if extraReader { nodes.append(GraphNode(name: "peek", operation: .unary(.neg), inputs: ["e"], outputs: ["z"])) }
        return nodes
    }

    @Test("the expansion becomes one Gelu node with the same values (float32 rounding, 1e-6)")
    func fusesAndMatches() throws {
        let nodes = expansion()
        let fused = GeluFusion.fused(nodes, graphOutputs: ["y"])
        #expect(fused.filter { $0.operation == .gelu(.none) }.map(\.inputs) == [["x"]])
        #expect(!fused.contains { $0.operation == .unary(.erf) || $0.operation == .binary(.mul) })
        var rng = SeededGenerator(seed: 5)
        let x = Tensor(shape: [4, 50], data: Tensor.random([4, 50], using: &rng).data.map { $0 * 4 })
        let run = { (nodes: [GraphNode]) in
            try ComputeGraph(nodes: nodes, parameters: [:], inputNames: ["x"], outputNames: ["y"]).outputs(for: ["x": x])["y"]!
        }
        let reference = try run(nodes), result = try run(fused)
        #expect(zip(reference.data, result.data).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($0)) })
    }

    @Test("nothing changes when an intermediate is read elsewhere or is a graph output")
    func leavesSharedIntermediates() {
        #expect(GeluFusion.fused(expansion(extraReader: true), graphOutputs: ["y", "z"]) == expansion(extraReader: true))
        #expect(GeluFusion.fused(expansion(), graphOutputs: ["y", "m"]) == expansion())
    }

    @Test("the ViT sample loads with its two GELUs fused and no Erf left")
    func vitSample() throws {
        let model = try Model.fromONNX(ONNXModel(path: Fixtures.path("Samples/vit.onnx")))
        #expect(model.graph.nodes.filter { $0.operation == .gelu(.none) }.count == 2)
        #expect(!model.graph.nodes.contains { $0.operation == .unary(.erf) })
    }
}
