import ModelRuntime
import TensorCore

/// Forget vectors (Sun et al., "Forget Vectors at Play", 2024), per `docs/methods.md` §4: one
/// input-shaped perturbation `δ` that, added to every input of the frozen model, makes it forget
/// the classes.
///
/// `δ` is stored in its ``Space``: in pixel space the model sees `x + δ / std` per channel (its
/// inputs being `(pixel − mean) / std`), in normalised space `x + δ`. Per mixed batch of `B`
/// forget and retain samples with logits `z = f(x + δ_model)`:
/// ```
/// L = (α Σ_retain CE(z, y) + β Σ_forget max(z_y − max_{c≠y} z_c, −τ) + λ ‖δ‖₂) / B
/// ```
/// minimised by SGD with momentum (`v = μ v + g`, `δ −= lr v`, weight decay folded into `g`), the
/// learning rate × `lrDecay` per epoch, `δ` starting at zero.
///
/// Epoch selection (stated, never manual; `docs/methods.md` §4.4): among the epochs whose forget
/// accuracy (the worse of the trained-on and the held-out forget samples, ``Settings/forgetHoldout``)
/// is at most `targetForgetAccuracy` with a retain drop of at most `maxRetainDrop` points, the one
/// with the largest worst relative margin to the two limits, the run ending `patience` epochs after it; its vector is kept scaled by the `t ∈ (0, 1]` with the largest such margin
/// (``largestMarginScale(target:maxRetainDrop:retainBefore:figures:)``). If no epoch meets both,
/// among epochs within the retain budget, the one with the lowest forget accuracy (the earliest on
/// ties; epoch 0, no vector, if no later one is within it). Learned combinations
/// (``fitCoefficients(_:data:bases:initial:placement:configuration:progress:)``) may start outside
/// the budget; if every epoch is outside it, the one with the smallest retain drop is kept.
public enum ForgetVector {
    public enum Space: String, Sendable, Codable { case pixel, normalized }

    /// The forget vector's loss, optimiser and stopping settings.
    public struct Settings: EngineSettings {
        /// Margin τ: forget samples are pushed until their true logit is τ below the best other.
        public var tau = 1.0
        /// Weight α of the retain cross-entropy.
        public var alpha = 1.0
        /// Weight β of the forget margin term.
        public var beta = 3.0
        /// Weight λ of the norm penalty.
        public var lambda = 1.0
        public var learningRate = 0.2
        public var momentum = 0.9
        public var weightDecay = 5e-4
        /// Learning-rate factor per epoch.
        public var lrDecay = 0.9
        public var epochs = 60
        /// The epoch rule: forget accuracy at most this, with a retain drop of at most
        /// ``maxRetainDrop`` points.
        public var targetForgetAccuracy = 0.1
        public var maxRetainDrop = 5.0
        /// This fraction of every forget class's selected samples is held out of training
        /// (``SampleSelection/holdingOutForget(_:labels:seed:)``, as `selection.validation`), and the
        /// epoch rule's forget accuracy is the larger of the figures on the trained-on and the
        /// held-out forget samples (`docs/methods.md` §4.4); 0 judges the trained-on samples alone.
        /// Retain accuracy is judged on the trained-on retain samples.
        public var forgetHoldout = 0.2
        /// Once an epoch meets both limits, the run goes on until this many epochs pass without
        /// one that meets them with a larger worst relative margin
        /// (``worstRelativeMargin(forget:drop:target:maxRetainDrop:)``); 0 ends it at the first.
        /// The retain term keeps working after the forget target is first reached, so later
        /// epochs often hold the forget accuracy at a smaller retain cost.
        public var patience = 5
        /// At most this many runs of ``ForgetVector/make(_:data:placement:configuration:progress:)``
        /// while no epoch meets both limits; each run's first-epoch rate is ``learningRateStep``
        /// times smaller or larger than the last one's (``nextLearningRateFactor(after:overshot:firstOvershot:step:)``).
        /// 1 runs the given rate alone.
        public var learningRateRuns = 4
        /// The ratio between the first-epoch rates of consecutive runs.
        public var learningRateStep = 4.0

        public init() {}
    }

    /// The samples (shared by every engine; `selection.batchSize` is also the SGD batch) and the
    /// settings of one run.
    public typealias Configuration = EngineConfiguration<Settings>

    /// Where `δ` lives: pixel space with per-channel normalisation constants, or the model's input space.
    public struct Placement: Sendable, Equatable {
        public var space: Space
        public var mean: [Double]
        public var std: [Double]

        public init(space: Space, mean: [Double] = [], std: [Double] = []) {
            self.space = space; self.mean = mean; self.std = std
        }

        /// The offset the model sees: `δ / std` per channel (axis 0 of the sample) in pixel space
        /// with constants, `δ` otherwise.
        public func modelOffset(_ delta: Tensor) -> Tensor {
            guard space == .pixel, !std.isEmpty else { return delta }
            var offset = delta
            let perChannel = delta.count / max(std.count, 1)
            for i in 0..<delta.count { offset.data[i] = Float(Double(delta.data[i]) / std[min(i / perChannel, std.count - 1)]) }
            return offset
        }

        /// `∂L/∂δ` from `∂L/∂offset` (the chain rule through ``modelOffset(_:)``).
        func deltaGradient(_ offsetGradient: [Double]) -> [Double] {
            guard space == .pixel, !std.isEmpty else { return offsetGradient }
            let perChannel = offsetGradient.count / max(std.count, 1)
            return offsetGradient.enumerated().map { $0.element / std[min($0.offset / perChannel, std.count - 1)] }
        }
    }

    public struct Epoch: Codable, Sendable, Equatable {
        public var epoch: Int
        public var learningRate: Double
        public var loss: Double
        public var forgetAccuracy: Double
        public var retainAccuracy: Double
        public var norm: Double

        enum CodingKeys: String, CodingKey {
            case epoch, loss, norm, learningRate = "lr", forgetAccuracy = "forget_accuracy", retainAccuracy = "retain_accuracy"
        }
    }

    public struct Result {
        public var delta: Tensor
        /// The epochs of the kept run (epoch 0: no vector).
        public var epochs: [Epoch]
        public var selectedEpoch: Int
        /// The selected epoch's figures for the kept vector: its accuracies and norm after the
        /// scale (``scale``), which is 1 unless the epoch met both limits.
        public var kept: Epoch
        /// The kept vector is `scale ×` the selected epoch's
        /// (``largestMarginScale(target:maxRetainDrop:retainBefore:figures:)``).
        public var scale: Double
        public var selectionReason: String
        public var selection: SampleSelection
        /// The first-epoch learning rate of the kept run, and every rate run, in order.
        public var learningRate: Double
        public var learningRatesTried: [Double]
        /// Whether the selected epoch meets both limits (forget accuracy at most
        /// `targetForgetAccuracy`, retain drop at most `maxRetainDrop` points).
        public var meetsLimits: Bool
    }

    /// The loss of ``ForgetVector`` on one part of a batch and its gradient with respect to the
    /// logits (the δ-norm term is added by the caller): sums divided by `total`, the whole batch size.
    public static func loss(logits: Tensor, labels: [Int], isForget: [Bool], total: Int, tau: Double, alpha: Double, beta: Double)
        -> (loss: Double, gradient: Tensor)
    {
        let n = logits.shape[0], classes = logits.shape[1]
        var gradient = Tensor(zeros: [n, classes])
        var loss = 0.0
        for row in 0..<n {
            let z = Array(logits.data[(row * classes)..<((row + 1) * classes)]).map(Double.init)
            let y = labels[row]
            if isForget[row] {
                var other = y == 0 ? 1 : 0
                for c in 0..<classes where c != y && z[c] > z[other] { other = c }
                let margin = z[y] - z[other]
                loss += beta * max(margin, -tau)
                if margin > -tau {
                    gradient.data[row * classes + y] += Float(beta / Double(total))
                    gradient.data[row * classes + other] -= Float(beta / Double(total))
                }
            } else {
                let largest = z.max() ?? 0
                let sum = z.reduce(0) { $0 + _exp($1 - largest) }
                loss += alpha * (largest + _log(sum) - z[y])
                for c in 0..<classes {
                    let p = _exp(z[c] - largest) / sum
                    gradient.data[row * classes + c] = Float(alpha * (p - (c == y ? 1 : 0)) / Double(total))
                }
            }
        }
        return (loss / Double(total), gradient)
    }

    /// Loss and `∂L/∂δ` (without weight decay) for one mixed batch, over two workers.
    public static func gradient(_ model: Model, data: Dataset, batch: [Int], labels: [Int], forget: Set<Int>, delta: Tensor,
                                placement: Placement, configuration c: Configuration) throws -> (loss: Double, gradient: [Double]) {
        let offset = placement.modelOffset(delta)
        let halves = batch.count < 2 ? [batch] : [Array(batch[..<(batch.count / 2)]), Array(batch[(batch.count / 2)...])]
        let shared = SharedInputs(model: model, data: data)
        let parts = try Parallel.map(halves.count) { i -> (Double, [Double]) in
            var x = try shared.data.samples(halves[i])
            Evaluation.addToEverySample(&x, offset)
            let (outputs, record) = try shared.model.graph.forward([shared.model.inputName: x], recording: true)
            let logits = outputs[shared.model.outputName]!
            let part = Self.loss(logits: logits, labels: halves[i].map { labels[$0] }, isForget: halves[i].map { forget.contains(labels[$0]) },
                            total: batch.count, tau: c.settings.tau, alpha: c.settings.alpha, beta: c.settings.beta)
            let grads = try shared.model.graph.backward(record, outputGradients: [shared.model.outputName: part.gradient])
            var summed = [Double](repeating: 0, count: offset.count)
            if let g = grads.inputs[shared.model.inputName] {
                for (i, v) in g.data.enumerated() { summed[i % offset.count] += Double(v) }
            }
            return (part.loss, summed)
        }
        var loss = parts[0].0, offsetGradient = parts[0].1
        for part in parts.dropFirst() {
            loss += part.0
            for i in 0..<offsetGradient.count { offsetGradient[i] += part.1[i] }
        }
        var g = placement.deltaGradient(offsetGradient)
        let norm = delta.data.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        loss += c.settings.lambda * norm / Double(batch.count)
        if norm > 0 { for i in 0..<g.count { g[i] += c.settings.lambda * Double(delta.data[i]) / (norm * Double(batch.count)) } }
        return (loss, g)
    }

    /// Learns a vector for `configuration.forgetClasses` from the labelled `data`: runs from the
    /// first-epoch rates `learningRate × factor`, the factor starting at 1 and moving by
    /// ``nextLearningRateFactor(after:overshot:firstOvershot:step:)`` for at most `learningRateRuns`
    /// runs, ending with the first run whose selected epoch meets both limits; if none does, the
    /// run whose selected epoch has the lowest forget accuracy within the retain limit (else the
    /// smallest retain drop) is kept, the earliest on ties.
    public static func make(_ model: Model, data: Dataset, placement: Placement, configuration c: Configuration,
                            progress: ((Int, Int) -> Void)? = nil) throws -> Result {
        let initial = [Double](repeating: 0, count: data.sampleShape.reduce(1, *))
        var kept: Result?
        var tried: [Double] = []
        var factor: Double? = 1
        var firstOvershot: Bool?
        let runs = max(c.settings.learningRateRuns, 1)
        while let current = factor, tried.count < runs {
            var runConfiguration = c
            runConfiguration.settings.learningRate = c.settings.learningRate * current
            tried.append(runConfiguration.settings.learningRate)
            let run = try descend(model, data: data, placement: placement, configuration: runConfiguration, initial: initial,
                                  delta: { Tensor(shape: data.sampleShape, data: $0.map(Float.init)) },
                                  gradient: { batch, labels, forget, parameters, delta in
                                      try gradient(model, data: data, batch: batch, labels: labels, forget: forget, delta: delta,
                                                   placement: placement, configuration: runConfiguration)
                                  }, progress: progress, abandonAfter: tried.count == runs ? nil : Self.abandonAfter)
            let drop = (run.epochs[0].retainAccuracy - run.kept.retainAccuracy) * 100
            let meets = run.kept.forgetAccuracy <= c.settings.targetForgetAccuracy && drop <= c.settings.maxRetainDrop
            let result = Result(delta: run.delta, epochs: run.epochs, selectedEpoch: run.selectedEpoch, kept: run.kept, scale: run.scale,
                                selectionReason: run.reason,
                                selection: run.selection, learningRate: runConfiguration.settings.learningRate, learningRatesTried: tried,
                                meetsLimits: meets)
            if kept == nil || isBetter(result, than: kept!, maxRetainDrop: c.settings.maxRetainDrop) { kept = result }
            kept!.learningRatesTried = tried
            if meets { break }
            let overshot = run.epochs.dropFirst().contains { (run.epochs[0].retainAccuracy - $0.retainAccuracy) * 100 > c.settings.maxRetainDrop }
            if firstOvershot == nil { firstOvershot = overshot }
            factor = nextLearningRateFactor(after: current, overshot: overshot, firstOvershot: firstOvershot!, step: c.settings.learningRateStep)
        }
        return kept!
    }

    /// The factor of the next run after a run at `factor` met no limits, or `nil` to stop
    /// (`docs/methods.md` §4.3). A run *overshot* when some epoch fell past the retain limit: its
    /// step was too large somewhere, so a smaller one (`factor / step`) may meet the limits. A run
    /// that stayed within the retain limit in every epoch did not travel far enough, and only a
    /// larger step (`factor × step`) can. The first run sets the direction; a later run that
    /// contradicts it ends the search, since the rate that meets the limits, if any, lies between
    /// two rates already run (going down: this smaller one travelled too little; going up: this
    /// larger one overshot), and a further step in that direction does worse.
    public static func nextLearningRateFactor(after factor: Double, overshot: Bool, firstOvershot: Bool, step: Double) -> Double? {
        guard overshot == firstOvershot else { return nil }
        return overshot ? factor / step : factor * step
    }

    /// A run of ``make(_:data:placement:configuration:progress:)`` that is not the last rate ends
    /// when its first this-many epochs are all outside the retain limit.
    static let abandonAfter = 5

    /// `a` before `b` among runs: meeting the limits, then ``isPreferred(_:over:retainBefore:maxRetainDrop:)``
    /// on their kept figures (``Result/kept``; every run starts from δ = 0, so from the same epoch 0).
    static func isBetter(_ a: Result, than b: Result, maxRetainDrop: Double) -> Bool {
        if a.meetsLimits != b.meetsLimits { return a.meetsLimits }
        func figures(_ r: Result) -> (forget: Double, retain: Double) { (r.kept.forgetAccuracy, r.kept.retainAccuracy) }
        return isPreferred(figures(a), over: figures(b), retainBefore: a.epochs[0].retainAccuracy, maxRetainDrop: maxRetainDrop)
    }

    /// The fallback order of epochs (and runs): staying within the retain limit first, then (both
    /// within) the lower forget accuracy, or (both outside) the higher retain accuracy.
    static func isPreferred(_ a: (forget: Double, retain: Double), over b: (forget: Double, retain: Double), retainBefore: Double,
                            maxRetainDrop: Double) -> Bool {
        let withinA = (retainBefore - a.retain) * 100 <= maxRetainDrop, withinB = (retainBefore - b.retain) * 100 <= maxRetainDrop
        if withinA != withinB { return withinA }
        return withinA ? a.forget < b.forget : a.retain > b.retain
    }

    /// Coefficients learned for a combination `δ = Σ_k w_k δ_k` of given vectors (`docs/methods.md` §4.5).
    public struct FitResult {
        public var coefficients: [Double]
        public var delta: Tensor
        public var epochs: [Epoch]
        public var selectedEpoch: Int
        /// As ``Result/kept`` and ``Result/scale`` (the coefficients are scaled).
        public var kept: Epoch
        public var scale: Double
        public var selectionReason: String
        public var selection: SampleSelection
    }

    /// Learns the coefficients `w` of `δ = Σ_k w_k δ_k` over `bases` (vectors in `placement`'s
    /// space) for `configuration.forgetClasses`, with the same loss as ``make`` except that the
    /// norm penalty is on the coefficients and not divided by the batch size, as in the reference:
    /// `L = (α Σ_retain CE + β Σ_forget margin) / B + λ ‖w‖₂`, so `∂L/∂w_k = ⟨∂L/∂δ, δ_k⟩ + λ w_k / ‖w‖₂`.
    /// The same optimiser, schedule and epoch rule as ``make``, starting from `initial` (epoch 0;
    /// zeros, the reference's first choice, keep that epoch within the retain budget).
    /// Coefficients may become negative.
    public static func fitCoefficients(_ model: Model, data: Dataset, bases: [Tensor], initial: [Double], placement: Placement,
                                       configuration c: Configuration, progress: ((Int, Int) -> Void)? = nil) throws -> FitResult {
        precondition(bases.count == initial.count && bases.allSatisfy { $0.shape == data.sampleShape })
        func combined(_ w: [Double]) -> Tensor {
            var sum = [Double](repeating: 0, count: data.sampleShape.reduce(1, *))
            for (weight, base) in zip(w, bases) { for i in 0..<sum.count { sum[i] += weight * Double(base.data[i]) } }
            return Tensor(shape: data.sampleShape, data: sum.map(Float.init))
        }
        let run = try descend(model, data: data, placement: placement, configuration: c, initial: initial, delta: combined,
                              gradient: { batch, labels, forget, w, delta in
                                  try coefficientGradient(model, data: data, batch: batch, labels: labels, forget: forget, bases: bases,
                                                          coefficients: w, delta: delta, placement: placement, configuration: c)
                              }, progress: progress)
        return FitResult(coefficients: run.parameters, delta: run.delta, epochs: run.epochs, selectedEpoch: run.selectedEpoch,
                         kept: run.kept, scale: run.scale, selectionReason: run.reason, selection: run.selection)
    }

    /// Loss and `∂L/∂w` of ``fitCoefficients`` for one mixed batch:
    /// `L = (α Σ_retain CE + β Σ_forget margin) / B + λ ‖w‖₂` at `δ = Σ_k w_k δ_k` (`delta`, passed
    /// in so that it is formed once per step), `∂L/∂w_k = ⟨∂L/∂δ, δ_k⟩ + λ w_k / ‖w‖₂`.
    public static func coefficientGradient(_ model: Model, data: Dataset, batch: [Int], labels: [Int], forget: Set<Int>, bases: [Tensor],
                                           coefficients w: [Double], delta: Tensor, placement: Placement,
                                           configuration c: Configuration) throws -> (loss: Double, gradient: [Double]) {
        var dataOnly = c
        dataOnly.settings.lambda = 0
        let (loss, g) = try gradient(model, data: data, batch: batch, labels: labels, forget: forget, delta: delta,
                                     placement: placement, configuration: dataOnly)
        let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let gw = zip(w, bases).map { weight, base in
            zip(g, base.data).reduce(0.0) { $0 + $1.0 * Double($1.1) } + (norm > 0 ? c.settings.lambda * weight / norm : 0)
        }
        return (loss + c.settings.lambda * norm, gw)
    }

    /// The optimiser shared by ``make`` and ``fitCoefficients``: momentum SGD with weight decay on
    /// the parameters θ (δ itself, or the coefficients), δ = `delta(θ)`, the learning rate × `lrDecay`
    /// per epoch, mixed shuffled batches of the selected forget and retain samples, and the stated
    /// epoch rule on the accuracies of those samples with δ added.
    private static func descend(
        _ model: Model, data: Dataset, placement: Placement, configuration c: Configuration, initial: [Double],
        delta: ([Double]) -> Tensor,
        gradient: (_ batch: [Int], _ labels: [Int], _ forget: Set<Int>, _ parameters: [Double], _ delta: Tensor) throws -> (loss: Double, gradient: [Double]),
        progress: ((Int, Int) -> Void)?, abandonAfter: Int? = nil
    ) throws -> (parameters: [Double], delta: Tensor, epochs: [Epoch], selectedEpoch: Int, kept: Epoch, scale: Double, reason: String,
                 selection: SampleSelection) {
        guard let labels = data.labels else { throw UnlearningError.noLabels }
        let forget = Set(c.selection.forgetClasses)
        var selection = c.selection.select(labels: labels)
        (selection.forget, selection.validation) = selection.holdingOutForget(c.settings.forgetHoldout, labels: labels,
                                                                               seed: c.selection.seed)
        guard !selection.forget.isEmpty else { throw UnlearningError.emptyForgetSet(classes: c.selection.forgetClasses) }
        guard !selection.retain.isEmpty else { throw UnlearningError.emptyRetainSet }
        func accuracies(_ delta: Tensor) throws -> (forget: Double, retain: Double) {
            let offset = placement.modelOffset(delta)
            let batchSize = c.selection.batchSize
            return (try ForgetRetainScores.worseForgetAccuracy(model, data: data, trainedOn: selection.forget, heldOut: selection.validation,
                                                               forget: forget, batchSize: batchSize, offset: offset),
                    try ForgetRetainScores.accuracies(model, data: data, indices: selection.retain, forget: forget, batchSize: batchSize, offset: offset).retain)
        }
        func norm(_ t: Tensor) -> Double { t.data.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        var parameters = initial
        var current = delta(parameters)
        let before = try accuracies(current)
        var epochs = [Epoch(epoch: 0, learningRate: 0, loss: 0, forgetAccuracy: before.forget, retainAccuracy: before.retain, norm: norm(current))]
        // Fallback choice: the lowest forget accuracy within the retain budget; if no epoch is within
        // it (a combination may start outside it; a new vector starts at δ = 0, which is within), the
        // smallest retain drop.
        func better(_ forget: Double, _ retain: Double, than best: (forget: Double, retain: Double)) -> Bool {
            isPreferred((forget, retain), over: best, retainBefore: before.retain, maxRetainDrop: c.settings.maxRetainDrop)
        }
        var best = (epoch: 0, forget: before.forget, retain: before.retain, parameters: parameters, delta: current)
        var reason = ""
        var velocity = [Double](repeating: 0, count: parameters.count)
        var rng = SplitMix64(seed: c.selection.seed ^ 0x4656_4543)
        let pool = (selection.forget + selection.retain).sorted()
        var lr = c.settings.learningRate
        var bestMargin = -Double.infinity
        let patience = max(c.settings.patience, 0)
        for epoch in 1...max(c.settings.epochs, 1) {
            let order = pool.shuffled(using: &rng)
            var lossSum = 0.0, batches = 0, start = 0
            while start < order.count {
                let batch = Array(order[start..<min(start + c.selection.batchSize, order.count)])
                var (loss, g) = try gradient(batch, labels, forget, parameters, current)
                for i in 0..<g.count {
                    g[i] += c.settings.weightDecay * parameters[i]
                    velocity[i] = c.settings.momentum * velocity[i] + g[i]
                    parameters[i] -= lr * velocity[i]
                }
                current = delta(parameters)
                lossSum += loss
                batches += 1
                start += batch.count
            }
            let (f, r) = try accuracies(current)
            epochs.append(Epoch(epoch: epoch, learningRate: lr, loss: lossSum / Double(max(batches, 1)), forgetAccuracy: f, retainAccuracy: r,
                                norm: norm(current)))
            progress?(epoch, c.settings.epochs)
            lr *= c.settings.lrDecay
            let drop = (before.retain - r) * 100
            if f <= c.settings.targetForgetAccuracy && drop <= c.settings.maxRetainDrop {
                let margin = worstRelativeMargin(forget: f, drop: drop, target: c.settings.targetForgetAccuracy,
                                                 maxRetainDrop: c.settings.maxRetainDrop)
                if margin > bestMargin { (best, bestMargin) = ((epoch, f, r, parameters, current), margin) }
            } else if bestMargin == -.infinity {
                if better(f, r, than: (best.forget, best.retain)) { best = (epoch, f, r, parameters, current) }
                // A step too large: every epoch so far outside the retain limit. The rate decays by
                // lrDecay per epoch, too slowly to recover; the caller runs a smaller one instead.
                if let abandonAfter, epoch == abandonAfter,
                   epochs.dropFirst().allSatisfy({ (before.retain - $0.retainAccuracy) * 100 > c.settings.maxRetainDrop }) {
                    reason = "abandoned after \(epoch) epochs, all outside the retain limit: epoch 0 kept"
                    break
                }
            }
            if bestMargin > -.infinity && epoch - best.epoch >= patience { break }
        }
        var kept = epochs[best.epoch], scale = 1.0
        if bestMargin > -.infinity {
            reason = "epoch with the largest worst relative margin to forget accuracy ≤ \(c.settings.targetForgetAccuracy) and retain drop ≤ "
                + "\(c.settings.maxRetainDrop) points"
            // Along the ray: the kept vector is t·θ with the largest worst relative margin (t = 1 is the epoch's own).
            let parameters = best.parameters
            let chosen = try largestMarginScale(target: c.settings.targetForgetAccuracy, maxRetainDrop: c.settings.maxRetainDrop,
                                                retainBefore: before.retain) { t in
                t == 1 ? (best.forget, best.retain) : try accuracies(delta(parameters.map { $0 * t }))
            }
            if chosen.scale != 1 {
                let scaled = parameters.map { $0 * chosen.scale }, vector = delta(scaled)
                best = (best.epoch, chosen.forget, chosen.retain, scaled, vector)
                kept = Epoch(epoch: kept.epoch, learningRate: kept.learningRate, loss: kept.loss, forgetAccuracy: chosen.forget,
                             retainAccuracy: chosen.retain, norm: norm(vector))
                scale = chosen.scale
                reason += String(format: ", scaled by %.2f to the largest worst relative margin", chosen.scale)
            }
        } else if reason.isEmpty {
            reason = (before.retain - best.retain) * 100 <= c.settings.maxRetainDrop
                ? "no epoch met both limits: lowest forget accuracy within the retain limit"
                : "no epoch met both limits or stayed within the retain limit: smallest retain drop"
        }
        return (best.parameters, best.delta, epochs, best.epoch, kept, scale, reason, selection)
    }

    /// The scales tried by ``largestMarginScale(target:maxRetainDrop:retainBefore:figures:)``:
    /// 0.1, 0.2, …, 1, then the best one ± 0.05.
    static let coarseScales = (1...10).map { Double($0) / 10 }

    /// The worst relative margin of a point to the two limits,
    /// `min((target − f) / target, (limit − drop) / limit)` with the drop in points; a limit of
    /// zero contributes a margin of zero. Negative outside a limit.
    public static func worstRelativeMargin(forget: Double, drop: Double, target: Double, maxRetainDrop: Double) -> Double {
        let forgetMargin = target > 0 ? (target - forget) / target : (forget <= 0 ? 0 : -1)
        let dropMargin = maxRetainDrop > 0 ? (maxRetainDrop - drop) / maxRetainDrop : (drop <= 0 ? 0 : -1)
        return min(forgetMargin, dropMargin)
    }

    /// The scale `t ∈ (0, 1]` of the kept vector (`docs/methods.md` §4.4): `figures(t)` gives the
    /// forget and retain accuracies with `t·θ`, and `t = 1` meets both limits. Among
    /// `t = 0.1, 0.2, …, 1` and then the best `t ± 0.05`, the one whose
    /// ``worstRelativeMargin(forget:drop:target:maxRetainDrop:)`` is largest, the larger `t` on ties.
    /// A vector that overshoots the forget target (0 % where 10 % is allowed) costs retain accuracy
    /// for nothing; one at the retain limit on its own training samples passes it on unseen ones.
    public static func largestMarginScale(target: Double, maxRetainDrop: Double, retainBefore: Double,
                                          figures: (Double) throws -> (forget: Double, retain: Double))
        throws -> (scale: Double, forget: Double, retain: Double) {
        var best = (scale: 1.0, margin: -Double.infinity, forget: 0.0, retain: 0.0)
        func consider(_ t: Double) throws {
            let (f, r) = try figures(t)
            let margin = worstRelativeMargin(forget: f, drop: (retainBefore - r) * 100, target: target, maxRetainDrop: maxRetainDrop)
            if margin > best.margin || (margin == best.margin && t > best.scale) { best = (t, margin, f, r) }
        }
        for t in coarseScales { try consider(t) }
        let twentieths = (best.scale * 20).rounded()
        for t in [(twentieths - 1) / 20, (twentieths + 1) / 20] where t > 0 && t < 1 { try consider(t) }
        return (best.scale, best.forget, best.retain)
    }
}
