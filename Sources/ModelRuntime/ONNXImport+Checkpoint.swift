import TensorCore
import WeightFormats

extension Model {
    /// The graph `nodes` rebuilt on `checkpoint`'s tensors (``CheckpointBinding``): parameters
    /// named and shaped as the checkpoint stores them, a `Transpose` or `Reshape` node where the
    /// graph read a transposed or reshaped copy, and each conv the exporter folded a BatchNorm
    /// into followed by a `BatchNormalization` of the checkpoint's batch norm again. `parameters`
    /// are the graph's float initializers; those the binding keeps (one-element constants) stay.
    /// - Throws: ``CheckpointBindingError``, ``ModelError``, or the checkpoint's read errors.
    static func rebuilt(_ nodes: [GraphNode], scopes: [ExporterScope], parameters: [String: Tensor], constants: [String: Value],
                        on checkpoint: any CheckpointReader) throws -> (nodes: [GraphNode], parameters: [String: Tensor], binding: CheckpointBinding) {
        let binding = try CheckpointBinding.match(nodes: nodes, scopes: scopes, initializers: parameters, checkpoint: checkpoint)
        var values: [String: Tensor] = [:]
        func load(_ name: String) throws -> Tensor {
            if let value = values[name] { return value }
            guard let info = checkpoint.info(named: name) else { throw CheckpointError.tensorNotFound(name: name) }
            let value = try TensorLoading.floatTensor(checkpoint, info)
            values[name] = value
            return value
        }
        var rebuiltParameters: [String: Tensor] = [:]
        var renamed: [String: String] = [:]
        var prelude: [GraphNode] = []
        for initializer in binding.bound.keys.sorted() {
            let bound = binding.bound[initializer]!
            rebuiltParameters[bound.tensor] = try load(bound.tensor)
            let operation: GraphOperation
            switch bound.form {
            case .same:
                renamed[initializer] = bound.tensor
                continue
            case .transposed: operation = .transpose(perm: [1, 0])
            case .reshaped(let shape): operation = .reshape(shape: shape, allowZero: false)
            }
            // The copy keeps the initializer's name, so that the nodes reading it stay as they are.
            var output = initializer
            if output == bound.tensor {
                output = "\(initializer)::\(operation.name)"
                renamed[initializer] = output
            }
            prelude.append(GraphNode(name: "\(bound.tensor)::\(operation.name)", operation: operation, inputs: [bound.tensor], outputs: [output]))
        }
        for name in binding.kept { rebuiltParameters[name] = parameters[name] }
        var folds: [Int: CheckpointBinding.Fold] = [:]
        for fold in binding.folds {
            folds[fold.node] = fold
            for name in [fold.weight, fold.bias, fold.norm.scale, fold.norm.shift, fold.norm.mean, fold.norm.variance].compactMap({ $0 }) {
                rebuiltParameters[name] = try load(name)
            }
        }
        var rebuiltNodes = prelude
        for (index, node) in nodes.enumerated() {
            var node = node
            node.inputs = node.inputs.map { renamed[$0] ?? $0 }
            guard let fold = folds[index] else {
                rebuiltNodes.append(node)
                continue
            }
            // Conv (the checkpoint's weight and own bias) → BatchNormalization (the checkpoint's batch norm).
            let output = node.outputs[0]
            let unfolded = "\(output)::unfolded"
            node.inputs = Array(node.inputs.prefix(2)) + (fold.bias.map { [$0] } ?? [])
            node.outputs[0] = unfolded
            let channels = fold.norm.channels
            let scale = fold.norm.scale ?? "\(fold.norm.module)::scale", shift = fold.norm.shift ?? "\(fold.norm.module)::shift"
            if fold.norm.scale == nil { rebuiltParameters[scale] = Tensor(shape: [channels], data: Array(repeating: 1, count: channels)) }
            if fold.norm.shift == nil { rebuiltParameters[shift] = Tensor(zeros: [channels]) }
            rebuiltNodes.append(node)
            rebuiltNodes.append(GraphNode(name: "\(fold.norm.module)::BatchNormalization", operation: .batchNormalization(epsilon: fold.epsilon),
                                          inputs: [unfolded, scale, shift, fold.norm.mean, fold.norm.variance], outputs: [output]))
        }
        let outputs = Set(rebuiltNodes.flatMap(\.outputs))
        if let clash = rebuiltParameters.keys.sorted().first(where: { outputs.contains($0) || constants[$0] != nil }) {
            throw CheckpointBindingError.nameClash(clash)
        }
        return (rebuiltNodes, rebuiltParameters, binding)
    }
}

extension CheckpointBinding {
    /// How `checkpoint` fills the graph of `onnx`: what ``Model/fromONNX(_:checkpoint:)`` rebuilds
    /// the graph on.
    static func of(_ checkpoint: any CheckpointReader, to onnx: ONNXModel) throws -> CheckpointBinding {
        let imported = try Model.importedGraph(onnx)
        var nodes = imported.nodes, parameters = imported.parameters
        var scopes = onnx.graph.nodes.map(ExporterScope.init)
        Model.splitAliases(&nodes, &scopes, &parameters, checkpoint: checkpoint)
        return try match(nodes: nodes, scopes: scopes, initializers: parameters, checkpoint: checkpoint)
    }
}
