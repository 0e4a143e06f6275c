import ModelRuntime
import TensorCore

/// One membership-inference result, labelled with its wiring (`ALGORITHMS.md` §4): which samples
/// were members and non-members when the attack was trained, which samples it then scored, and
/// what the score means.
public struct MembershipInferenceResult: Codable, Sendable, Equatable {
    /// `confidence-svc` (SalUn / Unlearn-Sparse / forget-vector convention) or `entropy-svc`.
    public var variant: String
    public var feature: String
    public var members: String
    public var nonMembers: String
    public var scored: String
    public var score: String
    public var direction: String
    public var value: Double
    public var membersUsed: Int
    public var nonMembersUsed: Int
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

/// MIA-efficacy: an RBF SVC (C = 3, γ = 1 / number of features, libsvm) learns to tell members
/// (retain-class training samples) from non-members (retain-class test samples) by one feature of
/// the model's output, the two sets balanced by seeded subsampling; the score is the fraction of
/// the forget-class training samples it calls non-members (higher = more forgotten; a model
/// retrained without the classes is the reference value).
///
/// Features, from logits `z` with `p = softmax(z)` computed as `exp(z − logsumexp z)`:
/// - confidence: `p_y`, the probability of the true label;
/// - entropy: `−Σ_c p_c log p_c`.
public enum MembershipInference {
    public struct Configuration: Sendable {
        /// At most this many members and as many non-members (after balancing).
        public var maxSamplesPerSide = 2000
        public var seed: UInt64 = 0
        public var c = 3.0
        public init() {}
    }

    public static func confidence(_ logits: Tensor, labels: [Int]) -> [Double] {
        probabilities(logits).enumerated().map { $0.element[labels[$0.offset]] }
    }

    public static func entropy(_ logits: Tensor) -> [Double] {
        probabilities(logits).map { p in -p.reduce(0) { $0 + ($1 > 0 ? $1 * _log($1) : 0) } }
    }

    static func probabilities(_ logits: Tensor) -> [[Double]] {
        let n = logits.shape[0], classes = logits.shape[1]
        return (0..<n).map { row in
            let z = (0..<classes).map { Double(logits.data[row * classes + $0]) }
            let largest = z.max() ?? 0
            let sum = z.reduce(0) { $0 + _exp($1 - largest) }
            return z.map { _exp($0 - largest) / sum }
        }
    }

    /// `count` indices of `0..<total` drawn without replacement by a seeded shuffle, in ascending order.
    public static func subsample(_ total: Int, count: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        return Array(Array(0..<total).shuffled(using: &rng).prefix(count)).sorted()
    }

    /// The attack on precomputed features (one value per sample).
    public static func attack(members: [Double], nonMembers: [Double], scored: [Double], configuration: Configuration) throws -> (value: Double, members: Int, nonMembers: Int) {
        let count = min(members.count, nonMembers.count, configuration.maxSamplesPerSide)
        let m = subsample(members.count, count: count, seed: configuration.seed).map { members[$0] }
        let n = subsample(nonMembers.count, count: count, seed: configuration.seed &+ 1).map { nonMembers[$0] }
        let classifier = try SupportVectorClassifier(samples: (m + n).map { [$0] }, labels: m.map { _ in true } + n.map { _ in false },
                                                     c: configuration.c, gamma: 1)
        let calledNonMember = scored.filter { !classifier.predict([$0]).label }.count
        return (Double(calledNonMember) / Double(max(scored.count, 1)), count, count)
    }

    /// Both variants for `model` (with `offset` added to every input, e.g. a forget vector):
    /// members from `train` outside `forget`, non-members from `test` outside `forget`, scored
    /// samples from `train` inside `forget`.
    public static func evaluate(_ model: Model, train: Dataset, test: Dataset, forget: Set<Int>, batchSize: Int, offset: Tensor?,
                                configuration: Configuration) throws -> [MembershipInferenceResult] {
        guard let trainLabels = train.labels, let testLabels = test.labels else { throw EvaluationFailure.unlabelled }
        let trainLogits = try Evaluation.logits(model, train, batchSize: batchSize, offset: offset)
        let testLogits = try Evaluation.logits(model, test, batchSize: batchSize, offset: offset)
        let classes = trainLogits.shape[1]
        if let label = trainLabels.first(where: { !(0..<classes).contains($0) }) {
            throw EvaluationFailure.labelOutOfRange(label: label, classes: classes, inTrainingSet: true)
        }
        if let label = testLabels.first(where: { !(0..<classes).contains($0) }) {
            throw EvaluationFailure.labelOutOfRange(label: label, classes: classes, inTrainingSet: false)
        }
        let retainTrain = trainLabels.indices.filter { !forget.contains(trainLabels[$0]) }
        let forgetTrain = trainLabels.indices.filter { forget.contains(trainLabels[$0]) }
        let retainTest = testLabels.indices.filter { !forget.contains(testLabels[$0]) }
        guard !retainTrain.isEmpty, !retainTest.isEmpty else { throw EvaluationFailure.noRetainedSamples }
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
                variant: variant, feature: feature, members: "retain-class training samples (--train)",
                nonMembers: "retain-class test samples (--data)", scored: "forget-class training samples (--train)",
                score: "fraction of scored samples predicted non-member", direction: "higher = more forgotten",
                value: result.value, membersUsed: result.members, nonMembersUsed: result.nonMembers, scoredSamples: forgetTrain.count)
        }
    }

    public enum EvaluationFailure: Error, CustomStringConvertible, Equatable {
        case unlabelled, noRetainedSamples, noForgetSamples
        /// A label that is not one of the model's output classes (its feature would read outside
        /// the softmax), in the training set (`--train`) or the test set (`--data`).
        case labelOutOfRange(label: Int, classes: Int, inTrainingSet: Bool)
        public var description: String {
            switch self {
            case .labelOutOfRange(let label, let classes, let inTrainingSet):
                "label \(label) in \(inTrainingSet ? "--train" : "--data") is not one of the model's \(classes) classes (0–\(classes - 1)); fix the labels or use the matching model"
            case .unlabelled: "membership inference needs labels (y) in both --train and --data"
            case .noRetainedSamples: "membership inference needs samples of retained classes in both --train and --data"
            case .noForgetSamples: "--train holds no samples of the --classes to score"
            }
        }
    }
}
