import TensorCore
import WeightFormats

extension CheckpointBinding {
    /// How well a graph module's path fits a checkpoint module's: first whether their numeric
    /// components agree (`vit.layers.3.attention.q_proj` and `vit.encoder.layer.3.attention.query`:
    /// `[3]`), then the name tokens (split at `.` and `_`) they share, a token counting 1 when
    /// equal and ½ when one is a prefix of the other (`layers`/`layer`, `q`/`query`), summed
    /// over the tokens of both paths.
    struct PathFit: Comparable {
        var indicesAgree: Bool
        var tokens: Double

        /// Whether the paths have anything in common: agreeing indices (some), a shared token, or
        /// both the root module.
        var isEvidence: Bool

        static func < (a: PathFit, b: PathFit) -> Bool { (a.indicesAgree ? 1 : 0, a.tokens) < (b.indicesAgree ? 1 : 0, b.tokens) }
        static func == (a: PathFit, b: PathFit) -> Bool { a.indicesAgree == b.indicesAgree && a.tokens == b.tokens }

        init(_ graphPath: String, _ checkpointPath: String) {
            let (gi, gt) = PathFit.parts(graphPath), (ci, ct) = PathFit.parts(checkpointPath)
            indicesAgree = gi == ci
            func best(_ token: String, in others: [String]) -> Double {
                others.reduce(0) { best, other in
                    max(best, token == other ? 1 : (token.hasPrefix(other) || other.hasPrefix(token)) ? 0.5 : 0)
                }
            }
            tokens = gt.reduce(0) { $0 + best($1, in: ct) } + ct.reduce(0) { $0 + best($1, in: gt) }
            isEvidence = (indicesAgree && !gi.isEmpty) || tokens > 0 || (graphPath.isEmpty && checkpointPath.isEmpty)
        }

        /// The numeric path components and the lower-cased name tokens of a module path.
        static func parts(_ path: String) -> (indices: [Int], tokens: [String]) {
            var indices: [Int] = [], tokens: [String] = []
            for component in path.split(separator: ".") {
                if let index = Int(component) { indices.append(index); continue }
                tokens += component.split(separator: "_").map { $0.lowercased() }
            }
            return (indices, tokens)
        }
    }

    /// A group of open slots that one module of the graph owns.
    struct GraphModule {
        /// The module path, `nil` when the exporter recorded none (the group is one slot).
        var path: String?
        var slots: [String]
    }
}

extension CheckpointBinding.Matcher {
    typealias Assignment = [(slot: String, tensor: String, form: CheckpointBinding.Form)]

    /// How a checkpoint module's tensors fill a graph module's slots.
    enum Filling {
        case one(Assignment)
        /// More than one way (tensors of the same shape that no leaf name tells apart).
        case several
    }

    /// Pass 4: open slots, by module, against the checkpoint's modules of unclaimed tensors.
    mutating func byModule() throws {
        var groups: [CheckpointBinding.GraphModule] = []
        var groupOf: [String: Int] = [:]
        for name in order where isOpen(name) {
            let slot = slots[name]!
            guard slot.count > 1, !isConvBiasOfBoundWeight(slot) else { continue }
            guard let path = slot.modules.first else {
                groups.append(.init(path: nil, slots: [name]))
                continue
            }
            if let index = groupOf[path] { groups[index].slots.append(name) } else {
                groupOf[path] = groups.count
                groups.append(.init(path: path, slots: [name]))
            }
        }
        guard !groups.isEmpty else { return }
        var open = Array(groups.indices)
        while true {
            // Every fitting (graph module, checkpoint module) pair, with its fit.
            var candidates: [Int: [(module: String, fit: CheckpointBinding.PathFit, filling: Filling)]] = [:]
            let modules = checkpointModules()
            for g in open {
                for module in modules {
                    guard let filling = try filling(groups[g].slots, with: module.tensors) else { continue }
                    let fit = CheckpointBinding.PathFit(groups[g].path ?? "", module.path)
                    guard groups[g].path == nil || fit.isEvidence else { continue }
                    candidates[g, default: []].append((module.path, fit, filling))
                }
            }
            // Pairs that are each other's strictly best.
            var taken: [(Int, Assignment)] = []
            var used = Set<String>()
            for g in open {
                guard let list = candidates[g], let best = list.max(by: { $0.fit < $1.fit }),
                      list.filter({ $0.fit == best.fit }).count == 1, !used.contains(best.module) else { continue }
                let rivals = open.compactMap { other in candidates[other]?.first { $0.module == best.module }.map { (other, $0.fit) } }
                guard rivals.allSatisfy({ $0.0 == g || $0.1 < best.fit }) else { continue }
                guard case .one(let assignment) = best.filling else {
                    throw CheckpointBindingError.ambiguous(module: groups[g].path ?? groups[g].slots[0], slots: describe(groups[g]),
                                                           candidates: slotsOfSameShape(best.module))
                }
                taken.append((g, assignment))
                used.insert(best.module)
            }
            if taken.isEmpty {
                // A module left with candidates it cannot choose between.
                for g in open {
                    guard let list = candidates[g], let best = list.max(by: { $0.fit < $1.fit }) else { continue }
                    let tied = list.filter { $0.fit == best.fit }.map(\.module)
                    let rivals = open.filter { $0 != g && candidates[$0]?.contains { $0.module == best.module && $0.fit == best.fit } == true }
                    guard tied.count > 1 || !rivals.isEmpty else { continue }
                    let claimants = rivals.map { groups[$0].path ?? groups[$0].slots[0] }
                    throw CheckpointBindingError.ambiguous(
                        module: groups[g].path ?? groups[g].slots[0], slots: describe(groups[g]),
                        candidates: tied.count > 1 ? tied : [best.module] + claimants.map { "(also fitting the graph's '\($0)')" })
                }
                return
            }
            for (g, assignment) in taken {
                for entry in assignment { bind(entry.slot, entry.tensor, entry.form, .module) }
                open.removeAll { $0 == g }
            }
        }
    }

    /// "weight of MatMul 'n' [32, 32], …" for a message.
    func describe(_ group: CheckpointBinding.GraphModule) -> String {
        group.slots.map { "\(slots[$0]!.role.use(of: nodes[slots[$0]!.node])) \(slots[$0]!.shape)" }.joined(separator: ", ")
    }

    /// The unclaimed tensors of checkpoint module `path` (for a message).
    func slotsOfSameShape(_ path: String) -> [String] {
        (tensorsByModule[path] ?? []).filter { !claimed.contains($0) }
    }

    /// The checkpoint's modules with unclaimed float tensors (BatchNorm step counters aside).
    func checkpointModules() -> [(path: String, tensors: [String])] {
        tensorsByModule.keys.sorted().compactMap { path in
            let free = tensorsByModule[path]!.filter { !claimed.contains($0) }
            return free.isEmpty ? nil : (path, free)
        }
    }

    /// The one-to-one fillings of `slotNames` by all of `tensorNames` (leaf names fitting the
    /// slots' roles, shapes fitting): `nil` when there is none. A conv bias may stay open when
    /// the module has no bias (the exporter folded a BatchNorm into it).
    mutating func filling(_ slotNames: [String], with tensorNames: [String]) throws -> Filling? {
        guard tensorNames.count <= slotNames.count, slotNames.count <= 8 else { return nil }
        var options: [[(String, CheckpointBinding.Form)]] = []
        for name in slotNames {
            let slot = slots[name]!
            var fits: [(String, CheckpointBinding.Form)] = []
            for tensor in tensorNames {
                if let leaf = slot.role.leaf, CheckpointBinding.leafFit(leaf, CheckpointBinding.leaf(of: tensor)) == 0 { continue }
                if let form = try form(slot, tensor, sameName: false) { fits.append((tensor, form)) }
            }
            options.append(fits)
        }
        let mayStayOpen = slotNames.map { name in
            slots[name]!.role == .convBias && !tensorNames.contains { CheckpointBinding.leafFit("bias", CheckpointBinding.leaf(of: $0)) > 0 }
        }
        var chosen: [(String, CheckpointBinding.Form)?] = Array(repeating: nil, count: slotNames.count)
        var used = Set<String>()
        var found: [Assignment] = []
        func search(_ index: Int) {
            guard found.count < 2 else { return }
            if index == slotNames.count {
                if used.count == tensorNames.count { found.append(slotNames.indices.compactMap { i in chosen[i].map { (slotNames[i], $0.0, $0.1) } }) }
                return
            }
            for (tensor, form) in options[index] where !used.contains(tensor) {
                used.insert(tensor); chosen[index] = (tensor, form)
                search(index + 1)
                used.remove(tensor); chosen[index] = nil
            }
            if mayStayOpen[index] { search(index + 1) }
        }
        search(0)
        switch found.count {
        case 0: return nil
        case 1: return .one(found[0])
        default: return .several
        }
    }
}
