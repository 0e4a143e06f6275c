extension ComputeGraph {
    /// For each node, whether its outputs depend on any of `parameters`: it reads one of them, or
    /// a value computed by a node that does. A convolution that inference passes fold a batch
    /// normalization into (``batchNormFolds(keeping:weightLayerNodes:)``) counts as depending when
    /// the normalization does, so that a pass reusing values folds exactly the pairs a full pass folds.
    public func nodesDepending(on parameters: Set<String>) -> [Bool] {
        nodesDepending(on: parameters, folds: batchNormFolds(weightLayerNodes: Set(weightLayers.map(\.nodeIndex))))
    }

    /// ``nodesDepending(on:)`` given the pass's ``batchNormFolds(keeping:weightLayerNodes:)``.
    func nodesDepending(on parameters: Set<String>, folds: [Int: Int]) -> [Bool] {
        var names = Set<String>(parameters)
        var dependent = nodes.map { node in
            guard node.inputs.contains(where: { names.contains($0) }) else { return false }
            for name in node.outputs where !name.isEmpty { names.insert(name) }
            return true
        }
        for (convolution, normalization) in folds where dependent[normalization] {
            dependent[convolution] = true
        }
        return dependent
    }

    /// The values a pass that overrides `parameters` can take from a pass on the same inputs that
    /// does not: outputs of nodes that do not depend on `parameters` (``nodesDepending(on:)``)
    /// which a node that does depend on them reads, or which are graph outputs.
    ///
    /// With these values given (``forward(_:parameters:reusing:)``), a pass runs only the nodes
    /// downstream of the overridden parameters: editing the last layers of a network costs a pass
    /// through those layers alone.
    public func reusableValues(overriding parameters: Set<String>) -> Set<String> {
        let dependent = nodesDepending(on: parameters)
        var produced: Set<String> = []
        for (index, node) in nodes.enumerated() where !dependent[index] {
            for name in node.outputs where !name.isEmpty { produced.insert(name) }
        }
        var reusable: Set<String> = []
        for (index, node) in nodes.enumerated() where dependent[index] {
            for name in node.inputs where produced.contains(name) { reusable.insert(name) }
        }
        for name in outputNames where produced.contains(name) { reusable.insert(name) }
        return reusable
    }

    /// A forward pass with parameter `overrides` that skips every node not depending on them
    /// (``nodesDepending(on:)``), taking the values those nodes would compute from `reusing`:
    /// at least ``reusableValues(overriding:)`` of the overridden names, as kept by a pass on the
    /// same `inputs` without overrides (``forward(_:keeping:)``).
    ///
    /// Guarantee: the graph outputs are those of ``forward(_:parameters:recording:capture:)`` with
    /// the same overrides, because the skipped nodes would compute exactly the reused values (each
    /// node's result depends on its inputs alone). Inference only: nothing is recorded or captured.
    /// - Throws: ``GraphError/missingValue(node:name:)`` when `reusing` lacks a value a computed
    ///   node reads, and what ``forward(_:parameters:recording:capture:)`` throws.
    public func forward(_ inputs: [String: Tensor], parameters overrides: [String: Tensor], reusing: [String: Tensor]) throws -> [String: Tensor] {
        try run(inputs, overrides: overrides, recording: false, capture: nil, keeping: [], reusing: reusing).outputs
    }

    /// The graph outputs of a pass on `inputs` with the stored parameters, and the float values
    /// named in `keeping` (for later passes' `reusing`).
    public func forward(_ inputs: [String: Tensor], keeping: Set<String>) throws -> (outputs: [String: Tensor], kept: [String: Tensor]) {
        let result = try run(inputs, recording: false, capture: nil, keeping: keeping)
        return (result.outputs, result.kept)
    }
}
