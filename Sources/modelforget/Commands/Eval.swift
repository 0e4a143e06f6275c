import ArgumentParser
import Foundation
import ModelRuntime
import Reports
import TensorCore
import WeightFormats

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a classifier's accuracy: overall, per class, forget and retain classes.",
        discussion: """
            Runs MODEL on the labelled samples of --data and reports the overall accuracy, the \
            accuracy of every class, the accuracy on the --classes to forget and on all other \
            classes, and the confusion matrix.

            Examples:
              $ modelforget eval Samples/cnn.onnx --data Samples/digits-test.npz --classes 5,7
              $ modelforget eval Samples/resnet.safetensors --data Samples/digits-test.npz --json
              $ modelforget eval cnn.forget-5-7.onnx --data Samples/digits-test.npz --classes 5,7 --probe \\
                  --relearn --train Samples/digits-train.npz --original Samples/cnn.onnx

            Evidence beyond accuracy (docs/methods.md §5.5–5.6): --probe fits a linear probe on the \
            inputs of the final classifier layer and reports how well it still tells the --classes \
            apart on held-out samples; --relearn counts the SGD steps on forget samples until the \
            forget accuracy is back to 50%, for MODEL and for --original.
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: ArgumentHelp("Labelled samples (npz or safetensors with x and y).", valueName: "file"))
    var data: String

    @OptionGroup var keys: DataKeys

    @OptionGroup var images: ImageOptions

    @OptionGroup var normalization: NormalizationOptions

    @Option(help: ArgumentHelp("Classes to forget, e.g. 5,7: their accuracy is reported apart.", valueName: "list"))
    var classes: ClassList?

    @OptionGroup var vectorOptions: VectorOptions

    @Flag(help: "Membership inference (MIA-efficacy, confidence and entropy variants): needs --train and --classes.")
    var mia = false

    @Option(help: ArgumentHelp("With --mia: the training samples (members: retained classes; scored: the --classes).", valueName: "file"))
    var train: String?

    @OptionGroup var miaOptions: MembershipInferenceOptions

    @OptionGroup var evidence: EvidenceOptions

    @Option(help: ArgumentHelp("With --relearn: the model before unlearning, whose relearn count is reported too.", valueName: "file"))
    var original: String?

    @Flag(help: ArgumentHelp("Print JSON with the keys accuracy, per_class_accuracy, forget_accuracy, retain_accuracy, confusion, samples "
        + "(and mia with --mia, probe with --probe, relearn with --relearn)."))
    var json = false

    func validate() throws {
        if mia {
            guard train != nil, classes != nil else { throw ValidationError("--mia needs --train and --classes") }
        } else if train != nil && !evidence.relearn {
            throw ValidationError("--train is for --mia or --relearn")
        }
        if evidence.probe && classes == nil { throw ValidationError("--probe needs --classes") }
        if evidence.relearn && classes == nil { throw ValidationError("--relearn needs --classes") }
        if original != nil && !evidence.relearn { throw ValidationError("--original is for --relearn") }
        if evidence.relearn && vectorOptions.vector != nil { throw ValidationError("--relearn trains the weights; it does not take --vector") }
    }

    func run() throws {
        let loading = try images.loading(for: [data, train], model: options, mean: normalization.mean, std: normalization.std)
        let dataset = try keys.load(data, images: loading, quiet: options.quiet)
        let model = try options.load(for: dataset, path: data)
        let batchSize = options.batchSize(for: dataset, model: model)
        let forget = try classes?.indices(for: model, path: options.model)
        let offset = try vectorOptions.offset(sampleShape: dataset.sampleShape, modelPath: options.model)
        let report = try runModel {
            try Evaluation.evaluate(model, dataset, forget: Set(forget ?? []), batchSize: batchSize,
                                    offset: offset, progress: options.progress("eval"))
        }
        // --train serves --mia and --relearn: read once.
        let trainSet = try train.map { try keys.load($0, images: loading, quiet: options.quiet) }
        var attacks: [MembershipInferenceResult] = []
        if mia, let train, let trainSet, let forget {
            attacks = try miaOptions.attacks(model, train: trainSet, trainPath: train, test: dataset, testPath: data, forget: Set(forget),
                                             batchSize: batchSize, offset: offset)
        }
        var probe: ProbeRecoveryResult?
        var relearn: RelearnResult?
        if let forget {
            if evidence.probe {
                probe = try evidence.probe(model, data: dataset, dataPath: data, forget: Set(forget), batchSize: batchSize,
                                           offset: offset, seed: miaOptions.seed.seed, modelPath: options.model)
            }
            if evidence.relearn {
                let originalModel = try original.map { path in
                    (try ModelOptions.forFile(path, architecture: options.architecture, batch: options.batch, verbosity: options.verbosity)
                        .load(for: dataset, path: data), path: path)
                }
                relearn = try evidence.relearn(model, original: originalModel, train: trainSet.map { ($0, name: "--train", path: train!) }, test: dataset, testPath: data,
                                               forget: Set(forget), batchSize: batchSize, seed: miaOptions.seed.seed,
                                               modelPath: options.model)
            }
        }
        if json {
            Terminal.print(try jsonText(WithEvidence(report: report, mia: mia ? attacks : nil, probe: probe, relearn: relearn)))
        } else {
            Terminal.print(text(report, forget: forget))
            for attack in attacks {
                Terminal.print(String(format: "MIA-efficacy (%@: %@; members %d retain-class train, non-members %d retain-class test; "
                                              + "scored %d forget-class train): %.2f%% predicted non-member (%@)",
                                      attack.variant, attack.feature, attack.membersUsed, attack.nonMembersUsed, attack.scoredSamples, attack.value * 100, attack.direction))
            }
            if let probe { Terminal.print(EvidenceOptions.text(probe)) }
            if let relearn { Terminal.print(EvidenceOptions.text(relearn)) }
        }
    }

    func runModel<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as WeightFileError { throw error } catch { throw CommandFailure(options.model, error) }
    }

    func text(_ r: EvaluationReport, forget: [Int]?) -> String {
        func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
        var lines = ["samples: \(r.samples)", "accuracy: \(percent(r.accuracy))"]
        if let forget {
            lines.append("forget accuracy (classes \(classDescription(forget, names: r.classNames))): \(percent(r.forgetAccuracy))")
            lines.append("retain accuracy: \(percent(r.retainAccuracy))")
        }
        lines.append("per class:")
        let named = r.classNames.map { !$0.isEmpty } ?? false
        let rows = r.perClassAccuracy.keys.sorted { Int($0)! < Int($1)! }.map { c in
            [c] + (named ? [r.classNames?[c] ?? ""] : []) + [percent(r.perClassAccuracy[c]), String(r.confusion[Int(c)!].reduce(0, +))]
        }
        let header = ["CLASS"] + (named ? ["NAME"] : []) + ["ACCURACY", "SAMPLES"]
        lines += alignedTable(header: header, rows: rows, rightAligned: named ? [2, 3] : [1, 2]).map { "  " + $0 }
        lines.append("confusion (rows: true class, columns: predicted):")
        let width = String(r.confusion.flatMap { $0 }.max() ?? 0).count
        for row in r.confusion { lines.append("  " + row.map { String(repeating: " ", count: width - String($0).count) + String($0) }.joined(separator: " ")) }
        return lines.joined(separator: "\n")
    }
}

/// The evaluation report's keys plus `mia`, `probe` and `relearn`, each only when asked for.
struct WithEvidence: Encodable {
    var report: EvaluationReport
    var mia: [MembershipInferenceResult]?
    var probe: ProbeRecoveryResult?
    var relearn: RelearnResult?
    enum Key: String, CodingKey { case mia, probe, relearn }
    func encode(to encoder: Encoder) throws {
        try report.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encodeIfPresent(mia, forKey: .mia)
        try container.encodeIfPresent(probe, forKey: .probe)
        try container.encodeIfPresent(relearn, forKey: .relearn)
    }
}
