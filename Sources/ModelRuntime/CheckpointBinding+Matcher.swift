import Safeguards
import TensorCore
import WeightFormats

extension CheckpointBinding {
    /// The state of one matching: what is bound, claimed and folded so far (see
    /// ``CheckpointBinding`` for the passes).
    struct Matcher {
        let nodes: [GraphNode]
        let scopes: [ExporterScope]
        /// The graph's float initializers.
        let initializers: [String: Tensor]
        /// Initializers split off a shared one, and the original.
        let copies: [String: String]
        let checkpoint: any CheckpointReader
        /// The checkpoint's float tensors by name, and their names by parent module (file order).
        let tensors: [String: TensorInfo]
        let tensorsByModule: [String: [String]]
        let slots: [String: Slot]
        /// Slot names in the order of their first use.
        let order: [String]

        var bound: [String: Bound] = [:]
        /// Checkpoint tensors given to a slot or a fold.
        var claimed: Set<String> = []
        /// Conv nodes the exporter's metadata marks as folded, with what it recorded.
        var metadataFolds: [Int: ExporterScope.FoldedBatchNorm] = [:]
        /// Bias slots that hold a fold, not a checkpoint tensor.
        var foldedBiases: Set<String> = []
        var folds: [Fold] = []
        var kept: [String] = []
        var warnings: [String] = []
        /// Checkpoint tensors read so far.
        var values: [String: Tensor] = [:]

        init(nodes: [GraphNode], scopes: [ExporterScope], initializers: [String: Tensor], copies: [String: String],
             checkpoint: any CheckpointReader) {
            self.nodes = nodes
            self.copies = copies
            self.scopes = scopes
            self.initializers = initializers
            self.checkpoint = checkpoint
            var tensors: [String: TensorInfo] = [:], byModule: [String: [String]] = [:]
            for info in checkpoint.tensors where ElementCoding.isFloat(info.dtype) && tensors[info.name] == nil {
                tensors[info.name] = info
                byModule[CheckpointBinding.parent(of: info.name), default: []].append(info.name)
            }
            self.tensors = tensors
            tensorsByModule = byModule
            (slots, order) = CheckpointBinding.slots(nodes: nodes, scopes: scopes, initializers: initializers)
        }

        /// Whether a slot still waits for a tensor.
        func isOpen(_ name: String) -> Bool { bound[name] == nil && !foldedBiases.contains(name) }

        mutating func bind(_ slot: String, _ tensor: String, _ form: Form, _ evidence: Evidence) {
            bound[slot] = Bound(tensor: tensor, form: form, evidence: evidence)
            claimed.insert(tensor)
        }

        /// A checkpoint tensor's values (read once).
        mutating func value(_ name: String) throws -> Tensor {
            if let cached = values[name] { return cached }
            let tensor = try TensorLoading.floatTensor(checkpoint, tensors[name]!)
            values[name] = tensor
            return tensor
        }

        /// How `tensor` fills `slot`, or `nil` when its shape cannot.
        ///
        /// The same shape is the same values, except that a square matrix weight read by a
        /// `MatMul` (or a `Gemm` without `transB`) under another name is the tensor transposed,
        /// as PyTorch's `Linear` stores it, unless the graph's own values equal the tensor and not
        /// its transpose. A reversed 2-D shape is the transpose; for other inputs the same
        /// elements in a shape that differs by size-1 axes are a reshape.
        mutating func form(_ slot: Slot, _ tensor: String, sameName: Bool) throws -> Form? {
            let s = slot.shape, t = tensors[tensor]!.shape
            let transposable = s.count == 2 && t.count == 2 && s == [t[1], t[0]] && slot.role.isMatrixWeight
            if s == t {
                guard transposable, !sameName, slot.role.prefersTransposed else { return .same }
                return try graphValuesEqual(slot.name, tensor) ? .same : .transposed
            }
            if transposable { return .transposed }
            if slot.role == .other, s.reduce(1, *) == t.reduce(1, *), s.filter({ $0 != 1 }) == t.filter({ $0 != 1 }) { return .reshaped(s) }
            return nil
        }

        /// Whether the graph's initializer holds exactly the checkpoint tensor's values (and not
        /// their transpose).
        mutating func graphValuesEqual(_ initializer: String, _ tensor: String) throws -> Bool {
            guard let graph = initializers[initializer] else { return false }
            let values = try value(tensor)
            guard graph.data != values.data else { return true }
            return false
        }

        // MARK: Passes 1–3

        /// Pass 1: tensors named as the initializers.
        mutating func byName() throws {
            for name in order {
                guard let info = tensors[name], !claimed.contains(name) else { continue }
                guard let form = try form(slots[name]!, name, sameName: true) else {
                    throw ModelError.shapeMismatch(name: name, expected: slots[name]!.shape, actual: info.shape)
                }
                bind(name, name, form, .name)
            }
        }

        /// Pass 2: convs the exporter's rewriter built from Conv+BatchNorm; their bias slots hold
        /// folds.
        mutating func foldsFromMetadata() {
            for (index, node) in nodes.enumerated() {
                guard case .convolution = node.operation, let folded = scopes[index].foldedBatchNorm,
                      node.inputs.count > 2, slots[node.inputs[2]] != nil, bound[node.inputs[2]] == nil else { continue }
                metadataFolds[index] = folded
                foldedBiases.insert(node.inputs[2])
            }
        }

        /// Pass 3: `<module>.<leaf>` in a module the slot's name or scope gives.
        mutating func byScope() throws {
            for name in order where isOpen(name) {
                let slot = slots[name]!
                for module in slot.modules {
                    if let (tensor, form) = try scopeCandidate(slot, in: module) {
                        bind(name, tensor, form, .scope)
                        break
                    }
                }
            }
        }

        /// The one unclaimed tensor directly in `module` that fills `slot`: by leaf name for a
        /// role that has one (exact names before synonyms), else by shape.
        mutating func scopeCandidate(_ slot: Slot, in module: String) throws -> (String, Form)? {
            let direct = (tensorsByModule[module] ?? []).filter { !claimed.contains($0) }
            guard !direct.isEmpty else { return nil }
            if let leaf = slot.role.leaf {
                for strength in [2, 1] {
                    var fits: [(String, Form)] = []
                    for tensor in direct where CheckpointBinding.leafFit(leaf, CheckpointBinding.leaf(of: tensor)) == strength {
                        if let form = try form(slot, tensor, sameName: false) { fits.append((tensor, form)) }
                    }
                    if fits.count == 1 { return fits[0] }
                    if fits.count > 1 { return nil }
                }
                return nil
            }
            var fits: [(String, Form)] = []
            for tensor in direct {
                if let form = try form(slot, tensor, sameName: false) { fits.append((tensor, form)) }
            }
            return fits.count == 1 ? fits[0] : nil
        }

        // MARK: Completion

        /// Whether `slot` is the bias of a conv whose weight is bound: a fold candidate for
        /// ``pairBatchNorms()``, not a tensor to look for.
        func isConvBiasOfBoundWeight(_ slot: Slot) -> Bool {
            guard slot.role == .convBias else { return false }
            let node = nodes[slot.node]
            return node.inputs.count > 1 && bound[node.inputs[1]] != nil
        }

        /// Every slot but fold candidates is filled; a copy of a shared initializer that nothing
        /// filled shares the original's tensor; unfilled one-element initializers (exporter
        /// constants) keep the graph's values.
        mutating func checkFilled() throws {
            for name in order.sorted() where isOpen(name) {
                let slot = slots[name]!
                if let original = copies[name], let shared = bound[original] {
                    bound[name] = Bound(tensor: shared.tensor, form: shared.form, evidence: .shared)
                    continue
                }
                if isConvBiasOfBoundWeight(slot) { continue }
                if slot.count <= 1 { kept.append(name); continue }
                var expected = slot.role.leaf.map { leaf in slot.modules.map { $0.isEmpty ? leaf : "\($0).\(leaf)" } } ?? []
                if slot.named, !expected.contains(name) { expected.insert(name, at: 0) }
                var sameShape: [String] = []
                for tensor in checkpoint.tensors.map(\.name) where tensors[tensor] != nil && !claimed.contains(tensor) {
                    if try form(slot, tensor, sameName: false) != nil { sameShape.append(tensor) }
                }
                let module = slot.modules.last.map { " in module '\(Escaping.printable($0))'" } ?? ""
                throw CheckpointBindingError.unfilled(initializer: name, shape: slot.shape, use: slot.role.use(of: nodes[slot.node]) + module,
                                                      expected: expected, sameShape: sameShape)
            }
        }

        func result() -> CheckpointBinding {
            CheckpointBinding(bound: bound, folds: folds, kept: kept, unused: checkpoint.tensors.map(\.name).filter { !claimed.contains($0) },
                              warnings: warnings)
        }
    }
}
