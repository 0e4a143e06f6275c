import Safeguards
import TensorCore
import WeightFormats

extension CheckpointBinding {
    /// One float initializer of the graph and how the graph uses it.
    struct Slot {
        var name: String
        var shape: [Int]
        var role: Role
        /// The node (index) of the use the role comes from.
        var node: Int
        /// Modules to look in, best first: the one the initializer's own name states (`a.b` of
        /// `a.b.weight`), then the exporter's scope of the node.
        var modules: [String]
        /// Whether the initializer's name is one a checkpoint could hold (dotted, not the
        /// exporter's own such as `onnx::Conv_7` or `val_12`).
        var named: Bool

        var count: Int { shape.reduce(1, *) }
    }

    /// What a slot is to the node that reads it.
    enum Role: Equatable {
        case convWeight, convBias
        case gemmWeight(transB: Bool), gemmBias
        /// The second operand of a `MatMul` (a `Linear` weight, transposed by the exporter).
        case matMulWeight
        /// Added to a `MatMul`'s product.
        case linearBias
        case normScale, normBias, normMean, normVariance
        /// An input of any other operator (a `Mul` by a layer scale, an `Add` of a position
        /// embedding, an `Expand` of a class token).
        case other

        /// The last component of the state-dict name PyTorch gives such a tensor.
        var leaf: String? {
            switch self {
            case .convWeight, .gemmWeight, .matMulWeight, .normScale: "weight"
            case .convBias, .gemmBias, .linearBias, .normBias: "bias"
            case .normMean: "running_mean"
            case .normVariance: "running_var"
            case .other: nil
            }
        }

        /// A 2-D weight the exporter may store transposed.
        var isMatrixWeight: Bool {
            switch self {
            case .matMulWeight, .gemmWeight: true
            default: false
            }
        }

        /// Whether the graph's operand is a checkpoint tensor transposed when the two differ in
        /// name: a `MatMul` reads `Linear.weight` as `Wᵀ`, a `Gemm` without `transB` as well.
        var prefersTransposed: Bool {
            switch self {
            case .matMulWeight: true
            case .gemmWeight(let transB): !transB
            default: false
            }
        }

        /// "weight of Conv 'name'", for messages.
        func use(of node: GraphNode) -> String {
            let op = node.operation.name
            let what = switch self {
            case .convWeight, .gemmWeight, .matMulWeight: "weight"
            case .convBias, .gemmBias: "bias"
            case .linearBias: "bias added after"
            case .normScale: "scale"
            case .normBias: "bias"
            case .normMean: "mean"
            case .normVariance: "variance"
            case .other: "input"
            }
            return "\(what) of \(op) '\(Escaping.printable(node.name))'"
        }
    }

    /// The parent module of a state-dict name (`""` for a top-level name).
    static func parent(of name: String) -> String {
        name.lastIndex(of: ".").map { String(name[..<$0]) } ?? ""
    }

    /// The last component of a state-dict name.
    static func leaf(of name: String) -> String {
        name.lastIndex(of: ".").map { String(name[name.index(after: $0)...]) } ?? name
    }

    /// How well a tensor's leaf name fits a slot's: 2 the same, 1 a synonym (`gamma`, `beta`,
    /// `moving_mean`, …) or a suffixed form (`in_proj_weight`), 0 not.
    static func leafFit(_ slotLeaf: String, _ tensorLeaf: String) -> Int {
        if slotLeaf == tensorLeaf { return 2 }
        let synonyms: [String: Set<String>] = [
            "weight": ["gamma", "scale", "kernel"], "bias": ["beta"],
            "running_mean": ["mean", "moving_mean"], "running_var": ["var", "variance", "moving_var", "moving_variance"],
        ]
        if synonyms[slotLeaf]?.contains(tensorLeaf) == true || tensorLeaf.hasSuffix("_" + slotLeaf) { return 1 }
        return 0
    }

    /// The slots of a graph: every float initializer, with the role of its first typed use.
    static func slots(nodes: [GraphNode], scopes: [ExporterScope], initializers: [String: Tensor]) -> (slots: [String: Slot], order: [String]) {
        var producers: [String: Int] = [:]
        for (index, node) in nodes.enumerated() { for output in node.outputs { producers[output] = index } }
        var slots: [String: Slot] = [:]
        var order: [String] = []
        for (index, node) in nodes.enumerated() {
            for (position, input) in node.inputs.enumerated() {
                guard let value = initializers[input] else { continue }
                let role = role(of: position, in: node, value: value, producers: producers, nodes: nodes, initializers: initializers)
                if slots[input] == nil {
                    order.append(input)
                    slots[input] = Slot(name: input, shape: value.shape, role: role, node: index, modules: [],
                                        named: !input.contains("::") && input.contains("."))
                } else if slots[input]!.role == .other, role != .other {
                    slots[input]!.role = role
                    slots[input]!.node = index
                }
            }
        }
        for name in order {
            var slot = slots[name]!
            var modules: [String] = []
            if slot.named { modules.append(parent(of: name)) }
            // A Conv made from Conv+BatchNorm carries the batch norm's scope, not the conv's.
            let scope = scopes[slot.node]
            if scope.foldedBatchNorm == nil, let module = scope.module, !modules.contains(module) { modules.append(module) }
            slot.modules = modules
            slots[name] = slot
        }
        return (slots, order)
    }

    /// The role of input `position` of `node`.
    static func role(of position: Int, in node: GraphNode, value: Tensor, producers: [String: Int], nodes: [GraphNode],
                     initializers: [String: Tensor]) -> Role {
        switch node.operation {
        case .convolution: return position == 1 ? .convWeight : position == 2 ? .convBias : .other
        case .gemm(let attributes): return position == 1 ? .gemmWeight(transB: attributes.transB) : position == 2 ? .gemmBias : .other
        case .matMul: return position == 1 && value.rank == 2 ? .matMulWeight : .other
        case .layerNormalization: return position == 1 ? .normScale : position == 2 ? .normBias : .other
        case .batchNormalization:
            return [1: Role.normScale, 2: .normBias, 3: .normMean, 4: .normVariance][position] ?? .other
        case .binary(.add):
            guard value.rank == 1, node.inputs.count == 2 else { return .other }
            let other = node.inputs[1 - position]
            if let producer = producers[other], case .matMul = nodes[producer].operation,
               nodes[producer].inputs.count == 2, isWeightOperand(nodes[producer].inputs[1], producers: producers, nodes: nodes, initializers: initializers) {
                return .linearBias
            }
            return .other
        default: return .other
        }
    }

    /// Whether a `MatMul` operand is an initializer, possibly through `Transpose`/`Identity`.
    static func isWeightOperand(_ name: String, producers: [String: Int], nodes: [GraphNode], initializers: [String: Tensor]) -> Bool {
        var current = name
        for _ in 0..<4 {
            if initializers[current] != nil { return true }
            guard let producer = producers[current] else { return false }
            switch nodes[producer].operation {
            case .transpose, .identity: current = nodes[producer].inputs[0]
            default: return false
            }
        }
        return false
    }
}
