import Testing
import TensorCore
import _TestSupport

/// Forward values of small, hand-computed cases (exact unless stated).
@Suite("forward values of hand-computed cases")
struct ForwardTests {
    func run(_ operation: GraphOperation, _ inputs: [(String, Tensor)], constants: [String: IntTensor] = [:], order: [String]? = nil,
             outputs: [String] = ["y"]) throws -> [Tensor] {
        let graph = ComputeGraph(nodes: [GraphNode(name: "n", operation: operation, inputs: order ?? inputs.map(\.0), outputs: outputs)],
                                 parameters: [:], constants: constants.mapValues { .int($0) }, inputNames: inputs.map(\.0), outputNames: outputs)
        let result = try graph.outputs(for: Dictionary(uniqueKeysWithValues: inputs))
        return outputs.map { result[$0]! }
    }

    let m23 = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])

    @Test("Tensor subscripts and reshaping")
    func tensorBasics() {
        var t = Tensor(zeros: [2, 3, 4])
        t[1, 2, 3] = 7
        #expect(t.data[23] == 7 && t[1, 2, 3] == 7)
        #expect(t.strides == [12, 4, 1])
        #expect(t.reshaped([6, 4]).shape == [6, 4])
        #expect(Tensor(scalar: 2).shape == [] && Tensor(scalar: 2).count == 1)
    }

    @Test("Gemm, Linear (both layouts) and MatMul on a 2×3 matrix")
    func products() throws {
        let w = Tensor(shape: [2, 3], data: [1, 0, -1, 2, 1, 0])   // [out 2, in 3]
        // x · wᵀ: rows (1−3, 2+2) and (4−6, 8+5)
        let expected = Tensor(shape: [2, 2], data: [-2, 4, -2, 13])
        #expect(try run(.gemm(GemmAttributes(transB: true)), [("x", m23), ("w", w)])[0] == expected)
        #expect(try run(.linear(.outputsByInputs), [("x", m23), ("w", w)])[0] == expected)
        let wt = Tensor(shape: [3, 2], data: [1, 2, 0, 1, -1, 0])
        #expect(try run(.linear(.inputsByOutputs), [("x", m23), ("w", wt), ("b", Tensor(shape: [2], data: [10, 20]))])[0]
            == Tensor(shape: [2, 2], data: [8, 24, 8, 33]))
        #expect(try run(.matMul, [("x", m23), ("w", wt)])[0] == expected)
        #expect(try run(.gemm(GemmAttributes(alpha: 2, beta: 0.5)), [("x", m23), ("w", wt), ("c", Tensor(shape: [1], data: [4]))])[0]
            == Tensor(shape: [2, 2], data: [-2, 10, -2, 28]))
    }

    @Test("broadcasting elementwise operators")
    func broadcasting() throws {
        let column = Tensor(shape: [2, 1], data: [10, 20]), row = Tensor(shape: [3], data: [1, 2, 3])
        #expect(try run(.binary(.add), [("a", column), ("b", row)])[0] == Tensor(shape: [2, 3], data: [11, 12, 13, 21, 22, 23]))
        #expect(try run(.binary(.sub), [("a", row), ("b", column)])[0] == Tensor(shape: [2, 3], data: [-9, -8, -7, -19, -18, -17]))
        #expect(try run(.binary(.mul), [("a", m23), ("b", row)])[0] == Tensor(shape: [2, 3], data: [1, 4, 9, 4, 10, 18]))
        #expect(try run(.binary(.div), [("a", m23), ("b", column)])[0] == Tensor(shape: [2, 3], data: [0.1, 0.2, 0.3, 0.2, 0.25, 0.3]))
        #expect(try run(.binary(.pow), [("a", m23), ("b", Tensor(scalar: 2))])[0] == Tensor(shape: [2, 3], data: [1, 4, 9, 16, 25, 36]))
        #expect(try run(.unary(.sqrt), [("a", Tensor(shape: [2], data: [4, 9]))])[0] == Tensor(shape: [2], data: [2, 3]))
        #expect(try run(.unary(.neg), [("a", row)])[0] == Tensor(shape: [3], data: [-1, -2, -3]))
        #expect(try run(.unary(.relu), [("a", Tensor(shape: [3], data: [-1, 0, 2]))])[0] == Tensor(shape: [3], data: [0, 0, 2]))
        let s = try run(.unary(.sigmoid), [("a", Tensor(shape: [3], data: [0, -100, 100]))])[0]
        #expect(s.data[0] == 0.5 && s.data[1] > 0 && s.data[1] < 1e-40 && s.data[2] == 1, "stable at both tails")
        expectClose(try run(.unary(.tanh), [("a", Tensor(shape: [1], data: [0.5]))])[0], Tensor(shape: [1], data: [0.46211716]), rtol: 1e-6)
    }

    @Test("IsNaN marks NaN only (not ±∞); Where on it guards a softmax as transformers' ViT export does")
    func isNaN() throws {
        let x = Tensor(shape: [2, 3], data: [.nan, 1, -.infinity, .infinity, 0, -.nan])
        let graph = ComputeGraph(nodes: [GraphNode(name: "isnan", operation: .isNaN, inputs: ["x"], outputs: ["m"]),
                                         GraphNode(name: "where", operation: .select, inputs: ["m", "zero", "x"], outputs: ["y"])],
                                 parameters: ["zero": Tensor(scalar: 0)], inputNames: ["x"], outputNames: ["y"])
        let y = try #require(try graph.outputs(for: ["x": x])["y"])
        #expect(y.shape == [2, 3])
        #expect(y.data[0] == 0 && y.data[1] == 1 && y.data[2] == -.infinity && y.data[3] == .infinity && y.data[4] == 0 && y.data[5] == 0)
        let (_, record) = try graph.forward(["x": x], recording: true)
        let g = try graph.backward(record, outputGradients: ["y": Tensor(repeating: 1, shape: [2, 3])])
        #expect(g.inputs["x"]?.data == [0, 1, 1, 1, 1, 0])
    }

    @Test("Clip: absent bounds do not clamp, lower > upper gives upper, NaN stays; a two-element bound is refused")
    func clip() throws {
        let x = Tensor(shape: [5], data: [-2, -0.5, 0.5, 2, .nan])
        #expect(try run(.clip(lower: nil, upper: nil), [("x", x)])[0].data.prefix(4) == [-2, -0.5, 0.5, 2])
        #expect(try run(.clip(lower: nil, upper: 1), [("x", x)])[0].data.prefix(4) == [-2, -0.5, 0.5, 1])
        let crossed = try run(.clip(lower: 1, upper: -1), [("x", x)])[0]
        #expect(crossed.data.prefix(4) == [-1, -1, -1, -1])
        #expect(try run(.clip(lower: 0, upper: 6), [("x", x)])[0].data[4].isNaN)
        // Inputs replace the case's bounds; an empty name keeps it.
        #expect(try run(.clip(lower: -5, upper: 5), [("x", x), ("hi", Tensor(scalar: 0))], order: ["x", "", "hi"])[0].data.prefix(4)
            == [-2, -0.5, 0, 0])
        #expect(throws: GraphError.self) { try run(.clip(lower: nil, upper: nil), [("x", x), ("lo", Tensor(shape: [2], data: [0, 1]))]) }
    }

    @Test("Pad: integer data, zero-size results, amounts that crop too much or do not match the axes are errors")
    func padEdgeCases() throws {
        let ints = ComputeGraph(nodes: [GraphNode(name: "p", operation: .pad(PadArguments(mode: .edge, pads: [1, 2])), inputs: ["s"], outputs: ["t"]),
                                        GraphNode(name: "c", operation: .cast(toFloat: true), inputs: ["t"], outputs: ["y"])],
                                parameters: [:], constants: ["s": .int(IntTensor([4, 7]))], inputNames: [], outputNames: ["y"])
        #expect(try ints.outputs(for: [:])["y"] == Tensor(shape: [5], data: [4, 4, 7, 7, 7]))
        let x = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        #expect(try run(.pad(PadArguments(pads: [0, -3, 0, 0])), [("x", x)])[0].shape == [2, 0])
        #expect(throws: GraphError.self) { try run(.pad(PadArguments(pads: [0, -4, 0, 0])), [("x", x)]) }
        #expect(throws: GraphError.self) { try run(.pad(PadArguments(pads: [0, 1, 0])), [("x", x)]) }
        #expect(throws: GraphError.self) { try run(.pad(PadArguments(mode: .reflect, pads: [0, 1, 0, 1])), [("x", Tensor(zeros: [2, 0]))]) }
        // Reflect on a length-1 axis repeats the element (NumPy's reflect).
        #expect(try run(.pad(PadArguments(mode: .reflect, pads: [2, 1])), [("x", Tensor(shape: [1], data: [9]))])[0].data == [9, 9, 9, 9])
    }

    @Test("Reshape (0 copies, −1 infers), Flatten, Squeeze, Unsqueeze, Transpose")
    func shapes() throws {
        let x = Tensor(shape: [2, 3, 4], data: (0..<24).map(Float.init))
        #expect(try run(.reshape(shape: nil, allowZero: false), [("x", x)], constants: ["s": IntTensor([0, -1])], order: ["x", "s"])[0].shape == [2, 12])
        #expect(try run(.flatten(axis: 0), [("x", x)])[0].shape == [1, 24])
        #expect(try run(.flatten(axis: -1), [("x", x)])[0].shape == [6, 4])
        #expect(try run(.squeeze(axes: nil), [("x", Tensor(zeros: [1, 3, 1]))])[0].shape == [3])
        #expect(try run(.unsqueeze(axes: [1, 3]), [("x", m23)])[0].shape == [2, 1, 3, 1])
        let t = try run(.transpose(perm: [2, 0, 1]), [("x", x)])[0]
        #expect(t.shape == [4, 2, 3])
        #expect(t[3, 1, 2] == x[1, 2, 3])
    }

    @Test("Slice with negative steps and bounds, Gather, Concat, Split")
    func indexing() throws {
        let x = Tensor(shape: [3, 4], data: (0..<12).map(Float.init))
        // Rows reversed from the last, every second column from 1.
        let s = try run(.slice(SliceArguments(starts: [-1, 1], ends: [-4, 100], axes: [0, 1], steps: [-1, 2])), [("x", x)])[0]
        #expect(s == Tensor(shape: [3, 2], data: [9, 11, 5, 7, 1, 3]))
        let g = try run(.gather(axis: 1), [("x", x)], constants: ["i": IntTensor(shape: [2], data: [-1, 0])], order: ["x", "i"])[0]
        #expect(g == Tensor(shape: [3, 2], data: [3, 0, 7, 4, 11, 8]))
        let c = try run(.concat(axis: 0), [("a", m23), ("b", Tensor(shape: [1, 3], data: [7, 8, 9]))])[0]
        #expect(c == Tensor(shape: [3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9]))
        let parts = try run(.split(axis: 1, sizes: [1, 2]), [("x", m23)], outputs: ["p", "q"])
        #expect(parts == [Tensor(shape: [2, 1], data: [1, 4]), Tensor(shape: [2, 2], data: [2, 3, 5, 6])])
    }

    @Test("MaxPool, AveragePool, GlobalAveragePool, ReduceMean, Softmax on a 4×4 ramp")
    func pooling() throws {
        let x = Tensor(shape: [1, 1, 4, 4], data: (0..<16).map(Float.init))
        let two = PoolAttributes(kernelShape: [2, 2], strides: [2, 2])
        #expect(try run(.maxPool(two), [("x", x)])[0] == Tensor(shape: [1, 1, 2, 2], data: [5, 7, 13, 15]))
        #expect(try run(.averagePool(two, countIncludePad: false), [("x", x)])[0] == Tensor(shape: [1, 1, 2, 2], data: [2.5, 4.5, 10.5, 12.5]))
        // 3×3 windows, stride 3, pad 1: the corner window holds 0,1,4,5 (4 of 9 positions inside).
        let padded = PoolAttributes(kernelShape: [3, 3], strides: [3, 3], pads: [1, 1, 1, 1])
        #expect(try run(.averagePool(padded, countIncludePad: false), [("x", x)])[0][0, 0, 0, 0] == 2.5)
        #expect(try run(.averagePool(padded, countIncludePad: true), [("x", x)])[0][0, 0, 0, 0] == 10 / 9)
        #expect(try run(.globalAveragePool, [("x", x)])[0] == Tensor(shape: [1, 1, 1, 1], data: [7.5]))
        #expect(try run(.reduce(.mean, axes: [1], keepDims: false), [("x", m23)])[0] == Tensor(shape: [2], data: [2, 5]))
        #expect(try run(.reduce(.sum, axes: nil, keepDims: true), [("x", m23)])[0] == Tensor(shape: [1, 1], data: [21]))
        let p = try run(.softmax(axis: -1), [("x", Tensor(shape: [1, 2], data: [0, Float(2).squareRoot()]))])[0]
        expectClose(p, Tensor(shape: [1, 2], data: [0.19557032, 0.80442968]), rtol: 1e-6)
    }

    @Test("Dropout and Identity pass values through; a Where selects")
    func passThrough() throws {
        #expect(try run(.dropout, [("x", m23)])[0] == m23)
        #expect(try run(.identity, [("x", m23)])[0] == m23)
        let w = try run(.select, [("a", m23), ("b", Tensor(scalar: 0))], constants: ["c": IntTensor(shape: [3], data: [1, 0, 1])],
                        order: ["c", "a", "b"])[0]
        #expect(w == Tensor(shape: [2, 3], data: [1, 0, 3, 4, 0, 6]))
    }
}
