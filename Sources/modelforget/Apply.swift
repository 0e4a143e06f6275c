import ArgumentParser
import Dispatch
import Foundation
import ModelRuntime
import TensorCore
import Unlearning
import WeightFormats

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove classes from a classifier by editing its weights.",
        discussion: """
            Writes an unlearned copy of MODEL that no longer recognises --classes, in MODEL's own \
            format (safetensors, sharded safetensors, npz or ONNX), by default as \
            NAME.forget-5-7.EXT beside it. The method is SVD projection (gradient-free): the \
            inputs of every weight layer are collected over retain and forget samples of --data, \
            and each weight is projected away from the part of the forget space that the retain \
            space does not explain.

            Examples:
              $ modelforget apply Samples/cnn.safetensors --classes 5,7 --data Samples/digits-train.npz
              $ modelforget apply Samples/resnet.onnx --classes 3 --data Samples/digits-train.npz --search \\
                    --eval-data Samples/digits-test.npz --report audit.json
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: ArgumentHelp("Classes to remove, e.g. 5,7.", valueName: "list"))
    var classes: ClassList

    @Option(help: ArgumentHelp("Labelled samples to take retain and forget samples from (npz or safetensors with x and y).", valueName: "file"))
    var data: String

    @OptionGroup var keys: DataKeys

    @Option(help: ArgumentHelp("The unlearning method.", valueName: "svd"))
    var method = "svd"

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the unlearned model (default: NAME.forget-CLASSES.EXT beside MODEL).", valueName: "file"))
    var output: String?

    @Option(help: "Retain samples in total, spread evenly over the retained classes.")
    var retainSamples = 900

    @Option(help: "Forget samples in total, spread evenly over the forget classes.")
    var forgetSamples = 900

    @Option(help: "α of the retain space (larger keeps more of it).")
    var alphaRetain = 100.0

    @Option(help: "α of the forget space.")
    var alphaForget = 3.0

    @Flag(help: "Choose α by a grid search on a validation split held out from --data (20% of every class).")
    var search = false

    @Option(help: ArgumentHelp("Per-class statistics from `modelforget stats collect` to use instead of a pass over --data.", valueName: "file"))
    var stats: String?

    @OptionGroup var sampling: SamplingOptions

    @Option(help: ArgumentHelp("Write an audit record (JSON, see Formats/report.md) to this file.", valueName: "file"))
    var report: String?

    @Option(help: ArgumentHelp("Labelled test samples: forget and retain accuracy before and after go into the summary and report.", valueName: "file"))
    var evalData: String?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard method == "svd" else { throw ValidationError("--method must be svd (pgu and forget vectors are not available yet)") }
        guard retainSamples > 0, forgetSamples > 0 else { throw ValidationError("--retain-samples and --forget-samples must be positive") }
        guard alphaRetain > 0, alphaForget > 0 else { throw ValidationError("--alpha-retain and --alpha-forget must be positive") }
    }

    func run() throws {
        let started = Self.seconds()
        let dataset = try Dataset.load(data, xKey: keys.xKey, yKey: keys.yKey)
        let model = try options.load(sampleShape: dataset.sampleShape)
        try checkSampleShape(model, dataset, path: data)
        let evaluation = try evalData.map { try Dataset.load($0, xKey: keys.xKey, yKey: keys.yKey) }
        let source = try Checkpoint.open(options.model)
        let outputPath = output ?? EditedCheckpoint.defaultOutputPath(for: source.path, classes: classes.classes)
        var configuration = SVDUnlearning.Configuration(forgetClasses: classes.classes)
        configuration.retainSamples = retainSamples
        configuration.forgetSamples = forgetSamples
        configuration.alphaRetain = alphaRetain
        configuration.alphaForget = alphaForget
        configuration.search = search
        configuration.seed = sampling.seed
        configuration.maxPatches = sampling.maxPatches
        configuration.batchSize = options.batchSize(for: dataset)
        let progress = options.progress("")
        let result: SVDUnlearning.Result
        var before: EvaluationReport?, after: EvaluationReport?
        var statistics: StatisticsFile?
        do {
            if let evaluation { before = try evaluate(model, evaluation) }
            statistics = try stats.map { try StatisticsFile.read($0) }
            result = try SVDUnlearning.run(model, data: dataset, statistics: statistics, configuration: configuration, clock: Self.seconds,
                                           progress: progress.map { p in { phase, done, total in p(done, total); _ = phase } })
            if let evaluation {
                let original = model.graph.parameters
                model.graph.parameters = original.merging(result.editedWeights) { $1 }
                after = try evaluate(model, evaluation)
                model.graph.parameters = original
            }
        } catch let error as UnlearningError {
            throw CommandFailure("\(stats ?? data): \(error)")
        } catch let error as StatisticsError {
            throw CommandFailure("\(stats ?? data): \(error)")
        } catch let error as GraphError {
            throw CommandFailure("\(options.model): \(error)")
        }
        let writeStart = Self.seconds()
        let provenance = [
            "modelforget.tool": "modelforget", "modelforget.version": ModelForget.version, "modelforget.method": "svd",
            "modelforget.classes": classes.classes.map(String.init).joined(separator: ","),
            "modelforget.alpha_retain": String(result.alphaRetain), "modelforget.alpha_forget": String(result.alphaForget),
        ]
        let files: [String]
        do {
            files = try EditedCheckpoint.write(source, edits: result.editedWeights, to: outputPath, provenance: provenance)
        } catch {
            throw WeightFileError(path: outputPath, underlying: error)
        }
        var timings = result.timings
        timings["write_output"] = Self.seconds() - writeStart
        timings["total"] = Self.seconds() - started
        let record = AuditRecord(
            tool: "modelforget", version: ModelForget.version, method: "svd",
            input: .init(path: source.path, format: source.format.rawValue, sha256: try Self.hashes(Self.files(of: source))),
            output: .init(path: outputPath, format: source.format.rawValue, sha256: try Self.hashes(files)),
            classes: classes.classes, configuration: configuration, alphaRetainUsed: result.alphaRetain, alphaForgetUsed: result.alphaForget,
            samples: stats == nil
                ? .init(retain: SampleSelection.countsPerClass(result.selection.retain, labels: dataset.labels!),
                        forget: SampleSelection.countsPerClass(result.selection.forget, labels: dataset.labels!),
                        validation: result.selection.validation.count,
                        patchRule: Self.patchRule(configuration.maxPatches, per: "sample set"))
                : .init(retain: [:], forget: [:], validation: result.selection.validation.count,
                        patchRule: "statistics file \(stats!), each class weighted equally; "
                            + (statistics?.maxPatches.map { Self.patchRule($0, per: "class") } ?? "patch cap unknown")),
            layers: result.layers, search: result.grid,
            evaluation: evalData.map { .init(data: $0, before: before!, after: after!) }, timingsSeconds: timings)
        if let report {
            let writer = try AtomicFileWriter(destination: report)
            try writer.write(try jsonText(record) + "\n")
            try writer.commit()
        }
        if json {
            Terminal.print(try jsonText(record.summary))
        } else {
            Terminal.print(record.summary.text)
        }
    }

    /// The ``PatchSampling`` rule in words, for the audit record.
    static func patchRule(_ maxPatches: Int, per set: String) -> String {
        maxPatches == 0 ? "every input vector of every sample"
            : "at most \(maxPatches) input vectors per layer, group and \(set): k = min(p, ceil(\(maxPatches) / samples)) of each sample's p, "
            + "chosen by seed, layer, group and sample index"
    }

    func evaluate(_ model: Model, _ data: Dataset) throws -> EvaluationReport {
        try Evaluation.evaluate(model, data, forget: Set(classes.classes), batchSize: options.batchSize(for: data))
    }

    static func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    static func files(of reader: any CheckpointReader) -> [String] {
        if let sharded = reader as? ShardedSafeTensors { return [sharded.path] + sharded.shardFiles }
        if let onnx = reader as? ONNXModel { return [onnx.path] + onnx.externalDataLocations.map { onnx.directory + "/" + $0 } }
        return [reader.path]
    }

    static func hashes(_ files: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for file in files { result[file] = try SHA256.hex(ofFile: file) }
        return result
    }
}

/// The audit record of one `apply` run (`Formats/report.md`).
struct AuditRecord: Encodable {
    struct File: Encodable {
        let path: String
        let format: String
        let sha256: [String: String]
    }

    struct Samples: Encodable {
        let retain: [String: Int]
        let forget: [String: Int]
        let validation: Int
        let patchRule: String
        enum CodingKeys: String, CodingKey { case retain, forget, validation, patchRule = "patch_rule" }
    }

    struct Evaluation: Encodable {
        let data: String
        let before: EvaluationReport
        let after: EvaluationReport
    }

    struct Summary: Encodable {
        let output: String
        let classes: [Int]
        let method: String
        let alphaRetain: Double
        let alphaForget: Double
        let layersEdited: Int
        let forgetAccuracyBefore: Double?
        let forgetAccuracyAfter: Double?
        let retainAccuracyBefore: Double?
        let retainAccuracyAfter: Double?
        let seconds: Double

        enum CodingKeys: String, CodingKey {
            case output, classes, method, seconds
            case alphaRetain = "alpha_retain", alphaForget = "alpha_forget", layersEdited = "layers_edited"
            case forgetAccuracyBefore = "forget_accuracy_before", forgetAccuracyAfter = "forget_accuracy_after"
            case retainAccuracyBefore = "retain_accuracy_before", retainAccuracyAfter = "retain_accuracy_after"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(output, forKey: .output); try c.encode(classes, forKey: .classes); try c.encode(method, forKey: .method)
            try c.encode(alphaRetain, forKey: .alphaRetain); try c.encode(alphaForget, forKey: .alphaForget)
            try c.encode(layersEdited, forKey: .layersEdited); try c.encode(seconds, forKey: .seconds)
            try c.encode(forgetAccuracyBefore, forKey: .forgetAccuracyBefore); try c.encode(forgetAccuracyAfter, forKey: .forgetAccuracyAfter)
            try c.encode(retainAccuracyBefore, forKey: .retainAccuracyBefore); try c.encode(retainAccuracyAfter, forKey: .retainAccuracyAfter)
        }

        var text: String {
            func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
            var lines = ["wrote \(output): classes \(classes.map(String.init).joined(separator: ",")) removed by \(method) "
                         + "(alpha_retain \(alphaRetain), alpha_forget \(alphaForget)), \(layersEdited) weight layers edited in "
                         + String(format: "%.2f s", seconds)]
            if forgetAccuracyBefore != nil {
                lines.append("forget accuracy: \(percent(forgetAccuracyBefore)) -> \(percent(forgetAccuracyAfter))")
                lines.append("retain accuracy: \(percent(retainAccuracyBefore)) -> \(percent(retainAccuracyAfter))")
            }
            return lines.joined(separator: "\n")
        }
    }

    let tool: String
    let version: String
    let method: String
    let input: File
    let output: File
    let classes: [Int]
    let configuration: SVDUnlearning.Configuration
    let alphaRetainUsed: Double
    let alphaForgetUsed: Double
    let samples: Samples
    let layers: [SVDUnlearning.LayerReport]
    let search: [SVDUnlearning.SearchPoint]
    let evaluation: Evaluation?
    let timingsSeconds: [String: Double]

    enum CodingKeys: String, CodingKey {
        case tool, version, method, input, output, classes, configuration, samples, layers, search, evaluation
        case alphaRetainUsed = "alpha_retain_used", alphaForgetUsed = "alpha_forget_used", timingsSeconds = "timings_seconds"
    }

    var summary: Summary {
        Summary(output: output.path, classes: classes, method: method, alphaRetain: alphaRetainUsed, alphaForget: alphaForgetUsed,
                layersEdited: layers.count, forgetAccuracyBefore: evaluation?.before.forgetAccuracy, forgetAccuracyAfter: evaluation?.after.forgetAccuracy,
                retainAccuracyBefore: evaluation?.before.retainAccuracy, retainAccuracyAfter: evaluation?.after.retainAccuracy,
                seconds: timingsSeconds["total"] ?? 0)
    }
}
