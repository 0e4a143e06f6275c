import ModelRuntime
import TensorCore

/// Projected-gradient unlearning (Hoang, Rana, Gupta, Venkatesh, WACV 2024), per `docs/methods.md` §3.
///
/// Retain spaces (``RetainSpace``) come from stored per-class statistics (the retained classes'
/// Grams: exactly `C_full − C_forget`, without cancellation) or from retained-class samples of the
/// data. Then plain SGD on forget batches with ``ForgetLoss``: for every Conv/Linear weight
/// `W ← W − lr (G − G P)` (`G = ∂L/∂W` flattened out × d; `P G` for weights stored inputs × outputs),
/// biases and norms frozen, BatchNorm in eval mode, the learning rate decaying exponentially from
/// `lrStart` to `lrEnd` over the epochs.
///
/// After every epoch the forget accuracy (on the forget samples) and, when retained-class samples
/// are given, the retain accuracy are measured. The run stops when the forget accuracy reaches the
/// target (chance, `1 / classes`, by default; statistics-only runs go on past it, below), or when the retain accuracy fell more than
/// `maxRetainDrop` points below the original's. Kept: among epochs within the retain limit, the one
/// with the lowest forget accuracy (the earliest on ties; see below for statistics-only runs).
///
/// Statistics-only runs (no retained-class samples; modelforget's extension) are guarded by the
/// estimated retain damage of each layer (``RetainDamage``) instead: a layer whose damage would pass
/// ``Settings/maxRetainDamage`` after an epoch goes back to its weights before that epoch and moves
/// no more (it is *frozen*), while the other layers go on. A run that does not reach the target is
/// run again with both learning rates scaled by the next of ``Settings/learningRateFactors``
/// (a step-size range test upwards: the reference's rates leave small models untouched); the run
/// whose best epoch forgot most is kept. Two more extensions hold for these runs only, both
/// because nothing scores what the run does to unseen samples:
/// - The input layer (the first weight layer, reading raw inputs) is left unedited
///   (``Settings/statisticsOnlyFreezesInputLayer``). Raw inputs of the retained and forgotten
///   classes share their dominant directions, so the projected gradient of that layer lies in the
///   low-energy tail of the retain Gram: a change the damage estimate rates as tiny (0.001) that
///   the layers above amplify, as they amplify adversarial perturbations (measured on a ResNet:
///   that layer's edit alone cost 4.95 points of retain accuracy, each stage of the others none).
/// - The run goes on past the target (``Settings/statisticsOnlyRunsPastTarget``) until
///   ``Settings/pastTargetPatience`` epochs lower neither the forget accuracy nor the loss (by 1 %
///   of its lowest), or the epochs end: the forget samples are the ones trained on, and unseen
///   samples of their classes forget less (a run stopped at 2 % on its forget samples left 5–12 %
///   on unseen ones). The target still decides whether the run forgot (and the learning-rate
///   ladder); within it, the kept epoch is the latest of the lowest forget accuracy.
/// - Forgetting is judged by the worse of two parts of the forget samples
///   (``Settings/statisticsOnlyForgetHoldout``): the ones trained on, and a share of every forget
///   class held out of training. A run that has learned its forget samples rather than their
///   classes then neither stops nor counts as forgotten.
public struct PGUUnlearning: WeightEditingEngine {
    /// PGU's own settings.
    public struct Settings: AuditedSettings {
        /// Share of the retain space's spectrum (cumulative square roots of eigenvalues) to protect.
        public var gamma: Double
        /// Learning rate of the first epoch.
        public var lrStart: Double
        /// Learning rate of the last epoch (exponential decay in between).
        public var lrEnd: Double
        public var epochs: Int
        /// Forget samples per SGD step.
        public var sgdBatchSize: Int
        /// Stop once the forget accuracy on the forget samples is at most this (statistics-only runs:
        /// go on past it, ``statisticsOnlyRunsPastTarget``); `nil`: chance, 1 / classes.
        public var targetForgetAccuracy: Double?
        /// Stop when retain accuracy on the retained-class samples falls more than this many points.
        public var maxRetainDrop: Double
        /// Statistics-only runs (no retained-class samples to score): stop before any layer's
        /// estimated retain damage (``RetainDamage``, the squared relative change of its outputs on
        /// the retain inputs) exceeds this.
        public var maxRetainDamage: Double = 0.01
        /// Statistics-only runs: factors of both learning rates tried in order while a run does not
        /// reach the target. A run that is not the last ends after ``abandonAfter`` epochs when its
        /// forget accuracy has not moved by a point and no layer has reached the damage limit (the
        /// step is too small to matter). `[1]` runs the given rates alone (`--lr-start` given).
        public var learningRateFactors: [Double] = [1, 4, 16]
        public static let abandonAfter = 20
        /// Statistics-only runs: leave the input layer (the first weight layer) unedited.
        public var statisticsOnlyFreezesInputLayer = true
        /// Statistics-only runs: go on past the target until ``pastTargetPatience`` epochs lower
        /// neither the forget accuracy on the forget samples nor the loss (by 1 % of its lowest);
        /// the kept epoch is then the latest with the lowest forget accuracy.
        public var statisticsOnlyRunsPastTarget = true
        /// Statistics-only runs: this share of every forget class's selected samples is held out of
        /// training (``SampleSelection/holdingOutForget(_:labels:seed:)``), and the forget accuracy of
        /// every epoch is the larger of the figures on the trained-on and the held-out samples.
        public var statisticsOnlyForgetHoldout = 0.2
        /// Share of every class held out before the forget samples are chosen (not trained on):
        /// `auto` scores the result on it. 0 (the default) trains on every forget sample.
        public var validationFraction = 0.0
        public static let pastTargetPatience = 10

        public init(gamma: Double = 0.95, lrStart: Double = 0.05, lrEnd: Double = 0.01, epochs: Int = 100, sgdBatchSize: Int = 128,
                    targetForgetAccuracy: Double? = nil, maxRetainDrop: Double = 5) {
            self.gamma = gamma
            self.lrStart = lrStart
            self.lrEnd = lrEnd
            self.epochs = epochs
            self.sgdBatchSize = sgdBatchSize
            self.targetForgetAccuracy = targetForgetAccuracy
            self.maxRetainDrop = maxRetainDrop
        }

        public init() { self.init(gamma: 0.95) }

        enum CodingKeys: String, CodingKey {
            case gamma, lrStart = "lr_start", lrEnd = "lr_end", epochs, sgdBatchSize = "batch_size"
            case targetForgetAccuracy = "target_forget_accuracy", maxRetainDrop = "max_retain_drop"
            case statisticsOnlyFreezesInputLayer = "statistics_only_freezes_input_layer"
            case statisticsOnlyRunsPastTarget = "statistics_only_runs_past_target", validationFraction = "validation_fraction"
            case statisticsOnlyForgetHoldout = "statistics_only_forget_holdout"
        }

        /// The forward-pass batch size is `evaluation_batch_size` here: `batch_size` is the SGD batch.
        public func encode(with selection: SampleSelection.Configuration, to encoder: any Encoder) throws {
            try selection.encodeFields(to: encoder, batchSizeKey: "evaluation_batch_size")
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(gamma, forKey: .gamma)
            try c.encode(lrStart, forKey: .lrStart)
            try c.encode(lrEnd, forKey: .lrEnd)
            try c.encode(epochs, forKey: .epochs)
            try c.encode(sgdBatchSize, forKey: .sgdBatchSize)
            try c.encodeIfPresent(targetForgetAccuracy, forKey: .targetForgetAccuracy)
            try c.encode(maxRetainDrop, forKey: .maxRetainDrop)
            try c.encode(statisticsOnlyFreezesInputLayer, forKey: .statisticsOnlyFreezesInputLayer)
            try c.encode(statisticsOnlyRunsPastTarget, forKey: .statisticsOnlyRunsPastTarget)
            try c.encode(statisticsOnlyForgetHoldout, forKey: .statisticsOnlyForgetHoldout)
            if validationFraction > 0 { try c.encode(validationFraction, forKey: .validationFraction) }
        }

        func learningRate(epoch e: Int) -> Double {
            epochs <= 1 ? lrStart : lrStart * _exp(_log(lrEnd / lrStart) * Double(e) / Double(epochs - 1))
        }
    }

    /// The samples (shared by every engine; forget samples are trained on, retained-class samples
    /// give the retain statistics when no statistics file is given and the retain accuracy of the
    /// stopping rule) and the settings of one run.
    public typealias Configuration = EngineConfiguration<Settings>

    /// One epoch's figures (epoch 0: the original model).
    public struct Epoch: Codable, Sendable, Equatable {
        public var epoch: Int
        public var learningRate: Double
        /// Mean loss over the epoch's batches (0 for epoch 0).
        public var loss: Double
        public var forgetAccuracy: Double
        public var retainAccuracy: Double?
        /// Statistics-only runs: the largest estimated retain damage of a layer (``RetainDamage``).
        public var retainDamage: Double? = nil
        /// Statistics-only runs: the weights this epoch froze (their layer would have passed the
        /// damage limit; they keep their value from the epoch before and move no more); `nil` when none.
        public var frozen: [String]? = nil

        enum CodingKeys: String, CodingKey {
            case epoch, loss, learningRate = "learning_rate", forgetAccuracy = "forget_accuracy", retainAccuracy = "retain_accuracy"
            case retainDamage = "retain_damage", frozen
        }
    }

    public struct LayerReport: Codable, Sendable, Equatable {
        public var weight: String
        public var node: String
        public var kind: String
        public var dimension: Int
        public var groups: Int
        /// Protected directions `k` (summed over groups).
        public var retainRank: Int
        public var retainVectors: Int
        public var changeNorm: Double
        public var relativeChange: Double
        /// Statistics-only runs: the layer's estimated retain damage (``RetainDamage``) at the kept
        /// epoch; `nil` when retain accuracy was measured or the layer is not guarded.
        public var estimatedRetainDamage: Double?

        enum CodingKeys: String, CodingKey {
            case weight, node, kind, dimension, groups, retainRank = "retain_rank", retainVectors = "retain_vectors"
            case changeNorm = "change_norm", relativeChange = "relative_change", estimatedRetainDamage = "estimated_retain_damage"
        }
    }

    public struct Result: EngineResult, Sendable {
        public var configuration: Configuration
        public var editedWeights: [String: Tensor]
        public var selection: SampleSelection
        public var layers: [LayerReport]
        public var epochs: [Epoch]
        public var bestEpoch: Int
        public var stopReason: String
        public var timings: [String: Double]
        /// Statistics-only runs: the damage limit that guarded them (retain accuracy was not measured).
        public var retainDamageLimit: Double? = nil
        /// Statistics-only runs: the factor of both learning rates of the kept run, and every factor
        /// tried (``Settings/learningRateFactors``, in order, up to the run that reached the target).
        public var learningRateFactor: Double? = nil
        public var learningRateFactorsTried: [Double]? = nil
        /// The kept epoch's forget accuracy on the forget samples, and the target it was run to.
        public var forgetAccuracy: Double { epochs.first { $0.epoch == bestEpoch }?.forgetAccuracy ?? 1 }
        public var targetForgetAccuracy: Double = 0

        public var provenance: [String: String] {
            ["modelforget.gamma": String(configuration.settings.gamma), "modelforget.epochs": String(bestEpoch)]
        }

        public var details: AuditRecord.Details {
            .pgu(self)
        }
    }

    /// Runs the engine. With `statistics`, the retain spaces come from the file's retained classes and
    /// `data` needs only forget samples (retained-class samples in it still serve the stopping rule).
    public static func run(_ model: Model, data: Dataset, statistics: StatisticsFile? = nil, configuration c: Configuration,
                           clock: () -> Double, progress: ((String, Int, Int) -> Void)? = nil) throws -> Result {
        guard let labels = data.labels else { throw UnlearningError.noLabels }
        guard !model.graph.weightLayers.isEmpty else { throw UnlearningError.noWeightLayers }
        var timings: [String: Double] = [:]
        var t = clock()
        func lap(_ phase: String) { let now = clock(); timings[phase] = now - t; t = now }
        let forget = Set(c.selection.forgetClasses)
        let selection = c.selection.select(labels: labels, validationFraction: c.settings.validationFraction)
        guard !selection.forget.isEmpty else { throw UnlearningError.emptyForgetSet(classes: c.selection.forgetClasses) }
        lap("select_samples")

        // Retain statistics: stored classes other than the forget classes, or retained samples of the data.
        let retainGrams: [GramKey: LayerGram]
        if let statistics {
            try statistics.check(against: model)
            let retained = Set(statistics.grams.keys).subtracting(forget)
            guard !retained.isEmpty else { throw UnlearningError.emptyRetainSet }
            retainGrams = statistics.summed(classes: retained)
        } else {
            guard !selection.retain.isEmpty else { throw UnlearningError.emptyRetainSet }
            retainGrams = try ActivationStatistics.collect(model, data: data, indices: selection.retain, batchSize: c.selection.batchSize,
                                                           sampling: c.selection.patchSampling,
                                                           progress: progress.map { p in { p("retain statistics", $0, $1) } })
        }
        lap("collect_statistics")
        let keys = retainGrams.keys.sorted()
        let spaces = try Parallel.map(keys.count) { i -> RetainSpace in
            let gram = retainGrams[keys[i]]!
            guard let space = RetainSpace(gram: gram.gram, dimension: gram.dimension, gamma: c.settings.gamma) else {
                throw UnlearningError.factorizationFailed(layer: keys[i].layer)
            }
            return space
        }
        let retainSpaces = Dictionary(uniqueKeysWithValues: zip(keys, spaces))
        lap("retain_spaces")

        // SGD on forget batches. The current weights of the layers live here, passed to every
        // forward pass as overrides; the graph keeps the original ones.
        let original = model.graph.parameters
        let layers = model.graph.weightLayers
        var current = layers.reduce(into: [String: Tensor]()) { $0[$1.weight] = original[$1.weight] }
        let classes = try Evaluation.logits(model, Dataset(x: try data.samples([selection.forget[0]]), labels: nil), batchSize: 1).shape[1]
        let target = c.settings.targetForgetAccuracy ?? 1 / Double(max(classes, 1))
        let monitorRetain = !selection.retain.isEmpty
        // Statistics-only runs train on part of the forget samples and judge forgetting on both parts.
        let (trainedForget, heldOutForget) = monitorRetain
            ? (selection.forget, [])
            : selection.holdingOutForget(c.settings.statisticsOnlyForgetHoldout, labels: labels, seed: c.selection.seed)
        func accuracies() throws -> (forget: Double, retain: Double?) {
            let forgetAccuracy = try ForgetRetainScores.worseForgetAccuracy(model, data: data, trainedOn: trainedForget, heldOut: heldOutForget,
                                                                          forget: forget, batchSize: c.selection.batchSize, parameters: current)
            guard monitorRetain else { return (forgetAccuracy, nil) }
            let retainAccuracy = try ForgetRetainScores.accuracies(model, data: data, indices: selection.retain, forget: forget,
                                                                  batchSize: c.selection.batchSize, parameters: current).retain
            return (forgetAccuracy, retainAccuracy)
        }
        let (forgetBefore, retainBefore) = try accuracies()
        // Without retained-class samples, the retain Grams guard the run instead (``RetainDamage``).
        let damageGuard = monitorRetain ? nil : RetainDamage(grams: retainGrams, layers: layers, original: original)
        /// One epoch of projected SGD on the forget samples in `order` at rate `lr`, moving the
        /// weights of `current` not `frozen`; the mean loss over its batches.
        func descend(order: [Int], lr: Double, frozen: Set<String>) throws -> Double {
            var lossSum = 0.0, batches = 0, position = 0
            while position < order.count {
                let batch = Array(order[position..<min(position + c.settings.sgdBatchSize, order.count)])
                let (loss, gradients) = try BatchGradients.compute(model, parameters: current, data: data, batch: batch) { logits, indices, total in
                    ForgetLoss.evaluate(logits: logits, labels: indices.map { labels[$0] }, total: total)
                }
                lossSum += loss
                batches += 1
                for (index, layer) in layers.enumerated() where !frozen.contains(layer.weight) {
                    guard var weight = current[layer.weight], let g = gradients[layer.weight] else { continue }
                    for group in 0..<layer.groups {
                        let key = GramKey(layer: index, group: group)
                        guard let space = retainSpaces[key] else { continue }
                        let projected = SVDProjection.edit(g, layout: layer.layout, group: group, groups: layer.groups, dimension: space.dimension) {
                            rows, count in space.removingRetainComponent(rows, count: count)
                        }
                        let rows = group * weight.count / layer.groups
                        let range = layer.groups == 1 ? 0..<weight.count : rows..<(rows + weight.count / layer.groups)
                        for i in range { weight.data[i] -= Float(lr) * projected.data[i] }
                    }
                    current[layer.weight] = weight
                }
                position += batch.count
            }
            return lossSum / Double(max(batches, 1))
        }
        let start = current
        // Statistics-only runs leave the weights of the first layer unedited (those of no later layer),
        // unless no other guarded layer would be left to move.
        let firstLayer = Set(layers.map(\.weight)).subtracting(SVDUnlearning.restricted(original, to: 1, layers: layers).keys)
        let inputLayer: Set<String> =
            if let damageGuard, c.settings.statisticsOnlyFreezesInputLayer, !damageGuard.guardedWeights.isSubset(of: firstLayer) { firstLayer } else { [] }
        // Statistics-only runs go on past the target while the forget accuracy or the loss falls.
        let pastTarget = damageGuard != nil && c.settings.statisticsOnlyRunsPastTarget
        let factors = damageGuard == nil || c.settings.learningRateFactors.isEmpty ? [1.0] : c.settings.learningRateFactors
        // The run kept so far: the one whose best epoch forgot most (the earlier on ties).
        var kept: (epochs: [Epoch], best: (epoch: Int, forget: Double, weights: [String: Tensor])?, stopReason: String, factor: Double)?
        var tried: [Double] = []
        for (attempt, factor) in factors.enumerated() {
            current = start
            var epochs = [Epoch(epoch: 0, learningRate: 0, loss: 0, forgetAccuracy: forgetBefore, retainAccuracy: retainBefore)]
            var best: (epoch: Int, forget: Double, weights: [String: Tensor])?
            // The last epoch that lowered the forget accuracy or the loss (by 1 % of the lowest loss so far).
            var lastProgress = 0, lowestLoss = Double.infinity
            var stopReason = "ran all \(c.settings.epochs) epochs"
            var rng = SplitMix64(seed: c.selection.seed ^ 0x5047_5500)
            // Statistics-only runs: weights whose layer would pass the damage limit stay at their last
            // value within it, and the other layers go on forgetting.
            var frozen = inputLayer
            // Each guarded layer's damage (by layer index) at the current weights: a frozen layer's
            // stays what it was when it froze, so it is measured once.
            var damages: [Int: Double] = [:]
            for epoch in 1...max(c.settings.epochs, 1) {
                let lr = factor * c.settings.learningRate(epoch: epoch - 1)
                let previous = current
                let loss = try descend(order: trainedForget.shuffled(using: &rng), lr: lr, frozen: frozen)
                var newlyFrozen: [String] = []
                if let damageGuard {
                    let measured = damageGuard.perLayer(current: current, original: original, skipping: frozen)
                    for layer in measured where layer.damage > c.settings.maxRetainDamage {
                        current[layer.weight] = previous[layer.weight]
                        if frozen.insert(layer.weight).inserted { newlyFrozen.append(layer.weight) }
                    }
                    // A layer put back has the damage it had at the weights it went back to.
                    let before = damages
                    for layer in measured { damages[layer.layer] = newlyFrozen.contains(layer.weight) ? before[layer.layer] ?? 0 : layer.damage }
                }
                let (forgetAccuracy, retainAccuracy) = try accuracies()
                epochs.append(Epoch(epoch: epoch, learningRate: lr, loss: loss, forgetAccuracy: forgetAccuracy, retainAccuracy: retainAccuracy,
                                    retainDamage: damageGuard == nil ? nil : damages.values.reduce(0, max),
                                    frozen: newlyFrozen.isEmpty ? nil : newlyFrozen))
                progress?("epochs", epoch, c.settings.epochs)
                if let damageGuard, damageGuard.guardedWeights.isSubset(of: frozen) {
                    stopReason = "epoch \(epoch): every layer reached the estimated retain damage limit \(c.settings.maxRetainDamage) "
                        + "(retain accuracy not measured: no retained-class samples)"
                    break
                }
                if let retainBefore, let retainAccuracy, (retainBefore - retainAccuracy) * 100 > c.settings.maxRetainDrop {
                    stopReason = "epoch \(epoch): retain accuracy fell more than \(c.settings.maxRetainDrop) points"
                    break
                }
                // Past the target, a tie replaces the candidate too (more epochs: more margin for unseen samples).
                let lower = best == nil || forgetAccuracy < best!.forget
                if lower || loss < lowestLoss - 0.01 * abs(lowestLoss) { lastProgress = epoch }
                lowestLoss = min(lowestLoss, loss)
                if lower || (pastTarget && forgetAccuracy <= min(best!.forget, target)) {
                    best = (epoch, forgetAccuracy, layers.reduce(into: [:]) { $0[$1.weight] = current[$1.weight] })
                }
                if !pastTarget, forgetAccuracy <= target {
                    stopReason = "epoch \(epoch): forget accuracy \(forgetAccuracy) reached the target \(target)"
                    break
                }
                if pastTarget, let best, best.forget <= target, epoch - lastProgress >= Settings.pastTargetPatience {
                    stopReason = "epoch \(epoch): forget accuracy \(best.forget), within the target \(target); neither it nor the loss fell "
                        + "in the \(Settings.pastTargetPatience) epochs since epoch \(lastProgress) (statistics-only run, going on past the target)"
                    break
                }
                if attempt < factors.count - 1, epoch == Settings.abandonAfter, frozen == inputLayer, forgetBefore - forgetAccuracy < 0.01 {
                    stopReason = "abandoned after \(epoch) epochs: forget accuracy moved less than a point"
                    break
                }
            }
            if factors.count > 1 { stopReason = "learning rates ×\(factor.formatted()): " + stopReason }
            tried.append(factor)
            let reached = (best?.forget ?? 1) <= target
            if kept == nil || (best != nil && best!.forget < (kept!.best?.forget ?? .infinity)) { kept = (epochs, best, stopReason, factor) }
            // Reached, or every layer frozen at once: a larger step would only freeze sooner.
            if reached || best == nil { break }
        }
        let (epochs, best, stopReason, factor) = kept!
        lap("training")
        guard let best else {
            if damageGuard != nil { throw UnlearningError.noEpochWithinRetainDamage(limit: c.settings.maxRetainDamage) }
            throw UnlearningError.noEpochWithinRetainLimit(maxDrop: c.settings.maxRetainDrop)
        }
        let keptDamages = Dictionary(uniqueKeysWithValues: (damageGuard?.perLayer(current: best.weights, original: original) ?? []).map {
            ($0.layer, $0.damage) })
        var reports: [LayerReport] = []
        for (index, layer) in layers.enumerated() {
            guard let before = original[layer.weight], let after = best.weights[layer.weight] else { continue }
            let keys = (0..<layer.groups).map { GramKey(layer: index, group: $0) }
            let (change, norm) = SVDUnlearning.squaredNorms(before, after)
            reports.append(LayerReport(weight: layer.weight, node: layer.nodeName, kind: layer.kind == .convolution ? "conv" : "linear",
                                       dimension: retainSpaces[keys[0]]?.dimension ?? 0, groups: layer.groups,
                                       retainRank: keys.compactMap { retainSpaces[$0]?.rank }.reduce(0, +),
                                       retainVectors: keys.compactMap { retainGrams[$0]?.rows }.reduce(0, +),
                                       changeNorm: change.squareRoot(), relativeChange: norm > 0 ? (change / norm).squareRoot() : 0,
                                       estimatedRetainDamage: keptDamages[index]))
        }
        return Result(configuration: c, editedWeights: best.weights, selection: selection, layers: reports, epochs: epochs, bestEpoch: best.epoch,
                      stopReason: stopReason, timings: timings, retainDamageLimit: damageGuard == nil ? nil : c.settings.maxRetainDamage,
                      learningRateFactor: damageGuard == nil ? nil : factor, learningRateFactorsTried: damageGuard == nil ? nil : tried,
                      targetForgetAccuracy: target)
    }
}
