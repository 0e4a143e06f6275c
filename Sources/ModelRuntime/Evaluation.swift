import TensorCore

/// Accuracy of a classifier on labelled samples, overall, per class, and for the forget and
/// retain classes of an unlearning request.
public struct EvaluationReport: Codable, Sendable, Equatable {
    public var accuracy: Double
    /// Keyed by class index (as a string, for JSON); classes without samples are absent.
    public var perClassAccuracy: [String: Double]
    /// Accuracy on samples of the forget classes, or `nil` when none were given (or none present).
    public var forgetAccuracy: Double?
    /// Accuracy on samples of every other class.
    public var retainAccuracy: Double?
    /// `confusion[true][predicted]` counts.
    public var confusion: [[Int]]
    public var samples: Int
    /// Class names by index (as a string) for the classes that have one, from the model's config;
    /// `nil` (and absent from JSON) when the model has no class names.
    public var classNames: [String: String]?

    enum CodingKeys: String, CodingKey {
        case accuracy, confusion, samples
        case perClassAccuracy = "per_class_accuracy"
        case forgetAccuracy = "forget_accuracy"
        case retainAccuracy = "retain_accuracy"
        case classNames = "class_names"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(accuracy, forKey: .accuracy)
        try c.encode(perClassAccuracy, forKey: .perClassAccuracy)
        try c.encode(forgetAccuracy, forKey: .forgetAccuracy)   // null when absent: keys are stable
        try c.encode(retainAccuracy, forKey: .retainAccuracy)
        try c.encode(confusion, forKey: .confusion)
        try c.encode(samples, forKey: .samples)
        try c.encodeIfPresent(classNames, forKey: .classNames)
    }
}

public enum Evaluation {
    /// Runs `model` over `inputs` in batches of `batchSize`; `progress(done, total)` after each.
    /// - Parameter parameters: weights in place of the model's stored parameters of those names
    ///   (edited weights; ``Model/logits(_:parameters:)``).
    /// - Parameter offset: added to every sample before the model sees it (a forget vector in the
    ///   model's input space; the shape of one sample).
    public static func logits(_ model: Model, _ inputs: Dataset, batchSize: Int, parameters: [String: Tensor] = [:], offset: Tensor? = nil,
                              progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        try logits(model, inputs, batchSize: batchSize, progress: progress) { index, batch in
            var batch = batch
            if let offset { Self.addToEverySample(&batch, offset) }
            return try model.logits(batch, parameters: parameters)
        }
    }

    /// The batches every pass over `count` samples runs in: at most `batchSize` samples each, and
    /// at least one batch per worker, so that small sets use every core too.
    static func batchRanges(count: Int, batchSize: Int) -> [Range<Int>] {
        let size = max(1, min(batchSize, (count + Parallel.workers - 1) / Parallel.workers))
        return stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
    }

    /// `body(batch index, batch)` over ``batchRanges(count:batchSize:)`` of `inputs`, on the
    /// workers, with the results' logits in sample order.
    static func logits(_ model: Model, _ inputs: Dataset, batchSize: Int, progress: ((Int, Int) -> Void)?,
                       _ body: (Int, Tensor) throws -> Tensor) throws -> Tensor {
        let ranges = batchRanges(count: inputs.count, batchSize: batchSize)
        let lock = Parallel.Lock()
        var done = 0
        let shared = UncheckedInputs(model: model, inputs: inputs)
        // Each batch is independent, so the workers' results do not depend on who computes which.
        let results = try Parallel.map(ranges.count) { index in
            let logits = try body(index, try shared.inputs.batch(ranges[index]))
            lock.withLock {
                done += ranges[index].count
                progress?(done, shared.inputs.count)
            }
            return logits
        }
        let classes = results.first?.shape.last ?? 0
        if let other = results.first(where: { $0.shape.last != classes }) {
            throw ModelError.outputNotLogits(name: model.outputName, shape: other.shape, batch: other.shape.first ?? 0)
        }
        return Tensor(shape: [inputs.count, classes], data: results.flatMap(\.data))
    }

    /// Runs `model` (with `parameters` as in ``logits(_:_:batchSize:parameters:offset:progress:)``) over the labelled
    /// `data` and reports its accuracies (``report(predictions:labels:classes:forget:)``).
    public static func evaluate(_ model: Model, _ data: Dataset, forget: Set<Int>, batchSize: Int, parameters: [String: Tensor] = [:],
                                offset: Tensor? = nil, progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationReport {
        let logits = try Self.logits(model, data, batchSize: batchSize, parameters: parameters, offset: offset, progress: progress)
        var result = report(predictions: predictions(logits), labels: data.labels ?? [], classes: logits.shape[1], forget: forget)
        result.classNames = model.classNames(0..<result.confusion.count)
        return result
    }

    /// `batch[n] += offset` for every sample n (`offset` has the shape of one sample).
    public static func addToEverySample(_ batch: inout Tensor, _ offset: Tensor) {
        let size = offset.count
        precondition(size > 0 && batch.count % size == 0, "offset \(offset.shape) does not fit samples of \(batch.shape)")
        batch.data.withUnsafeMutableBufferPointer { b in offset.data.withUnsafeBufferPointer { o in
            for start in stride(from: 0, to: b.count, by: size) { for i in 0..<size { b[start + i] += o[i] } }
        } }
    }

    /// The index of the largest logit of each row (the first on ties).
    public static func predictions(_ logits: Tensor) -> [Int] {
        let classes = logits.shape[1]
        return (0..<logits.shape[0]).map { row in
            var best = 0
            for c in 1..<max(classes, 1) where logits.data[row * classes + c] > logits.data[row * classes + best] { best = c }
            return best
        }
    }

    /// Accuracies and the confusion matrix for predictions against labels.
    public static func report(predictions: [Int], labels: [Int], classes: Int, forget: Set<Int>) -> EvaluationReport {
        let n = max(classes, (labels.max() ?? -1) + 1, (predictions.max() ?? -1) + 1)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: n), count: n)
        for (p, y) in zip(predictions, labels) { confusion[y][p] += 1 }
        var perClass: [String: Double] = [:]
        for c in 0..<n {
            let total = confusion[c].reduce(0, +)
            if total > 0 { perClass[String(c)] = Double(confusion[c][c]) / Double(total) }
        }
        func accuracy(_ include: (Int) -> Bool) -> Double? {
            var correct = 0, total = 0
            for (p, y) in zip(predictions, labels) where include(y) {
                total += 1
                if p == y { correct += 1 }
            }
            return total == 0 ? nil : Double(correct) / Double(total)
        }
        return EvaluationReport(accuracy: accuracy { _ in true } ?? 0, perClassAccuracy: perClass,
                                forgetAccuracy: forget.isEmpty ? nil : accuracy { forget.contains($0) },
                                retainAccuracy: forget.isEmpty ? nil : accuracy { !forget.contains($0) },
                                confusion: confusion, samples: labels.count)
    }
}

/// A model and data set read by parallel workers (a forward pass does not mutate the graph).
private struct UncheckedInputs: @unchecked Sendable {
    let model: Model
    let inputs: Dataset
}
