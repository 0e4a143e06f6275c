import Foundation
import Testing
import TensorCore
import _TestSupport

/// Forward values against NumPy (float64) references from `Fixtures/make_reference.py`.
@Suite("forward kernels against NumPy references")
struct ReferenceTests {
    struct Encoded: Decodable { let shape: [Int]; let data: [Float] }
    struct Case: Decodable { let name: String; let inputs: [String: Encoded]; let output: Encoded }
    struct File: Decodable { let cases: [Case] }

    static let cases: [String: Case] = {
        let url = URL(fileURLWithPath: Fixtures.path("Tests/TensorCoreTests/Fixtures/reference.json"))
        guard let data = try? Data(contentsOf: url), let file = try? JSONDecoder().decode(File.self, from: data) else { return [:] }
        return Dictionary(uniqueKeysWithValues: file.cases.map { ($0.name, $0) })
    }()

    /// Runs `operation` on the case's inputs (in `order`) and compares with the reference.
    /// Tolerance: float32 kernels against float64 references, |Δ| ≤ 1e-5 + 1e-4·|expected|
    /// unless a test states otherwise.
    /// `constants` are integer inputs (pad amounts, axes) named in `order`.
    func check(_ name: String, _ operation: GraphOperation, _ order: [String], constants: [String: IntTensor] = [:], rtol: Float = 1e-4,
               atol: Float = 1e-5, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let c = try #require(Self.cases[name], "reference case \(name) missing: run make_reference.py", sourceLocation: sourceLocation)
        let inputs = c.inputs.mapValues { Tensor(shape: $0.shape, data: $0.data) }
        let graph = ComputeGraph(nodes: [GraphNode(name: name, operation: operation, inputs: order, outputs: ["y"])], parameters: [:],
                                 constants: constants.mapValues { .int($0) },
                                 inputNames: order.filter { !$0.isEmpty && constants[$0] == nil }, outputNames: ["y"])
        let y = try #require(try graph.outputs(for: inputs)["y"])
        expectClose(y, Tensor(shape: c.output.shape, data: c.output.data), rtol: rtol, atol: atol, Comment(rawValue: name),
                    sourceLocation: sourceLocation)
    }

    @Test("Conv: stride 2 and padding; groups with dilation and asymmetric pads; depthwise; 1-D")
    func convolution() throws {
        try check("conv_stride2_pad1", .convolution(ConvolutionAttributes(strides: [2, 2], pads: [1, 1, 1, 1])), ["x", "w", "b"])
        try check("conv_groups2_dilation2_asymmetric",
                  .convolution(ConvolutionAttributes(strides: [1, 2], pads: [2, 0, 1, 1], dilations: [2, 1], groups: 2)), ["x", "w"])
        try check("conv_depthwise", .convolution(ConvolutionAttributes(pads: [1, 1, 1, 1], groups: 4)), ["x", "w", "b"])
        try check("conv1d_stride2_dilation2", .convolution(ConvolutionAttributes(strides: [2], pads: [2, 1], dilations: [2])), ["x", "w", "b"])
    }

    @Test("MaxPool with ceil mode and padding; AveragePool with and without counting padding")
    func pooling() throws {
        try check("maxpool_ceil", .maxPool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], ceilMode: true)), ["x"], rtol: 0, atol: 0)
        try check("maxpool_pad", .maxPool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), ["x"], rtol: 0, atol: 0)
        let window = PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])
        try check("avgpool_exclude_pad", .averagePool(window, countIncludePad: false), ["x"])
        try check("avgpool_include_pad", .averagePool(window, countIncludePad: true), ["x"])
        try check("avgpool_include_pad_ceil", .averagePool(PoolAttributes(kernelShape: [2, 2], strides: [2, 2], ceilMode: true),
                                                           countIncludePad: true), ["x"])
    }

    @Test("LayerNormalization, BatchNormalization, Softmax")
    func normalisation() throws {
        try check("layernorm_last_axis", .layerNormalization(axis: -1, epsilon: 1e-5), ["x", "scale", "bias"])
        try check("layernorm_two_axes", .layerNormalization(axis: 1, epsilon: 1e-3), ["x", "scale", "bias"])
        try check("batchnorm", .batchNormalization(epsilon: 1e-5), ["x", "scale", "bias", "mean", "var"])
        try check("softmax_axis1", .softmax(axis: 1), ["x"], rtol: 1e-5, atol: 1e-7)
    }

    @Test("Gelu (erf and tanh forms) and Erf, tolerance 1e-6 absolute")
    func activations() throws {
        try check("gelu_erf", .gelu(.none), ["x"], rtol: 1e-5, atol: 1e-6)
        try check("gelu_tanh", .gelu(.tanh), ["x"], rtol: 1e-5, atol: 1e-6)
        try check("erf", .unary(.erf), ["x"], rtol: 1e-5, atol: 1e-6)
    }

    @Test("Clip (ReLU6, one bound), HardSigmoid (PyTorch's and ONNX's default slope), HardSwish, tolerance 1e-6 absolute")
    func hardActivations() throws {
        try check("clip_relu6", .clip(lower: 0, upper: 6), ["x"], rtol: 0, atol: 0)
        try check("clip_lower_only", .clip(lower: -1.25, upper: nil), ["x"], rtol: 0, atol: 0)
        try check("hardsigmoid_pytorch", .hardSigmoid(alpha: 1 / 6, beta: 0.5), ["x"], rtol: 1e-6, atol: 1e-6)
        try check("hardsigmoid_onnx_default", .hardSigmoid(alpha: 0.2, beta: 0.5), ["x"], rtol: 1e-6, atol: 1e-6)
        try check("hardswish", .unary(.hardSwish), ["x"], rtol: 1e-6, atol: 1e-6)
    }

    @Test("Pad: constant (TF-SAME amounts; a value and cropping), reflect past the edge, edge, wrap; exact")
    func padding() throws {
        let order = ["x", "pads"]
        try check("pad_constant_tf_same", .pad(PadArguments()), order, constants: ["pads": IntTensor([0, 0, 0, 1, 0, 0, 1, 1])], rtol: 0, atol: 0)
        try check("pad_constant_value_crop", .pad(PadArguments(pads: [0, 1, -1, 2, 1, 0, 2, -2], value: 0.75)), ["x"], rtol: 0, atol: 0)
        try check("pad_reflect", .pad(PadArguments(mode: .reflect)), ["x", "pads", "", "axes"],
                  constants: ["pads": IntTensor([3, 2, 2, 6]), "axes": IntTensor([-2, -1])], rtol: 0, atol: 0)
        try check("pad_edge", .pad(PadArguments(mode: .edge, pads: [1, 0, 2, 0, 0, 2, 1, 3])), ["x"], rtol: 0, atol: 0)
        try check("pad_wrap", .pad(PadArguments(mode: .wrap, pads: [0, 0, 1, 7, 0, 0, 5, 2])), ["x"], rtol: 0, atol: 0)
    }

    @Test("ReduceMean with the axes as an integer input, keepdims (opset 18 global average pooling)")
    func reduceMeanAxesInput() throws {
        try check("reducemean_axes_input", .reduce(.mean, axes: nil, keepDims: true), ["x", "axes"], constants: ["axes": IntTensor([-1, -2])])
    }

    @Test("MatMul with broadcast batch axes; Gemm with transposes, alpha and beta")
    func products() throws {
        try check("matmul_broadcast", .matMul, ["a", "b"])
        try check("gemm_transA_transB", .gemm(GemmAttributes(alpha: 0.5, beta: 2, transA: true, transB: true)), ["a", "b", "c"])
    }

    @Test("multi-head attention matches PyTorch semantics (sequence-first and batch-first)")
    func attention() throws {
        let order = ["x", "w_in", "b_in", "w_out", "b_out"]
        try check("attention_seq_first", .multiHeadAttention(heads: 2, batchFirst: false), order)
        try check("attention_batch_first_4_heads", .multiHeadAttention(heads: 4, batchFirst: true), order)
    }
}
