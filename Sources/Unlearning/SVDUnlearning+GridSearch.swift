import ModelRuntime
import TensorCore

extension SVDUnlearning.SearchPoint {
    /// The point `(alphaRetain, alphaForget)` scored by `measured` on `validationSamples` samples:
    /// `score = retain · (1 − forget)` and `confidenceScore` the same of the true-class
    /// probabilities. The contract fields are left empty.
    init(alphaRetain: Double, alphaForget: Double, measured v: ForgetRetainScores, relativeChange: Double, validationSamples: Int) {
        self.init(alphaRetain: alphaRetain, alphaForget: alphaForget, retainAccuracy: v.retain, forgetAccuracy: v.forget,
                  score: v.retain * (1 - v.forget), retainConfidence: v.retainConfidence, forgetConfidence: v.forgetConfidence,
                  confidenceScore: v.retainConfidence * (1 - v.forgetConfidence), relativeChange: relativeChange,
                  validationSamples: validationSamples)
    }
}

extension SVDUnlearning {
    /// Validation samples per side (retain-class, forget-class) on which `--search` scores every
    /// point of ``searchGrid``; the best ``searchFinalists`` are scored again on the whole split.
    static let searchScreeningSamples = 32
    static let searchFinalists = 3

    /// The validation split in a seeded order, split by side, from which search rounds take their
    /// samples (each round's samples contain the previous round's).
    struct ValidationSides {
        var retain: [Int], forget: [Int]

        init(_ validation: [Int], labels: [Int], forget classes: Set<Int>, seed: UInt64) {
            var rng = SplitMix64(seed: seed ^ 0x5356_4443)
            let shuffled = validation.shuffled(using: &rng)
            retain = shuffled.filter { !classes.contains(labels[$0]) }
            forget = shuffled.filter { classes.contains(labels[$0]) }
        }

        /// Up to `count` samples of each side, in index order.
        func first(_ count: Int) -> [Int] { (retain.prefix(count) + forget.prefix(count)).sorted() }
    }

    /// The paper's search (``searchGrid``) at a fraction of 25 separate edits and validation passes.
    ///
    /// The edits of all 25 α pairs come from one ``SVDProjection/gridEdits(_:original:alphaRetain:alphaForget:wanted:visit:)``
    /// (float32, shared factorisations); each is scored on up to ``searchScreeningSamples``
    /// validation samples per side, and the ``searchFinalists`` best (score, then confidence score,
    /// then grid order) are scored again on the whole split with the same edits. The returned points
    /// are the screening round's, then the finalists' (`validationSamples` tells them apart); the
    /// choice (``choose(_:)``) is made among the finalists.
    static func gridSearch(_ model: Model, data: Dataset, validation: [Int], forget: Set<Int>, projection: SVDProjection,
                           configuration c: Configuration, progress: ((String, Int, Int) -> Void)?)
        throws -> (points: [SearchPoint], finalists: [SearchPoint]) {
        guard let labels = data.labels else { throw UnlearningError.noLabels }
        let original = model.graph.parameters
        let sides = ValidationSides(validation, labels: labels, forget: forget, seed: c.selection.seed)
        let screening = sides.first(Self.searchScreeningSamples)
        let retainScales = Array(Set(searchGrid.map(\.0))).sorted(), forgetScales = Array(Set(searchGrid.map(\.1))).sorted()
        func gridIndex(_ r: Double, _ f: Double) -> Int { searchGrid.firstIndex { $0 == (r, f) }! }
        func point(_ r: Double, _ f: Double, _ edits: [String: Tensor], on indices: [Int]) throws -> SearchPoint {
            let v = try ForgetRetainScores.measure(model, data: data, indices: indices, forget: forget, batchSize: c.selection.batchSize,
                                                   parameters: edits)
            return SearchPoint(alphaRetain: r, alphaForget: f, measured: v, relativeChange: Self.relativeChange(edits, original),
                               validationSamples: indices.count)
        }
        func better(_ a: SearchPoint, _ b: SearchPoint) -> Bool {
            (-a.score, -a.confidenceScore, gridIndex(a.alphaRetain, a.alphaForget)) < (-b.score, -b.confidenceScore, gridIndex(b.alphaRetain, b.alphaForget))
        }
        var screened: [SearchPoint] = []
        // The best points so far with their edits (at most `searchFinalists`).
        var kept: [(point: SearchPoint, edits: [String: Tensor])] = []
        try projection.gridEdits(model.graph, original: original, alphaRetain: retainScales, alphaForget: forgetScales) { ri, fi, edits in
            guard searchGrid.contains(where: { $0 == (retainScales[ri], forgetScales[fi]) }) else { return }
            let p = try point(retainScales[ri], forgetScales[fi], edits, on: screening)
            screened.append(p)
            progress?("search", screened.count, searchGrid.count)
            guard screening.count < validation.count else { return }
            kept.append((p, edits))
            kept.sort { better($0.point, $1.point) }
            if kept.count > Self.searchFinalists { kept.removeLast() }
        }
        screened.sort { gridIndex($0.alphaRetain, $0.alphaForget) < gridIndex($1.alphaRetain, $1.alphaForget) }
        guard screening.count < validation.count else { return (screened, screened) }
        let finalists = try kept.sorted { gridIndex($0.point.alphaRetain, $0.point.alphaForget) < gridIndex($1.point.alphaRetain, $1.point.alphaForget) }
            .map { try point($0.point.alphaRetain, $0.point.alphaForget, $0.edits, on: validation) }
        return (screened + finalists, finalists)
    }
}
