import Foundation
import ModelRuntime

/// Everything the report page shows: the two models' accuracies and membership-inference results
/// on the same data, the checkpoint difference, and the audit facts. Rendered by
/// ``html()`` (one self-contained page with inline SVG) and ``markdown()``; contains no clock
/// time, so the same inputs give the same bytes.
public struct UnlearningReport: Codable, Sendable, Equatable {
    /// One evaluated model: the original, or the unlearned one (a checkpoint, or the original with
    /// a forget vector added to every input).
    public struct Side: Codable, Sendable, Equatable {
        public var label: String
        public var path: String
        public var sha256: String
        public var evaluation: EvaluationReport
        public var mia: [MembershipInferenceResult]
        /// Linear-probe recovery (`docs/methods.md` §5.5), when asked for.
        public var probe: ProbeRecoveryResult?

        public init(label: String, path: String, sha256: String, evaluation: EvaluationReport, mia: [MembershipInferenceResult],
                    probe: ProbeRecoveryResult? = nil) {
            self.label = label; self.path = path; self.sha256 = sha256; self.evaluation = evaluation; self.mia = mia; self.probe = probe
        }
    }

    public var classes: [Int]
    public var data: String
    public var train: String?
    public var original: Side
    public var unlearned: Side
    /// The checkpoint difference (nil when the weights are the same file, e.g. for a forget vector).
    public var difference: CheckpointDifference?
    /// Audit facts: provenance metadata of the unlearned file and the audit record's fields, flattened.
    public var facts: [Fact]
    /// Relearn time of the unlearned model (`model`) and of the original (`docs/methods.md` §5.6), when asked for.
    public var relearn: RelearnResult?

    public struct Fact: Codable, Sendable, Equatable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) { self.key = key; self.value = value }
    }

    public init(classes: [Int], data: String, train: String?, original: Side, unlearned: Side, difference: CheckpointDifference?, facts: [Fact],
                relearn: RelearnResult? = nil) {
        self.classes = classes; self.data = data; self.train = train; self.original = original; self.unlearned = unlearned
        self.difference = difference; self.facts = facts; self.relearn = relearn
    }

    /// Class indices that have samples in either evaluation, ascending.
    var evaluatedClasses: [Int] {
        Set(original.evaluation.perClassAccuracy.keys.compactMap { Int($0) } + unlearned.evaluation.perClassAccuracy.keys.compactMap { Int($0) }).sorted()
    }

    /// Flattens a JSON value (from an audit record) into dotted keys; arrays of scalars are joined.
    public static func flatten(_ value: Any, prefix: String = "") -> [Fact] {
        switch value {
        case let object as [String: Any]:
            return object.keys.sorted().flatMap { flatten(object[$0]!, prefix: prefix.isEmpty ? $0 : prefix + "." + $0) }
        case let array as [Any]:
            if array.allSatisfy({ !($0 is [String: Any]) && !($0 is [Any]) }) {
                return [Fact(prefix, array.map { scalar($0) }.joined(separator: ", "))]
            }
            return array.enumerated().flatMap { flatten($0.element, prefix: "\(prefix)[\($0.offset)]") }
        default:
            return [Fact(prefix, scalar(value))]
        }
    }

    static func scalar(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if let string = value as? String { return string }
        if let number = value as? NSNumber {
            if String(cString: number.objCType) == "c" { return number.boolValue ? "true" : "false" }
            let double = number.doubleValue
            if double.rounded() == double && abs(double) < 1e15 { return String(Int(double)) }
            return String(format: "%.6g", double)
        }
        return "\(value)"
    }
}
