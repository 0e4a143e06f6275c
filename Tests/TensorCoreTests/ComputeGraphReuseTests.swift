import Testing
import TensorCore
import _TestSupport

/// A pass with some parameters overridden reuses the values that do not depend on them from a pass
/// with the stored parameters, and computes the rest: the outputs are those of a full pass.
@Suite("forward passes that reuse the values an edit does not change")
struct ComputeGraphReuseTests {
    /// x → dense(w1) → relu (h) → dense(w2) → add h (skip) → relu → dense(w3) → y, and a side
    /// output `s` = h + 1 that depends on w1 alone.
    static func graph() -> (ComputeGraph, [String: Tensor]) {
        var rng = SeededGenerator(seed: 31)
        let parameters: [String: Tensor] = [
            "w1": Tensor.random([6, 8], using: &rng), "w2": Tensor.random([8, 8], using: &rng), "w3": Tensor.random([8, 4], using: &rng),
            "one": Tensor(shape: [1], data: [1]),
        ]
        let nodes = [
            GraphNode(name: "dense1", operation: .matMul, inputs: ["x", "w1"], outputs: ["a"]),
            GraphNode(name: "relu1", operation: .unary(.relu), inputs: ["a"], outputs: ["h"]),
            GraphNode(name: "side", operation: .binary(.add), inputs: ["h", "one"], outputs: ["s"]),
            GraphNode(name: "dense2", operation: .matMul, inputs: ["h", "w2"], outputs: ["b"]),
            GraphNode(name: "skip", operation: .binary(.add), inputs: ["b", "h"], outputs: ["c"]),
            GraphNode(name: "relu2", operation: .unary(.relu), inputs: ["c"], outputs: ["r"]),
            GraphNode(name: "dense3", operation: .matMul, inputs: ["r", "w3"], outputs: ["y"]),
        ]
        let graph = ComputeGraph(nodes: nodes, parameters: parameters, inputNames: ["x"], outputNames: ["y", "s"])
        return (graph, ["x": Tensor.random([5, 6], using: &rng)])
    }

    @Test("dependents and reusable values: an edit of w2 recomputes dense2 onwards and reuses h (also read by the skip) and the side output")
    func reusableValues() {
        let (graph, _) = Self.graph()
        #expect(graph.nodesDepending(on: ["w2"]) == [false, false, false, true, true, true, true])
        #expect(graph.reusableValues(overriding: ["w2"]) == ["h", "s"])
        #expect(graph.reusableValues(overriding: ["w3"]) == ["r", "s"])
        #expect(graph.reusableValues(overriding: ["w1", "w3"]).isEmpty)
    }

    @Test("outputs with reused values equal a full pass with the same overrides, bit for bit, for each edited set")
    func reusedEqualsFull() throws {
        let (graph, inputs) = Self.graph()
        var rng = SeededGenerator(seed: 32)
        let edits: [[String: Tensor]] = [
            ["w2": Tensor.random([8, 8], using: &rng)],
            ["w3": Tensor.random([8, 4], using: &rng)],
            ["w2": Tensor.random([8, 8], using: &rng), "w3": Tensor.random([8, 4], using: &rng)],
        ]
        for overrides in edits {
            let names = graph.reusableValues(overriding: Set(overrides.keys))
            let (plain, kept) = try graph.forward(inputs, keeping: names)
            #expect(Set(kept.keys) == names)
            #expect(plain["y"]?.data == (try graph.outputs(for: inputs))["y"]?.data)
            let reused = try graph.forward(inputs, parameters: overrides, reusing: kept)
            let full = try graph.outputs(for: inputs, parameters: overrides)
            #expect(reused["y"]?.data == full["y"]?.data)
            #expect(reused["s"]?.data == full["s"]?.data)
            #expect(reused["y"]?.data != plain["y"]?.data, "the edit must change the output for the test to mean anything")
        }
    }

    @Test("a reused value left out is a missing-value error naming the node that reads it")
    func missingReusedValue() throws {
        let (graph, inputs) = Self.graph()
        let (_, kept) = try graph.forward(inputs, keeping: ["h", "s"])
        let overrides = ["w2": graph.parameters["w2"]!]
        #expect(throws: GraphError.missingValue(node: "dense2", name: "h")) {
            try graph.forward(inputs, parameters: overrides, reusing: kept.filter { $0.key != "h" })
        }
    }

    @Test("overriding a batch normalization's scale: its convolution counts as depending, so the reusing pass folds as a full pass does, bit for bit")
    func foldedPairStaysTogether() throws {
        var rng = SeededGenerator(seed: 33)
        let parameters: [String: Tensor] = [
            "w0": Tensor.random([16, 3, 3, 3], using: &rng), "w": Tensor.random([16, 16, 3, 3], using: &rng),
            "scale": Tensor.random([16], using: &rng), "shift": Tensor.random([16], using: &rng),
            "mean": Tensor.random([16], using: &rng), "variance": Tensor.random([16], in: 0.2...2, using: &rng),
        ]
        let nodes = [
            GraphNode(name: "conv0", operation: .convolution(ConvolutionAttributes(pads: [1, 1, 1, 1])), inputs: ["x", "w0"], outputs: ["h"]),
            GraphNode(name: "conv", operation: .convolution(ConvolutionAttributes(pads: [1, 1, 1, 1])), inputs: ["h", "w"], outputs: ["c"]),
            GraphNode(name: "bn", operation: .batchNormalization(epsilon: 1e-5), inputs: ["c", "scale", "shift", "mean", "variance"], outputs: ["y"]),
        ]
        let graph = ComputeGraph(nodes: nodes, parameters: parameters, inputNames: ["x"], outputNames: ["y"])
        let inputs = ["x": Tensor.random([2, 3, 6, 5], using: &rng)]
        #expect(graph.nodesDepending(on: ["scale"]) == [false, true, true])
        #expect(graph.reusableValues(overriding: ["scale"]) == ["h"])
        let overrides = ["scale": Tensor.random([16], using: &rng)]
        let (_, kept) = try graph.forward(inputs, keeping: graph.reusableValues(overriding: ["scale"]))
        let reused = try graph.forward(inputs, parameters: overrides, reusing: kept)
        #expect(reused["y"]?.data == (try graph.outputs(for: inputs, parameters: overrides))["y"]?.data)
    }
}

