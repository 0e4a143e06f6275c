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
        #expect(GraphOperation(onnxType: "MaxPool", attributes: [:]) == .invalid(opType: "MaxPool", reason: "no kernel_shape"))
        #expect(GraphOperation(onnxType: "TopK", attributes: [:]) == .unsupported(opType: "TopK"))
        for name in GraphOperation.onnxOperators {
            let operation = GraphOperation(onnxType: name, attributes: ["kernel_shape": .ints([1]), "value_int": .int(0)])
            #expect(operation.name == name)
        }
    }
}
