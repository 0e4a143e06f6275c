import Foundation
import ModelRuntime
import TensorCore
import Unlearning
import WeightFormats

extension UnlearningReport {
    /// What the unlearned side of a report is.
    public enum Unlearned {
        /// An unlearned checkpoint (file `path`), run as `model`.
        case checkpoint(Model, path: String)
        /// The original model with the forget vector read from `path` added to every input.
        case vector(ForgetVectorFile, path: String)
    }

    /// Everything a report is built from.
    public struct Inputs {
        public var original: Model
        public var originalPath: String
        public var unlearned: Unlearned
        /// Labelled test samples (accuracies, and the non-members of the attacks) and their name.
        public var test: Dataset
        public var testName: String
        /// Labelled training samples (members and scored samples of the attacks), if any.
        public var train: (dataset: Dataset, name: String)?
        public var classes: [Int]
        public var batchSize: Int
        public var membershipInference = MembershipInference.Configuration()
        /// Linear-probe recovery of both sides (§5.5), when set; its `samplesName` names the test data.
        public var probe: LinearProbe.Configuration?
        /// Relearn time of both models (§5.6), when set; the steps train on the forget samples of
        /// `train` (else of `test`). Not for a forget vector (the unlearned side has no weights of its own).
        public var relearn: Relearn.Configuration?
        /// An audit record (`apply --report`), whose fields are listed among the facts.
        public var auditRecord: (json: Data, name: String)?
        /// Progress of each side's evaluation, by label.
        public var progress: (String) -> ((Int, Int) -> Void)? = { _ in nil }

        public init(original: Model, originalPath: String, unlearned: Unlearned, test: Dataset, testName: String, classes: [Int], batchSize: Int) {
            self.original = original
            self.originalPath = originalPath
            self.unlearned = unlearned
            self.test = test
            self.testName = testName
            self.classes = classes
            self.batchSize = batchSize
        }
    }

    /// Evaluates both sides on the test data, runs the membership-inference attacks when training
    /// data is given, compares the checkpoints, and gathers the audit facts.
    /// - Throws: `WeightFileError` around `GraphError` (a model fails), ``MembershipInference/EvaluationFailure``,
    ///   ``SupportVectorClassifier/Failure``, `WeightFileError` (unreadable files, an audit record
    ///   that is not JSON), `CheckpointDiff` failures.
    public static func build(_ inputs: Inputs) throws -> UnlearningReport {
        let forget = Set(inputs.classes)
        /// One side; a model that fails to run is named by its file (`modelPath`).
        func side(_ label: String, model: Model, modelPath: String, shaPath: String, offset: Tensor?) throws -> Side {
            do {
                let evaluation = try Evaluation.evaluate(model, inputs.test, forget: forget, batchSize: inputs.batchSize, offset: offset,
                                                         progress: inputs.progress(label))
                var attacks: [MembershipInferenceResult] = []
                if let train = inputs.train {
                    attacks = try MembershipInference.evaluate(model, train: train.dataset, test: inputs.test, forget: forget,
                                                               batchSize: inputs.batchSize, offset: offset, configuration: inputs.membershipInference)
                }
                let probe = try inputs.probe.map {
                    try LinearProbe.evaluate(model, data: inputs.test, forget: forget, batchSize: inputs.batchSize, offset: offset, configuration: $0)
                }
                return Side(label: label, path: shaPath, sha256: try SHA256.hex(ofFile: shaPath), evaluation: evaluation, mia: attacks, probe: probe)
            } catch let error as GraphError {
                throw WeightFileError(path: modelPath, underlying: error)
            }
        }
        let before = try side("original", model: inputs.original, modelPath: inputs.originalPath, shaPath: inputs.originalPath, offset: nil)
        let after: Side
        var difference: CheckpointDifference?
        var facts: [Fact] = []
        var relearn: RelearnResult?
        switch inputs.unlearned {
        case .vector(let file, let path):
            after = try side("with forget vector", model: inputs.original, modelPath: inputs.originalPath, shaPath: path,
                             offset: file.placement.modelOffset(file.delta))
            facts.append(Fact("vector.classes", file.classes.map(String.init).joined(separator: ",")))
            facts.append(Fact("vector.space", file.placement.space.rawValue))
            if !file.coefficients.isEmpty { facts.append(Fact("vector.coefficients", file.coefficients.map { String($0) }.joined(separator: ","))) }
            facts += file.settings.keys.sorted().map { Fact("vector.setting." + $0, file.settings[$0]!) }
        case .checkpoint(let model, let path):
            after = try side("unlearned", model: model, modelPath: path, shaPath: path, offset: nil)
            if let configuration = inputs.relearn {
                do {
                    relearn = try Relearn.evaluate(model, original: inputs.original, train: inputs.train?.dataset ?? inputs.test, test: inputs.test,
                                                   forget: forget, batchSize: inputs.batchSize, configuration: configuration)
                } catch let error as GraphError {
                    throw WeightFileError(path: "\(path), \(inputs.originalPath)", underlying: error)
                }
            }
            let readerB = try Checkpoint.open(path)
            var options = CheckpointDiff.Options()
            options.singularValues = 32
            difference = try CheckpointDiff.compare(try Checkpoint.open(inputs.originalPath), readerB, options: options)
            facts += readerB.metadata.keys.filter { $0.hasPrefix("modelforget.") }.sorted().map { Fact($0, readerB.metadata[$0]!) }
        }
        if let audit = inputs.auditRecord {
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: audit.json)
            } catch {
                throw WeightFileError(path: audit.name, underlying: ReportInputError.notAnAuditRecord(reason: error.localizedDescription))
            }
            facts += flatten(object, prefix: "audit").filter { !$0.key.hasPrefix("audit.layers") }
        }
        return UnlearningReport(classes: inputs.classes, data: inputs.testName, train: inputs.train?.name, original: before, unlearned: after,
                                difference: difference, facts: facts, relearn: relearn)
    }
}

/// Inputs of a report that cannot be used.
public enum ReportInputError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAnAuditRecord(reason: String)

    public var description: String {
        switch self {
        case .notAnAuditRecord(let reason): "not a JSON audit record (\(reason))"
        }
    }
}
