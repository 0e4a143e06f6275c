import Foundation
import TensorCore

/// Linear-probe recovery: whether the forget classes can still be read off the model's
/// penultimate features (`docs/methods.md` §5.5), labelled with its variant.
///
/// A method that only hides the classes in the last layer (e.g. zeroes their rows) leaves the
/// features that separate them untouched: a linear probe fitted on a few labelled samples per
/// class classifies the held-out forget samples as well as on the original model.
public struct ProbeRecoveryResult: Codable, Sendable, Equatable {
    /// `logistic-regression` (multinomial, L2, full-batch accelerated gradient descent).
    public var variant: String
    /// The layer whose input the probe reads (the final classifier layer) and its weight.
    public var layer: String
    public var weight: String
    /// Length of one feature vector.
    public var features: Int
    /// Where the samples came from (e.g. `--data`).
    public var samples: String
    /// Samples per class the probe was fitted on (fewer for a class with fewer samples: every
    /// class keeps at least one held out).
    public var fitSamplesPerClass: Int
    public var fitSamples: Int
    public var heldOutSamples: Int
    /// Held-out samples of the forget classes.
    public var heldOutForgetSamples: Int
    public var seed: UInt64
    /// The L2 weight λ and the optimiser's iterations and fixed step.
    public var l2: Double
    public var iterations: Int
    public var step: Double
    /// The probe's accuracy on the held-out samples of the forget classes (the score).
    public var forgetAccuracy: Double?
    /// The probe's accuracy on the held-out samples of the other classes.
    public var retainAccuracy: Double?
    /// The model's own accuracy on the same held-out forget samples, for comparison.
    public var modelForgetAccuracy: Double?
    /// Which way is better for unlearning.
    public var direction: String

    enum CodingKeys: String, CodingKey {
        case variant, layer, weight, features, samples, seed, l2, iterations, step, direction
        case fitSamplesPerClass = "fit_samples_per_class", fitSamples = "fit_samples", heldOutSamples = "held_out_samples"
        case heldOutForgetSamples = "held_out_forget_samples", forgetAccuracy = "forget_accuracy", retainAccuracy = "retain_accuracy"
        case modelForgetAccuracy = "model_forget_accuracy"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(variant, forKey: .variant); try c.encode(layer, forKey: .layer); try c.encode(weight, forKey: .weight)
        try c.encode(features, forKey: .features); try c.encode(samples, forKey: .samples)
        try c.encode(fitSamplesPerClass, forKey: .fitSamplesPerClass); try c.encode(fitSamples, forKey: .fitSamples)
        try c.encode(heldOutSamples, forKey: .heldOutSamples); try c.encode(heldOutForgetSamples, forKey: .heldOutForgetSamples)
        try c.encode(seed, forKey: .seed); try c.encode(l2, forKey: .l2); try c.encode(iterations, forKey: .iterations)
        try c.encode(step, forKey: .step)
        // null when absent: the keys are stable.
        try c.encode(forgetAccuracy, forKey: .forgetAccuracy); try c.encode(retainAccuracy, forKey: .retainAccuracy)
        try c.encode(modelForgetAccuracy, forKey: .modelForgetAccuracy)
        try c.encode(direction, forKey: .direction)
    }
}

/// The linear probe on the input of the final classifier layer.
///
/// Features: the vectors the model's last linear weight layer (in graph order) multiplies, which
/// must output one value per class; a layer that sees several vectors per sample (tokens) gets
/// their mean. Split: per class, a seeded random `k` of its samples (at most all but one) fit the
/// probe, the rest are held out.
///
/// The probe, on standardised features `x̃ = (x − μ) / σ` (μ, σ per coordinate over the fitted
/// samples; a coordinate with σ ≤ 10⁻⁸ · max σ is set to 0) with a constant 1 appended, is
/// `p = softmax(x̃ᵀ W)`, `W ∈ ℝ^{(d+1) × K}`, minimising over the `n` fitted samples
/// ```
/// J(W) = −(1/n) Σ_i log p_{y_i}(x̃_i) + (λ/2) ‖W_{1..d}‖²      (the bias row is not penalised)
/// ∇J   = X̃ᵀ (P − Y) / n + λ W_{1..d}
/// ```
/// by Nesterov's accelerated gradient descent for strongly convex functions, from `W = 0`, with
/// the fixed step `1/L` and momentum `(√κ − 1)/(√κ + 1)`, `κ = L/λ`, where
/// `L = ½ λ_max(X̃ᵀX̃ / n) + λ` bounds the curvature (the softmax Hessian is ⪯ ½ I per sample).
/// Every product goes through BLAS (`dgemm`, `dsyrk`) in float64; the result depends only on the
/// samples and the seed.
public enum LinearProbe {
    public struct Configuration: Sendable {
        /// Samples per class the probe is fitted on; positive.
        public var samplesPerClass = 20
        public var seed: UInt64 = 0
        public var l2 = 1e-2
        public var iterations = 500
        /// When set, a fit estimated (``fitCost(samples:features:classes:iterations:)``) to take more
        /// floating-point operations is not run: ``Failure/tooCostly(operations:limit:)``.
        public var maxOperations: Double?
        /// How the result names the sample set.
        public var samplesName = "the samples"
        public init() {}
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unlabelled
        case noClassifierLayer
        case noHeldOutForgetSamples
        case nonFiniteFeatures
        case tooCostly(operations: Double, limit: Double)
        public var description: String {
            switch self {
            case .unlabelled: "the linear probe needs labels (y)"
            case .noClassifierLayer: "the model has no final linear layer with one output per class, so there are no penultimate features to probe"
            case .noHeldOutForgetSamples: "the samples hold too few of the classes to forget to hold any out (a class needs at least two samples)"
            case .nonFiniteFeatures: "the penultimate features are NaN or infinite"
            case let .tooCostly(operations, limit):
                String(format: "the probe's fit would take about %.2g floating-point operations, more than the %.2g allowed here", operations, limit)
            }
        }
    }

    /// The final classifier layer: the last linear weight layer whose output count is `classes`.
    public static func classifierLayer(of graph: ComputeGraph, classes: Int) -> Int? {
        graph.weightLayers.indices.last { index in
            let layer = graph.weightLayers[index]
            guard layer.kind == .linear, let w = graph.parameters[layer.weight], w.rank == 2 else { return false }
            return (layer.layout == .outputsByInputs ? w.shape[0] : w.shape[1]) == classes
        }
    }

    /// The penultimate features (`[N, d]`) and logits (`[N, classes]`) of every sample, with
    /// `parameters` in place of the stored weights of those names and `offset` added to every
    /// input (a forget vector); the logits are those of ``Evaluation/logits(_:_:batchSize:parameters:offset:progress:)``.
    public static func features(_ model: Model, _ data: Dataset, batchSize: Int, parameters: [String: Tensor] = [:],
                                offset: Tensor? = nil) throws -> (features: Tensor, logits: Tensor, layer: Int) {
        let probe = try model.logits(try data.batch(0..<min(1, data.count)), parameters: parameters)
        guard let layer = classifierLayer(of: model.graph, classes: probe.shape[1]) else { throw Failure.noClassifierLayer }
        let batchSize = max(1, min(batchSize, (data.count + Parallel.workers - 1) / Parallel.workers))
        let batches = (data.count + batchSize - 1) / batchSize
        let shared = Unchecked(model: model, data: data, parameters: parameters)
        let parts = try Parallel.map(batches) { index -> (Tensor, Tensor) in
            let range = (index * batchSize)..<min((index + 1) * batchSize, shared.data.count)
            var batch = try shared.data.batch(range)
            if let offset { Evaluation.addToEverySample(&batch, offset) }
            var captured: Tensor?
            let (outputs, _) = try shared.model.graph.forward([shared.model.inputName: batch], parameters: shared.parameters) { input in
                if input.layer == layer { captured = input.rows }
            }
            guard let rows = captured, let output = outputs[shared.model.outputName] else { throw Failure.noClassifierLayer }
            let logits = output.reshaped([range.count, output.count / max(range.count, 1)])
            return (meanPerSample(rows, samples: range.count), logits)
        }
        let d = parts.first?.0.shape[1] ?? 0, classes = parts.first?.1.shape[1] ?? 0
        return (Tensor(shape: [data.count, d], data: parts.flatMap(\.0.data)), Tensor(shape: [data.count, classes], data: parts.flatMap(\.1.data)), layer)
    }

    /// `[samples · P, d]` sample-major rows averaged to `[samples, d]`.
    static func meanPerSample(_ rows: Tensor, samples: Int) -> Tensor {
        let per = samples == 0 ? 1 : rows.shape[0] / samples, d = rows.shape[1]
        guard per > 1 else { return rows }
        var mean = Tensor(zeros: [samples, d])
        for s in 0..<samples { for j in 0..<per { for k in 0..<d { mean.data[s * d + k] += rows.data[(s * per + j) * d + k] / Float(per) } } }
        return mean
    }

    /// A seeded uniform permutation of `0..<n`: Fisher–Yates, swapping position `i` with
    /// `i + uniform(n − i)` (``SplitMix64/uniform(below:)``) for `i = 0 … n − 2`.
    package static func permutation(_ n: Int, using rng: inout SplitMix64) -> [Int] {
        var order = Array(0..<n)
        for i in 0..<max(n - 1, 0) { order.swapAt(i, i + rng.uniform(below: n - i)) }
        return order
    }

    /// The fit/held-out split: per class (ascending), a seeded random `min(k, count − 1)` of its
    /// samples fit (at least one if it has any), the rest are held out; both ascending.
    package static func split(labels: [Int], samplesPerClass k: Int, seed: UInt64) -> (fit: [Int], heldOut: [Int]) {
        var rng = SplitMix64(seed: seed)
        var byClass: [Int: [Int]] = [:]
        for (i, y) in labels.enumerated() { byClass[y, default: []].append(i) }
        var fit: [Int] = [], heldOut: [Int] = []
        for c in byClass.keys.sorted() {
            let members = byClass[c]!
            let order = permutation(members.count, using: &rng)
            let take = max(1, min(k, members.count - 1))
            fit += order.prefix(take).map { members[$0] }
            heldOut += order.dropFirst(take).map { members[$0] }
        }
        return (fit.sorted(), heldOut.sorted())
    }

    /// A fitted probe: standardisation and the weights `W` (`(d + 1) × K`, row-major, bias last).
    package struct Fit {
        var mean: [Double], scale: [Double], weights: [Double], classes: Int
        package var step: Double

        /// Standardised rows with the constant 1 appended (`n × (d + 1)`).
        func design(_ x: Tensor, rows: [Int]) -> [Double] {
            let d = mean.count
            var out = [Double](repeating: 0, count: rows.count * (d + 1))
            for (r, i) in rows.enumerated() {
                for k in 0..<d { out[r * (d + 1) + k] = (Double(x.data[i * d + k]) - mean[k]) * scale[k] }
                out[r * (d + 1) + d] = 1
            }
            return out
        }

        /// The probe's class for each of `rows` of `x` (the first on ties).
        package func predict(_ x: Tensor, rows: [Int]) -> [Int] {
            let d1 = mean.count + 1, a = design(x, rows: rows)
            var z = [Double](repeating: 0, count: rows.count * classes)
            BLAS.dgemm(transA: false, transB: false, m: rows.count, n: classes, k: d1, a: a, lda: d1, b: weights, ldb: classes, c: &z, ldc: classes)
            return (0..<rows.count).map { r in
                var best = 0
                for c in 1..<max(classes, 1) where z[r * classes + c] > z[r * classes + best] { best = c }
                return best
            }
        }
    }

    /// The floating-point operations of a fit, estimated: `n` samples, `d` features, `K` classes,
    /// `T` iterations take `T · 4 n (d + 1) K` for the two products per iteration, plus
    /// `n (d + 1)²` for the Gram and `(4/3)(d + 1)³` for its eigenvalues.
    public static func fitCost(samples n: Int, features d: Int, classes k: Int, iterations t: Int) -> Double {
        let n = Double(n), d1 = Double(d + 1), k = Double(k), t = Double(t)
        return t * 4 * n * d1 * k + n * d1 * d1 + 4.0 / 3.0 * d1 * d1 * d1
    }

    /// Fits the probe (see ``LinearProbe``) on `rows` of the features `x` (`[N, d]`) with labels in `0..<classes`.
    package static func fit(_ x: Tensor, labels: [Int], rows: [Int], classes: Int, l2: Double, iterations: Int) -> Fit {
        let n = rows.count, d = x.shape[1], d1 = d + 1
        var mean = [Double](repeating: 0, count: d), variance = [Double](repeating: 0, count: d)
        for i in rows { for k in 0..<d { mean[k] += Double(x.data[i * d + k]) } }
        for k in 0..<d { mean[k] /= Double(max(n, 1)) }
        for i in rows { for k in 0..<d { let v = Double(x.data[i * d + k]) - mean[k]; variance[k] += v * v } }
        let sigma = variance.map { ($0 / Double(max(n, 1))).squareRoot() }
        let floor = 1e-8 * (sigma.max() ?? 0)
        let scale = sigma.map { $0 > floor && $0 > 0 ? 1 / $0 : 0 }
        var fit = Fit(mean: mean, scale: scale, weights: [Double](repeating: 0, count: d1 * classes), classes: classes, step: 0)
        let a = fit.design(x, rows: rows)
        var gram = [Double](repeating: 0, count: d1 * d1)
        BLAS.accumulateGram(&gram, rows: a, n: n, d: d1)
        let largest = (LinearAlgebra.symmetricEigenvalues(gram, d: d1)?.first ?? gram.enumerated().filter { $0.offset % (d1 + 1) == 0 }.reduce(0) { $0 + $1.element })
        let lipschitz = 0.5 * max(largest, 0) / Double(max(n, 1)) + l2
        let step = 1 / lipschitz
        let rootKappa = (lipschitz / l2).squareRoot()
        let momentum = (rootKappa - 1) / (rootKappa + 1)
        var w = fit.weights, previous = w, y = w
        var z = [Double](repeating: 0, count: n * classes), gradient = [Double](repeating: 0, count: d1 * classes)
        for _ in 0..<iterations {
            // z = A y; z ← (softmax(z) − onehot) / n; ∇ = Aᵀ z + λ y (bias row excluded).
            BLAS.dgemm(transA: false, transB: false, m: n, n: classes, k: d1, a: a, lda: d1, b: y, ldb: classes, c: &z, ldc: classes)
            for r in 0..<n {
                let row = r * classes
                var top = -Double.infinity
                for c in 0..<classes { top = max(top, z[row + c]) }
                var sum = 0.0
                for c in 0..<classes { z[row + c] = exp(z[row + c] - top); sum += z[row + c] }
                for c in 0..<classes { z[row + c] /= sum }
                z[row + labels[rows[r]]] -= 1
                for c in 0..<classes { z[row + c] /= Double(n) }
            }
            BLAS.dgemm(transA: true, transB: false, m: d1, n: classes, k: n, a: a, lda: d1, b: z, ldb: classes, c: &gradient, ldc: classes)
            for i in 0..<(d * classes) { gradient[i] += l2 * y[i] }
            previous = w
            for i in 0..<w.count { w[i] = y[i] - step * gradient[i] }
            for i in 0..<w.count { y[i] = w[i] + momentum * (w[i] - previous[i]) }
        }
        fit.weights = w
        fit.step = step
        return fit
    }

    /// The probe recovery of `forget` on `model` (with `parameters` in place of its stored weights
    /// of those names, `offset` added to every input) from the labelled `data`.
    /// - Throws: ``Failure``; errors of the model run.
    public static func evaluate(_ model: Model, data: Dataset, forget: Set<Int>, batchSize: Int, parameters: [String: Tensor] = [:],
                                offset: Tensor? = nil, configuration: Configuration) throws -> ProbeRecoveryResult {
        guard data.labels != nil else { throw Failure.unlabelled }
        return try probe(features(model, data, batchSize: batchSize, parameters: parameters, offset: offset), model: model, data: data, forget: forget,
                         configuration: configuration)
    }

    /// The accuracies of ``Evaluation/evaluate(_:_:forget:batchSize:parameters:offset:progress:)`` and the probe recovery
    /// from the same forward pass: the probe costs only its fit. A model without a final
    /// classifier layer is evaluated as usual and the probe's ``Failure`` returned in its place.
    /// - Throws: errors of the model run.
    public static func evaluateWithProbe(_ model: Model, data: Dataset, forget: Set<Int>, batchSize: Int, parameters: [String: Tensor] = [:],
                                         configuration: Configuration) throws -> (report: EvaluationReport, probe: Result<ProbeRecoveryResult, Failure>) {
        let pass: (features: Tensor, logits: Tensor, layer: Int)
        do {
            pass = try features(model, data, batchSize: batchSize, parameters: parameters)
        } catch let failure as Failure {
            return (try Evaluation.evaluate(model, data, forget: forget, batchSize: batchSize, parameters: parameters), .failure(failure))
        }
        var report = Evaluation.report(predictions: Evaluation.predictions(pass.logits), labels: data.labels ?? [], classes: pass.logits.shape[1],
                                       forget: forget)
        report.classNames = model.classNames(0..<report.confusion.count)
        do {
            return (report, .success(try probe(pass, model: model, data: data, forget: forget, configuration: configuration)))
        } catch let failure as Failure {
            return (report, .failure(failure))
        }
    }

    /// The probe on the features of one pass (``features(_:_:batchSize:parameters:offset:)``).
    static func probe(_ pass: (features: Tensor, logits: Tensor, layer: Int), model: Model, data: Dataset, forget: Set<Int>,
                      configuration: Configuration) throws -> ProbeRecoveryResult {
        precondition(configuration.samplesPerClass > 0 && configuration.iterations >= 0 && configuration.l2 > 0)
        guard let labels = data.labels else { throw Failure.unlabelled }
        let (x, logits, layerIndex) = pass
        guard x.data.allSatisfy(\.isFinite) else { throw Failure.nonFiniteFeatures }
        let classes = max(logits.shape[1], (labels.max() ?? -1) + 1)
        let (fitRows, heldOut) = split(labels: labels, samplesPerClass: configuration.samplesPerClass, seed: configuration.seed)
        let heldOutForget = heldOut.filter { forget.contains(labels[$0]) }, heldOutRetain = heldOut.filter { !forget.contains(labels[$0]) }
        guard !heldOutForget.isEmpty else { throw Failure.noHeldOutForgetSamples }
        if let limit = configuration.maxOperations {
            let cost = fitCost(samples: fitRows.count, features: x.shape[1], classes: classes, iterations: configuration.iterations)
            guard cost <= limit else { throw Failure.tooCostly(operations: cost, limit: limit) }
        }
        let probe = fit(x, labels: labels, rows: fitRows, classes: classes, l2: configuration.l2, iterations: configuration.iterations)
        func accuracy(_ rows: [Int]) -> Double? {
            guard !rows.isEmpty else { return nil }
            return Double(zip(probe.predict(x, rows: rows), rows).filter { $0 == labels[$1] }.count) / Double(rows.count)
        }
        let modelPredictions = Evaluation.predictions(logits)
        let layer = model.graph.weightLayers[layerIndex]
        return ProbeRecoveryResult(
            variant: "logistic-regression", layer: layer.nodeName, weight: layer.weight, features: x.shape[1], samples: configuration.samplesName,
            fitSamplesPerClass: configuration.samplesPerClass, fitSamples: fitRows.count, heldOutSamples: heldOut.count,
            heldOutForgetSamples: heldOutForget.count, seed: configuration.seed, l2: configuration.l2, iterations: configuration.iterations,
            step: probe.step, forgetAccuracy: accuracy(heldOutForget), retainAccuracy: accuracy(heldOutRetain),
            modelForgetAccuracy: Double(heldOutForget.filter { modelPredictions[$0] == labels[$0] }.count) / Double(heldOutForget.count),
            direction: "lower = more forgotten")
    }
}

/// A model and data set read by parallel workers (a forward pass does not mutate the graph).
private struct Unchecked: @unchecked Sendable {
    let model: Model
    let data: Dataset
    let parameters: [String: Tensor]
}
