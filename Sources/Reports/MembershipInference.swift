import Foundation
import ModelRuntime
import TensorCore

/// One membership-inference result, labelled with its wiring (`docs/methods.md` §5.2–5.3): which samples
/// were members and non-members when the attack was trained, which samples it then scored, and
/// what the score means. Results of different wirings are not comparable, so every field travels
/// with the value.
public struct MembershipInferenceResult: Codable, Sendable, Equatable {
    /// `confidence-svc` (SalUn / Unlearn-Sparse / forget-vector convention) or `entropy-svc`.
    public var variant: String
    /// The one feature the attack sees per sample, in words.
    public var feature: String
    /// The samples the attack learned as members.
    public var members: String
    /// The samples the attack learned as non-members.
    public var nonMembers: String
    /// The samples the attack then classified.
    public var scored: String
    /// What `value` counts.
    public var score: String
    /// Which way is better for unlearning.
    public var direction: String
    /// The score, a fraction in [0, 1].
    public var value: Double
    /// Members after balancing (equal to `nonMembersUsed`).
    public var membersUsed: Int
    /// Non-members after balancing.
    public var nonMembersUsed: Int
    /// All scored samples (they are never subsampled).
    public var scoredSamples: Int

    public init(variant: String, feature: String, members: String, nonMembers: String, scored: String, score: String, direction: String,
                value: Double, membersUsed: Int, nonMembersUsed: Int, scoredSamples: Int) {
        self.variant = variant; self.feature = feature; self.members = members; self.nonMembers = nonMembers; self.scored = scored
        self.score = score; self.direction = direction; self.value = value; self.membersUsed = membersUsed
        self.nonMembersUsed = nonMembersUsed; self.scoredSamples = scoredSamples
    }

    enum CodingKeys: String, CodingKey {
        case variant, feature, members, scored, score, direction, value
        case nonMembers = "non_members", membersUsed = "members_used", nonMembersUsed = "non_members_used", scoredSamples = "scored_samples"
    }
}

/// MIA-efficacy, the membership-inference score of SalUn, Unlearn-Sparse and forget vectors.
///
/// An RBF SVC (``SupportVectorClassifier``: C = 3, γ = 1 / number of features = 1) learns to
/// tell members (retain-class training samples) from non-members (retain-class test samples) by
/// one feature of the model's output; the two sets are balanced by seeded subsampling. The score
/// is the fraction of the forget-class training samples it calls non-members: higher = more
/// forgotten, and a model retrained without the classes is the reference value.
///
/// Features, from a row of logits `z` with the log-probabilities `ℓ_c = z_c − lse`,
/// `lse = log Σ_c exp(z_c)` (see ``logProbabilities(_:)`` for how they are computed):
/// ```
/// confidence = p_y = exp(ℓ_y)               (y the true label)
/// entropy    = −Σ_c p_c ℓ_c,  p_c = exp(ℓ_c)  (terms with p_c = 0 count 0)
/// ```
/// Both are computed in Double from the Float logits: no exponential overflows, whatever the
/// logits' size (`exp` only ever sees values ≤ 0), every entropy term is ≥ 0, and a confident
/// row's tiny entropy keeps its relative precision.
public enum MembershipInference {
    public struct Configuration: Sendable {
        /// At most this many members and as many non-members (after balancing); positive.
        public var maxSamplesPerSide = 2000
        /// Seed of the balanced subsampling (``subsample(_:count:using:)``).
        public var seed: UInt64 = 0
        /// The SVC's box constraint.
        public var c = 3.0
        /// How the result's wiring names the training and the test sample sets (a tool may give
        /// the flags or paths they came from).
        public var trainSetName = "the training set"
        public var testSetName = "the test set"
        public init() {}
    }

    /// Where a sample set came from, for error messages.
    public enum SampleSet: String, Sendable {
        case train = "training samples", test = "test samples"
    }

    public enum EvaluationFailure: Error, Equatable, CustomStringConvertible {
        case unlabelled(SampleSet)
        case labelOutOfRange(SampleSet, label: Int, classes: Int)
        case nonFiniteLogits(SampleSet, samples: Int)
        case noRetainedSamples(SampleSet)
        case noForgetSamples
        case nonFiniteFeature
        /// The sample set the failure is about, if one.
        public var sampleSet: SampleSet? {
            switch self {
            case .unlabelled(let set), .labelOutOfRange(let set, _, _), .nonFiniteLogits(let set, _), .noRetainedSamples(let set): set
            case .noForgetSamples: .train
            case .nonFiniteFeature: nil
            }
        }
        public var description: String {
            switch self {
            case .unlabelled(let set): "membership inference needs labels (y) in the \(set.rawValue)"
            case let .labelOutOfRange(set, label, classes):
                "the \(set.rawValue) have label \(label), but the model has \(classes) classes (0–\(classes - 1)); fix the labels or use the matching model"
            case let .nonFiniteLogits(set, samples): "the model gives NaN or infinite logits for \(samples) of the \(set.rawValue)"
            case .noRetainedSamples(let set): "membership inference needs \(set.rawValue) of retained classes; there are none"
            case .noForgetSamples: "the training samples hold none of the classes to forget, so there is nothing to score"
            case .nonFiniteFeature: "a membership-inference feature is NaN or infinite"
            }
        }
    }

    // MARK: - Features

    /// The log-probabilities `ℓ_c = z_c − lse` of one row of logits, as
    /// `ℓ_c = (z_c − m) − log1p(Σ_{c ≠ c*} exp(z_c − m))` with `m = z_{c*}` the (first) largest
    /// logit: `z_c − m` is exact in Double for Float logits (unless their exponents differ by more
    /// than 29), and `log1p` keeps the relative precision of a confident row, where `lse − m` is
    /// tiny and `z_c* − lse` would lose it to cancellation.
    static func logProbabilities(_ row: ArraySlice<Float>) -> [Double] {
        guard let top = row.indices.max(by: { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }) else { return [] }
        let m = Double(row[top])
        var rest = 0.0
        for c in row.indices where c != top { rest += exp(Double(row[c]) - m) }
        let logSum = log1p(rest)
        return row.map { (Double($0) - m) - logSum }
    }

    /// The softmax probability of the true label of every row: `exp(z_y − lse)`.
    /// - Precondition: `logits` is `[N, classes]`, `labels.count == N`, every label in `0..<classes`.
    public static func confidence(_ logits: Tensor, labels: [Int]) -> [Double] {
        precondition(logits.shape.count == 2 && labels.count == logits.shape[0], "logits \(logits.shape) for \(labels.count) labels")
        let classes = logits.shape[1]
        return labels.enumerated().map { row, y in
            precondition((0..<classes).contains(y), "label \(y) outside 0..<\(classes)")
            return exp(logProbabilities(logits.data[(row * classes)..<((row + 1) * classes)])[y])
        }
    }

    /// The entropy of the softmax of every row, in nats: `−Σ_c p_c ℓ_c` with `ℓ_c = z_c − lse`.
    /// - Precondition: `logits` is `[N, classes]`.
    public static func entropy(_ logits: Tensor) -> [Double] {
        precondition(logits.shape.count == 2, "logits \(logits.shape)")
        let classes = logits.shape[1]
        return (0..<logits.shape[0]).map { row in
            logProbabilities(logits.data[(row * classes)..<((row + 1) * classes)]).reduce(0.0) { sum, l in
                let p = exp(l)
                return p > 0 ? sum - p * l : sum
            }
        }
    }

    // MARK: - Balanced subsampling

    /// `count` distinct indices of `0..<total`, each subset equally likely, in ascending order.
    ///
    /// A partial Fisher–Yates shuffle driven by `rng` (SplitMix64), so the selection depends only
    /// on the generator's state, not on the standard library's shuffling: for `i` in
    /// `0..<count`, swap position `i` with `i + uniform(total − i)`, where `uniform(n)` draws
    /// 64-bit words `r` until `r ≥ 2⁶⁴ mod n` and returns `r mod n` (exactly uniform).
    /// - Precondition: `0 ≤ count ≤ total`.
    package static func subsample(_ total: Int, count: Int, using rng: inout SplitMix64) -> [Int] {
        precondition(count >= 0 && count <= total, "cannot draw \(count) of \(total)")
        var indices = Array(0..<total)
        for i in 0..<count { indices.swapAt(i, i + uniform(total - i, using: &rng)) }
        return indices.prefix(count).sorted()
    }

    /// ``subsample(_:count:using:)`` with a fresh `SplitMix64(seed: seed)`.
    public static func subsample(_ total: Int, count: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        return subsample(total, count: count, using: &rng)
    }

    /// Uniform in `0..<n` by rejection (see ``subsample(_:count:using:)`` and ``SplitMix64/uniform(below:)``).
    static func uniform(_ n: Int, using rng: inout SplitMix64) -> Int { rng.uniform(below: n) }

    // MARK: - The attack

    /// The attack on precomputed features (one value per sample).
    ///
    /// `k = min(members, nonMembers, maxSamplesPerSide)` members and as many non-members are
    /// drawn by ``subsample(_:count:using:)`` from one `SplitMix64(seed:)` (members first); the
    /// SVC learns them (members = `true`); `value` is the fraction of *all* `scored` samples it
    /// predicts `false` (non-member).
    /// - Throws: ``EvaluationFailure`` for empty sets or non-finite features;
    ///   ``SupportVectorClassifier/Failure`` if libsvm refuses.
    public static func attack(members: [Double], nonMembers: [Double], scored: [Double],
                              configuration: Configuration) throws -> (value: Double, members: Int, nonMembers: Int) {
        precondition(configuration.maxSamplesPerSide > 0, "maxSamplesPerSide must be positive")
        guard !members.isEmpty else { throw EvaluationFailure.noRetainedSamples(.train) }
        guard !nonMembers.isEmpty else { throw EvaluationFailure.noRetainedSamples(.test) }
        guard !scored.isEmpty else { throw EvaluationFailure.noForgetSamples }
        guard (members + nonMembers + scored).allSatisfy(\.isFinite) else { throw EvaluationFailure.nonFiniteFeature }
        let count = min(members.count, nonMembers.count, configuration.maxSamplesPerSide)
        var rng = SplitMix64(seed: configuration.seed)
        let m = subsample(members.count, count: count, using: &rng).map { members[$0] }
        let n = subsample(nonMembers.count, count: count, using: &rng).map { nonMembers[$0] }
        let classifier = try SupportVectorClassifier(samples: (m + n).map { [$0] }, labels: m.map { _ in true } + n.map { _ in false },
                                                     c: configuration.c)
        let calledNonMember = scored.filter { !classifier.predict([$0]).label }.count
        return (Double(calledNonMember) / Double(scored.count), count, count)
    }

    /// Both variants (`confidence-svc`, `entropy-svc`) for `model`, with `offset` (e.g. a forget
    /// vector) added to every input of both sets: members from `train` outside `forget`,
    /// non-members from `test` outside `forget`, scored samples: all of `train` inside `forget`.
    /// - Throws: ``EvaluationFailure`` for missing or out-of-range labels, non-finite logits or
    ///   empty sets; errors of the model run; ``SupportVectorClassifier/Failure``.
    public static func evaluate(_ model: Model, train: Dataset, test: Dataset, forget: Set<Int>, batchSize: Int, offset: Tensor?,
                                configuration: Configuration) throws -> [MembershipInferenceResult] {
        guard let trainLabels = train.labels else { throw EvaluationFailure.unlabelled(.train) }
        guard let testLabels = test.labels else { throw EvaluationFailure.unlabelled(.test) }
        let trainLogits = try Evaluation.logits(model, train, batchSize: batchSize, offset: offset)
        let testLogits = try Evaluation.logits(model, test, batchSize: batchSize, offset: offset)
        for (set, logits, labels) in [(SampleSet.train, trainLogits, trainLabels), (.test, testLogits, testLabels)] {
            let classes = logits.shape[1]
            if let bad = labels.first(where: { !(0..<classes).contains($0) }) {
                throw EvaluationFailure.labelOutOfRange(set, label: bad, classes: classes)
            }
            let nonFinite = (0..<labels.count).filter { row in
                logits.data[(row * classes)..<((row + 1) * classes)].contains { !$0.isFinite }
            }.count
            guard nonFinite == 0 else { throw EvaluationFailure.nonFiniteLogits(set, samples: nonFinite) }
        }
        let retainTrain = trainLabels.indices.filter { !forget.contains(trainLabels[$0]) }
        let forgetTrain = trainLabels.indices.filter { forget.contains(trainLabels[$0]) }
        let retainTest = testLabels.indices.filter { !forget.contains(testLabels[$0]) }
        guard !retainTrain.isEmpty else { throw EvaluationFailure.noRetainedSamples(.train) }
        guard !retainTest.isEmpty else { throw EvaluationFailure.noRetainedSamples(.test) }
        guard !forgetTrain.isEmpty else { throw EvaluationFailure.noForgetSamples }
        let variants: [(String, String, [Double], [Double])] = [
            ("confidence-svc", "softmax probability of the true label",
             confidence(trainLogits, labels: trainLabels), confidence(testLogits, labels: testLabels)),
            ("entropy-svc", "entropy of the softmax", entropy(trainLogits), entropy(testLogits)),
        ]
        return try variants.map { variant, feature, trainFeature, testFeature in
            let result = try attack(members: retainTrain.map { trainFeature[$0] }, nonMembers: retainTest.map { testFeature[$0] },
                                    scored: forgetTrain.map { trainFeature[$0] }, configuration: configuration)
            return MembershipInferenceResult(
                variant: variant, feature: feature, members: "retain-class training samples (\(configuration.trainSetName))",
                nonMembers: "retain-class test samples (\(configuration.testSetName))",
                scored: "forget-class training samples (\(configuration.trainSetName))",
                score: "fraction of scored samples predicted non-member", direction: "higher = more forgotten",
                value: result.value, membersUsed: result.members, nonMembersUsed: result.nonMembers, scoredSamples: forgetTrain.count)
        }
    }
}
