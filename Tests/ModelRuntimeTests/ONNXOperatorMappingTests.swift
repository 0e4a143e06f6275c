import Testing
import TensorCore
import ModelRuntime

@Suite("ONNX import: operator names and attributes map to typed operations")
struct ONNXOperatorMappingTests {
    @Test("ONNX operator names and attributes map to typed operations; messages name the ONNX operator")
    func onnxMapping() {
        #expect(GraphOperation(onnxType: "Gemm", attributes: ["transB": .int(1), "alpha": .float(2)])
            == .gemm(GemmAttributes(alpha: 2, beta: 1, transA: false, transB: true)))
        #expect(GraphOperation(onnxType: "Conv", attributes: ["group": .int(2), "pads": .ints([1, 1, 1, 1])])
            == .convolution(ConvolutionAttributes(pads: [1, 1, 1, 1], groups: 2)))
        #expect(GraphOperation(onnxType: "Gelu", attributes: ["approximate": .string("tanh")]) == .gelu(.tanh))
        #expect(GraphOperation(onnxType: "AveragePool", attributes: ["kernel_shape": .ints([2, 2]), "count_include_pad": .int(1)])
            == .averagePool(PoolAttributes(kernelShape: [2, 2]), countIncludePad: true))
        #expect(GraphOperation(onnxType: "ReduceMean", attributes: ["axes": .ints([-1]), "keepdims": .int(0)])
            == .reduce(.mean, axes: [-1], keepDims: false))
        #expect(GraphOperation(onnxType: "ReduceMean", attributes: ["keepdims": .int(1), "noop_with_empty_axes": .int(1)])
            == .reduce(.mean, axes: nil, keepDims: true, noopWithEmptyAxes: true))
        #expect(GraphOperation(onnxType: "MaxPool", attributes: [:]) == .invalid(opType: "MaxPool", reason: "no kernel_shape"))
        #expect(GraphOperation(onnxType: "TopK", attributes: [:]) == .unsupported(opType: "TopK"))
        for name in GraphOperation.onnxOperators {
            let operation = GraphOperation(onnxType: name, attributes: ["kernel_shape": .ints([1]), "value_int": .int(0)])
            #expect(operation.name == name)
        }
    }

    @Test("operators of the real-library exports: Clip (inputs or opset-6 attributes), HardSigmoid's defaults, HardSwish, IsNaN, Pad modes")
    func realExportOperators() {
        #expect(GraphOperation(onnxType: "Clip", attributes: [:]) == .clip(lower: nil, upper: nil))
        #expect(GraphOperation(onnxType: "Clip", attributes: ["min": .float(0), "max": .float(6)]) == .clip(lower: 0, upper: 6))
        #expect(GraphOperation(onnxType: "HardSigmoid", attributes: [:]) == .hardSigmoid(alpha: 0.2, beta: 0.5))
        #expect(GraphOperation(onnxType: "HardSigmoid", attributes: ["alpha": .float(1 / 6)]) == .hardSigmoid(alpha: 1 / 6, beta: 0.5))
        #expect(GraphOperation(onnxType: "HardSwish", attributes: [:]) == .unary(.hardSwish))
        #expect(GraphOperation(onnxType: "IsNaN", attributes: [:]) == .isNaN)
        #expect(GraphOperation(onnxType: "Pad", attributes: ["mode": .string("constant")]) == .pad(PadArguments()))
        #expect(GraphOperation(onnxType: "Pad", attributes: ["mode": .string("reflect")]) == .pad(PadArguments(mode: .reflect)))
        #expect(GraphOperation(onnxType: "Pad", attributes: ["mode": .string("edge"), "pads": .ints([1, 1]), "value": .float(2)])
            == .pad(PadArguments(mode: .edge, pads: [1, 1], value: 2)))
        #expect(GraphOperation(onnxType: "Pad", attributes: ["mode": .string("wrap")]) == .pad(PadArguments(mode: .wrap)))
        #expect(GraphOperation(onnxType: "Pad", attributes: ["mode": .string("mirror")]) == .invalid(opType: "Pad", reason: "unknown mode 'mirror'"))
        #expect(GraphOperation(onnxType: "IsInf", attributes: [:]) == .unsupported(opType: "IsInf"))
    }
}
