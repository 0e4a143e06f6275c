import Testing
import TensorCore
import _TestSupport

/// Passes that keep nothing for backward fold a batch normalization into the convolution that alone
/// feeds it; recorded passes (and the ones that must see the convolution's output) run both nodes.
@Suite("inference passes: batch normalization folded into the convolution before it")
struct BatchNormFoldTests {
    static func graph(convolutionIsOutput: Bool) -> (ComputeGraph, [String: Tensor]) {
        var rng = SeededGenerator(seed: 21)
        let parameters: [String: Tensor] = [
            "w": Tensor.random([16, 16, 3, 3], using: &rng), "b": Tensor.random([16], using: &rng),
            "scale": Tensor.random([16], using: &rng), "shift": Tensor.random([16], using: &rng),
            "mean": Tensor.random([16], using: &rng), "variance": Tensor.random([16], in: 0.2...2, using: &rng),
        ]
        let nodes = [
            GraphNode(name: "conv", operation: .convolution(ConvolutionAttributes(pads: [1, 1, 1, 1])), inputs: ["x", "w", "b"], outputs: ["c"]),
            GraphNode(name: "bn", operation: .batchNormalization(epsilon: 1e-5), inputs: ["c", "scale", "shift", "mean", "variance"], outputs: ["y"]),
        ]
        let graph = ComputeGraph(nodes: nodes, parameters: parameters, inputNames: ["x"], outputNames: convolutionIsOutput ? ["y", "c"] : ["y"])
        return (graph, ["x": Tensor.random([3, 16, 5, 7], using: &rng)])
    }

    /// The 16-channel 3 × 3 convolution runs by Winograd: the folded weights and their Winograd
    /// kernels are kept by the graph after the first pass, and must not be used for edited weights.
    @Test("the folded pass equals the recorded (unfolded) pass within 1e-5 of the output scale, again from kept weights, and with edited weights")
    func foldedEqualsUnfolded() throws {
        let (graph, inputs) = Self.graph(convolutionIsOutput: false)
        #expect(graph.batchNormFolds() == [0: 1])
        #expect(graph.batchNormFolds(keeping: ["c"]).isEmpty)
        var rng = SeededGenerator(seed: 22)
        let edited = ["w": Tensor.random([16, 16, 3, 3], using: &rng), "variance": Tensor.random([16], in: 0.5...1, using: &rng)]
        for overrides in [[:], [:], edited, ["w": edited["w"]!], [:]] {
            let folded = try #require(try graph.outputs(for: inputs, parameters: overrides)["y"])
            let unfolded = try #require(try graph.forward(inputs, parameters: overrides, recording: true).outputs["y"])
            let scale = unfolded.data.map(abs).max() ?? 1
            let worst = zip(folded.data, unfolded.data).map { abs($0 - $1) }.max() ?? .infinity
            #expect(folded.shape == unfolded.shape)
            #expect(worst <= 1e-5 * scale, "largest difference \(worst), scale \(scale)")
        }
    }

    @Test("a convolution whose output is also a graph output is not folded: both outputs are the unfolded values")
    func sharedOutputNotFolded() throws {
        let (graph, inputs) = Self.graph(convolutionIsOutput: true)
        #expect(graph.batchNormFolds().isEmpty)
        let plain = try graph.outputs(for: inputs)
        let recorded = try graph.forward(inputs, recording: true).outputs
        #expect(plain["c"]?.data == recorded["c"]?.data)
        #expect(plain["y"]?.data == recorded["y"]?.data)
    }
}
