import Foundation
import ImageData
import ModelRuntime

/// The audit record of one unlearning run (`Formats/report.md`): what was asked, what was read and
/// written (with SHA-256 of every file), which samples the statistics came from, the engine's
/// settings and per-layer figures, evaluations before and after, and timings.
public struct AuditRecord: Encodable, Sendable {
    /// A checkpoint read or written: its path, format and the SHA-256 of each of its files (a
    /// sharded set's index and shards, an ONNX model and its external data).
    public struct File: Encodable, Sendable {
        public let path: String
        public let format: String
        public let sha256: [String: String]
    }

    /// Samples per class behind the statistics, the validation split's size and the patch rule.
    public struct Samples: Encodable, Sendable {
        public let retain: [String: Int]
        public let forget: [String: Int]
        public let validation: Int
        public let patchRule: String
        enum CodingKeys: String, CodingKey { case retain, forget, validation, patchRule = "patch_rule" }
    }

    /// Accuracies on the evaluation data before and after, and the linear-probe recovery
    /// (`docs/methods.md` §5.5) of the same passes, or why there is none.
    public struct Evaluation: Encodable, Sendable {
        public let data: String
        public let before: EvaluationReport
        public let after: EvaluationReport
        public let probeBefore: ProbeRecoveryResult?
        public let probeAfter: ProbeRecoveryResult?
        public let probeSkipped: String?
        enum CodingKeys: String, CodingKey {
            case data, before, after, probeBefore = "probe_before", probeAfter = "probe_after", probeSkipped = "probe_skipped"
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(data, forKey: .data); try c.encode(before, forKey: .before); try c.encode(after, forKey: .after)
            try c.encodeIfPresent(probeBefore, forKey: .probeBefore); try c.encodeIfPresent(probeAfter, forKey: .probeAfter)
            try c.encodeIfPresent(probeSkipped, forKey: .probeSkipped)
        }
    }

    /// The record's headline: what `apply` prints (as text or JSON).
    public struct Summary: Encodable, Sendable {
        public let output: String
        public let classes: [Int]
        /// Names of the classes, where the model's config gives them.
        public let classNames: [String: String]?
        public let method: String
        public let alphaRetain: Double?
        public let alphaForget: Double?
        public let bestEpoch: Int?
        public let layersEdited: Int
        public let forgetAccuracyBefore: Double?
        public let forgetAccuracyAfter: Double?
        public let retainAccuracyBefore: Double?
        public let retainAccuracyAfter: Double?
        public let seconds: Double
        public let contract: UnlearningContract?
        public let verdict: UnlearningContract.Verdict?
        /// `auto`: every method tried, in order, and which was kept.
        public var attempts: [UnlearningRequest.Attempt]? = nil
        public var kept: String? = nil
        /// What the figures above do not say (e.g. that retain accuracy was not measured).
        public var notes: [String] = []

        enum CodingKeys: String, CodingKey {
            case attempts, kept, notes
            case output, classes, method, seconds, classNames = "class_names", contract, verdict = "contract_verdict"
            case alphaRetain = "alpha_retain", alphaForget = "alpha_forget", layersEdited = "layers_edited", bestEpoch = "best_epoch"
            case forgetAccuracyBefore = "forget_accuracy_before", forgetAccuracyAfter = "forget_accuracy_after"
            case retainAccuracyBefore = "retain_accuracy_before", retainAccuracyAfter = "retain_accuracy_after"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(output, forKey: .output); try c.encode(classes, forKey: .classes); try c.encode(method, forKey: .method)
            try c.encodeIfPresent(classNames, forKey: .classNames)
            try c.encodeIfPresent(contract, forKey: .contract)
            try c.encodeIfPresent(verdict, forKey: .verdict)
            try c.encodeIfPresent(attempts, forKey: .attempts); try c.encodeIfPresent(kept, forKey: .kept)
            if !notes.isEmpty { try c.encode(notes, forKey: .notes) }
            try c.encodeIfPresent(alphaRetain, forKey: .alphaRetain); try c.encodeIfPresent(alphaForget, forKey: .alphaForget)
            try c.encodeIfPresent(bestEpoch, forKey: .bestEpoch)
            try c.encode(layersEdited, forKey: .layersEdited); try c.encode(seconds, forKey: .seconds)
            try c.encode(forgetAccuracyBefore, forKey: .forgetAccuracyBefore); try c.encode(forgetAccuracyAfter, forKey: .forgetAccuracyAfter)
            try c.encode(retainAccuracyBefore, forKey: .retainAccuracyBefore); try c.encode(retainAccuracyAfter, forKey: .retainAccuracyAfter)
        }

        /// Two or three lines: what was written and removed how, then forget and retain accuracy
        /// before and after when evaluation data was given.
        public var text: String {
            func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
            let parameters = alphaRetain.map { "alpha_retain \($0), alpha_forget \(alphaForget ?? 0)" } ?? "best epoch \(bestEpoch ?? 0)"
            let named = classes.compactMap { classNames?[String($0)] }
            let list = classes.map(String.init).joined(separator: ",") + (named.count == classes.count && !named.isEmpty ? " (\(named.joined(separator: ", ")))" : "")
            var lines = ["wrote \(output): classes \(list) removed by \(method)\(kept.map { " (kept: \($0))" } ?? "") "
                         + "(\(parameters)), \(layersEdited) weight layers edited in " + String(format: "%.2f s", seconds)]
            for attempt in attempts ?? [] { lines.append("tried " + attempt.line) }
            if let contract, let verdict { lines.append(verdict.line(for: contract)) }
            lines += notes
            if forgetAccuracyBefore != nil {
                lines.append("forget accuracy: \(percent(forgetAccuracyBefore)) -> \(percent(forgetAccuracyAfter))")
                lines.append("retain accuracy: \(percent(retainAccuracyBefore)) -> \(percent(retainAccuracyAfter))")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// What depends on the engine, encoded at the top level of the record.
    public enum Details: Sendable {
        case svd(SVDUnlearning.Result)
        case pgu(PGUUnlearning.Result)
        case auto(UnlearningRequest.AutoResult)

        var layerCount: Int {
            switch self {
            case .svd(let result): result.layers.count
            case .pgu(let result): result.layers.filter { $0.changeNorm > 0 }.count  // statistics-only runs leave the input layer
            case .auto(let result): result.pgu.map { Details.pgu($0).layerCount } ?? result.editedWeights.count
            }
        }
    }

    public let tool: String
    public let version: String
    public let method: String
    public let input: File
    public internal(set) var output: File
    public let classes: [Int]
    /// Names of the classes, where the model's config gives them.
    public let classNames: [String: String]?
    public let samples: Samples
    public let details: Details
    public let evaluation: Evaluation?
    public let timingsSeconds: [String: Double]
    /// How an image source became samples (`--data images/`): pipeline, label rule, skipped images.
    public let images: ImageSourceSummary?
    /// The user's limits and how the kept edit fares against them on the validation split, for
    /// methods that check them.
    public let contract: UnlearningContract?
    public let verdict: UnlearningContract.Verdict?

    enum CodingKeys: String, CodingKey {
        case tool, version, method, input, output, classes, configuration, samples, layers, search, evaluation, epochs
        case classNames = "class_names"
        case alphaRetainUsed = "alpha_retain_used", alphaForgetUsed = "alpha_forget_used", timingsSeconds = "timings_seconds"
        case bestEpoch = "best_epoch", stopReason = "stop_reason"
        case firstLayerUsed = "first_layer_used", validation, contract, attempts, kept, repair, verdict = "contract_verdict"
        case images, retainDamageLimit = "retain_damage_limit"
        case learningRateFactor = "learning_rate_factor", learningRateFactorsTried = "learning_rate_factors_tried"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tool, forKey: .tool); try c.encode(version, forKey: .version); try c.encode(method, forKey: .method)
        try c.encode(input, forKey: .input); try c.encode(output, forKey: .output); try c.encode(classes, forKey: .classes)
        try c.encodeIfPresent(classNames, forKey: .classNames)
        try c.encode(samples, forKey: .samples)
        try c.encodeIfPresent(evaluation, forKey: .evaluation)
        try c.encode(timingsSeconds, forKey: .timingsSeconds)
        try c.encodeIfPresent(images, forKey: .images)
        try c.encodeIfPresent(contract, forKey: .contract)
        try c.encodeIfPresent(verdict, forKey: .verdict)
        try encodeDetails(details, into: &c)
    }

    private func encodeDetails(_ details: Details, into c: inout KeyedEncodingContainer<CodingKeys>) throws {
        switch details {
        case .auto(let r):
            try c.encode(r.attempts, forKey: .attempts)
            try c.encode(r.attempts[r.kept].method, forKey: .kept)
            try c.encodeIfPresent(r.repair, forKey: .repair)
            try encodeDetails(r.pgu.map { .pgu($0) } ?? .svd(r.svd), into: &c)
        case .svd(let r):
            try c.encode(r.configuration, forKey: .configuration)
            try c.encode(r.alphaRetain, forKey: .alphaRetainUsed); try c.encode(r.alphaForget, forKey: .alphaForgetUsed)
            try c.encode(r.layers, forKey: .layers); try c.encode(r.grid, forKey: .search)
            if r.configuration.settings.contract != nil {
                try c.encode(r.firstLayer, forKey: .firstLayerUsed)
                try c.encodeIfPresent(r.verdict, forKey: .validation)
            }
        case .pgu(let r):
            try c.encode(r.configuration, forKey: .configuration)
            try c.encode(r.layers, forKey: .layers); try c.encode(r.epochs, forKey: .epochs)
            try c.encode(r.bestEpoch, forKey: .bestEpoch); try c.encode(r.stopReason, forKey: .stopReason)
            try c.encodeIfPresent(r.retainDamageLimit, forKey: .retainDamageLimit)
            try c.encodeIfPresent(r.learningRateFactor, forKey: .learningRateFactor)
            try c.encodeIfPresent(r.learningRateFactorsTried, forKey: .learningRateFactorsTried)
        }
    }

    public var summary: Summary {
        var alphas: (Double, Double)?, epoch: Int?
        var attempts: [UnlearningRequest.Attempt]?, kept: String?, notes: [String] = []
        switch details {
        case .svd(let r): alphas = (r.alphaRetain, r.alphaForget)
        case .pgu(let r):
            epoch = r.bestEpoch
            if let limit = r.retainDamageLimit {
                let damage = r.epochs.first { $0.epoch == r.bestEpoch }?.retainDamage ?? 0
                notes.append("retain accuracy was not measured (no retained-class samples in the data); estimated retain damage "
                             + String(format: "%.4f", damage) + " (largest squared relative change of a layer's outputs on the retain statistics, limit "
                             + String(format: "%g", limit) + ")")
            }
        case .auto(let r):
            if let pgu = r.pgu { epoch = pgu.bestEpoch } else { alphas = (r.svd.alphaRetain, r.svd.alphaForget) }
            (attempts, kept) = (r.attempts, r.attempts[r.kept].method)
            if r.svd.retainBefore == nil { notes.append("retain accuracy was not measured (no retained-class validation samples)") }
        }
        return Summary(output: output.path, classes: classes, classNames: classNames, method: method, alphaRetain: alphas?.0, alphaForget: alphas?.1, bestEpoch: epoch,
                       layersEdited: details.layerCount, forgetAccuracyBefore: evaluation?.before.forgetAccuracy,
                       forgetAccuracyAfter: evaluation?.after.forgetAccuracy, retainAccuracyBefore: evaluation?.before.retainAccuracy,
                       retainAccuracyAfter: evaluation?.after.retainAccuracy, seconds: timingsSeconds["total"] ?? 0, contract: contract,
                       verdict: verdict, attempts: attempts, kept: kept, notes: notes)
    }
}
