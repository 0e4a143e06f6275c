import TensorCore
import WeightFormats

extension Model {
    /// A model from an ONNX graph; `checkpoint`, when given, supplies the weights: matched to the
    /// graph's initializers by name, the exporter's module scopes, role and shape, with the
    /// exporter's transposed and reshaped copies and folded batch norms undone
    /// (``CheckpointBinding``), so that the model's parameters are the checkpoint's tensors under
    /// their own names. An `Identity` alias of an initializer whose output name the checkpoint
    /// holds becomes a parameter of its own.
    public static func fromONNX(_ onnx: ONNXModel, checkpoint: (any CheckpointReader)? = nil) throws -> Model {
        try fromONNX(onnx, checkpoint: checkpoint, fusingKernels: true)
    }

    /// ``fromONNX(_:checkpoint:)``, optionally without ``AttentionFusion`` and ``LinearFusion``
    /// (the graph as exported but for the GELU, to test them against).
    package static func fromONNX(_ onnx: ONNXModel, checkpoint: (any CheckpointReader)?, fusingKernels: Bool) throws -> Model {
        let imported = try importedGraph(onnx)
        var nodes = imported.nodes, parameters = imported.parameters
        let constants = imported.constants
        var warnings: [String] = []
        if let checkpoint {
            let rebuilt = try rebuilt(nodes, scopes: onnx.graph.nodes.map(ExporterScope.init), parameters: parameters, constants: constants,
                                      on: checkpoint)
            nodes = rebuilt.nodes
            parameters = rebuilt.parameters
            warnings += rebuilt.binding.warnings
            if let warning = Model.unusedTensorsWarning(rebuilt.binding.unused.filter { constants[$0] == nil }) { warnings.append(warning) }
        }
        nodes = GeluFusion.fused(nodes, graphOutputs: Set(onnx.graph.outputs.map(\.name)))
        let initializerNames = Set(onnx.tensors.map(\.name))
        guard let input = onnx.graph.inputs.first(where: { !initializerNames.contains($0.name) }) else { throw ModelError.noGraphInput }
        guard let output = onnx.graph.outputs.first else { throw ModelError.invalidArchitecture(reason: "the ONNX graph has no output") }
        var sampleShape: [Int]?
        if let dims = input.shape, dims.count >= 1 {
            let rest = dims.dropFirst().compactMap { dim -> Int? in if case .value(let v) = dim { v } else { nil } }
            if rest.count == dims.count - 1 { sampleShape = rest }
        }
        if let shape = sampleShape, !ModelLimits.isPlausibleSampleShape(shape) {
            throw ModelError.invalidArchitecture(reason: "the graph input '\(input.name)' declares the sample shape \(shape), "
                + "which has a negative dimension or does not fit in memory")
        }
        var graph = ComputeGraph(nodes: nodes, parameters: parameters, constants: constants,
                                 inputNames: [input.name], outputNames: [output.name])
        if let node = graph.firstUnsupportedNode {
            throw GraphError.unsupportedOperator(node: node.name, opType: node.operation.name)
        }
        if fusingKernels {
            if let sampleShape {
                graph = AttentionFusion.fused(graph, probe: AttentionFusion.probe(samples: 2, shape: sampleShape), inputName: input.name)
            }
            // After the attention fusion, whose anchors include the exported in-projection's MatMul.
            let linearNodes = LinearFusion.fused(graph.nodes, parameters: graph.parameters, graphOutputs: Set(graph.outputNames))
            if linearNodes != graph.nodes {
                graph = ComputeGraph(nodes: linearNodes, parameters: graph.parameters, constants: graph.constants,
                                     inputNames: graph.inputNames, outputNames: graph.outputNames)
            }
        }
        if let sampleShape {
            // Which samples a linear layer's rows belong to (exported attention projections that
            // stay unfused read sequence-first activations).
            graph = (try? graph.orderingRows(probe: AttentionFusion.probe(samples: 2, shape: sampleShape), inputName: input.name)) ?? graph
        }
        return Model(graph: graph, source: .onnxGraph(path: onnx.path), inputName: input.name, outputName: output.name,
                     sampleShape: sampleShape, warnings: warnings)
    }
}

extension Model {
    /// The graph of `onnx` as runtime nodes (index for index with the file's), its float
    /// initializers and its integer ones.
    static func importedGraph(_ onnx: ONNXModel) throws -> (nodes: [GraphNode], parameters: [String: Tensor], constants: [String: Value]) {
        var parameters: [String: Tensor] = [:]
        var constants: [String: Value] = [:]
        for info in onnx.tensors {
            let value = try onnx.withBytes(of: info.name) { try TensorLoading.value($0, info: info) }
            switch value {
            case .float(let t): parameters[info.name] = t
            case .int: constants[info.name] = value
            }
        }
        var nodes: [GraphNode] = []
        for (index, node) in onnx.graph.nodes.enumerated() {
            var attributes: [String: Attribute] = [:]
            for (name, attribute) in node.attributes {
                switch attribute {
                case .int(let v): attributes[name] = .int(v)
                case .float(let v): attributes[name] = .float(v)
                case .ints(let v): attributes[name] = .ints(v)
                case .floats(let v): attributes[name] = .floats(v)
                case .string(let v): attributes[name] = .string(v)
                case .strings, .unsupported: break
                case .tensor(let tensor):
                    attributes[name] = .tensor(try onnx.withBytes(of: tensor) { try TensorLoading.value($0, info: tensor.info) })
                }
            }
            let opType = node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain).\(node.opType)"
            nodes.append(GraphNode(name: node.name.isEmpty ? "\(node.opType)_\(index)" : node.name, opType: opType,
                                   inputs: node.inputs, outputs: node.outputs, attributes: attributes))
        }
        return (nodes, parameters, constants)
    }
}
