import TensorCore

/// Folds the expansion of the exact GELU that exporters write for `nn.GELU()` back into one node.
///
/// PyTorch exports `gelu(x) = x · Φ(x)` as five nodes, `Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)`
/// (each `Mul`/`Add` with its operands in either order; `Mul(x, 1/√2)` is accepted for the
/// `Div`). Run node by node, that is five passes over the activations and five tensors forward,
/// and as many backward; the fused node computes `0.5 · x · (1 + erf(x / √2))` in one pass
/// (equal up to float32 rounding of the intermediate steps). A match needs the scalar constants
/// from `Constant` nodes (within 1e-6) and every intermediate result used by the next node only
/// (not by another node, not a graph output); anything else is left as it is.
package enum GeluFusion {
    public static func fused(_ nodes: [GraphNode], graphOutputs: Set<String>) -> [GraphNode] {
        var scalars: [String: Float] = [:]
        var consumers: [String: [Int]] = [:]
        var producers: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            if case .constant(.float(let t)) = node.operation, t.count == 1, let output = node.outputs.first {
                scalars[output] = t.data[0]
            }
            for input in node.inputs { consumers[input, default: []].append(index) }
            for output in node.outputs { producers[output] = index }
        }
        /// The one node reading `name`, if exactly one does and it is not a graph output.
        func onlyConsumer(_ name: String) -> Int? {
            guard !graphOutputs.contains(name), let readers = consumers[name], readers.count == 1 else { return nil }
            return readers[0]
        }
        func isScalar(_ name: String, _ value: Float) -> Bool {
            guard let v = scalars[name] else { return false }
            return abs(v - value) <= 1e-6 * max(1, abs(value))
        }
        /// For a binary node with operator `op` and one operand the scalar `value`: the other operand.
        func other(_ node: GraphNode, _ op: BinaryOperator, scalar value: Float, commutative: Bool = true) -> String? {
            guard case .binary(op) = node.operation, node.inputs.count == 2 else { return nil }
            if isScalar(node.inputs[1], value) { return node.inputs[0] }
            if commutative, isScalar(node.inputs[0], value) { return node.inputs[1] }
            return nil
        }

        var removed = Set<Int>()
        var replaced: [Int: GraphNode] = [:]
        for (erfIndex, erf) in nodes.enumerated() {
            guard case .unary(.erf) = erf.operation, let erfInput = erf.inputs.first, let scaledIndex = producers[erfInput],
                  onlyConsumer(erfInput) == erfIndex else { continue }
            let scaled = nodes[scaledIndex]
            guard let x = other(scaled, .div, scalar: Float(2).squareRoot(), commutative: false)
                    ?? other(scaled, .mul, scalar: 1 / Float(2).squareRoot()) else { continue }
            guard let addIndex = onlyConsumer(erf.outputs[0]), let added = other(nodes[addIndex], .add, scalar: 1),
                  added == erf.outputs[0] else { continue }
            guard let productIndex = onlyConsumer(nodes[addIndex].outputs[0]) else { continue }
            let product = nodes[productIndex]
            guard case .binary(.mul) = product.operation, Set(product.inputs) == [x, nodes[addIndex].outputs[0]] else { continue }
            guard let halfIndex = onlyConsumer(product.outputs[0]), other(nodes[halfIndex], .mul, scalar: 0.5) == product.outputs[0] else {
                continue
            }
            removed.formUnion([scaledIndex, erfIndex, addIndex, productIndex])
            replaced[halfIndex] = GraphNode(name: erf.name + ".gelu", operation: .gelu(.none), inputs: [x],
                                            outputs: nodes[halfIndex].outputs)
        }
        guard !replaced.isEmpty else { return nodes }
        return nodes.enumerated().compactMap { index, node in
            if let gelu = replaced[index] { return gelu }
            return removed.contains(index) ? nil : node
        }
    }
}
