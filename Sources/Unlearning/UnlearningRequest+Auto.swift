import ModelRuntime
import TensorCore

extension UnlearningRequest {
    /// One method tried by `auto`: what it was, how it did on the validation split, how long it took.
    public struct Attempt: Encodable, Sendable {
        public var method: String
        /// The settings it chose, in words.
        public var settings: String
        public var validation: UnlearningContract.Verdict
        public var violation: Double
        public var seconds: Double

        /// `METHOD (SETTINGS) in N s: VALIDATION FIGURES`.
        public var line: String {
            let drop = validation.retainDrop.map { String(format: "retain drop %.2f points", $0) }
                ?? "retain not measured" + (validation.estimatedRetainDamage.map { ", estimated retain damage " + UnlearningContract.damage($0) } ?? "")
            return "\(method) (\(settings)) in " + String(format: "%.2f s", seconds) + ": validation forget accuracy "
                + String(format: "%.2f%%", validation.forgetAccuracy * 100) + ", \(drop)" + (validation.meets ? ", meets the limits" : "")
        }

        enum CodingKeys: String, CodingKey { case method, settings, validation, violation, seconds }
    }

    /// What `auto` hands back: the kept attempt's weights and details, and every attempt.
    public struct AutoResult: EngineResult, Sendable {
        public var contract: UnlearningContract
        public var attempts: [Attempt]
        /// Index into ``attempts`` of the kept one.
        public var kept: Int
        public var editedWeights: [String: Tensor]
        public var selection: SampleSelection
        public var timings: [String: Double]
        /// The SVD projection the kept weights start from.
        public var svd: SVDUnlearning.Result
        /// The repair after it, when the kept attempt is `svd+repair`.
        public var repair: RepairReport?
        /// Statistics-only PGU, when the kept attempt is `pgu` (its weights are not the projection's).
        public var pgu: PGUUnlearning.Result?

        public var provenance: [String: String] {
            var keys = pgu?.provenance ?? svd.provenance
            keys["modelforget.auto"] = attempts[kept].method
            if let repair { keys["modelforget.repair_learning_rate"] = String(repair.learningRate) }
            return keys
        }

        public var details: AuditRecord.Details { .auto(self) }

        /// The kept attempt's verdict on the validation split.
        public var contractVerdict: UnlearningContract.Verdict? { attempts[kept].validation }
    }

    /// The retain repair as the audit record states it.
    public struct RepairReport: Encodable, Sendable {
        public var learningRate: Double
        /// What the retain samples were fitted to (``RepairTarget``), in words.
        public var retainTarget: String
        public var epochs: [UnlearningContract.Verdict]

        enum CodingKeys: String, CodingKey { case learningRate = "learning_rate", retainTarget = "retain_target", epochs }
    }

    /// `--method auto`: tries methods in order of cost and keeps the first that meets `contract` on
    /// the validation split with half of every limit to spare, else the best-ranked that meets it,
    /// else the one closest to it:
    /// 1. SVD projection with the contract search (scales and edited layers);
    /// 2. when retain samples are available, that projection followed by ``RetainRepair``, also when
    ///    the projection meets the contract but not its ``UnlearningContract/headroom`` (half of
    ///    every limit); kept when it ranks above the projection (``RetainRepair/Standing``);
    ///    without them, given statistics and a model without attention, statistics-only PGU
    ///    (``statisticsOnlyPGU(_:svd:into:)``).
    func performAuto(_ contract: UnlearningContract) throws -> AutoResult {
        var attempts: [Attempt] = []
        let started = clock()
        let svdSettings = SVDUnlearning.Settings(contract: contract)
        let svd = try run(SVDUnlearning.self, svdSettings)
        let svdVerdict = svd.contractVerdict!
        let forget = Set(classes)
        let validation = svd.selection.validation
        attempts.append(Attempt(method: "svd", settings: "alpha_retain \(svd.alphaRetain), alpha_forget \(svd.alphaForget), first edited layer \(svd.firstLayer)",
                                validation: svdVerdict, violation: contract.violation(svdVerdict), seconds: clock() - started))
        var result = AutoResult(contract: contract, attempts: attempts, kept: 0, editedWeights: svd.editedWeights, selection: svd.selection,
                                timings: svd.timings, svd: svd, repair: nil)
        guard let retainBefore = svd.retainBefore, !svd.selection.retain.isEmpty else {
            if !svdVerdict.meets, svd.selection.retain.isEmpty, statistics != nil, !model.graph.containsAttention {
                try statisticsOnlyPGU(contract, svd: svdSettings, into: &result)
            }
            return result
        }
        // A projection at the edge of a limit is repaired too (kept only if the repair ranks above it).
        // The forget side's headroom also counts the forget samples nearly right (within the
        // repair's margin of their class): a few validation samples all wrong cannot tell a
        // projection that forgets from one that leaves a class at the boundary.
        guard !RetainRepair.hasHeadroom(svdVerdict, nearlyRight: svd.contractScores!.forgetNearlyRight, contract: contract) else { return result }
        let repairStart = clock()
        var repairSettings = RetainRepair.Settings()
        repairSettings.retainTarget = repairTarget
        let outcome = try RetainRepair.run(model, data: data, retain: svd.selection.retain, forget: svd.selection.forget, validation: validation,
                                           forgetClasses: forget, start: svd.editedWeights, startScores: svd.contractScores, contract: contract,
                                           retainBefore: retainBefore,
                                           batchSize: selection.batchSize, seed: selection.seed, settings: repairSettings, progress: progress)
        result.timings["repair"] = clock() - repairStart
        let epochs = outcome.epochs.count - 1
        func count(_ n: Int) -> String { "\(n) epoch\(n == 1 ? "" : "s")" }
        let kept = outcome.improvedOnStart ? count(epochs) : "no epoch ranked above the projection (\(count(outcome.epochsRun)) run)"
        result.attempts.append(Attempt(method: "svd+repair", settings: (outcome.towardsHeadroom ? "towards half the limits, " : "")
                                           + "learning rate \(outcome.learningRate), \(kept)"
                                           + (outcome.ratesTried.count > 1 ? " (rates run: \(outcome.ratesTried.map { String($0) }.joined(separator: ", ")))" : ""),
                                       validation: outcome.verdict, violation: outcome.violation, seconds: clock() - repairStart))
        if outcome.improvedOnStart {
            result.kept = 1
            result.editedWeights = outcome.weights
            result.repair = RepairReport(learningRate: outcome.learningRate, retainTarget: repairTarget.description,
                                         epochs: outcome.epochs.map(\.verdict))
        }
        return result
    }

    /// `auto` from statistics and forget samples alone, after a refused projection: PGU trained on
    /// the forget samples outside the projection's validation split (the same split: same fraction
    /// and seed), its target the contract's forget limit and its damage guard the contract's
    /// estimated-damage limit; scored on the validation split's forget samples and the kept
    /// epoch's estimated damage. Kept when closer to the contract than the projection.
    ///
    /// Not tried on models with attention: the damage estimate is linear in each layer's change,
    /// and a change of the query and key projections acts through the softmax (measured on the
    /// sample ViT: 36 retain points lost at an estimated damage of 0.0012).
    private func statisticsOnlyPGU(_ contract: UnlearningContract, svd: SVDUnlearning.Settings, into result: inout AutoResult) throws {
        let start = clock()
        var settings = PGUUnlearning.Settings()
        settings.targetForgetAccuracy = contract.maxForgetAccuracy
        settings.maxRetainDamage = contract.maxRetainDamage
        settings.validationFraction = svd.validationFraction
        // PGU that finds no epoch within the damage limit (or fails otherwise) leaves the projection's result.
        guard let pgu = try? run(PGUUnlearning.self, settings) else { return }
        let forget = Set(classes)
        let scores = try ForgetRetainScores.accuracies(model, data: data, indices: pgu.selection.validation, forget: forget,
                                                       batchSize: selection.batchSize, parameters: pgu.editedWeights)
        let damage = pgu.epochs.first { $0.epoch == pgu.bestEpoch }?.retainDamage
        let verdict = contract.verdict(forget: scores.forget, retain: nil, retainBefore: nil, estimatedRetainDamage: damage)
        let violation = contract.violation(verdict)
        result.timings["pgu"] = clock() - start
        result.attempts.append(Attempt(method: "pgu", settings: "statistics only, learning rates ×\((pgu.learningRateFactor ?? 1).formatted()), "
                                           + "epoch \(pgu.bestEpoch)", validation: verdict, violation: violation, seconds: clock() - start))
        guard violation < result.attempts[result.kept].violation else { return }
        result.kept = result.attempts.count - 1
        result.editedWeights = pgu.editedWeights
        result.pgu = pgu
    }
}
