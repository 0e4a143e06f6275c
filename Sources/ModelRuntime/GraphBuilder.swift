import TensorCore

/// Builds a ``ComputeGraph`` node by node from named parameters (for recognised layouts and
/// architecture specs).
struct GraphBuilder {
    var nodes: [GraphNode] = []
    var parameters: [String: Tensor] = [:]
    var constants: [String: Value] = [:]
    private var counter = 0

    mutating func fresh(_ stem: String) -> String {
        counter += 1
        return "\(stem)_\(counter)"
    }

    @discardableResult
    mutating func add(_ opType: String, _ inputs: [String], name: String? = nil, attributes: [String: Attribute] = [:]) -> String {
        let output = fresh(opType.lowercased())
        nodes.append(GraphNode(name: name ?? output, opType: opType, inputs: inputs, outputs: [output], attributes: attributes))
        return output
    }

    mutating func constant(_ values: [Int]) -> String {
        let name = fresh("const")
        constants[name] = .int(IntTensor(values))
        return name
    }

    /// `y = x Wᵀ + b` for a PyTorch Linear weight `[out, in]`.
    mutating func linear(_ x: String, weight: String, bias: String?, name: String) -> String {
        add("Gemm", [x, weight] + (bias.map { [$0] } ?? []), name: name, attributes: ["transB": .int(1)])
    }

    mutating func conv(_ x: String, weight: String, bias: String?, name: String, stride: Int, padding: Int, groups: Int = 1) -> String {
        add("Conv", [x, weight] + (bias.map { [$0] } ?? []), name: name,
            attributes: ["strides": .ints([stride, stride]), "pads": .ints([padding, padding, padding, padding]), "group": .int(groups)])
    }

    mutating func batchNorm(_ x: String, prefix: String, epsilon: Float = 1e-5) -> String {
        add("BatchNormalization", [x, "\(prefix).weight", "\(prefix).bias", "\(prefix).running_mean", "\(prefix).running_var"],
            name: prefix, attributes: ["epsilon": .float(epsilon)])
    }

    mutating func relu(_ x: String) -> String { add("Relu", [x]) }

    mutating func maxPool(_ x: String, kernel: Int, stride: Int, padding: Int) -> String {
        add("MaxPool", [x], attributes: ["kernel_shape": .ints([kernel, kernel]), "strides": .ints([stride, stride]),
                                         "pads": .ints([padding, padding, padding, padding])])
    }

    mutating func flatten(_ x: String) -> String { add("Flatten", [x], attributes: ["axis": .int(1)]) }

    func graph(input: String, output: String) -> ComputeGraph {
        ComputeGraph(nodes: nodes, parameters: parameters, constants: constants, inputNames: [input], outputNames: [output])
    }
}
