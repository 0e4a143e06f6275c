import Testing
import TensorCore
import _TestSupport

/// One operator with float inputs (checked) and integer constants (shape arguments).
struct GradientCase: CustomTestStringConvertible, Sendable {
    let label: String
    let opType: String
    let floatInputs: [(name: String, shape: [Int])]
    var intInputs: [String: IntTensor] = [:]
    var inputOrder: [String]
    var attributes: [String: Attribute] = [:]
    var positive = false
    /// Inputs spaced 0.1 apart and away from 0, so that no kink (ReLU at 0, a max-pool tie)
    /// lies within the finite-difference step.
    var distinct = false
    var outputs = ["y"]

    var testDescription: String { label }

    init(_ label: String, _ opType: String, _ floats: [(String, [Int])], ints: [String: IntTensor] = [:], order: [String]? = nil,
         attributes: [String: Attribute] = [:], positive: Bool = false, distinct: Bool = false, outputs: [String] = ["y"]) {
        self.label = label
        self.opType = opType
        floatInputs = floats.map { (name: $0.0, shape: $0.1) }
        intInputs = ints
        inputOrder = order ?? floats.map(\.0)
        self.attributes = attributes
        self.positive = positive
        self.distinct = distinct
        self.outputs = outputs
    }
}

/// Compares backward's gradients of `L = Σ_k Σ y_k ⊙ R_k` with central finite differences.
///
/// Tolerance: |analytic − numeric| ≤ 2e-3 + 2e-2·|numeric| with step 1e-2 in float32 (the
/// truncation error of the central difference is O(step²); rounding is O(1e-7·|L|/step)).
func checkGradients(_ testCase: GradientCase, seed: UInt64) throws {
    var rng = SeededGenerator(seed: seed)
    func random(_ shape: [Int]) -> Tensor {
        if testCase.distinct {
            let count = shape.reduce(1, *)
            let values = (0..<count).map { Float($0 - count / 2) * 0.1 + 0.05 }.shuffled(using: &rng)
            return Tensor(shape: shape, data: values)
        }
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in
            testCase.positive ? Float.random(in: 0.5...2, using: &rng) : Float.random(in: -1.5...1.5, using: &rng)
        })
    }
    var inputs: [String: Tensor] = [:]
    for (name, shape) in testCase.floatInputs { inputs[name] = random(shape) }
    let node = GraphNode(name: testCase.label, opType: testCase.opType, inputs: testCase.inputOrder, outputs: testCase.outputs,
                         attributes: testCase.attributes)
    let constants = testCase.intInputs.mapValues { Value.int($0) }
    let graph = ComputeGraph(nodes: [node], parameters: [:], constants: constants,
                             inputNames: testCase.floatInputs.map(\.name), outputNames: testCase.outputs)
    let (outputs, record) = try graph.forward(inputs, recording: true)
    var weights: [String: Tensor] = [:]
    for name in testCase.outputs { weights[name] = random(outputs[name]!.shape) }
    func loss(_ values: [String: Tensor]) throws -> Double {
        let (out, _) = try graph.forward(values)
        return testCase.outputs.reduce(0.0) { total, name in
            total + zip(out[name]!.data, weights[name]!.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
    }
    let gradients = try graph.backward(record, outputGradients: weights)
    let step: Float = 1e-2
    for (name, tensor) in inputs {
        let analytic = try #require(gradients.inputs[name], "\(testCase.label): no gradient for \(name)")
        #expect(analytic.shape == tensor.shape)
        var worst: (Float, Int) = (0, -1)
        for i in 0..<tensor.count {
            var plus = inputs, minus = inputs
            plus[name]!.data[i] += step
            minus[name]!.data[i] -= step
            let numeric = Float((try loss(plus) - loss(minus)) / Double(2 * step))
            let error = abs(analytic.data[i] - numeric) - (2e-3 + 2e-2 * abs(numeric))
            if error > worst.0 { worst = (error, i) }
        }
        #expect(worst.1 < 0, "\(testCase.label): d/d\(name)[\(worst.1)] is off by \(worst.0) beyond the tolerance")
    }
}

@Suite("backward rules against central finite differences")
struct GradientCheckTests {
    static let cases: [GradientCase] = [
        GradientCase("Gemm transB with row bias", "Gemm", [("a", [3, 4]), ("b", [5, 4]), ("c", [5])], attributes: ["transB": .int(1)]),
        GradientCase("Gemm transA, alpha, beta, full bias", "Gemm", [("a", [4, 3]), ("b", [4, 2]), ("c", [3, 2])],
                     attributes: ["transA": .int(1), "alpha": .float(0.5), "beta": .float(2)]),
        GradientCase("Gemm batch 1, transA and transB", "Gemm", [("a", [4, 1]), ("b", [2, 4])], attributes: ["transA": .int(1), "transB": .int(1)]),
        GradientCase("MatMul 3-D × 2-D weight", "MatMul", [("a", [2, 3, 4]), ("b", [4, 5])]),
        GradientCase("MatMul batched", "MatMul", [("a", [2, 3, 4]), ("b", [2, 4, 3])]),
        GradientCase("MatMul broadcast batch", "MatMul", [("a", [1, 3, 4]), ("b", [2, 4, 2])]),
        GradientCase("Conv stride 2 pad 1 odd size", "Conv", [("x", [1, 2, 5, 5]), ("w", [4, 2, 3, 3]), ("b", [4])],
                     attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
        GradientCase("Conv groups 2, dilation 2, asymmetric pads", "Conv", [("x", [2, 4, 5, 6]), ("w", [4, 2, 3, 3])],
                     attributes: ["group": .int(2), "dilations": .ints([2, 2]), "pads": .ints([2, 1, 1, 2])]),
        GradientCase("Conv 1×1 spatial, batch 1", "Conv", [("x", [1, 3, 1, 1]), ("w", [2, 3, 1, 1]), ("b", [2])]),
        GradientCase("Conv 1-D", "Conv", [("x", [2, 3, 7]), ("w", [4, 3, 3])], attributes: ["pads": .ints([1, 1])]),
        GradientCase("BatchNormalization (inference)", "BatchNormalization",
                     [("x", [2, 3, 2, 3]), ("scale", [3]), ("bias", [3]), ("mean", [3]), ("var", [3])], order: ["x", "scale", "bias", "mean", "var"],
                     positive: true),
        GradientCase("Relu", "Relu", [("x", [3, 7])], distinct: true),
        GradientCase("Gelu erf", "Gelu", [("x", [11])]),
        GradientCase("Gelu tanh", "Gelu", [("x", [11])], attributes: ["approximate": .string("tanh")]),
        GradientCase("Erf", "Erf", [("x", [9])]),
        GradientCase("Sigmoid", "Sigmoid", [("x", [9])]),
        GradientCase("Tanh", "Tanh", [("x", [9])]),
        GradientCase("Sqrt", "Sqrt", [("x", [9])], positive: true),
        GradientCase("Exp", "Exp", [("x", [5])]),
        GradientCase("Log", "Log", [("x", [5])], positive: true),
        GradientCase("Neg", "Neg", [("x", [5])]),
        GradientCase("MaxPool 2×2 stride 2 pad 1 odd size", "MaxPool", [("x", [1, 2, 5, 5])],
                     attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])], distinct: true),
        GradientCase("MaxPool ceil mode", "MaxPool", [("x", [2, 1, 5, 5])],
                     attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)], distinct: true),
        GradientCase("AveragePool excluding padding", "AveragePool", [("x", [1, 2, 5, 5])],
                     attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
        GradientCase("AveragePool including padding", "AveragePool", [("x", [1, 2, 4, 4])],
                     attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([1, 1]), "pads": .ints([1, 1, 1, 1]), "count_include_pad": .int(1)]),
        GradientCase("GlobalAveragePool", "GlobalAveragePool", [("x", [2, 3, 3, 3])]),
        GradientCase("Add broadcasting a row", "Add", [("a", [2, 3, 4]), ("b", [4])]),
        GradientCase("Add broadcasting both ways", "Add", [("a", [2, 1, 4]), ("b", [3, 1])]),
        GradientCase("Sub broadcasting", "Sub", [("a", [3, 1]), ("b", [2, 1, 4])]),
        GradientCase("Mul broadcasting", "Mul", [("a", [2, 3, 4]), ("b", [3, 1])]),
        GradientCase("Div broadcasting", "Div", [("a", [2, 3]), ("b", [3])], positive: true),
        GradientCase("Pow", "Pow", [("a", [2, 3]), ("b", [3])], positive: true),
        GradientCase("Flatten", "Flatten", [("x", [2, 3, 2])], attributes: ["axis": .int(1)]),
        GradientCase("Reshape with 0 and -1", "Reshape", [("x", [2, 3, 4])], ints: ["s": IntTensor([0, -1, 2])], order: ["x", "s"]),
        GradientCase("Transpose", "Transpose", [("x", [2, 3, 4])], attributes: ["perm": .ints([1, 2, 0])]),
        GradientCase("Squeeze", "Squeeze", [("x", [2, 1, 3])], ints: ["axes": IntTensor([1])], order: ["x", "axes"]),
        GradientCase("Unsqueeze", "Unsqueeze", [("x", [2, 3])], ints: ["axes": IntTensor([0, -1])], order: ["x", "axes"]),
        GradientCase("Concat", "Concat", [("a", [2, 1, 3]), ("b", [2, 2, 3])], attributes: ["axis": .int(1)]),
        GradientCase("Split", "Split", [("x", [2, 5])], ints: ["sizes": IntTensor([2, 3])], order: ["x", "sizes"],
                     attributes: ["axis": .int(1)], outputs: ["y0", "y1"]),
        GradientCase("Slice with negative step", "Slice", [("x", [4, 5])],
                     ints: ["starts": IntTensor([3, 0]), "ends": IntTensor([0, 5]), "axes": IntTensor([0, 1]), "steps": IntTensor([-1, 2])],
                     order: ["x", "starts", "ends", "axes", "steps"]),
        GradientCase("Gather with repeated indices", "Gather", [("x", [2, 4, 3])], ints: ["i": IntTensor([2, 0, 2])], order: ["x", "i"],
                     attributes: ["axis": .int(1)]),
        GradientCase("Expand", "Expand", [("x", [1, 3])], ints: ["shape": IntTensor([2, 1, 3])], order: ["x", "shape"]),
        GradientCase("Where", "Where", [("a", [2, 3]), ("b", [3])], ints: ["c": IntTensor(shape: [2, 3], data: [1, 0, 1, 0, 0, 1])],
                     order: ["c", "a", "b"]),
        GradientCase("ReduceMean", "ReduceMean", [("x", [2, 3, 4])], attributes: ["axes": .ints([1]), "keepdims": .int(0)]),
        GradientCase("ReduceSum", "ReduceSum", [("x", [2, 3, 4])], ints: ["axes": IntTensor([0, 2])], order: ["x", "axes"]),
        GradientCase("LayerNormalization", "LayerNormalization", [("x", [2, 3, 5]), ("scale", [5]), ("bias", [5])],
                     attributes: ["axis": .int(-1), "epsilon": .float(1e-5)]),
        GradientCase("LayerNormalization over two axes", "LayerNormalization", [("x", [2, 3, 4]), ("scale", [3, 4])],
                     attributes: ["axis": .int(1)]),
        GradientCase("Softmax last axis", "Softmax", [("x", [2, 5])]),
        GradientCase("Softmax middle axis", "Softmax", [("x", [2, 3, 2])], attributes: ["axis": .int(1)]),
        GradientCase("Identity", "Identity", [("x", [3])]),
    ]

    @Test("backward matches finite differences", arguments: cases)
    func gradient(testCase: GradientCase) throws {
        try checkGradients(testCase, seed: UInt64(testCase.label.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
    }

    @Test("softmax cross-entropy: loss and gradient against finite differences")
    func crossEntropy() {
        var rng = SeededGenerator(seed: 9)
        let logits = Tensor(shape: [3, 4], data: (0..<12).map { _ in Float.random(in: -2...2, using: &rng) })
        let labels = [2, 0, 3]
        let (loss, gradient) = Normalization.crossEntropy(logits: logits, labels: labels)
        var expected: Double = 0
        for i in 0..<3 {
            let row = logits.data[(i * 4)..<(i * 4 + 4)].map(Double.init)
            let logSum = Foundation_log(row.map { Foundation_exp($0) }.reduce(0, +))
            expected += logSum - row[labels[i]]
        }
        #expect(abs(Double(loss) - expected / 3) < 1e-5)
        for i in 0..<12 {
            var plus = logits, minus = logits
            plus.data[i] += 1e-2
            minus.data[i] -= 1e-2
            let numeric = (Normalization.crossEntropy(logits: plus, labels: labels).loss - Normalization.crossEntropy(logits: minus, labels: labels).loss) / 2e-2
            #expect(abs(gradient.data[i] - numeric) < 2e-3, "dlogits[\(i)]")
        }
    }
}

#if canImport(Glibc)
import Glibc
private func Foundation_log(_ x: Double) -> Double { Glibc.log(x) }
private func Foundation_exp(_ x: Double) -> Double { Glibc.exp(x) }
#endif
