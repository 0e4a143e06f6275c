import ModelRuntime
import TensorCore

/// A few steps of joint fine-tuning after an edit, to win back retain accuracy the edit cost
/// without letting the forget classes return (modelforget's extension, `docs/methods.md` §6).
///
/// From the edited weights, SGD with momentum on mixed batches of the retain and forget samples,
/// with the forget-vector margin on the forget samples and, on the retain samples, by default the
/// original model's outputs as the target (distillation, ``RepairTarget``):
/// ```
/// L = (Σ_retain T² KL(p_T ‖ softmax(z / T)) + β Σ_forget max(z_y − max_{c≠y} z_c, −τ)) / B
/// p_T = softmax(z_original / T) over the retained classes (the forget classes get 0)
/// ```
/// which keeps every forget sample's true logit at least τ below its best other class while the
/// retained classes are fitted back to what the original model made of them: its confidence on
/// every class, not only which class was right. Only weight-layer weights move (biases, norms,
/// embeddings stay). The step size is chosen by a short range test from the edited weights (the one
/// whose few steps leave the validation samples closest to the contract, then the next ones while
/// none meets it); after every epoch the validation samples are scored against the contract, the
/// runs stop one epoch after the first that meets it (``Settings/epochsPastMeeting``; an edit that
/// meets the contract already gets one run, at the smallest rate, without a range test and stopped
/// after ``Settings/headroomPatience`` epochs in a row that do not improve, towards
/// its headroom: ``UnlearningContract/headroom``, half of every limit, with the forget samples
/// nearly right, ``ForgetRetainScores/forgetNearlyRight``, held to half the forget limit too), and the best
/// epoch of all runs (``Standing``: smallest violation, then closest to half the limits, then highest
/// confidence) is kept, which is the edit itself when no epoch ranks above it.
enum RetainRepair {
    struct Settings: Sendable, Equatable {
        var epochs = 6
        /// A run towards the headroom stops after this many epochs in a row that rank no higher
        /// than the kept candidate: the edit meets the contract already, and a repair at the
        /// smallest rate that has not improved on it in two epochs rarely does later.
        var headroomPatience = 2
        var beta = 1.0
        /// The margin the forget samples are held to, the one ``ForgetRetainScores/forgetNearlyRight`` counts within.
        var tau = ForgetRetainScores.nearMargin
        var momentum = 0.9
        var batchSize = 64
        /// Tried by the range test, each for `rangeTestSteps` steps.
        var learningRates: [Double] = [3e-3, 1e-2, 3e-2, 1e-1]
        var rangeTestSteps = 6
        /// How many of the ranked rates get a full run (of `epochs`) when the better ones do not
        /// meet the contract.
        var ratesRun = 4
        /// Epochs run past the first that meets the contract, each only while the one before
        /// improved the kept epoch (ranked higher, ``Standing``): the first epoch to meet it is
        /// often at the limit, and the validation samples are ones the model was trained on.
        var epochsPastMeeting = 1
        /// What the retain samples are fitted to.
        var retainTarget = RepairTarget.standard
    }

    /// How a candidate ranks, best first: the contract's violation, then the violation of its
    /// headroom (``UnlearningContract/headroom``, half of every limit, plus ``nearlyRightExcess(_:contract:)``
    /// of its forget samples nearly right), then the confidence score (mean
    /// true-class probability on the retain samples × (1 − the same on the forget samples)).
    struct Standing: Comparable {
        var violation: Double
        var headroomViolation: Double
        var confidence: Double

        init(_ verdict: UnlearningContract.Verdict, contract: UnlearningContract, confidence: Double, forgetNearlyRight: Double = 0) {
            violation = contract.violation(verdict)
            headroomViolation = contract.headroom.violation(contract.headroom.rejudge(verdict))
                + RetainRepair.nearlyRightExcess(forgetNearlyRight, contract: contract)
            self.confidence = confidence
        }

        static func < (a: Standing, b: Standing) -> Bool {
            (a.violation, a.headroomViolation, -a.confidence) < (b.violation, b.headroomViolation, -b.confidence)
        }
    }

    /// How far the forget samples nearly right (``ForgetRetainScores/forgetNearlyRight``) are past
    /// the headroom's forget limit, measured as ``UnlearningContract/violation(_:)`` measures forget accuracy; 0 within it.
    static func nearlyRightExcess(_ nearlyRight: Double, contract: UnlearningContract) -> Double {
        contract.headroom.forgetExcess(nearlyRight)
    }

    /// Whether `verdict` with `nearlyRight` is within the headroom: half of every limit, and the
    /// forget samples nearly right within half the forget limit.
    static func hasHeadroom(_ verdict: UnlearningContract.Verdict, nearlyRight: Double, contract: UnlearningContract) -> Bool {
        contract.headroom.rejudge(verdict).meets && nearlyRightExcess(nearlyRight, contract: contract) == 0
    }

    struct Outcome {
        var weights: [String: Tensor]
        var verdict: UnlearningContract.Verdict
        var violation: Double
        var learningRate: Double
        /// The verdicts of the kept rate's run, epoch by epoch (0: the edit alone).
        var epochs: [(epoch: Int, verdict: UnlearningContract.Verdict)]
        /// Every rate given a full run, in the order tried.
        var ratesTried: [Double]
        /// Epochs trained over all runs (the range test's steps not counted).
        var epochsRun: Int
        /// Whether the edit met the contract already, so the repair aimed at its headroom.
        var towardsHeadroom: Bool
        /// Whether an epoch of the repair ranked above the edit it started from (else `weights` are the edit's).
        var improvedOnStart: Bool { epochs.count > 1 }
    }

    /// Repairs `start` (the edited weights, by parameter name; layers absent keep the model's).
    /// `startScores`: `start`'s scores on `validation` when already measured (else measured here).
    static func run(_ model: Model, data: Dataset, retain: [Int], forget forgetSamples: [Int], validation: [Int], forgetClasses: Set<Int>,
                    start: [String: Tensor], startScores: ForgetRetainScores? = nil, contract: UnlearningContract, retainBefore: Double?,
                    batchSize: Int, seed: UInt64, settings s: Settings = Settings(),
                    progress: ((String, Int, Int) -> Void)? = nil) throws -> Outcome {
        guard let labels = data.labels else { throw UnlearningError.noLabels }
        let weights = Array(Set(model.graph.weightLayers.map(\.weight))).sorted()
        var initial: [String: Tensor] = [:]
        for name in weights { initial[name] = start[name] ?? model.graph.parameters[name] }
        let pool = (retain + forgetSamples).sorted()
        let forgetSet = forgetClasses
        let targets = try Self.targets(s.retainTarget, model: model, data: data, retain: retain, batchSize: batchSize)
        func judge(_ v: ForgetRetainScores) -> (UnlearningContract.Verdict, Standing) {
            let verdict = contract.verdict(forget: v.forget, retain: retainBefore == nil ? nil : v.retain, retainBefore: retainBefore)
            return (verdict, Standing(verdict, contract: contract, confidence: v.retainConfidence * (1 - v.forgetConfidence),
                                      forgetNearlyRight: v.forgetNearlyRight))
        }
        func score(_ parameters: [String: Tensor]) throws -> (UnlearningContract.Verdict, Standing) {
            judge(try ForgetRetainScores.measure(model, data: data, indices: validation, forget: forgetSet, batchSize: batchSize,
                                                 parameters: parameters))
        }
        /// One epoch (or `steps` batches) of SGD from `parameters` with `velocity`.
        func train(_ parameters: inout [String: Tensor], _ velocity: inout [String: [Float]], lr: Double, order: [Int], steps: Int?) throws {
            var start = 0, step = 0
            while start < order.count, steps.map({ step < $0 }) ?? true {
                let batch = Array(order[start..<min(start + s.batchSize, order.count)])
                let (_, gradients) = try BatchGradients.compute(model, parameters: parameters, data: data, batch: batch) { logits, indices, total in
                    Self.loss(logits: logits, labels: indices.map { labels[$0] }, forget: forgetSet, targets: indices.map { targets[$0] },
                              total: total, settings: s)
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
        // Range test: a few steps from the edit with each rate, ranked by where they leave the
        // validation samples (``Standing``). A few steps rarely separate the rates on a small
        // validation split, so each rate gets its full run in that order until one meets the contract.
        let probeOrder = pool.shuffled(using: &rng)
        let (startVerdict, startStanding) = try startScores.map(judge) ?? score(initial)
        /// Whether a candidate meets the run's goal: the contract, or for an edit that meets it
        /// already, the headroom as well (``Standing/headroomViolation`` 0).
        func meetsGoal(_ verdict: UnlearningContract.Verdict, _ standing: Standing) -> Bool {
            verdict.meets && (!startVerdict.meets || standing.headroomViolation == 0)
        }
        // An edit that meets the contract already is repaired towards its headroom, at the
        // smallest rate alone (no range test: small steps keep what the edit met).
        var ranked: [(lr: Double, standing: Standing)] = []
        if startVerdict.meets {
            ranked = [(s.learningRates.min() ?? 1e-3, startStanding)]
        } else {
            for (index, lr) in s.learningRates.enumerated() {
                var parameters = initial, velocity: [String: [Float]] = [:]
                try train(&parameters, &velocity, lr: lr, order: probeOrder, steps: s.rangeTestSteps)
                ranked.append((lr, try score(parameters).1))
                progress?("repair: step size", index + 1, s.learningRates.count)
            }
            ranked.sort { $0.standing < $1.standing }
        }
        var kept = (weights: initial, verdict: startVerdict, standing: startStanding, lr: ranked[0].lr)
        var keptHistory: [(Int, UnlearningContract.Verdict)] = [(0, startVerdict)]
        var ratesTried: [Double] = [], epochsRun = 0
        let epochOrders = (0..<max(s.epochs, 1)).map { _ in pool.shuffled(using: &rng) }
        rates: for candidate in ranked.prefix(max(s.ratesRun, 1)) {
            var parameters = initial, velocity: [String: [Float]] = [:]
            var history: [(Int, UnlearningContract.Verdict)] = [(0, startVerdict)]
            ratesTried.append(candidate.lr)
            var metAt: Int?, sinceImproved = 0
            for (epoch, order) in epochOrders.enumerated() {
                try train(&parameters, &velocity, lr: candidate.lr, order: order, steps: nil)
                epochsRun += 1
                let (verdict, standing) = try score(parameters)
                history.append((epoch + 1, verdict))
                progress?("repair", epoch + 1, s.epochs)
                let improved = standing < kept.standing
                if improved {
                    kept = (parameters, verdict, standing, candidate.lr)
                    keptHistory = history
                }
                if metAt == nil, meetsGoal(verdict, standing) { metAt = epoch }
                // Past the first epoch that meets the goal: on while each epoch improves the kept one.
                if let metAt, !improved || epoch - metAt >= s.epochsPastMeeting { break }
                // Towards the headroom: stop once `headroomPatience` epochs in a row have not improved.
                sinceImproved = improved ? 0 : sinceImproved + 1
                if startVerdict.meets, sinceImproved >= s.headroomPatience { break }
            }
            if metAt != nil { break rates }
        }
        return Outcome(weights: kept.weights, verdict: kept.verdict, violation: kept.standing.violation, learningRate: kept.lr, epochs: keptHistory,
                       ratesTried: ratesTried, epochsRun: epochsRun, towardsHeadroom: startVerdict.meets)
    }
}
