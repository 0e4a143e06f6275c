import Safeguards
import TensorCore
import WeightFormats

extension CheckpointBinding {
    /// Strings in "natural" order: digit runs compare as numbers (`bn2` before `bn10`).
    static func naturalLess(_ a: String, _ b: String) -> Bool {
        func parts(_ s: String) -> [(Int, String)] {
            var result: [(Int, String)] = []
            var current = "", digits = false
            for character in s {
                if character.isASCII && character.isNumber != digits, !current.isEmpty {
                    result.append(digits ? (Int(current) ?? 0, current) : (-1, current)); current = ""
                }
                digits = character.isASCII && character.isNumber
                current.append(character)
            }
            if !current.isEmpty { result.append(digits ? (Int(current) ?? 0, current) : (-1, current)) }
            return result
        }
        for (x, y) in zip(parts(a), parts(b)) where x != y {
            if x.0 >= 0 && y.0 >= 0 && x.0 != y.0 { return x.0 < y.0 }
            return x.1 < y.1
        }
        return parts(a).count < parts(b).count
    }

    /// The epsilons tried on a fold, the usual ones first (PyTorch's default first).
    static let epsilonCandidates: [Float] = [1e-5, 1e-3, 1e-6, 1e-4, 1e-12, 1e-2, 1e-1, 0]
}

extension CheckpointBinding.Matcher {
    /// A conv of the graph that may have a batch norm folded into it.
    struct FoldCandidate {
        var node: Int
        var weightSlot: String, biasSlot: String
        /// The checkpoint's conv weight and its module.
        var weight: String, module: String
        var channels: Int
        /// Its own bias in the checkpoint, if the bias slot is bound to one.
        var ownBias: String?
        /// Whether the conv must have one (its bias is no checkpoint tensor) or only may.
        var mustFold: Bool
    }

    /// The checkpoint's batch norms whose tensors are all unclaimed, by module.
    func unusedBatchNorms() -> [String: CheckpointBinding.BatchNorm] {
        var norms: [String: CheckpointBinding.BatchNorm] = [:]
        for (module, names) in tensorsByModule {
            let free = Set(names.filter { !claimed.contains($0) })
            let prefix = module.isEmpty ? "" : module + "."
            guard let mean = tensors[prefix + "running_mean"], free.contains(mean.name), mean.shape.count == 1,
                  let variance = tensors[prefix + "running_var"], free.contains(variance.name), variance.shape == mean.shape else { continue }
            let affine = [prefix + "weight", prefix + "bias"].map { name in tensors[name].flatMap { free.contains(name) && $0.shape == mean.shape ? name : nil } }
            norms[module] = .init(module: module, channels: mean.shape[0], scale: affine[0], shift: affine[1], mean: mean.name, variance: variance.name)
        }
        return norms
    }

    /// Pass 5: pairs convs whose bias no tensor fills with unused checkpoint batch norms.
    mutating func pairBatchNorms() throws {
        var norms = unusedBatchNorms()
        var candidates: [FoldCandidate] = []
        for (index, node) in nodes.enumerated() {
            guard case .convolution = node.operation, node.inputs.count > 2, let bias = slots[node.inputs[2]],
                  let weight = bound[node.inputs[1]], weight.form == .same else { continue }
            let module = CheckpointBinding.parent(of: weight.tensor)
            var candidate = FoldCandidate(node: index, weightSlot: node.inputs[1], biasSlot: bias.name, weight: weight.tensor, module: module,
                                          channels: slots[node.inputs[1]]!.shape[0], ownBias: nil, mustFold: true)
            if let own = bound[bias.name] {
                guard CheckpointBinding.parent(of: own.tensor) == module, own.form == .same else { continue }
                candidate.ownBias = own.tensor
                candidate.mustFold = false
            } else if metadataFolds[index] != nil || isOpen(bias.name) {
                let own = (module.isEmpty ? "" : module + ".") + "bias"
                if let info = tensors[own], !claimed.contains(own), info.shape == [candidate.channels] { candidate.ownBias = own }
            } else { continue }
            candidates.append(candidate)
        }
        var pairs: [(FoldCandidate, CheckpointBinding.BatchNorm)] = []
        var paired = Set<Int>()
        func pair(_ c: FoldCandidate, _ norm: CheckpointBinding.BatchNorm) {
            pairs.append((c, norm)); paired.insert(c.node); norms[norm.module] = nil
        }
        // The batch norm the exporter's metadata names.
        for c in candidates {
            if let module = metadataFolds[c.node]?.module, let norm = norms[module], norm.channels == c.channels { pair(c, norm) }
        }
        // Beside the conv: the k-th folded conv of a parent module with its k-th batch norm.
        for mustFold in [true, false] {
            let open = candidates.filter { !paired.contains($0.node) && $0.mustFold == mustFold }
            let parents = Set(open.map { CheckpointBinding.parent(of: $0.module) })
            for parent in parents.sorted() {
                let convs = open.filter { CheckpointBinding.parent(of: $0.module) == parent }
                let besides = norms.values.filter { CheckpointBinding.parent(of: $0.module) == parent }
                    .sorted { CheckpointBinding.naturalLess($0.module, $1.module) }
                guard !besides.isEmpty else { continue }
                if mustFold, convs.count == besides.count, zip(convs, besides).allSatisfy({ $0.channels == $1.channels }) {
                    for (c, norm) in zip(convs, besides) { pair(c, norm) }
                    continue
                }
                for channels in Set(convs.map(\.channels)) {
                    let c = convs.filter { $0.channels == channels }, b = besides.filter { $0.channels == channels }
                    if c.count == 1, b.count == 1 { pair(c[0], b[0]) }
                }
            }
        }
        // Anywhere: the only unused batch norm of a size for the only conv of that size.
        let left = candidates.filter { !paired.contains($0.node) && $0.mustFold }
        for channels in Set(left.map(\.channels)) {
            let c = left.filter { $0.channels == channels }, b = norms.values.filter { $0.channels == channels }
            if c.count == 1, b.count == 1 { pair(c[0], b[0]) }
        }
        for c in candidates where c.mustFold && !paired.contains(c.node) {
            let fitting = norms.values.filter { $0.channels == c.channels }.map(\.module).sorted(by: CheckpointBinding.naturalLess)
            let rivals = candidates.filter { $0.mustFold && !paired.contains($0.node) && $0.channels == c.channels }.count
            let reason = fitting.isEmpty ? "the checkpoint has none left"
                : "\(fitting.count) unused batch norms of that size "
                    + "(\(fitting.prefix(4).map { "'\(Escaping.printable($0))'" }.joined(separator: ", "))\(fitting.count > 4 ? ", …" : "")) "
                    + "for \(rivals) such convs, and neither module names nor their places decide"
            throw CheckpointBindingError.unpairedConvolution(node: nodes[c.node].name, module: c.module, channels: c.channels, reason: reason)
        }
        for (c, norm) in pairs {
            for name in [norm.scale, norm.shift, norm.mean, norm.variance].compactMap({ $0 }) { claimed.insert(name) }
            if let own = c.ownBias { claimed.insert(own) }
            bound[c.biasSlot] = nil
            foldedBiases.insert(c.biasSlot)
            folds.append(CheckpointBinding.Fold(node: c.node, foldedWeight: c.weightSlot, foldedBias: c.biasSlot, weight: c.weight, bias: c.ownBias,
                                                norm: norm, epsilon: metadataFolds[c.node]?.epsilon ?? 0,
                                                epsilonSource: metadataFolds[c.node]?.epsilon == nil ? .assumed : .exporter, verified: false))
        }
        folds.sort { $0.node < $1.node }
        // A batch norm left over where the graph folded batch norms into convs of its size.
        let graphHasBatchNorms = nodes.contains { if case .batchNormalization = $0.operation { true } else { false } }
        for norm in norms.values.sorted(by: { CheckpointBinding.naturalLess($0.module, $1.module) }) where !graphHasBatchNorms {
            let convs = nodes.filter { node in
                guard case .convolution = node.operation, node.inputs.count > 1, let w = initializers[node.inputs[1]] else { return false }
                return w.shape.first == norm.channels
            }
            guard !convs.isEmpty else { continue }
            throw CheckpointBindingError.unpairedBatchNorm(
                module: norm.module, channels: norm.channels,
                reason: "none of the graph's \(convs.count) convs with \(norm.channels) outputs has a bias the checkpoint does not hold or sits beside it")
        }
    }

    /// Each fold's epsilon and its check on a probe (see ``CheckpointBinding/Fold``).
    mutating func settleFolds() throws {
        var open: [Int] = []
        for index in folds.indices {
            var fold = folds[index]
            if fold.epsilonSource == .exporter {
                fold.verified = try probe(fold, epsilon: fold.epsilon)
            } else if let epsilon = try estimatedEpsilon(fold), try probe(fold, epsilon: epsilon) {
                fold.epsilon = epsilon; fold.epsilonSource = .values; fold.verified = true
            } else {
                open.append(index)
            }
            folds[index] = fold
        }
        guard !open.isEmpty else { return }
        // The epsilon the other folds have (the most frequent; PyTorch's default on a tie).
        var counts: [Float: Int] = [:]
        for fold in folds where fold.epsilonSource != .assumed { counts[fold.epsilon, default: 0] += 1 }
        let common = counts.max { ($0.value, $0.key == 1e-5 ? 1 : 0) < ($1.value, $1.key == 1e-5 ? 1 : 0) }?.key
        for index in open {
            folds[index].epsilon = common ?? 1e-5
            folds[index].epsilonSource = common == nil ? .assumed : .otherFolds
            folds[index].verified = try probe(folds[index], epsilon: folds[index].epsilon)
        }
        if common == nil {
            warnings.append("\(open.count) BatchNorm epsilon(s) folded away by the exporter could not be read from the graph's values "
                            + "(the checkpoint's differ from the ONNX file's): assumed 1e-05, PyTorch's default")
        }
    }

    /// The checkpoint's conv weight and bias, γ, β, mean and variance of a fold, as Doubles by channel.
    struct FoldValues {
        var weight: [Float], bias: [Float]?, scale: [Float]?, shift: [Float]?, mean: [Float], variance: [Float]
        var folded: Tensor, foldedBias: Tensor
        var channels: Int
        var perChannel: Int { weight.count / channels }
    }

    mutating func foldValues(_ fold: CheckpointBinding.Fold) throws -> FoldValues? {
        guard let folded = initializers[fold.foldedWeight], let foldedBias = initializers[fold.foldedBias] else { return nil }
        let weight = try value(fold.weight)
        guard weight.shape == folded.shape, foldedBias.count == fold.norm.channels else { return nil }
        return FoldValues(weight: weight.data, bias: try fold.bias.map { try value($0).data }, scale: try fold.norm.scale.map { try value($0).data },
                          shift: try fold.norm.shift.map { try value($0).data }, mean: try value(fold.norm.mean).data,
                          variance: try value(fold.norm.variance).data, folded: folded, foldedBias: foldedBias, channels: fold.norm.channels)
    }

    /// Whether the rebuilt conv + batch norm gives the folded conv's output on a random patch
    /// per group (SplitMix64 seeded by the node index), within `10⁻⁴ · max(1, max |output|)`.
    mutating func probe(_ fold: CheckpointBinding.Fold, epsilon: Float) throws -> Bool {
        guard let v = try foldValues(fold), case .convolution(let attributes) = nodes[fold.node].operation else { return false }
        let groups = max(attributes.groups, 1), perGroup = v.channels / groups, length = v.perChannel
        var generator = SplitMix64(seed: UInt64(fold.node))
        let patches = (0..<groups).map { _ in (0..<length).map { _ in Double(generator.next() >> 11) / Double(1 << 53) * 2 - 1 } }
        var deviation = 0.0, scale = 1.0
        for c in 0..<v.channels {
            let patch = patches[c / max(perGroup, 1)]
            var raw = 0.0, folded = 0.0
            for k in 0..<length {
                raw += Double(v.weight[c * length + k]) * patch[k]
                folded += Double(v.folded.data[c * length + k]) * patch[k]
            }
            folded += Double(v.foldedBias.data[c])
            let gamma = Double(v.scale?[c] ?? 1), beta = Double(v.shift?[c] ?? 0)
            let rebuilt = (raw + Double(v.bias?[c] ?? 0) - Double(v.mean[c])) * gamma / (Double(v.variance[c]) + Double(epsilon)).squareRoot() + beta
            deviation = max(deviation, abs(rebuilt - folded))
            scale = max(scale, abs(folded))
        }
        return deviation <= 1e-4 * scale
    }

    /// The candidate epsilon whose scales `γ/√(σ² + ε)` best match the per-channel scales the
    /// folded kernel shows (`W_f[c] = s_c W[c]`, least squares), or `nil` when the folded kernel
    /// is not a per-channel scaling of the checkpoint's (other values).
    mutating func estimatedEpsilon(_ fold: CheckpointBinding.Fold) throws -> Float? {
        guard let v = try foldValues(fold) else { return nil }
        let length = v.perChannel
        var scales: [(s: Double, gamma: Double, variance: Double)] = []
        for c in 0..<v.channels {
            var dot = 0.0, norm = 0.0, foldedMax = 0.0
            for k in 0..<length {
                let w = Double(v.weight[c * length + k]), f = Double(v.folded.data[c * length + k])
                dot += w * f; norm += w * w; foldedMax = max(foldedMax, abs(f))
            }
            guard norm > 0 else { continue }
            let s = dot / norm
            var residual = 0.0
            for k in 0..<length { residual = max(residual, abs(Double(v.folded.data[c * length + k]) - s * Double(v.weight[c * length + k]))) }
            guard residual <= 1e-4 * max(foldedMax, 1e-30), s != 0 else { return nil }
            scales.append((s, Double(v.scale?[c] ?? 1), Double(v.variance[c])))
        }
        guard !scales.isEmpty else { return nil }
        var best: (epsilon: Float, error: Double)?
        for epsilon in CheckpointBinding.epsilonCandidates {
            let error = scales.reduce(0.0) { worst, entry in
                let variance = entry.variance + Double(epsilon)
                guard variance > 0 else { return .infinity }
                return max(worst, abs(entry.gamma / variance.squareRoot() - entry.s) / abs(entry.s))
            }
            if best == nil || error < best!.error { best = (epsilon, error) }
        }
        return best.flatMap { $0.error <= 1e-3 ? $0.epsilon : nil }
    }
}
