import TensorCore

/// Folds the expansion of `nn.MultiheadAttention` that exporters write back into one
/// ``GraphOperation/multiHeadAttention(heads:batchFirst:)`` node.
///
/// `torch.onnx.export` writes one self-attention block as about a hundred nodes: the
/// in-projection as `MatMul` with the transposed `in_proj_weight` and an `Add` of `in_proj_bias`,
/// then `Shape`/`Gather`/`Concat` arithmetic, `Reshape`s and `Transpose`s that split the heads,
/// two batched `MatMul`s around a `Softmax`, and the out-projection `Gemm`, with a `Transpose` on
/// each side when the module is batch-first. Run node by node that is nine transposed copies of
/// the activations per block; the fused kernel (``Attention``) does the same arithmetic on the
/// projections' rows where they lie. It also reports the
/// projections' inputs sample-major: the exported in-projection sees the sequence-first tensor, so
/// per-sample vector sampling (``LayerInput``) would otherwise take a token position for a sample.
///
/// A block is recognised by its anchors and then **checked by value**, so a look-alike that
/// computes something else is left alone:
/// - an in-projection: a `MatMul` weight layer whose weight is `in_proj_weight` `[3E, E]` (rows
///   are outputs, read through a `Transpose`, as older exporters write it) or its transposed copy
///   `[E, 3E]` (rows are inputs: torch 2.x's exporters store `in_proj_weight.T` as an initializer
///   of its own); its input `X` is the block input (sequence-first), or the input of a
///   `Transpose` with permutation `[1, 0, 2]` in front of it (batch-first);
/// - the next weight layer after it whose weight is a parameter `[E, E]` (either layout): the
///   out-projection; the block output is its output or the end of the chain of single-use `Add`
///   (bias), `Reshape` and `Transpose` nodes after it;
/// - the block is every node that output depends on, up to `X`: it may read parameters, constants
///   and `X` only, its float parameters must be exactly the two weights, up to two biases
///   (`[3E]`, `[E]`) and one-element constants (the exporters' `√scale` factors), and no node
///   outside it may read a value computed from `X` inside it;
/// - on a probe batch, the fused node for some head count `h` dividing `E` must reproduce the
///   block output: `|fused − original| ≤ 10⁻⁴ · max(1, max |original|)`.
/// Nodes of the block that do not depend on `X` (constants, shape arithmetic on constants) stay
/// when something outside the block still reads them. A weight stored with rows as inputs
/// reaches the fused node through a `[1, 0]` `Transpose`, so the parameter the engines edit is
/// the one the file stores.
package enum AttentionFusion {
    /// `graph` with every recognised block replaced, or `graph` itself when there is none.
    /// `probe` is a batch for the graph input `inputName` (two samples are plenty).
    public static func fused(_ graph: ComputeGraph, probe: Tensor, inputName: String) -> ComputeGraph {
        let candidates = blocks(in: graph)
        guard !candidates.isEmpty else { return graph }
        let names = Set(candidates.flatMap { [$0.input] + $0.outputs })
        guard let values = try? graph.intermediates(names, for: [inputName: probe]) else { return graph }
        let hints = integerScalars(graph)
        var current = graph
        var tried = Set<String>()
        // One block at a time, the anchors found again in the rewritten graph (node indices move).
        while let block = blocks(in: current).first(where: { !tried.contains($0.inWeight) }) {
            tried.insert(block.inWeight)
            guard let x = values[block.input],
                  let (output, heads) = match(block, x: x, values: values, parameters: current.parameters, hints: hints),
                  let nodes = replace(block, output: output, heads: heads, in: current) else { continue }
            current = ComputeGraph(nodes: nodes, parameters: current.parameters, constants: current.constants,
                                   inputNames: current.inputNames, outputNames: current.outputNames)
        }
        return current
    }

    /// The exporter's scope shared by the block's node names ("/encoder/layers/encoder_layer_0/
    /// self_attention" from ".../self_attention/MatMul" and the rest), if there is one.
    static func scopeName(_ names: [String]) -> String? {
        guard var prefix = names.first?.split(separator: "/", omittingEmptySubsequences: false).dropLast() else { return nil }
        for name in names.dropFirst() {
            let parts = name.split(separator: "/", omittingEmptySubsequences: false).dropLast()
            prefix = prefix.prefix(zip(prefix, parts).prefix { $0 == $1 }.count)
        }
        let scope = prefix.joined(separator: "/")
        return scope.isEmpty || scope == "/" ? nil : scope
    }

    /// A fixed batch `[samples] + shape` of values in [0, 1) (SplitMix64, seed 0) for ``fused(_:probe:inputName:)``.
    public static func probe(samples: Int, shape: [Int]) -> Tensor {
        var generator = SplitMix64(seed: 0)
        let count = samples * shape.reduce(1, *)
        return Tensor(shape: [samples] + shape, data: (0..<count).map { _ in Float(generator.next() >> 40) / Float(1 << 24) })
    }

    /// One candidate block before its check by value.
    struct Block {
        /// The block input `X` and whether a `[1, 0, 2]` Transpose turns it sequence-first.
        var input: String
        var batchFirst: Bool
        var inWeight, outWeight: String
        /// Whether the stored weight is the transpose of what the attention node takes (`[E, 3E]`,
        /// `[E, E]` with rows as inputs).
        var inTransposed = false, outTransposed = false
        var inBias, outBias: String?
        /// Candidate block outputs, nearest the out-projection first, and the nodes writing them.
        var outputs: [String]
        var outputNodes: [Int]
    }

    /// Blocks found by their anchors (see the type's description).
    static func blocks(in graph: ComputeGraph) -> [Block] {
        let nodes = graph.nodes
        var producers: [String: Int] = [:], consumers: [String: [Int]] = [:]
        for (index, node) in nodes.enumerated() {
            for output in node.outputs { producers[output] = index }
            for input in node.inputs { consumers[input, default: []].append(index) }
        }
        let layers = graph.weightLayers.filter { $0.kind == .linear }
        var found: [Block] = []
        for (position, inLayer) in layers.enumerated() {
            guard let w = graph.parameters[inLayer.weight], w.rank == 2 else { continue }
            let inTransposed = inLayer.layout == .inputsByOutputs
            let (rows, columns) = inTransposed ? (w.shape[1], w.shape[0]) : (w.shape[0], w.shape[1])
            guard rows == 3 * columns else { continue }
            let e = columns
            let inNode = nodes[inLayer.nodeIndex]
            guard case .matMul = inNode.operation, let a = inNode.inputs.first else { continue }
            var input = a, batchFirst = false
            if let t = producers[a], case .transpose(let perm) = nodes[t].operation, perm == [1, 0, 2] {
                input = nodes[t].inputs[0]; batchFirst = true
            }
            guard let outLayer = layers[(position + 1)...].first(where: {
                graph.parameters[$0.weight]?.shape == [e, e]
            }) else { continue }
            // The output chain: the out-projection's result, then single-use bias Add / Reshape / Transpose.
            var outputs: [String] = [], outputNodes: [Int] = []
            var current = outLayer.nodeIndex
            var outBias: String?
            if case .gemm = nodes[current].operation, nodes[current].inputs.count > 2, graph.parameters[nodes[current].inputs[2]]?.count == e {
                outBias = nodes[current].inputs[2]
            }
            for _ in 0..<4 {
                let value = nodes[current].outputs[0]
                outputs.append(value); outputNodes.append(current)
                // Shape nodes reading the value belong to the block (they feed the next Reshape).
                let readers = (consumers[value] ?? []).filter { if case .shape = nodes[$0].operation { false } else { true } }
                guard readers.count == 1 else { break }
                let next = nodes[readers[0]]
                switch next.operation {
                case .reshape where next.inputs.first == value, .transpose: current = readers[0]
                case .binary(.add) where outBias == nil:
                    guard let bias = next.inputs.first(where: { graph.parameters[$0]?.count == e }) else { break }
                    outBias = bias; current = readers[0]
                default: break
                }
                if current != readers[0] { break }
            }
            // The in-projection bias: a parameter [3E] added to the in-projection's output.
            var inBias: String?
            if let readers = consumers[inNode.outputs[0]], readers.count == 1, case .binary(.add) = nodes[readers[0]].operation {
                inBias = nodes[readers[0]].inputs.first { graph.parameters[$0]?.count == 3 * e }
            }
            found.append(Block(input: input, batchFirst: batchFirst, inWeight: inLayer.weight, outWeight: outLayer.weight,
                               inTransposed: inTransposed, outTransposed: outLayer.layout == .inputsByOutputs,
                               inBias: inBias, outBias: outBias, outputs: outputs, outputNodes: outputNodes))
        }
        return found
    }

    /// The farthest candidate output the fused node reproduces on the probe, with its head count.
    ///
    /// Head counts are tried in the order of ``headCandidates(embedding:hints:)``: the exporter
    /// writes the head count as a constant, so a large model is checked once or twice, not once
    /// per divisor of its embedding size.
    static func match(_ block: Block, x: Tensor, values: [String: Tensor], parameters: [String: Tensor], hints: Set<Int>) -> (Int, Int)? {
        guard x.rank == 3, var inWeight = parameters[block.inWeight], var outWeight = parameters[block.outWeight] else { return nil }
        if block.inTransposed { inWeight = transposed(inWeight) }
        if block.outTransposed { outWeight = transposed(outWeight) }
        let e = inWeight.shape[1]
        for (index, name) in block.outputs.enumerated().reversed() {
            guard let expected = values[name], expected.shape == x.shape else { continue }
            let scale = max(1, expected.data.reduce(0) { max($0, abs($1)) })
            for heads in headCandidates(embedding: e, hints: hints) {
                guard case .success(let (y, _)) = Attention.forward(
                    x, inWeight: inWeight, inBias: block.inBias.flatMap { parameters[$0] }, outWeight: outWeight,
                    outBias: block.outBias.flatMap { parameters[$0] }, heads: heads, batchFirst: block.batchFirst) else { continue }
                let deviation = zip(y.data, expected.data).reduce(0) { max($0, abs($1.0 - $1.1)) }
                if deviation <= 1e-4 * scale { return (index, heads) }
            }
        }
        return nil
    }

    /// A 2-D tensor transposed.
    static func transposed(_ t: Tensor) -> Tensor {
        let (rows, columns) = (t.shape[0], t.shape[1])
        return Tensor(shape: [columns, rows], data: (0..<t.count).map { t.data[($0 % rows) * columns + $0 / rows] })
    }

    /// The divisors of `embedding`: those among `hints` first, each group by how far its head
    /// width `embedding / h` is from 64 (the common width), then by `h`.
    static func headCandidates(embedding e: Int, hints: Set<Int>) -> [Int] {
        let divisors = (1...max(e, 1)).filter { e % $0 == 0 }
        let order = { (h: Int) in (hints.contains(h) ? 0 : 1, abs(e / h - 64), h) }
        return divisors.sorted { order($0) < order($1) }
    }

    /// Every integer scalar a `Constant` node or an integer initializer of `graph` holds.
    static func integerScalars(_ graph: ComputeGraph) -> Set<Int> {
        var found = Set<Int>()
        for node in graph.nodes {
            if case .constant(.int(let t)) = node.operation, t.data.count == 1 { found.insert(t.data[0]) }
        }
        for case .int(let t) in graph.constants.values where t.data.count == 1 { found.insert(t.data[0]) }
        return found
    }

    /// `nodes` with the block ending at `block.outputs[output]` replaced by one attention node, or
    /// `nil` when the block is not self-contained (see the type's description).
    static func replace(_ block: Block, output: Int, heads: Int, in graph: ComputeGraph) -> [GraphNode]? {
        let nodes = graph.nodes
        var producers: [String: Int] = [:], consumers: [String: [Int]] = [:]
        for (index, node) in nodes.enumerated() {
            for name in node.outputs { producers[name] = index }
            for name in node.inputs { consumers[name, default: []].append(index) }
        }
        let graphOutputs = Set(graph.outputNames)
        let last = block.outputNodes[output]
        // Every node the output depends on, up to X; and which of them depend on X.
        var region = Set<Int>(), dependsOnX = Set<Int>()
        var stack = [last]
        while let index = stack.popLast() {
            guard region.insert(index).inserted else { continue }
            for name in nodes[index].inputs where name != block.input && !name.isEmpty {
                if let producer = producers[name] { stack.append(producer) }
            }
        }
        for index in region.sorted() where nodes[index].inputs.contains(where: { name in
            name == block.input || producers[name].map { dependsOnX.contains($0) } == true
        }) { dependsOnX.insert(index) }
        guard dependsOnX.contains(last) else { return nil }
        // What the block reads from outside: X, its own weights and biases, integer constants,
        // one-element float constants.
        let allowed = Set([block.inWeight, block.outWeight] + [block.inBias, block.outBias].compactMap { $0 })
        for index in region {
            for name in nodes[index].inputs where !name.isEmpty && name != block.input && producers[name] == nil {
                guard allowed.contains(name) || graph.constants[name] != nil || graph.parameters[name]?.count == 1 else { return nil }
            }
        }
        // Remove the X-dependent part, and what only it reads.
        var removed = dependsOnX
        var changed = true
        while changed {
            changed = false
            for index in region where !removed.contains(index) && !nodes[index].outputs.contains(where: graphOutputs.contains) {
                if nodes[index].outputs.allSatisfy({ (consumers[$0] ?? []).allSatisfy(removed.contains) }) {
                    removed.insert(index); changed = true
                }
            }
        }
        // Nothing outside may read an X-dependent value but the block output.
        let outputName = block.outputs[output]
        for index in dependsOnX {
            for name in nodes[index].outputs where name != outputName {
                if graphOutputs.contains(name) || (consumers[name] ?? []).contains(where: { !removed.contains($0) }) { return nil }
            }
        }
        let name = scopeName(dependsOnX.map { nodes[$0].name }) ?? nodes[last].name + ".attention"
        // Weights stored transposed reach the node through a Transpose (the engines edit the stored parameter).
        var transposes: [GraphNode] = []
        func weight(_ parameter: String, transposed: Bool, _ role: String) -> String {
            guard transposed else { return parameter }
            let output = "\(name)/\(role).transposed"
            transposes.append(GraphNode(name: "\(name)/\(role).Transpose", operation: .transpose(perm: [1, 0]), inputs: [parameter], outputs: [output]))
            return output
        }
        let inWeight = weight(block.inWeight, transposed: block.inTransposed, "in_proj_weight")
        let outWeight = weight(block.outWeight, transposed: block.outTransposed, "out_proj_weight")
        let fused = GraphNode(name: name, operation: .multiHeadAttention(heads: heads, batchFirst: block.batchFirst),
                              inputs: [block.input, inWeight, block.inBias ?? "", outWeight, block.outBias ?? ""],
                              outputs: [outputName])
        return nodes.enumerated().flatMap { index, node -> [GraphNode] in
            index == last ? transposes + [fused] : (removed.contains(index) ? [] : [node])
        }
    }
}
