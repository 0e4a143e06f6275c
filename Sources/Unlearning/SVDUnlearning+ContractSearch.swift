import ModelRuntime
import Safeguards
import TensorCore

extension SVDUnlearning {
    /// The scales tried by the contract search: the paper's grid widened by one step each way
    /// (`docs/methods.md` §2.5): α_r from 10 to 3000, α_f from 1 to 300.
    public static let contractGrid: [(Double, Double)] = [10.0, 30, 100, 300, 1000, 3000].flatMap { r in
        [1.0, 3, 10, 30, 100, 300].map { (r, $0) }
    }

    /// Validation samples per side (retain-class, forget-class) scoring every point in the
    /// screening round of the contract search; the best ``screened`` points are scored again on
    /// ``firstRoundSamples`` per side (a superset), and the best ``finalists`` of those on the whole
    /// split.
    static let screeningSamples = 16
    static let screened = 36
    static let firstRoundSamples = 64
    static let finalists = 6

    /// The first edited layer of each scope tried: every layer, all but the first, and the last
    /// three quarters, half, quarter and the last layer alone (distinct values, ascending).
    ///
    /// Editing every layer with one α pair is the paper's method; leaving the early layers alone
    /// is modelforget's extension (`docs/methods.md` §6): early layers see generic features that the
    /// retained classes share with the forgotten ones (raw pixels, edges), so projecting them costs
    /// retain accuracy without removing much that is specific to the forget classes.
    static func scopes(layerCount n: Int) -> [Int] {
        Array(Set([0, 1, n / 4, n / 2, (3 * n) / 4, n - 1].filter { $0 >= 0 && $0 < n })).sorted()
    }

    /// The weights `edits` restricted to layers from `firstLayer` on: a weight parameter is kept
    /// when every layer that uses it is at or after `firstLayer`.
    static func restricted(_ edits: [String: Tensor], to firstLayer: Int, layers: [ComputeGraph.WeightLayer]) -> [String: Tensor] {
        guard firstLayer > 0 else { return edits }
        var earliest: [String: Int] = [:]
        for (index, layer) in layers.enumerated() { earliest[layer.weight] = min(earliest[layer.weight] ?? index, index) }
        return edits.filter { (earliest[$0.key] ?? 0) >= firstLayer }
    }

    /// The search for scales and edited layers that meet `contract` on the validation samples.
    ///
    /// A screening round scores every (α_r, α_f, first layer) of ``contractGrid`` ×
    /// ``scopes(layerCount:)`` on up to ``screeningSamples`` validation samples per side; round one
    /// scores the ``screened`` points closest to the contract on up to ``firstRoundSamples`` per side
    /// (the screening samples and more); round two scores the ``finalists`` closest to the contract
    /// on the whole split. (Each round's samples contain the previous round's.) The choice: among points that meet
    /// the contract, the highest confidence score (mean true-class probability on retain samples ×
    /// (1 − the same on forget samples)); if none does, the smallest violation
    /// (``UnlearningContract/violation(_:)``). Without retained-class validation samples every
    /// point also carries its estimated retain damage (``RetainDamage``, the largest over the
    /// layers whose weights it edits), held to the contract's limit, and the least damage wins
    /// before the confidence score. The statistics are collected once; each α pair costs
    /// one edit of every layer (the screening round's edits are kept for the later rounds within
    /// ``editCacheBudget``; only the pairs a round rescores are edited), each point one forward
    /// pass over its validation samples. That pass
    /// reuses what the original model computes before the point's first edited layer (kept from the
    /// round's baseline pass, ``ReusablePasses``, within ``reuseBudget``): the same scores, at the
    /// cost of the edited layers alone.
    static func contractSearch(_ model: Model, data: Dataset, validation: [Int], forget: Set<Int>, projection: SVDProjection,
                               contract: UnlearningContract, configuration c: Configuration,
                               progress: ((String, Int, Int) -> Void)?) throws -> ContractSearchOutcome {
        guard let labels = data.labels else { throw UnlearningError.noLabels }
        let original = model.graph.parameters
        let layers = model.graph.weightLayers
        let scopes = Self.scopes(layerCount: layers.count)
        // The rounds' subsets: up to `screeningSamples`, then `firstRoundSamples` per side, a seeded choice.
        let sides = ValidationSides(validation, labels: labels, forget: forget, seed: c.selection.seed)
        let screening = sides.first(Self.screeningSamples)
        let subset = sides.first(Self.firstRoundSamples)
        let batch = c.selection.batchSize
        // The parameters each scope's points override (every edited weight from its first layer
        // on): the original model's passes keep what those points' passes can reuse.
        let edited = Dictionary(uniqueKeysWithValues: Set(layers.map(\.weight)).compactMap { name in original[name].map { (name, $0) } })
        let scopeEdits = scopes.map { Set(restricted(edited, to: $0, layers: layers).keys) }
        /// The original model's scores on `indices`, keeping what the scopes' passes over them reuse.
        func baseline(_ indices: [Int]) throws -> Baseline {
            let (scores, reusable) = try ForgetRetainScores.measure(model, data: data, indices: indices, forget: forget, batchSize: batch,
                                                                    keepingFor: scopeEdits, budget: Self.reuseBudget)
            return Baseline(scores: scores, reusable: reusable)
        }
        let before = (subset: try baseline(subset), full: subset.count == validation.count ? nil : try baseline(validation))
        let hasRetain = validation.contains { !forget.contains(labels[$0]) }
        // Without retained-class samples the retain Grams stand in for them: each layer's estimated damage.
        let damage = hasRetain ? nil : RetainDamage(retain: projection.retain, layers: layers, original: original)
        /// `edits` scored on `indices`; `norms` are the squared norms of the α pair's edits of every
        /// layer, `estimated` the edits' estimated retain damage (statistics-only searches).
        func point(_ r: Double, _ f: Double, _ first: Int, _ edits: [String: Tensor], norms: [String: (change: Double, norm: Double)],
                   estimated: Double?, on indices: [Int], before: Baseline) throws -> SearchPoint {
            let v = try ForgetRetainScores.measure(model, data: data, indices: indices, forget: forget, batchSize: batch, parameters: edits,
                                                   reusing: before.reusable)
            let verdict = contract.verdict(forget: v.forget, retain: hasRetain ? v.retain : nil, retainBefore: hasRetain ? before.scores.retain : nil,
                                           estimatedRetainDamage: estimated)
            var p = SearchPoint(alphaRetain: r, alphaForget: f, measured: v, relativeChange: Self.relativeChange(norms, of: edits.keys),
                                validationSamples: indices.count)
            (p.firstLayer, p.meetsContract, p.violation, p.estimatedRetainDamage) = (first, verdict.meets, contract.violation(verdict), estimated)
            return p
        }
        // The screening round's edits, kept for the later rounds (which rescore some of its pairs)
        // while they fit in ``editCacheBudget``: the same float32 edits, not computed again.
        var kept: [ScalePair: [String: Tensor]] = [:]
        let pairBytes = edited.values.reduce(0) { $0 + $1.count * MemoryLayout<Float>.stride }
        /// Calls `body(α_r, α_f, edits)` for each of `pairs`, with the kept edits of the screening
        /// round or the float32 edits of one
        /// ``SVDProjection/gridEdits(_:original:alphaRetain:alphaForget:wanted:visit:)`` over their scales.
        func eachPair(_ pairs: [(Double, Double)], _ body: (Double, Double, [String: Tensor]) throws -> Void) throws {
            // Each pair once (a round's candidates repeat a pair for each of its scopes), as gridEdits visits them.
            var seen = Set<ScalePair>()
            var pairs = pairs.filter { seen.insert(ScalePair($0)).inserted }
            for pair in pairs { if let edits = kept[ScalePair(pair)] { try body(pair.0, pair.1, edits) } }
            pairs.removeAll { kept[ScalePair($0)] != nil }
            guard !pairs.isEmpty else { return }
            let asked = Set(pairs.map(ScalePair.init))
            let retainScales = Array(Set(pairs.map(\.0))).sorted(), forgetScales = Array(Set(pairs.map(\.1))).sorted()
            // Only the pairs asked for: a round's candidates use few of the grid's α_r × α_f combinations.
            try projection.gridEdits(model.graph, original: original, alphaRetain: retainScales, alphaForget: forgetScales,
                                     wanted: { ri, fi in asked.contains(ScalePair((retainScales[ri], forgetScales[fi]))) }) { ri, fi, edits in
                try body(retainScales[ri], forgetScales[fi], edits)
            }
        }
        /// Scores `candidates` on `indices`, computing each α pair's edit once.
        func rescore(_ candidates: [SearchPoint], on indices: [Int], before: Baseline) throws -> [SearchPoint] {
            var scored: [SearchPoint?] = Array(repeating: nil, count: candidates.count)
            try eachPair(candidates.map { ($0.alphaRetain, $0.alphaForget) }) { r, f, edits in
                let norms = Self.squaredNorms(edits, original)
                for (i, p) in candidates.enumerated() where p.alphaRetain == r && p.alphaForget == f {
                    let first = p.firstLayer ?? 0
                    // The same edits as when the point was screened, so the same estimate.
                    scored[i] = try point(r, f, first, restricted(edits, to: first, layers: layers), norms: norms,
                                          estimated: p.estimatedRetainDamage, on: indices, before: before)
                }
            }
            return scored.map { $0! }
        }
        func best(_ points: [SearchPoint], _ count: Int) -> [SearchPoint] {
            points.indices.sorted { Self.contractOrder(points[$0], points[$1]) }.prefix(count).sorted().map { points[$0] }
        }
        let screeningBefore = screening.count == subset.count ? before.subset : try baseline(screening)
        // Scored as the grid edits come (α_f outer), kept in grid order (α_r outer, then the scopes).
        var byPair: [[SearchPoint]] = Array(repeating: [], count: Self.contractGrid.count)
        let total = Self.contractGrid.count * scopes.count
        var done = 0
        try eachPair(Self.contractGrid) { r, f, edits in
            if (kept.count + 1) * pairBytes <= Self.editCacheBudget { kept[ScalePair((r, f))] = edits }
            let norms = Self.squaredNorms(edits, original)
            // Per layer once per pair; a scope's estimate is the largest over the layers whose weights it edits.
            let perLayer = damage?.perLayer(current: edits, original: original)
            byPair[Self.contractGrid.firstIndex { $0 == (r, f) }!] = try scopes.map { first in
                defer { done += 1; progress?("search", done, total) }
                let scoped = restricted(edits, to: first, layers: layers)
                let estimated = perLayer.map { $0.filter { scoped[$0.weight] != nil }.map(\.damage).max() ?? 0 }
                return try point(r, f, first, scoped, norms: norms, estimated: estimated, on: screening, before: screeningBefore)
            }
        }
        let screeningRound = byPair.flatMap { $0 }
        let firstRound = screening.count == subset.count ? screeningRound
            : try rescore(best(screeningRound, Self.screened), on: subset, before: before.subset)
        let scoredBeforeFinal = screening.count == subset.count ? firstRound : screeningRound + firstRound
        func outcome(_ best: SearchPoint, _ points: [SearchPoint], before: Baseline) -> ContractSearchOutcome {
            let verdict = contract.verdict(forget: best.forgetAccuracy, retain: hasRetain ? best.retainAccuracy : nil,
                                           retainBefore: hasRetain ? before.scores.retain : nil, estimatedRetainDamage: best.estimatedRetainDamage)
            return ContractSearchOutcome(best: best, points: points, verdict: verdict, retainBefore: hasRetain ? before.scores.retain : nil,
                                         damage: damage)
        }
        guard let fullBefore = before.full else {
            return outcome(Self.chooseByContract(firstRound)!, scoredBeforeFinal, before: before.subset)
        }
        // In rank order: ties in the final choice go to the point ranked higher in round one.
        let ranked = firstRound.indices.sorted { Self.contractOrder(firstRound[$0], firstRound[$1]) }
        let finals = try rescore(ranked.prefix(Self.finalists).map { firstRound[$0] }, on: validation, before: fullBefore)
        return outcome(Self.chooseByContract(finals)!, scoredBeforeFinal + finals, before: fullBefore)
    }

    /// The original model's scores on one round's samples, and what passes over them reuse.
    struct Baseline {
        var scores: ForgetRetainScores
        var reusable: ReusablePasses
    }

    /// The most memory one round's kept values may take (``ReusablePasses``): a third of
    /// 512 MiB (less under a `--max-memory` below 8 GiB), for the three rounds' sample sets.
    static var reuseBudget: Int { min(512 << 20, AllocationBudget.limit / 16) / 3 }

    /// The most memory the screening round's edits kept for the later rounds may take: 2 GiB
    /// (less under a `--max-memory` below 16 GiB). A CIFAR ResNet-18's 36 pairs take 1.6 GB.
    static var editCacheBudget: Int { editCacheBudgetOverride ?? min(2 << 30, AllocationBudget.limit / 8) }

    /// Tests: another budget for the kept edits in this task (0 keeps none, so every round edits its pairs again).
    @TaskLocal static var editCacheBudgetOverride: Int?

    /// An α pair as a dictionary key.
    struct ScalePair: Hashable {
        let retain: Double, forget: Double
        init(_ pair: (Double, Double)) { (retain, forget) = pair }
    }

    /// What the contract search found: the kept point, every point scored, the kept point's
    /// verdict on the whole validation split, and the original model's retain accuracy there.
    struct ContractSearchOutcome {
        var best: SearchPoint
        var points: [SearchPoint]
        var verdict: UnlearningContract.Verdict
        var retainBefore: Double?
        /// The statistics-only guard the search used (`nil` when retain accuracy was measured).
        var damage: RetainDamage?
    }

    /// `a` before `b`: meeting the contract first, then the smaller violation, then (statistics-only
    /// searches) the smaller estimated retain damage, then the higher confidence score.
    static func contractOrder(_ a: SearchPoint, _ b: SearchPoint) -> Bool {
        let (va, vb) = (a.violation ?? .infinity, b.violation ?? .infinity)
        if va != vb { return va < vb }
        if let da = a.estimatedRetainDamage, let db = b.estimatedRetainDamage, da != db { return da < db }
        return a.confidenceScore > b.confidenceScore
    }

    /// The point the contract search keeps (``contractOrder(_:_:)``, the earlier point on ties).
    public static func chooseByContract(_ points: [SearchPoint]) -> SearchPoint? {
        points.enumerated().min { a, b in
            if contractOrder(a.element, b.element) { return true }
            if contractOrder(b.element, a.element) { return false }
            return a.offset < b.offset
        }?.element
    }
}
