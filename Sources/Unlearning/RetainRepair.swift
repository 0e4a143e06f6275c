import ModelRuntime
import TensorCore

/// A few steps of joint fine-tuning after an edit, to win back retain accuracy the edit cost
/// without letting the forget classes return (modelforget's extension, `docs/methods.md` §6).
///
/// From the edited weights, SGD with momentum on mixed batches of the retain and forget samples,
/// with the forget-vector loss used on the weights instead of on an input offset:
/// ```
/// L = (Σ_retain CE(z, y) + β Σ_forget max(z_y − max_{c≠y} z_c, −τ)) / B
/// ```
/// which keeps every forget sample's true logit at least τ below its best other class while the
/// retain samples are fitted again. Only weight-layer weights move (biases, norms, embeddings
/// stay). The step size is chosen by a short range test from the edited weights (the one whose few
/// steps leave the validation samples closest to the contract); after every epoch the validation
/// samples are scored against the contract, the run stops at the first epoch that meets it, and
/// the best epoch (smallest violation, then highest confidence) is kept.
enum RetainRepair {
    struct Settings: Sendable, Equatable {
        var epochs = 6
        var beta = 1.0
        var tau = 1.0
        var momentum = 0.9
        var batchSize = 64
        /// Tried by the range test, each for `rangeTestSteps` steps.
        var learningRates: [Double] = [3e-3, 1e-2, 3e-2, 1e-1]
        var rangeTestSteps = 6
    }

    struct Outcome {
        var weights: [String: Tensor]
        var verdict: UnlearningContract.Verdict
        var violation: Double
        var learningRate: Double
        var epochs: [(epoch: Int, verdict: UnlearningContract.Verdict)]
    }

    /// Repairs `start` (the edited weights, by parameter name; layers absent keep the model's).
    static func run(_ model: Model, data: Dataset, retain: [Int], forget forgetSamples: [Int], validation: [Int], forgetClasses: Set<Int>,
                    start: [String: Tensor], contract: UnlearningContract, retainBefore: Double?, batchSize: Int, seed: UInt64,
                    settings s: Settings = Settings(), progress: ((String, Int, Int) -> Void)? = nil) throws -> Outcome {
        guard let labels = data.labels else { throw UnlearningError.noLabels }
        let weights = Array(Set(model.graph.weightLayers.map(\.weight))).sorted()
        var initial: [String: Tensor] = [:]
        for name in weights { initial[name] = start[name] ?? model.graph.parameters[name] }
        let pool = (retain + forgetSamples).sorted()
        let forgetSet = forgetClasses
        func score(_ parameters: [String: Tensor]) throws -> (UnlearningContract.Verdict, Double, Double) {
            let v = try ForgetRetainScores.measure(model, data: data, indices: validation, forget: forgetSet, batchSize: batchSize,
                                                   parameters: parameters)
            let verdict = contract.verdict(forget: v.forget, retain: retainBefore == nil ? nil : v.retain, retainBefore: retainBefore)
            return (verdict, contract.violation(verdict), v.retainConfidence * (1 - v.forgetConfidence))
        }
        /// One epoch (or `steps` batches) of SGD from `parameters` with `velocity`.
        func train(_ parameters: inout [String: Tensor], _ velocity: inout [String: [Float]], lr: Double, order: [Int], steps: Int?) throws {
            var start = 0, step = 0
            while start < order.count, steps.map({ step < $0 }) ?? true {
                let batch = Array(order[start..<min(start + s.batchSize, order.count)])
                let (_, gradients) = try BatchGradients.compute(model, parameters: parameters, data: data, batch: batch) { logits, indices, total in
                    ForgetVector.loss(logits: logits, labels: indices.map { labels[$0] }, isForget: indices.map { forgetSet.contains(labels[$0]) },
                                      total: total, tau: s.tau, alpha: 1, beta: s.beta)
                }
                for name in weights {
                    guard var w = parameters[name], let g = gradients[name] else { continue }
                    var v = velocity[name] ?? [Float](repeating: 0, count: w.count)
                    let mu = Float(s.momentum), rate = Float(lr)
                    for i in 0..<w.count {
                        v[i] = mu * v[i] + g.data[i]
                        w.data[i] -= rate * v[i]
                    }
                    velocity[name] = v
                    parameters[name] = w
                }
                start += batch.count
                step += 1
            }
        }
        var rng = SplitMix64(seed: seed ^ 0x5245_5041)
        // Range test: a few steps from the edit with each rate; keep the one closest to the contract.
        let probeOrder = pool.shuffled(using: &rng)
        var best: (lr: Double, violation: Double, confidence: Double)?
        for (index, lr) in s.learningRates.enumerated() {
            var parameters = initial, velocity: [String: [Float]] = [:]
            try train(&parameters, &velocity, lr: lr, order: probeOrder, steps: s.rangeTestSteps)
            let (_, violation, confidence) = try score(parameters)
            if best == nil || violation < best!.violation || (violation == best!.violation && confidence > best!.confidence) {
                best = (lr, violation, confidence)
            }
            progress?("repair: step size", index + 1, s.learningRates.count)
        }
        let lr = best!.lr
        var parameters = initial, velocity: [String: [Float]] = [:]
        let (startVerdict, startViolation, startConfidence) = try score(initial)
        var kept = (weights: initial, verdict: startVerdict, violation: startViolation, confidence: startConfidence)
        var history: [(Int, UnlearningContract.Verdict)] = [(0, startVerdict)]
        for epoch in 1...max(s.epochs, 1) {
            try train(&parameters, &velocity, lr: lr, order: pool.shuffled(using: &rng), steps: nil)
            let (verdict, violation, confidence) = try score(parameters)
            history.append((epoch, verdict))
            progress?("repair", epoch, s.epochs)
            if violation < kept.violation || (violation == kept.violation && confidence > kept.confidence) {
                kept = (parameters, verdict, violation, confidence)
            }
            if verdict.meets { break }
        }
        return Outcome(weights: kept.weights, verdict: kept.verdict, violation: kept.violation, learningRate: lr, epochs: history)
    }
}
