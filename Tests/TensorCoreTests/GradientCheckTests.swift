import Testing
import TensorCore
import _TestSupport

/// One node with float inputs (all checked), integer constants and a choice of which float
/// inputs are graph parameters rather than graph inputs (both gradient paths get exercised).
struct GradientCase: CustomTestStringConvertible, Sendable {
    /// `wide`: the `distinct` values times 8 (0.8 apart, none within 0.2 of ±3 or ±2.5, the hard
    /// activations' kinks).
    enum Values: Sendable { case uniform, positive, distinct, wide }

    let label: String
    let operation: GraphOperation
    let floats: [(name: String, shape: [Int])]
    var ints: [String: IntTensor]
    var order: [String]
    var parameters: Set<String>
    var values: Values
    var outputs: [String]
    /// Float inputs with given values instead of generated ones (e.g. clip bounds away from the data).
    var fixed: [String: Tensor]

    var testDescription: String { label }

    init(_ label: String, _ operation: GraphOperation, _ floats: [(String, [Int])], ints: [String: IntTensor] = [:], order: [String]? = nil,
         parameters: Set<String> = [], values: Values = .uniform, outputs: [String] = ["y"], fixed: [String: Tensor] = [:]) {
        self.label = label
        self.operation = operation
        self.floats = floats.map { (name: $0.0, shape: $0.1) }
        self.ints = ints
        self.order = order ?? floats.map(\.0)
        self.parameters = parameters
        self.values = values
        self.outputs = outputs
        self.fixed = fixed
    }
}

/// Backward of `L = Σ_k Σ y_k ⊙ R_k` (random `R_k`) against central finite differences
/// (tolerance: `checkGradient`'s defaults, |Δ| ≤ 2e-3 + 2e-2·|numeric| at step 1e-2).
func checkGradients(_ c: GradientCase) throws {
    var rng = SeededGenerator(seed: c.label.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) })
    var values: [String: Tensor] = [:]
    for (name, shape) in c.floats {
        switch c.values {
        case .uniform: values[name] = .random(shape, using: &rng)
        case .positive: values[name] = .random(shape, in: 0.5...2, using: &rng)
        case .distinct: values[name] = .distinct(shape, using: &rng)
        case .wide: values[name] = Tensor(shape: shape, data: Tensor.distinct(shape, using: &rng).data.map { $0 * 8 })
        }
        if let given = c.fixed[name] { values[name] = given }
    }
    func graph(_ values: [String: Tensor]) -> ComputeGraph {
        ComputeGraph(nodes: [GraphNode(name: c.label, operation: c.operation, inputs: c.order, outputs: c.outputs)],
                     parameters: values.filter { c.parameters.contains($0.key) }, constants: c.ints.mapValues { .int($0) },
                     inputNames: c.floats.map(\.name).filter { !c.parameters.contains($0) }, outputNames: c.outputs)
    }
    let (outputs, record) = try graph(values).forward(values, recording: true)
    var weights: [String: Tensor] = [:]
    for name in c.outputs { weights[name] = .random(outputs[name]!.shape, using: &rng) }
    let gradients = try graph(values).backward(record, outputGradients: weights)
    let analytic = gradients.inputs.merging(gradients.parameters) { a, _ in a }
    try checkGradient(c.label, inputs: values, analytic: analytic) { perturbed in
        let out = try graph(perturbed).forward(perturbed).outputs
        return c.outputs.reduce(0.0) { total, name in
            total + zip(out[name]!.data, weights[name]!.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
    }
}

@Suite("backward rules against central finite differences")
struct GradientCheckTests {
    static let products: [GradientCase] = [
        GradientCase("Gemm transB, row bias, weight as parameter", .gemm(GemmAttributes(transB: true)), [("a", [3, 4]), ("b", [5, 4]), ("c", [5])],
                     parameters: ["b", "c"]),
        GradientCase("Gemm transA, alpha, beta, full bias", .gemm(GemmAttributes(alpha: 0.5, beta: 2, transA: true)),
                     [("a", [4, 3]), ("b", [4, 2]), ("c", [3, 2])]),
        GradientCase("Gemm batch 1, transA and transB", .gemm(GemmAttributes(transA: true, transB: true)), [("a", [4, 1]), ("b", [2, 4])]),
        GradientCase("Gemm column bias broadcast", .gemm(GemmAttributes()), [("a", [3, 2]), ("b", [2, 4]), ("c", [3, 1])]),
        GradientCase("Linear out×in on tokens", .linear(.outputsByInputs), [("x", [2, 3, 4]), ("w", [5, 4]), ("b", [5])], parameters: ["w", "b"]),
        GradientCase("Linear in×out, batch 1, no bias", .linear(.inputsByOutputs), [("x", [1, 4]), ("w", [4, 3])]),
        GradientCase("MatMul 3-D × 2-D weight", .matMul, [("a", [2, 3, 4]), ("b", [4, 5])], parameters: ["b"]),
        GradientCase("MatMul batched", .matMul, [("a", [2, 3, 4]), ("b", [2, 4, 3])]),
        GradientCase("MatMul broadcast batch, left", .matMul, [("a", [1, 3, 4]), ("b", [2, 4, 2])]),
        GradientCase("MatMul broadcast batch, both ways", .matMul, [("a", [2, 1, 3, 4]), ("b", [3, 4, 2])]),
        GradientCase("MatMul 2-D × 3-D", .matMul, [("a", [3, 4]), ("b", [2, 4, 2])]),
        GradientCase("MultiHeadAttention seq-first, 2 heads", .multiHeadAttention(heads: 2, batchFirst: false),
                     [("x", [3, 2, 4]), ("w_in", [12, 4]), ("b_in", [12]), ("w_out", [4, 4]), ("b_out", [4])],
                     parameters: ["w_in", "b_in", "w_out", "b_out"]),
        GradientCase("MultiHeadAttention batch-first, 1 token, no biases", .multiHeadAttention(heads: 1, batchFirst: true),
                     [("x", [2, 1, 3]), ("w_in", [9, 3]), ("w_out", [3, 3])], order: ["x", "w_in", "", "w_out", ""]),
        GradientCase("MultiHeadAttention separate q/k/v, batch-first, 2 heads", .multiHeadAttention(heads: 2, batchFirst: true),
                     [("x", [2, 3, 4]), ("w_q", [4, 4]), ("b_q", [4]), ("w_k", [4, 4]), ("b_k", [4]), ("w_v", [4, 4]), ("b_v", [4]),
                      ("w_out", [4, 4]), ("b_out", [4])],
                     parameters: ["w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_out", "b_out"]),
        GradientCase("MultiHeadAttention separate q/k/v, seq-first, key bias only", .multiHeadAttention(heads: 1, batchFirst: false),
                     [("x", [2, 2, 3]), ("w_q", [3, 3]), ("w_k", [3, 3]), ("b_k", [3]), ("w_v", [3, 3]), ("w_out", [3, 3])],
                     order: ["x", "w_q", "", "w_k", "b_k", "w_v", "", "w_out", ""]),
    ]

    static let convolutions: [GradientCase] = [
        GradientCase("Conv stride 2 pad 1 odd size", .convolution(ConvolutionAttributes(strides: [2, 2], pads: [1, 1, 1, 1])),
                     [("x", [1, 2, 5, 5]), ("w", [4, 2, 3, 3]), ("b", [4])], parameters: ["w", "b"]),
        GradientCase("Conv groups 2, dilation 2, asymmetric pads", .convolution(ConvolutionAttributes(pads: [2, 1, 1, 2], dilations: [2, 2], groups: 2)),
                     [("x", [2, 4, 5, 6]), ("w", [4, 2, 3, 3])]),
        GradientCase("Conv depthwise, stride (2, 1)", .convolution(ConvolutionAttributes(strides: [2, 1], pads: [1, 0, 0, 1], groups: 3)),
                     [("x", [1, 3, 4, 4]), ("w", [3, 1, 2, 2]), ("b", [3])]),
        GradientCase("Conv 1×1 spatial, batch 1", .convolution(ConvolutionAttributes()), [("x", [1, 3, 1, 1]), ("w", [2, 3, 1, 1]), ("b", [2])]),
        GradientCase("Conv SAME_UPPER stride 2", .convolution(ConvolutionAttributes(strides: [2, 2], autoPad: .sameUpper)),
                     [("x", [1, 1, 4, 5]), ("w", [2, 1, 2, 3])]),
        GradientCase("Conv 1-D stride 2 dilation 2", .convolution(ConvolutionAttributes(strides: [2], pads: [2, 1], dilations: [2])),
                     [("x", [2, 3, 7]), ("w", [4, 3, 3]), ("b", [4])]),
        GradientCase("MaxPool 2×2 stride 2 pad 1 odd size", .maxPool(PoolAttributes(kernelShape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1])),
                     [("x", [1, 2, 5, 5])], values: .distinct),
        GradientCase("MaxPool ceil mode", .maxPool(PoolAttributes(kernelShape: [2, 2], strides: [2, 2], ceilMode: true)),
                     [("x", [2, 1, 5, 5])], values: .distinct),
        GradientCase("MaxPool 1-D, dilation 2", .maxPool(PoolAttributes(kernelShape: [2], dilations: [2])), [("x", [1, 2, 6])], values: .distinct),
        GradientCase("AveragePool excluding padding", .averagePool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1]),
                                                                    countIncludePad: false), [("x", [1, 2, 5, 5])]),
        GradientCase("AveragePool including padding, ceil", .averagePool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1],
                                                                                         ceilMode: true), countIncludePad: true), [("x", [1, 2, 4, 4])]),
        GradientCase("GlobalAveragePool", .globalAveragePool, [("x", [2, 3, 3, 3])]),
        GradientCase("GlobalAveragePool 1×1 spatial", .globalAveragePool, [("x", [1, 2, 1, 1])]),
    ]

    static let normalisation: [GradientCase] = [
        GradientCase("BatchNormalization (inference)", .batchNormalization(epsilon: 1e-5),
                     [("x", [2, 3, 2, 3]), ("scale", [3]), ("bias", [3]), ("mean", [3]), ("var", [3])], parameters: ["scale", "bias"],
                     values: .positive),
        GradientCase("BatchNormalization batch 1, 2-D input", .batchNormalization(epsilon: 1e-3),
                     [("x", [1, 4]), ("scale", [4]), ("bias", [4]), ("mean", [4]), ("var", [4])], values: .positive),
        GradientCase("LayerNormalization last axis", .layerNormalization(axis: -1, epsilon: 1e-5), [("x", [2, 3, 5]), ("scale", [5]), ("bias", [5])],
                     parameters: ["scale", "bias"]),
        GradientCase("LayerNormalization over two axes, no bias", .layerNormalization(axis: 1, epsilon: 1e-5), [("x", [2, 3, 4]), ("scale", [3, 4])]),
        GradientCase("Softmax last axis", .softmax(axis: -1), [("x", [2, 5])]),
        GradientCase("Softmax middle axis", .softmax(axis: 1), [("x", [2, 3, 2])]),
        GradientCase("ReduceMean keepdims 0", .reduce(.mean, axes: [1], keepDims: false), [("x", [2, 3, 4])]),
        GradientCase("ReduceMean all axes", .reduce(.mean, axes: nil, keepDims: true), [("x", [2, 3])]),
        GradientCase("ReduceSum axes from input", .reduce(.sum, axes: nil, keepDims: true), [("x", [2, 3, 4])], ints: ["axes": IntTensor([0, -1])],
                     order: ["x", "axes"]),
        GradientCase("ReduceMean axes [-1, -2] from input, keepdims (opset 18 pooling)", .reduce(.mean, axes: nil, keepDims: true),
                     [("x", [2, 3, 2, 3])], ints: ["axes": IntTensor([-1, -2])], order: ["x", "axes"]),
        GradientCase("ReduceMean empty axes input reduces every axis", .reduce(.mean, axes: nil, keepDims: false), [("x", [2, 3])],
                     ints: ["axes": IntTensor([])], order: ["x", "axes"]),
        GradientCase("ReduceSum noop_with_empty_axes is the identity", .reduce(.sum, axes: nil, keepDims: true, noopWithEmptyAxes: true),
                     [("x", [2, 3])], ints: ["axes": IntTensor([])], order: ["x", "axes"]),
    ]

    static let elementwise: [GradientCase] = [
        GradientCase("Relu", .unary(.relu), [("x", [3, 7])], values: .distinct),
        GradientCase("Gelu erf", .gelu(.none), [("x", [11])]),
        GradientCase("Gelu tanh", .gelu(.tanh), [("x", [11])]),
        GradientCase("Erf", .unary(.erf), [("x", [9])]),
        GradientCase("Sigmoid", .unary(.sigmoid), [("x", [9])]),
        GradientCase("Tanh", .unary(.tanh), [("x", [9])]),
        GradientCase("Sqrt", .unary(.sqrt), [("x", [9])], values: .positive),
        GradientCase("Exp", .unary(.exp), [("x", [5])]),
        GradientCase("Log", .unary(.log), [("x", [5])], values: .positive),
        GradientCase("Abs", .unary(.abs), [("x", [6])], values: .distinct),
        GradientCase("Reciprocal", .unary(.reciprocal), [("x", [5])], values: .positive),
        GradientCase("Neg", .unary(.neg), [("x", [5])]),
        GradientCase("Add broadcasting a row", .binary(.add), [("a", [2, 3, 4]), ("b", [4])]),
        GradientCase("Add broadcasting both ways", .binary(.add), [("a", [2, 1, 4]), ("b", [3, 1])]),
        GradientCase("Add scalar", .binary(.add), [("a", []), ("b", [2, 3])]),
        GradientCase("Sub broadcasting both ways", .binary(.sub), [("a", [3, 1]), ("b", [2, 1, 4])]),
        GradientCase("Mul broadcasting a column", .binary(.mul), [("a", [2, 3, 4]), ("b", [3, 1])]),
        GradientCase("Mul broadcasting both ways", .binary(.mul), [("a", [1, 3]), ("b", [2, 1])]),
        GradientCase("Div broadcasting", .binary(.div), [("a", [2, 3]), ("b", [3])], values: .positive),
        GradientCase("Div broadcasting the numerator", .binary(.div), [("a", [1, 3]), ("b", [2, 3])], values: .positive),
        GradientCase("Pow scalar exponent", .binary(.pow), [("a", [2, 3]), ("b", [])], values: .positive),
        GradientCase("Pow tensor exponent", .binary(.pow), [("a", [2, 3]), ("b", [3])], values: .positive),
        GradientCase("Clip bounds from inputs, as parameters (ReLU6 as exported)", .clip(lower: nil, upper: nil),
                     [("x", [3, 4]), ("min", []), ("max", [])], parameters: ["min", "max"], values: .distinct,
                     fixed: ["min": Tensor(scalar: -0.32), "max": Tensor(scalar: 0.27)]),
        GradientCase("Clip static lower bound only", .clip(lower: -0.22, upper: nil), [("x", [2, 5])], values: .distinct),
        GradientCase("Clip upper bound from input, lower from the case", .clip(lower: -0.12, upper: nil), [("x", [2, 5]), ("max", [1])],
                     order: ["x", "", "max"], values: .distinct, fixed: ["max": Tensor(shape: [1], data: [0.33])]),
        GradientCase("HardSigmoid PyTorch slope (1/6, 0.5)", .hardSigmoid(alpha: 1 / 6, beta: 0.5), [("x", [2, 6])], values: .wide),
        GradientCase("HardSigmoid ONNX default (0.2, 0.5)", .hardSigmoid(alpha: 0.2, beta: 0.5), [("x", [2, 6])], values: .wide),
        GradientCase("HardSwish", .unary(.hardSwish), [("x", [2, 6])], values: .wide),
    ]

    static let structure: [GradientCase] = [
        GradientCase("Identity", .identity, [("x", [3])]),
        GradientCase("Dropout (inference)", .dropout, [("x", [2, 2])]),
        GradientCase("Flatten axis 2", .flatten(axis: 2), [("x", [2, 3, 2])]),
        GradientCase("Reshape with 0 and -1 from input", .reshape(shape: nil, allowZero: false), [("x", [2, 3, 4])],
                     ints: ["s": IntTensor([0, -1, 2])], order: ["x", "s"]),
        GradientCase("Reshape static", .reshape(shape: [4, -1], allowZero: false), [("x", [2, 3, 2])]),
        GradientCase("Transpose", .transpose(perm: [1, 2, 0]), [("x", [2, 3, 4])]),
        GradientCase("Transpose default reverses", .transpose(perm: nil), [("x", [2, 3])]),
        GradientCase("Squeeze from input", .squeeze(axes: nil), [("x", [2, 1, 3])], ints: ["axes": IntTensor([1])], order: ["x", "axes"]),
        GradientCase("Unsqueeze static, negative axis", .unsqueeze(axes: [0, -1]), [("x", [2, 3])]),
        GradientCase("Concat three inputs", .concat(axis: 1), [("a", [2, 1, 3]), ("b", [2, 2, 3]), ("c", [2, 1, 3])]),
        GradientCase("Concat negative axis", .concat(axis: -1), [("a", [2, 2]), ("b", [2, 3])]),
        GradientCase("Split sizes from input", .split(axis: 1, sizes: nil), [("x", [2, 5])], ints: ["sizes": IntTensor([2, 3])],
                     order: ["x", "sizes"], outputs: ["y0", "y1"]),
        GradientCase("Split equal parts", .split(axis: 0, sizes: nil), [("x", [4, 2])], outputs: ["y0", "y1"]),
        GradientCase("Slice with negative step from inputs", .slice(nil), [("x", [4, 5])],
                     ints: ["starts": IntTensor([3, 0]), "ends": IntTensor([0, 5]), "axes": IntTensor([0, 1]), "steps": IntTensor([-1, 2])],
                     order: ["x", "starts", "ends", "axes", "steps"]),
        GradientCase("Slice static, negative bounds", .slice(SliceArguments(starts: [-3], ends: [-1], axes: [-1])), [("x", [2, 4])]),
        GradientCase("Gather with repeated and negative indices", .gather(axis: 1), [("x", [2, 4, 3])], ints: ["i": IntTensor([2, 0, -2, 2])],
                     order: ["x", "i"]),
        GradientCase("Gather a scalar index (class token)", .gather(axis: 1), [("x", [2, 3, 2])], ints: ["i": IntTensor(scalar: 0)], order: ["x", "i"]),
        GradientCase("Expand", .expand(shape: [2, 1, 3]), [("x", [1, 3])]),
        GradientCase("Pad constant, amounts from input, value input, crops", .pad(PadArguments()), [("x", [2, 3, 4]), ("v", [])],
                     ints: ["pads": IntTensor([1, 0, -1, 0, 2, 1])], order: ["x", "pads", "v"]),
        GradientCase("Pad reflect past the edge, axes from input", .pad(PadArguments(mode: .reflect)), [("x", [2, 3])],
                     ints: ["pads": IntTensor([4, 1]), "axes": IntTensor([-1])], order: ["x", "pads", "", "axes"]),
        GradientCase("Pad edge", .pad(PadArguments(mode: .edge, pads: [1, 2, 2, 0])), [("x", [2, 3])]),
        GradientCase("Pad wrap", .pad(PadArguments(mode: .wrap, pads: [0, 4, 1, 2])), [("x", [2, 3])]),
        GradientCase("Where", .select, [("a", [2, 3]), ("b", [3])], ints: ["c": IntTensor(shape: [2, 3], data: [1, 0, 1, 0, 0, 1])],
                     order: ["c", "a", "b"]),
    ]

    @Test("exact GELU backward from the saved output (Φ = y / x) equals the erf form, at 0, subnormals and the tails")
    func geluBackwardFromOutput() {
        let values: [Float] = [0, -0.0, 1e-40, -1e-40, 1e-6, -1e-6, 0.3, -0.3, 1, -1, 2.5, -2.5, 6, -6, 12, -12, 40, -40]
        let x = Tensor(shape: [values.count], data: values)
        let dy = Tensor(shape: [values.count], data: (0..<values.count).map { Float($0 % 3) - 0.7 })
        let y = Elementwise.gelu(x, .none)
        let fromOutput = Elementwise.geluBackward(x, .none, output: y, outputGradient: dy)
        let fromErf = Elementwise.geluBackward(x, .none, outputGradient: dy)
        for i in 0..<values.count {
            #expect(abs(fromOutput.data[i] - fromErf.data[i]) <= 2e-7 * max(1, abs(fromErf.data[i])), "x = \(values[i])")
        }
    }

    @Test("matrix products and attention", arguments: products)
    func productGradients(_ c: GradientCase) throws { try checkGradients(c) }

    @Test("convolution and pooling", arguments: convolutions)
    func convolutionGradients(_ c: GradientCase) throws { try checkGradients(c) }

    @Test("normalisation, softmax and reductions", arguments: normalisation)
    func normalisationGradients(_ c: GradientCase) throws { try checkGradients(c) }

    @Test("elementwise with broadcasting", arguments: elementwise)
    func elementwiseGradients(_ c: GradientCase) throws { try checkGradients(c) }

    @Test("shape operators", arguments: structure)
    func structureGradients(_ c: GradientCase) throws { try checkGradients(c) }

    @Test("a parameter used by two nodes gets the sum of both contributions")
    func sharedParameter() throws {
        var rng = SeededGenerator(seed: 3)
        let w = Tensor.random([3, 3], using: &rng), x = Tensor.random([2, 3], using: &rng)
        func graph(_ w: Tensor) -> ComputeGraph {
            ComputeGraph(nodes: [GraphNode(name: "l1", operation: .linear(.outputsByInputs), inputs: ["x", "w"], outputs: ["h"]),
                                 GraphNode(name: "act", operation: .unary(.tanh), inputs: ["h"], outputs: ["t"]),
                                 GraphNode(name: "l2", operation: .linear(.outputsByInputs), inputs: ["t", "w"], outputs: ["y"])],
                         parameters: ["w": w], inputNames: ["x"], outputNames: ["y"])
        }
        let (y, record) = try graph(w).forward(["x": x], recording: true)
        let r = Tensor.random(y["y"]!.shape, using: &rng)
        let g = try graph(w).backward(record, outputGradients: ["y": r])
        try checkGradient("shared weight", inputs: ["w": w, "x": x], analytic: ["w": g.parameters["w"]!, "x": g.inputs["x"]!]) { v in
            let out = try graph(v["w"]!).forward(["x": v["x"]!]).outputs["y"]!
            return zip(out.data, r.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
    }

    @Test("softmax cross-entropy: loss from log-sum-exp and gradient against finite differences")
    func crossEntropy() throws {
        var rng = SeededGenerator(seed: 9)
        let logits = Tensor.random([3, 4], in: -2...2, using: &rng)
        let labels = [2, 0, 3]
        let (loss, gradient) = Normalization.crossEntropy(logits: logits, labels: labels)
        var expected = 0.0
        for i in 0..<3 {
            let row = logits.data[(i * 4)..<(i * 4 + 4)].map(Double.init)
            expected += log(row.map { exp($0) }.reduce(0, +)) - row[labels[i]]
        }
        #expect(abs(Double(loss) - expected / 3) < 1e-6)
        checkGradient("cross-entropy", inputs: ["z": logits], analytic: ["z": gradient]) { v in
            Double(Normalization.crossEntropy(logits: v["z"]!, labels: labels).loss)
        }
        // Large logits stay finite (log-sum-exp).
        let (big, _) = Normalization.crossEntropy(logits: Tensor(shape: [1, 2], data: [1000, 0]), labels: [1])
        #expect(abs(big - 1000) < 1e-3)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
