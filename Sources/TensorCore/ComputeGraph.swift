/// A dataflow graph of ONNX-semantics operators over named values, run forward and backward on
/// the CPU.
///
/// Values are float tensors or small integer tensors (shape arithmetic). Float parameters are
/// the trainable weights; integer initializers are constants. ``forward(_:recording:capture:)``
/// evaluates the nodes in order (shape arithmetic is evaluated on the concrete input shapes at run
/// time); with `recording`, it keeps what ``backward(_:outputGradients:)`` needs for reverse-mode
/// gradients of every float input and parameter.
public final class ComputeGraph: @unchecked Sendable {
    public var nodes: [GraphNode]
    /// Float initializers: the weights.
    public var parameters: [String: Tensor]
    /// Non-float initializers (integer constants).
    public var constants: [String: Value]
    public var inputNames: [String]
    public var outputNames: [String]
    /// The weight layers (Conv, Gemm, MatMul with a parameter weight), in node order.
    public private(set) var weightLayers: [WeightLayer] = []

    public init(nodes: [GraphNode], parameters: [String: Tensor], constants: [String: Value] = [:],
                inputNames: [String], outputNames: [String]) {
        self.nodes = nodes
        self.parameters = parameters
        self.constants = constants
        self.inputNames = inputNames
        self.outputNames = outputNames
        weightLayers = findWeightLayers()
    }

    /// The ONNX operators this runtime evaluates.
    public static let supportedOperators: Set<String> = [
        "Constant", "Identity", "Dropout", "Cast", "Shape", "ConstantOfShape", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
        "Transpose", "Gather", "Concat", "Split", "Slice", "Expand", "Equal", "Less", "Greater", "Where",
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Relu", "Erf", "Sqrt", "Sigmoid", "Tanh", "Neg", "Exp", "Log", "Abs",
        "Reciprocal", "Gelu", "Softmax", "LayerNormalization", "BatchNormalization", "Gemm", "MatMul", "Conv",
        "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "ReduceSum",
    ]

    /// The first node whose operator is not supported, if any.
    public var firstUnsupportedNode: GraphNode? {
        nodes.first { !Self.supportedOperators.contains($0.opType) }
    }

    /// A layer whose weight the engines edit.
    public struct WeightLayer: Sendable, Equatable {
        public enum Kind: Sendable, Equatable { case linear, convolution }
        public enum Layout: Sendable, Equatable {
            /// Rows are outputs: `y = W x` (PyTorch Linear, Conv, Gemm with transB = 1).
            case outputsByInputs
            /// Rows are inputs: `y = xᵀ W` (ONNX MatMul, Gemm with transB = 0).
            case inputsByOutputs
        }

        public var nodeName: String
        public var nodeIndex: Int
        /// The parameter holding the weight.
        public var weight: String
        public var kind: Kind
        public var layout: Layout
        public var groups: Int
    }

    /// The input vectors a weight layer multiplies during a forward pass: for linear layers every
    /// input row (tokens flattened) as the rows of `vectors` ([n, d]); for convolutions the unfolded
    /// patches of one group as the *columns* of `vectors` ([d, n], `vectorsAreColumns`).
    public struct LayerInput {
        public var layer: Int
        public var group: Int
        public var vectors: Tensor
        public var vectorsAreColumns: Bool

        /// The vectors as rows ([n, d]), transposing if needed.
        public var rows: Tensor {
            guard vectorsAreColumns else { return vectors }
            let (data, shape) = Permutation.apply(vectors.data, shape: vectors.shape, perm: [1, 0])
            return Tensor(shape: shape, data: data)
        }

        /// The dimension d of one vector.
        public var dimension: Int { vectorsAreColumns ? vectors.shape[0] : vectors.shape[1] }
    }

    /// What a forward pass keeps for backward.
    public struct Record {
        var steps: [(node: Int, inputs: [Value?], outputs: [Value], saved: Saved)] = []
    }

    enum Saved {
        case none
        case argmax([Int])
        case layerNorm(mean: [Float], invStd: [Float])
        case convolution(ConvolutionGeometry)
        case pool(PoolGeometry)
    }

    /// Gradients of a scalar loss.
    public struct Gradients {
        public var parameters: [String: Tensor]
        public var inputs: [String: Tensor]
    }

    /// Follows Identity nodes and a 2-D Transpose back to a parameter: (name, transposed).
    func resolveParameter(_ name: String, producers: [String: Int]) -> (String, Bool)? {
        var current = name
        var transposed = false
        for _ in 0..<8 {
            if parameters[current] != nil { return (current, transposed) }
            guard let index = producers[current] else { return nil }
            let node = nodes[index]
            switch node.opType {
            case "Identity": current = node.inputs[0]
            case "Transpose" where node.ints("perm") == nil || node.ints("perm") == [1, 0]:
                transposed.toggle()
                current = node.inputs[0]
            default: return nil
            }
        }
        return nil
    }

    private func findWeightLayers() -> [WeightLayer] {
        var producers: [String: Int] = [:]
        for (index, node) in nodes.enumerated() { for output in node.outputs { producers[output] = index } }
        var layers: [WeightLayer] = []
        for (index, node) in nodes.enumerated() {
            switch node.opType {
            case "Conv":
                if let (weight, transposed) = resolveParameter(node.inputs[1], producers: producers), !transposed {
                    layers.append(WeightLayer(nodeName: node.name, nodeIndex: index, weight: weight, kind: .convolution,
                                              layout: .outputsByInputs, groups: node.int("group", 1)))
                }
            case "Gemm":
                if let (weight, transposed) = resolveParameter(node.inputs[1], producers: producers) {
                    let rowsAreOutputs = (node.int("transB", 0) == 1) != transposed
                    layers.append(WeightLayer(nodeName: node.name, nodeIndex: index, weight: weight, kind: .linear,
                                              layout: rowsAreOutputs ? .outputsByInputs : .inputsByOutputs, groups: 1))
                }
            case "MatMul":
                if let (weight, transposed) = resolveParameter(node.inputs[1], producers: producers), parameters[weight]?.rank == 2 {
                    layers.append(WeightLayer(nodeName: node.name, nodeIndex: index, weight: weight, kind: .linear,
                                              layout: transposed ? .outputsByInputs : .inputsByOutputs, groups: 1))
                }
            default: break
            }
        }
        return layers
    }
}
