import Testing
import TensorCore
import _TestSupport

/// Graph values and attributes that used to trap or hang (issue 18), checked at the library
/// level; Tests/CLITests/HostileInputTests.swift runs the same classes through the command line.
@Suite("graph: hostile sizes and integer edge cases")
struct HostileGraphTests {
    /// `op(a, b) − expected` in integers, as a float (0 exactly when the result is `expected`:
    /// any other difference is a non-zero integer, which stays non-zero as a float).
    func integerDifference(_ op: BinaryOperator, _ a: Int, _ b: Int, _ expected: Int) throws -> [Float] {
        let graph = ComputeGraph(
            nodes: [GraphNode(name: "op", operation: .binary(op), inputs: ["a", "b"], outputs: ["y"]),
                    GraphNode(name: "difference", operation: .binary(.sub), inputs: ["y", "expected"], outputs: ["d"]),
                    GraphNode(name: "float", operation: .cast(toFloat: true), inputs: ["d"], outputs: ["f"])],
            parameters: [:],
            constants: ["a": .int(IntTensor([a])), "b": .int(IntTensor([b])), "expected": .int(IntTensor([expected]))],
            inputNames: [], outputNames: ["f"])
        return try graph.outputs(for: [:])["f"]?.data ?? []
    }

    @Test("integer Div, Mod and Pow wrap instead of trapping; Mod takes the divisor's sign (ONNX fmod = 0)", arguments: [
        (BinaryOperator.div, Int.min, -1, Int.min), (.div, 7, -2, -3), (.div, 5, 0, 0),
        (.mod, Int.min, -1, 0), (.mod, -7, 3, 2), (.mod, 7, -3, -2), (.mod, Int.min, Int.max, Int.max - 1), (.mod, 5, 0, 0),
        // 3^(2^62) ≡ 1 (mod 2^64): the odd residues mod 2^64 form a group of exponent 2^62.
        (.pow, 3, 1 << 62, 1), (.pow, 2, 64, 0), (.pow, -1, (1 << 62) + 1, -1), (.pow, 7, 0, 1), (.pow, 7, -3, 1),
        (.pow, 3, 5, 243),
    ])
    func integerEdges(op: BinaryOperator, a: Int, b: Int, expected: Int) throws {
        #expect(try integerDifference(op, a, b, expected) == [0])
    }

    @Test("Slice bounds of ±2⁶³ and steps of ±2⁶³ clamp as ONNX says", arguments: [
        (SliceArguments(starts: [Int.max], ends: [Int.min], steps: [Int.min]), [3], [1]),
        (SliceArguments(starts: [Int.min], ends: [Int.max], steps: [Int.max]), [0], [1]),
        (SliceArguments(starts: [Int.max], ends: [Int.min], steps: [-1]), [3, 2, 1, 0], [4]),
        (SliceArguments(starts: [Int.min], ends: [Int.min], steps: [1]), [], [0]),
        (SliceArguments(starts: [-2], ends: [Int.max], steps: [Int.max - 1]), [2], [1]),
    ])
    func sliceExtremes(arguments: SliceArguments, indices: [Int], shape: [Int]) throws {
        let result = try #require(Shapes.sliceIndices([4], arguments))
        #expect(result.indices == indices)
        #expect(result.shape == shape)
    }

    @Test("reshape targets whose size overflows are refused, not trapped on")
    func reshapeOverflow() {
        #expect(Shapes.reshapeTarget([2, 1, 2, 2], [1 << 32, 1 << 32, -1], allowZero: false) == nil)
        #expect(Shapes.reshapeTarget([2, 1, 2, 2], [Int.max, 2], allowZero: false) == nil)
        #expect(Shapes.reshapeTarget([2, 1, 2, 2], [2, -1], allowZero: false) == [2, 4])
    }

    @Test("a node whose output exceeds the allocation budget fails naming it, before allocating")
    func budget() throws {
        let graph = ComputeGraph(
            nodes: [GraphNode(name: "huge", operation: .constantOfShape(fill: nil), inputs: ["shape"], outputs: ["y"])],
            parameters: [:], constants: ["shape": .int(IntTensor([100_000, 100_000, 100_000]))], inputNames: [], outputNames: ["y"])
        #expect(throws: GraphError.exceedsMemoryLimit(node: "huge", opType: "ConstantOfShape", what: "its output [100000, 100000, 100000]",
                                                      bytes: 4_000_000_000_000_000)) {
            try graph.forward([:])
        }
        let overflow = ComputeGraph(
            nodes: [GraphNode(name: "overflow", operation: .expand(shape: [1 << 32, 1 << 32, 1, 10]), inputs: ["one"], outputs: ["y"])],
            parameters: ["one": Tensor(scalar: 1)], inputNames: [], outputNames: ["y"])
        #expect(throws: GraphError.exceedsMemoryLimit(node: "overflow", opType: "Expand", what: "its output [4294967296, 4294967296, 1, 10]",
                                                      bytes: nil)) {
            try overflow.forward([:])
        }
    }

    @Test("convolution and pooling attributes above 2³¹ − 1 are refused", arguments: [
        GraphOperation.convolution(ConvolutionAttributes(pads: [1 << 62, 1 << 62, 1 << 62, 1 << 62])),
        .convolution(ConvolutionAttributes(dilations: [1 << 40, 1])),
        .convolution(ConvolutionAttributes(groups: 1 << 62)),
        .maxPool(PoolAttributes(kernelShape: [1 << 62, 1 << 62], pads: [1 << 62, 1 << 62, 1 << 62, 1 << 62])),
        .averagePool(PoolAttributes(kernelShape: [1, 1], strides: [Int.max, 1]), countIncludePad: false),
    ])
    func windowAttributes(operation: GraphOperation) throws {
        let graph = ComputeGraph(
            nodes: [GraphNode(name: "window", operation: operation, inputs: ["x", "w"], outputs: ["y"])],
            parameters: ["w": Tensor(repeating: 1, shape: [1, 1, 1, 1])], inputNames: ["x"], outputNames: ["y"])
        #expect(throws: GraphError.self) { try graph.forward(["x": Tensor(repeating: 1, shape: [1, 1, 2, 2])]) }
    }

    @Test("a float used as an integer argument must fit in 64 bits; axes may not repeat; a scalar has no axis")
    func integerArguments() throws {
        let reshape = ComputeGraph(
            nodes: [GraphNode(name: "reshape", operation: .reshape(shape: nil, allowZero: false), inputs: ["x", "target"], outputs: ["y"])],
            parameters: ["target": Tensor(shape: [1], data: [1e30])], inputNames: ["x"], outputNames: ["y"])
        #expect(throws: GraphError.invalidInput(node: "reshape", opType: "Reshape", reason: "input 1 must hold integers that fit in 64 bits")) {
            try reshape.forward(["x": Tensor(repeating: 1, shape: [2, 2])])
        }
        let reduce = ComputeGraph(
            nodes: [GraphNode(name: "sum", operation: .reduce(.sum, axes: [0, 0, 0], keepDims: false), inputs: ["x"], outputs: ["y"])],
            parameters: [:], inputNames: ["x"], outputNames: ["y"])
        #expect(throws: GraphError.self) { try reduce.forward(["x": Tensor(repeating: 1, shape: [1000, 2])]) }
        let softmax = ComputeGraph(
            nodes: [GraphNode(name: "softmax", operation: .softmax(axis: 0), inputs: ["x"], outputs: ["y"])],
            parameters: [:], inputNames: ["x"], outputNames: ["y"])
        #expect(throws: GraphError.self) { try softmax.forward(["x": Tensor(scalar: 1)]) }
    }
}
