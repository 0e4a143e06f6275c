/// The user's limits on an unlearning: the forget classes' accuracy must fall to at most
/// ``maxForgetAccuracy``, and the retained classes' accuracy must not fall by more than
/// ``maxRetainDrop`` points, both measured on a validation split held out from the samples the
/// method learns from (never on the evaluation data).
///
/// Every automatic choice (the SVD scales and edited layers, PGU's step size, the method itself)
/// is made against this contract; a run that cannot meet it says which limit failed and by how much.
public struct UnlearningContract: Sendable, Equatable, Codable {
    /// Largest accepted accuracy on forget-class validation samples (a fraction).
    public var maxForgetAccuracy: Double
    /// Largest accepted drop of retain-class validation accuracy, in points (percent of samples).
    public var maxRetainDrop: Double
    /// When the validation split has no retained-class samples (statistics-only runs): the largest
    /// accepted estimated retain damage of a layer (``RetainDamage``, the squared relative change
    /// of its outputs on the retain inputs the statistics saw), the stand-in for the retain limit.
    /// The same limit guards statistics-only PGU.
    public var maxRetainDamage: Double

    public init(maxForgetAccuracy: Double = 0.02, maxRetainDrop: Double = 2, maxRetainDamage: Double = 0.01) {
        self.maxForgetAccuracy = maxForgetAccuracy
        self.maxRetainDrop = maxRetainDrop
        self.maxRetainDamage = maxRetainDamage
    }

    enum CodingKeys: String, CodingKey {
        case maxForgetAccuracy = "max_forget_accuracy", maxRetainDrop = "max_retain_drop", maxRetainDamage = "max_retain_damage"
    }

    /// How one candidate fares against the contract.
    public struct Verdict: Sendable, Equatable, Codable {
        /// Forget-class validation accuracy after the edit.
        public var forgetAccuracy: Double
        /// Retain-class validation accuracy after the edit, `nil` when the validation split has no
        /// retain-class samples (statistics-only runs).
        public var retainAccuracy: Double?
        /// Retain accuracy before minus after, in points.
        public var retainDrop: Double?
        /// The largest estimated retain damage of an edited layer (``RetainDamage``), when retain
        /// accuracy is not measured and the retain statistics are at hand.
        public var estimatedRetainDamage: Double?
        /// Both limits hold (without retain accuracy: the forget limit and, when estimated, the
        /// retain damage limit).
        public var meets: Bool
        /// The limits that fail, in words (empty when ``meets``).
        public var failures: [String]

        enum CodingKeys: String, CodingKey {
            case forgetAccuracy = "forget_accuracy", retainAccuracy = "retain_accuracy", retainDrop = "retain_drop"
            case estimatedRetainDamage = "estimated_retain_damage", meets, failures
        }

        /// One line: the validation figures, the limits, and whether they hold.
        public func line(for contract: UnlearningContract) -> String {
            let figures = "forget accuracy \(UnlearningContract.percent(forgetAccuracy)) (limit \(UnlearningContract.percent(contract.maxForgetAccuracy))), "
                + (retainDrop.map { "retain drop \(UnlearningContract.points($0)) points (limit \(UnlearningContract.points(contract.maxRetainDrop)))" }
                    ?? "retain accuracy not measured (no retained-class validation samples)"
                    + (estimatedRetainDamage.map { ", estimated retain damage " + UnlearningContract.damage($0)
                        + " (limit " + UnlearningContract.damage(contract.maxRetainDamage) + ")" } ?? ""))
            return "validation (held out from the data): " + figures + (meets ? ": meets the limits" : ": " + failures.joined(separator: "; "))
        }
    }

    /// The verdict for validation accuracies `forget` and `retain` after an edit, given the retain
    /// accuracy `retainBefore` of the original model on the same samples; without them, the
    /// `estimatedRetainDamage` of the edit, if known, is held to ``maxRetainDamage``.
    public func verdict(forget: Double, retain: Double?, retainBefore: Double?, estimatedRetainDamage: Double? = nil) -> Verdict {
        let drop = retain.flatMap { after in retainBefore.map { ($0 - after) * 100 } }
        return judge(forget: forget, retain: retain, drop: drop, estimatedRetainDamage: estimatedRetainDamage)
    }

    /// `verdict`'s figures judged against this contract's limits.
    public func rejudge(_ verdict: Verdict) -> Verdict {
        judge(forget: verdict.forgetAccuracy, retain: verdict.retainAccuracy, drop: verdict.retainDrop, estimatedRetainDamage: verdict.estimatedRetainDamage)
    }

    private func judge(forget: Double, retain: Double?, drop: Double?, estimatedRetainDamage: Double?) -> Verdict {
        var failures: [String] = []
        if forget > maxForgetAccuracy + 1e-12 {
            failures.append("forget accuracy \(Self.percent(forget)) is above the limit \(Self.percent(maxForgetAccuracy))")
        }
        if let drop, drop > maxRetainDrop + 1e-9 {
            failures.append("retain accuracy dropped \(Self.points(drop)) points, more than the limit \(Self.points(maxRetainDrop))")
        }
        let damage = drop == nil ? estimatedRetainDamage : nil
        if let damage, exceedsRetainDamage(damage) {
            failures.append("estimated retain damage \(Self.damage(damage)) is above the limit \(Self.damage(maxRetainDamage)) "
                            + "(retain accuracy not measured)")
        }
        return Verdict(forgetAccuracy: forget, retainAccuracy: retain, retainDrop: drop, estimatedRetainDamage: damage, meets: failures.isEmpty,
                       failures: failures)
    }

    /// How far a verdict is from meeting the contract: 0 when it meets it, otherwise the excess
    /// of each limit relative to the limit (forget excess over `max(limit, 1 %)`, drop excess over
    /// `max(limit, 1 point)`, estimated retain damage excess over `max(limit, 0.001)`), summed. Ranks candidates that all fail.
    /// A verdict that meets the contract (within the verdict's rounding slack) scores exactly 0.
    public func violation(_ verdict: Verdict) -> Double {
        if verdict.meets { return 0 }
        let forgetExcess = forgetExcess(verdict.forgetAccuracy)
        let dropExcess = max(0, (verdict.retainDrop ?? 0) - maxRetainDrop) / max(maxRetainDrop, 1)
        let damageExcess = max(0, (verdict.estimatedRetainDamage ?? 0) - maxRetainDamage) / max(maxRetainDamage, 1e-3)
        return forgetExcess + dropExcess + damageExcess
    }

    /// The forget term of ``violation(_:)``: how far a forget fraction is past ``maxForgetAccuracy``,
    /// relative to `max(limit, 1 %)`; 0 within it.
    public func forgetExcess(_ fraction: Double) -> Double {
        max(0, fraction - maxForgetAccuracy) / max(maxForgetAccuracy, 0.01)
    }

    /// The same contract at half of every limit: the headroom `auto` prefers. A result at the
    /// edge of a limit on the validation split (a drop of exactly 2 points, one forget sample of 50)
    /// is as likely as not past it on unseen data; the validation samples are ones the original
    /// model was trained on, which makes it likelier still.
    public var headroom: UnlearningContract {
        UnlearningContract(maxForgetAccuracy: maxForgetAccuracy / 2, maxRetainDrop: maxRetainDrop / 2, maxRetainDamage: maxRetainDamage / 2)
    }

    /// Whether an estimated retain damage fails ``maxRetainDamage`` (a NaN estimate fails too;
    /// `nil`, not estimated, does not).
    public func exceedsRetainDamage(_ damage: Double?) -> Bool { damage.map { !($0 <= maxRetainDamage) } ?? false }

    static func damage(_ value: Double) -> String { String(format: "%.4f", value) }

    static func percent(_ value: Double) -> String {
        let text = String(format: "%.2f", value * 100)
        return text + "%"
    }

    static func points(_ value: Double) -> String { String(format: "%.2f", value) }
}
