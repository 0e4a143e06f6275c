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
        let (nodes, scopes, parameters, copies) = prepared(nodes, scopes: scopes, parameters: parameters, checkpoint: checkpoint)
        let binding = try CheckpointBinding.match(nodes: nodes, scopes: scopes, initializers: parameters, copies: copies, checkpoint: checkpoint)
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

extension Model {
    /// The graph made ready for matching: each `Identity` of an initializer whose output name
    /// `checkpoint` holds becomes a parameter of its own (tied weights the checkpoint stores
    /// twice), and an initializer that nodes of several modules read (the exporter stores equal
    /// tensors once: two zero biases, DeiT's `head.bias` and `head_dist.bias` after training) gets
    /// a copy per further module, `<name>::<module>` (`copies`: copy → original), which
    /// ``CheckpointBinding`` fills from that module or, failing that, shares with the original.
    static func prepared(_ nodes: [GraphNode], scopes: [ExporterScope], parameters: [String: Tensor], checkpoint: any CheckpointReader)
        -> (nodes: [GraphNode], scopes: [ExporterScope], parameters: [String: Tensor], copies: [String: String])
    {
        var nodes = nodes, scopes = scopes, parameters = parameters
        let available = Set(checkpoint.tensors.map(\.name))
        for index in nodes.indices.reversed() {
            let node = nodes[index]
            guard node.operation == .identity, let output = node.outputs.first, available.contains(output),
                  parameters[output] == nil, let value = parameters[node.inputs[0]] else { continue }
            parameters[output] = value
            nodes.remove(at: index)
            scopes.remove(at: index)
        }
        // The modules reading each initializer with more than one element, in node order.
        var readers: [String: [(module: String, node: Int, input: Int)]] = [:]
        for (index, node) in nodes.enumerated() {
            guard let module = scopes[index].module else { continue }
            for (position, input) in node.inputs.enumerated() where (parameters[input]?.count ?? 0) > 1 {
                readers[input, default: []].append((module, index, position))
            }
        }
        var copies: [String: String] = [:]
        for name in readers.keys.sorted() {
            let uses = readers[name]!
            var modules: [String] = []
            for use in uses where !modules.contains(use.module) { modules.append(use.module) }
            guard modules.count > 1 else { continue }
            // The module the name states keeps the initializer; each other module gets a copy.
            let stated = CheckpointBinding.parent(of: name)
            let owner = !name.contains("::") && name.contains(".") && modules.contains(stated) ? stated : modules[0]
            for use in uses where use.module != owner {
                let copy = "\(name)::\(use.module)"
                if copies[copy] == nil {
                    guard parameters[copy] == nil, !available.contains(copy) else { continue }
                    copies[copy] = name
                    parameters[copy] = parameters[name]
                }
                nodes[use.node].inputs[use.input] = copy
            }
        }
        return (nodes, scopes, parameters, copies)
    }
}

extension CheckpointBinding {
    /// How `checkpoint` fills the graph of `onnx`: what ``Model/fromONNX(_:checkpoint:)`` rebuilds
    /// the graph on.
    static func of(_ checkpoint: any CheckpointReader, to onnx: ONNXModel) throws -> CheckpointBinding {
        let imported = try Model.importedGraph(onnx)
        let (nodes, scopes, parameters, copies) = Model.prepared(imported.nodes, scopes: onnx.graph.nodes.map(ExporterScope.init),
                                                                  parameters: imported.parameters, checkpoint: checkpoint)
        return try match(nodes: nodes, scopes: scopes, initializers: parameters, copies: copies, checkpoint: checkpoint)
    }
}
