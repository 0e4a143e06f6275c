import TensorCore

/// Folds `Add(bias, MatMul(x, W))` — how exporters write `nn.Linear` on inputs of rank 3 and more —
/// into one ``GraphOperation/linear(_:)`` node.
///
/// The linear kernel starts from the bias rows and lets sgemm add the product (β = 1): one pass
/// over the output instead of two. A match needs `W` a 2-D parameter, or a `Transpose` (`[1, 0]`)
/// of one that nothing else reads (then the parameter itself is the weight, rows as outputs), the
/// bias a 1-D parameter with one value per output column, and the product read by the `Add` only
/// (not by another node, not a graph output). The values are equal up to float32 rounding of the
/// order of the two additions.
package enum LinearFusion {
    public static func fused(_ nodes: [GraphNode], parameters: [String: Tensor], graphOutputs: Set<String>) -> [GraphNode] {
        var producers: [String: Int] = [:], consumers: [String: [Int]] = [:]
        for (index, node) in nodes.enumerated() {
            for output in node.outputs { producers[output] = index }
            for input in node.inputs { consumers[input, default: []].append(index) }
        }
        func onlyReader(_ name: String) -> Int? {
            guard !graphOutputs.contains(name), let readers = consumers[name], readers.count == 1 else { return nil }
            return readers[0]
        }
        var removed = Set<Int>()
        var replaced: [Int: GraphNode] = [:]
        for (index, node) in nodes.enumerated() {
            guard case .matMul = node.operation, node.inputs.count == 2, let addIndex = onlyReader(node.outputs[0]) else { continue }
            let add = nodes[addIndex]
            guard case .binary(.add) = add.operation, add.inputs.count == 2,
                  let biasName = add.inputs.first(where: { $0 != node.outputs[0] }) else { continue }
            // The weight: a 2-D parameter, or its transpose (by the parameter itself when nothing
            // else reads the transpose).
            var weight = node.inputs[1], layout = WeightLayout.inputsByOutputs, outputs: Int
            var transpose: Int?
            if let w = parameters[weight], w.rank == 2 {
                outputs = w.shape[1]
            } else if let t = producers[weight], case .transpose(let perm) = nodes[t].operation, perm == nil || perm == [1, 0],
                      let w = parameters[nodes[t].inputs[0]], w.rank == 2 {
                outputs = w.shape[0]
                if onlyReader(weight) == index { transpose = t; weight = nodes[t].inputs[0]; layout = .outputsByInputs }
            } else { continue }
            guard let bias = parameters[biasName], bias.rank == 1, bias.count == outputs else { continue }
            if let transpose { removed.insert(transpose) }
            removed.insert(addIndex)
            replaced[index] = GraphNode(name: node.name, operation: .linear(layout), inputs: [node.inputs[0], weight, biasName],
                                        outputs: add.outputs)
        }
        guard !replaced.isEmpty else { return nodes }
        return nodes.enumerated().compactMap { index, node in
            if let linear = replaced[index] { return linear }
            return removed.contains(index) ? nil : node
        }
    }
}
