import Foundation
import ModelRuntime
import TensorCore

/// How a model does on the forget-class and on the retain-class samples of a labelled set: the
/// accuracy of each side and the mean softmax probability of the true class (the confidence).
///
/// The one measurement every engine's choices rest on (the α search, PGU's epochs, forget-vector
/// epochs). A side without samples scores 0.
public struct ForgetRetainScores: Sendable, Equatable {
    /// Accuracy on the forget-class samples.
    public var forget: Double
    /// Accuracy on the retain-class samples.
    public var retain: Double
    /// Mean true-class probability `softmax(z)_y` on the forget-class samples.
    public var forgetConfidence: Double
    /// Mean true-class probability on the retain-class samples.
    public var retainConfidence: Double
    /// The fraction of forget-class samples right or nearly: the true class's logit within
    /// ``nearMargin`` of the largest other, `z_y > max_{c≠y} z_c − 1`. Never below ``forget``; it
    /// resolves what a handful of forget samples cannot (those just past the boundary).
    public var forgetNearlyRight: Double = 0

    /// The logit margin of ``forgetNearlyRight``: the retain repair's τ.
    public static let nearMargin = 1.0

    /// Scores `model` on the samples `indices` of `data` (labelled).
    /// - Parameter offset: added to every sample first (a forget vector in the model's input space).
    /// - Parameter parameters: weights that replace the model's stored ones of those names.
    public static func measure(_ model: Model, data: Dataset, indices: [Int], forget: Set<Int>, batchSize: Int,
                               offset: Tensor? = nil, parameters: [String: Tensor] = [:]) throws -> ForgetRetainScores {
        try scores(data, indices: indices, forget: forget) { subset in
            try Evaluation.logits(model, subset, batchSize: batchSize, parameters: parameters, offset: offset)
        }
    }

    /// ``measure(_:data:indices:forget:batchSize:offset:parameters:)`` of the stored model, also
    /// keeping what later passes with edited weights of the parameter sets `edits` can reuse
    /// (``Evaluation/logits(_:_:batchSize:keepingFor:budget:)``, at most `budget` bytes).
    public static func measure(_ model: Model, data: Dataset, indices: [Int], forget: Set<Int>, batchSize: Int,
                               keepingFor edits: [Set<String>], budget: Int) throws -> (scores: ForgetRetainScores, reusable: ReusablePasses) {
        var reusable: ReusablePasses?
        let scores = try scores(data, indices: indices, forget: forget) { subset in
            let result = try Evaluation.logits(model, subset, batchSize: batchSize, keepingFor: edits, budget: budget)
            reusable = result.reusable
            return result.logits
        }
        return (scores, reusable!)
    }

    /// ``measure(_:data:indices:forget:batchSize:offset:parameters:)`` with edited `parameters`,
    /// recomputing only what they change where `reusing` (made over the same `indices`) covers them.
    public static func measure(_ model: Model, data: Dataset, indices: [Int], forget: Set<Int>, batchSize: Int,
                               parameters: [String: Tensor], reusing: ReusablePasses?) throws -> ForgetRetainScores {
        try scores(data, indices: indices, forget: forget) { subset in
            try Evaluation.logits(model, subset, batchSize: batchSize, parameters: parameters, reusing: reusing)
        }
    }

    /// The scores of the logits `run` computes for the samples `indices` of `data` (as one data set, in that order).
    private static func scores(_ data: Dataset, indices: [Int], forget: Set<Int>, _ run: (Dataset) throws -> Tensor) throws -> ForgetRetainScores {
        guard let labels = data.labels else { throw UnlearningError.noLabels }
        let subsetLabels = indices.map { labels[$0] }
        return ForgetRetainScores(logits: try run(Dataset(x: try data.samples(indices), labels: subsetLabels)), labels: subsetLabels, forget: forget)
    }

    /// Forget-class and retain-class accuracy of `model` on the samples `indices` of `data`.
    public static func accuracies(_ model: Model, data: Dataset, indices: [Int], forget: Set<Int>, batchSize: Int,
                                  offset: Tensor? = nil, parameters: [String: Tensor] = [:]) throws -> (forget: Double, retain: Double) {
        let scores = try measure(model, data: data, indices: indices, forget: forget, batchSize: batchSize, offset: offset,
                                 parameters: parameters)
        return (scores.forget, scores.retain)
    }

    /// Forget accuracy judged on two parts of the forget samples (``SampleSelection/holdingOutForget(_:labels:seed:)``):
    /// the larger of the figures on `trainedOn` and on `heldOut`, the first alone when `heldOut` is empty.
    public static func worseForgetAccuracy(_ model: Model, data: Dataset, trainedOn: [Int], heldOut: [Int], forget: Set<Int>, batchSize: Int,
                                           offset: Tensor? = nil, parameters: [String: Tensor] = [:]) throws -> Double {
        func score(_ indices: [Int]) throws -> Double {
            try accuracies(model, data: data, indices: indices, forget: forget, batchSize: batchSize, offset: offset, parameters: parameters).forget
        }
        let onTrained = try score(trainedOn)
        return heldOut.isEmpty ? onTrained : max(onTrained, try score(heldOut))
    }
}

extension ForgetRetainScores {
    /// The scores of `logits` (`[samples, classes]`) for samples with these `labels`.
    init(logits: Tensor, labels: [Int], forget: Set<Int>) {
        let predictions = Evaluation.predictions(logits), classes = logits.shape[1]
        var correct = [0, 0], count = [0, 0], confidence = [0.0, 0.0], nearlyRight = 0
        for (row, y) in labels.enumerated() {
            let side = forget.contains(y) ? 1 : 0
            let z = logits.data[(row * classes)..<((row + 1) * classes)].map(Double.init)
            let top = z.max()!
            confidence[side] += Foundation.exp(z[y] - top) / z.reduce(0) { $0 + Foundation.exp($1 - top) }
            if predictions[row] == y { correct[side] += 1 }
            if side == 1, z[y] > (z.indices.lazy.filter { $0 != y }.map { z[$0] }.max() ?? -.infinity) - Self.nearMargin { nearlyRight += 1 }
            count[side] += 1
        }
        func mean(_ total: Double, _ n: Int) -> Double { n > 0 ? total / Double(n) : 0 }
        self.init(forget: mean(Double(correct[1]), count[1]), retain: mean(Double(correct[0]), count[0]),
                  forgetConfidence: mean(confidence[1], count[1]), retainConfidence: mean(confidence[0], count[0]),
                  forgetNearlyRight: mean(Double(nearlyRight), count[1]))
    }
}
