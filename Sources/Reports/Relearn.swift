import Foundation
import ModelRuntime
import TensorCore
import Unlearning

/// How many SGD steps on forget samples one model needs to classify them again.
public struct RelearnCount: Codable, Sendable, Equatable {
    /// Steps until the forget accuracy reached the threshold (0: it already did), or `nil` when it
    /// did not within the cap.
    public var steps: Int?
    /// Forget accuracy before the first step and after the last step taken.
    public var startForgetAccuracy: Double
    public var finalForgetAccuracy: Double

    enum CodingKeys: String, CodingKey {
        case steps, startForgetAccuracy = "start_forget_accuracy", finalForgetAccuracy = "final_forget_accuracy"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(steps, forKey: .steps)   // null: not within max_steps
        try c.encode(startForgetAccuracy, forKey: .startForgetAccuracy)
        try c.encode(finalForgetAccuracy, forKey: .finalForgetAccuracy)
    }

    /// `12`, or `> 200` when the cap was reached.
    public func text(cap: Int) -> String { steps.map(String.init) ?? "> \(cap)" }
}

/// Relearn time of the model (and of the original model, when given), labelled with its variant
/// (`docs/methods.md` §5.6).
public struct RelearnResult: Codable, Sendable, Equatable {
    /// `sgd-cross-entropy`.
    public var variant: String
    /// The samples the steps train on, and the samples the forget accuracy is measured on.
    public var trained: String
    public var measured: String
    public var trainedSamples: Int
    public var measuredSamples: Int
    /// What the steps change.
    public var parameters: String
    public var batchSize: Int
    public var learningRate: Double
    public var seed: UInt64
    public var maxSteps: Int
    /// The forget accuracy that ends the count.
    public var threshold: Double
    public var model: RelearnCount
    public var original: RelearnCount?
    public var direction: String

    enum CodingKeys: String, CodingKey {
        case variant, trained, measured, parameters, seed, threshold, model, original, direction
        case trainedSamples = "trained_samples", measuredSamples = "measured_samples", batchSize = "batch_size"
        case learningRate = "learning_rate", maxSteps = "max_steps"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(variant, forKey: .variant); try c.encode(trained, forKey: .trained); try c.encode(measured, forKey: .measured)
        try c.encode(trainedSamples, forKey: .trainedSamples); try c.encode(measuredSamples, forKey: .measuredSamples)
        try c.encode(parameters, forKey: .parameters); try c.encode(batchSize, forKey: .batchSize)
        try c.encode(learningRate, forKey: .learningRate); try c.encode(seed, forKey: .seed); try c.encode(maxSteps, forKey: .maxSteps)
        try c.encode(threshold, forKey: .threshold); try c.encode(model, forKey: .model)
        try c.encode(original, forKey: .original)   // null without an original model
        try c.encode(direction, forKey: .direction)
    }
}

/// Relearn time: plain SGD on the forget samples, counted until the forget accuracy is back.
///
/// From the model's weights, step `t = 1, 2, …, maxSteps` takes the next batch of `B` forget
/// samples of the training set in a seeded order (a SplitMix64 Fisher–Yates permutation, a new
/// one each pass) and moves every weight-layer weight (biases, norms and embeddings stay) by
/// ```
/// W ← W − η ∇_W (1/B) Σ_{i ∈ batch} −log softmax(z_i)_{y_i}
/// ```
/// with the gradients of the graph's backward pass. The forget accuracy (argmax of the logits on
/// the measured forget samples) is taken before the first step and after every step; the count is
/// the first `t` at which it is ≥ `threshold`. A model that really lost the classes' features
/// needs many steps; one that only hid them in the last layer needs few.
public enum Relearn {
    public struct Configuration: Sendable {
        public var batchSize = 32
        public var learningRate = 0.001
        public var maxSteps = 200
        public var threshold = 0.5
        public var seed: UInt64 = 0
        /// How the result names the training and the measured sample sets.
        public var trainName = "the training samples"
        public var measureName = "the test samples"
        public init() {}
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unlabelled
        case noForgetSamples
        public var description: String {
            switch self {
            case .unlabelled: "relearning needs labels (y)"
            case .noForgetSamples: "the samples hold none of the classes to forget, so there is nothing to relearn"
            }
        }
    }

    /// The relearn count of `model` from `train[trainIndices]`, measured on `measure` (forget samples only).
    public static func count(_ model: Model, train: Dataset, trainIndices: [Int], measure: Dataset, evaluationBatchSize: Int,
                             configuration c: Configuration) throws -> RelearnCount {
        precondition(c.batchSize > 0 && c.maxSteps >= 0 && !trainIndices.isEmpty)
        guard let labels = train.labels, let measured = measure.labels else { throw Failure.unlabelled }
        let weights = Array(Set(model.graph.weightLayers.map(\.weight))).sorted()
        var parameters: [String: Tensor] = [:]
        for name in weights { parameters[name] = model.graph.parameters[name] }
        func forgetAccuracy() throws -> Double {
            let logits = try Evaluation.logits(model, measure, batchSize: evaluationBatchSize, parameters: parameters)
            return Double(zip(Evaluation.predictions(logits), measured).filter { $0 == $1 }.count) / Double(max(measured.count, 1))
        }
        let start = try forgetAccuracy()
        if start >= c.threshold { return RelearnCount(steps: 0, startForgetAccuracy: start, finalForgetAccuracy: start) }
        var rng = SplitMix64(seed: c.seed)
        var order: [Int] = [], position = 0
        var accuracy = start
        for step in stride(from: 1, through: c.maxSteps, by: 1) {
            var batch: [Int] = []
            while batch.count < min(c.batchSize, trainIndices.count) {
                if position == order.count { order = LinearProbe.permutation(trainIndices.count, using: &rng).map { trainIndices[$0] }; position = 0 }
                batch.append(order[position]); position += 1
            }
            let (_, gradients) = try BatchGradients.compute(model, parameters: parameters, data: train, batch: batch) { logits, indices, total in
                var (loss, gradient) = Normalization.crossEntropy(logits: logits, labels: indices.map { labels[$0] })
                let share = Float(indices.count) / Float(total)
                for i in 0..<gradient.count { gradient.data[i] *= share }
                return (Double(loss) * Double(share), gradient)
            }
            for name in weights {
                guard var w = parameters[name], let g = gradients[name] else { continue }
                let rate = Float(c.learningRate)
                for i in 0..<w.count { w.data[i] -= rate * g.data[i] }
                parameters[name] = w
            }
            accuracy = try forgetAccuracy()
            if accuracy >= c.threshold { return RelearnCount(steps: step, startForgetAccuracy: start, finalForgetAccuracy: accuracy) }
        }
        return RelearnCount(steps: nil, startForgetAccuracy: start, finalForgetAccuracy: accuracy)
    }

    /// Relearn counts of `model` and of `original` (when given): steps on the forget-class samples
    /// of `train`, forget accuracy on the forget-class samples of `test` (which may be the same set).
    /// - Throws: ``Failure``; errors of the model runs.
    public static func evaluate(_ model: Model, original: Model?, train: Dataset, test: Dataset, forget: Set<Int>, batchSize: Int,
                                configuration: Configuration) throws -> RelearnResult {
        guard let trainLabels = train.labels, let testLabels = test.labels else { throw Failure.unlabelled }
        let trainIndices = trainLabels.indices.filter { forget.contains(trainLabels[$0]) }
        let measureIndices = testLabels.indices.filter { forget.contains(testLabels[$0]) }
        guard !trainIndices.isEmpty, !measureIndices.isEmpty else { throw Failure.noForgetSamples }
        let measure = Dataset(x: try test.samples(measureIndices), labels: measureIndices.map { testLabels[$0] })
        let counts = try ([model] + (original.map { [$0] } ?? [])).map {
            try count($0, train: train, trainIndices: trainIndices, measure: measure, evaluationBatchSize: batchSize, configuration: configuration)
        }
        return RelearnResult(
            variant: "sgd-cross-entropy", trained: "forget-class samples (\(configuration.trainName))",
            measured: "forget-class samples (\(configuration.measureName))", trainedSamples: trainIndices.count, measuredSamples: measureIndices.count,
            parameters: "weight-layer weights (biases, norms, embeddings fixed)", batchSize: configuration.batchSize,
            learningRate: configuration.learningRate, seed: configuration.seed, maxSteps: configuration.maxSteps, threshold: configuration.threshold,
            model: counts[0], original: counts.count > 1 ? counts[1] : nil, direction: "more steps = more forgotten")
    }
}
