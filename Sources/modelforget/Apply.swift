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

    @OptionGroup var images: ImageOptions

    @OptionGroup var normalization: NormalizationOptions

    @Option(help: ArgumentHelp("The unlearning method: svd (SVD projection, gradient-free) or pgu (projected-gradient unlearning).", valueName: "svd|pgu"))
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

    @Flag(help: "Choose α by a grid search on a validation split held out from --data (20% of every class). svd only.")
    var search = false

    @Option(help: "pgu: share of the retain space's spectrum (cumulative square roots of eigenvalues) to protect.")
    var gamma = 0.95

    @Option(help: "pgu: learning rate of the first epoch.")
    var lrStart = 0.05

    @Option(help: "pgu: learning rate of the last epoch (exponential decay in between).")
    var lrEnd = 0.01

    @Option(help: "pgu: maximum number of epochs.")
    var epochs = 100

    @Option(help: "pgu: forget samples per SGD step.")
    var sgdBatchSize = 128

    @Option(help: ArgumentHelp("pgu: stop once the forget accuracy on the forget samples is at most this (default: chance, 1/classes).", valueName: "fraction"))
    var targetForgetAccuracy: Double?

    @Option(help: ArgumentHelp("pgu: stop when retain accuracy on the retained-class samples of --data falls more than this many points.", valueName: "points"))
    var maxRetainDrop = 5.0

    @Option(help: ArgumentHelp("pgu with --stats: write the statistics without the forgotten classes here, for the next request.", valueName: "file"))
    var updateStats: String?

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
        guard method == "svd" || method == "pgu" else { throw ValidationError("--method must be svd or pgu") }
        guard retainSamples > 0, forgetSamples > 0 else { throw ValidationError("--retain-samples and --forget-samples must be positive") }
        guard alphaRetain > 0, alphaForget > 0 else { throw ValidationError("--alpha-retain and --alpha-forget must be positive") }
        guard !(search && method == "pgu") else { throw ValidationError("--search applies to --method svd only") }
        guard gamma > 0, gamma <= 1 else { throw ValidationError("--gamma must be in (0, 1]") }
        guard lrStart > 0, lrEnd > 0, epochs > 0, sgdBatchSize > 0 else {
            throw ValidationError("--lr-start, --lr-end, --epochs and --sgd-batch-size must be positive")
        }
        guard maxRetainDrop >= 0 else { throw ValidationError("--max-retain-drop must not be negative") }
        guard updateStats == nil || (method == "pgu" && stats != nil) else { throw ValidationError("--update-stats needs --method pgu and --stats") }
        if let updateStats, !updateStats.hasSuffix(".safetensors") { throw ValidationError("--update-stats must name a .safetensors file: \(updateStats)") }
    }

    /// What an engine run hands to the writers and the audit record.
    struct EngineRun {
        var editedWeights: [String: Tensor]
        var provenance: [String: String]
        var selection: SampleSelection
        var timings: [String: Double]
        var details: AuditRecord.Details
    }

    func run() throws {
        let started = Self.seconds()
        let loading = try images.loading(for: [data, evalData], model: options, mean: normalization.mean, std: normalization.std)
        let dataset = try Dataset.load(data, xKey: keys.xKey, yKey: keys.yKey, images: loading)
        ImageOptions.describe(dataset, path: data, quiet: options.quiet)
        let model = try options.load(sampleShape: dataset.sampleShape)
        try checkSampleShape(model, dataset, path: data)
        let evaluation = try evalData.map { try Dataset.load($0, xKey: keys.xKey, yKey: keys.yKey, images: loading) }
        let source = try Checkpoint.open(options.model)
        let outputPath = output ?? EditedCheckpoint.defaultOutputPath(for: source.path, classes: classes.classes)
        var before: EvaluationReport?, after: EvaluationReport?
        var statistics: StatisticsFile?
        let engine: EngineRun
        do {
            if let evaluation { before = try evaluate(model, evaluation) }
            statistics = try stats.map { try StatisticsFile.read($0) }
            engine = method == "pgu" ? try runPGU(model, dataset, statistics) : try runSVD(model, dataset, statistics)
            if let evaluation {
                let original = model.graph.parameters
                model.graph.parameters = original.merging(engine.editedWeights) { $1 }
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
            "modelforget.tool": "modelforget", "modelforget.version": ModelForget.version, "modelforget.method": method,
            "modelforget.classes": classes.classes.map(String.init).joined(separator: ","),
        ].merging(engine.provenance) { $1 }
        let files: [String]
        do {
            files = try EditedCheckpoint.write(source, edits: engine.editedWeights, to: outputPath, provenance: provenance)
        } catch {
            throw WeightFileError(path: outputPath, underlying: error)
        }
        if let updateStats, let statistics {
            do { try statistics.removing(classes: Set(classes.classes)).write(to: updateStats) } catch {
                throw WeightFileError(path: updateStats, underlying: error)
            }
        }
        var timings = engine.timings
        timings["write_output"] = Self.seconds() - writeStart
        timings["total"] = Self.seconds() - started
        let maxPatches = sampling.maxPatches
        var record = AuditRecord(
            tool: "modelforget", version: ModelForget.version, method: method,
            input: .init(path: source.path, format: source.format.rawValue, sha256: try Self.hashes(Self.files(of: source))),
            output: .init(path: outputPath, format: source.format.rawValue, sha256: try Self.hashes(files)),
            classes: classes.classes,
            samples: .init(retain: stats == nil || method == "pgu" ? SampleSelection.countsPerClass(engine.selection.retain, labels: dataset.labels!) : [:],
                           forget: stats == nil || method == "pgu" ? SampleSelection.countsPerClass(engine.selection.forget, labels: dataset.labels!) : [:],
                           validation: engine.selection.validation.count,
                           patchRule: stats == nil ? Self.patchRule(maxPatches, per: "sample set")
                               : "statistics file \(stats!), " + (method == "svd" ? "each class weighted equally; " : "retained classes summed; ")
                               + (statistics?.maxPatches.map { Self.patchRule($0, per: "class") } ?? "patch cap unknown")),
            details: engine.details,
            evaluation: evalData.map { .init(data: $0, before: before!, after: after!) }, timingsSeconds: timings)
        record.images = dataset.imageSamples?.summary
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

    func runSVD(_ model: Model, _ dataset: Dataset, _ statistics: StatisticsFile?) throws -> EngineRun {
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
        let result = try SVDUnlearning.run(model, data: dataset, statistics: statistics, configuration: configuration, clock: Self.seconds,
                                           progress: progress.map { p in { _, done, total in p(done, total) } })
        return EngineRun(editedWeights: result.editedWeights,
                         provenance: ["modelforget.alpha_retain": String(result.alphaRetain), "modelforget.alpha_forget": String(result.alphaForget)],
                         selection: result.selection, timings: result.timings,
                         details: .svd(configuration: configuration, alphaRetain: result.alphaRetain, alphaForget: result.alphaForget,
                                       layers: result.layers, search: result.grid))
    }

    func runPGU(_ model: Model, _ dataset: Dataset, _ statistics: StatisticsFile?) throws -> EngineRun {
        var configuration = PGUUnlearning.Configuration(forgetClasses: classes.classes)
        configuration.retainSamples = retainSamples
        configuration.forgetSamples = forgetSamples
        configuration.gamma = gamma
        configuration.lrStart = lrStart
        configuration.lrEnd = lrEnd
        configuration.epochs = epochs
        configuration.batchSize = sgdBatchSize
        configuration.targetForgetAccuracy = targetForgetAccuracy
        configuration.maxRetainDrop = maxRetainDrop
        configuration.seed = sampling.seed
        configuration.maxPatches = sampling.maxPatches
        configuration.evaluationBatchSize = options.batchSize(for: dataset)
        let progress = options.progress("epochs")
        let result = try PGUUnlearning.run(model, data: dataset, statistics: statistics, configuration: configuration, clock: Self.seconds,
                                           progress: progress.map { p in { _, done, total in p(done, total) } })
        return EngineRun(editedWeights: result.editedWeights,
                         provenance: ["modelforget.gamma": String(gamma), "modelforget.epochs": String(result.bestEpoch)],
                         selection: result.selection, timings: result.timings,
                         details: .pgu(configuration: configuration, layers: result.layers, epochs: result.epochs,
                                       bestEpoch: result.bestEpoch, stopReason: result.stopReason))
    }

    func evaluate(_ model: Model, _ data: Dataset) throws -> EvaluationReport {
        try Evaluation.evaluate(model, data, forget: Set(classes.classes), batchSize: options.batchSize(for: data))
    }

    static func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// The ``PatchSampling`` rule in words, for the audit record.
    static func patchRule(_ maxPatches: Int, per set: String) -> String {
        maxPatches == 0 ? "every input vector of every sample"
            : "at most \(maxPatches) input vectors per layer, group and \(set): k = min(p, ceil(\(maxPatches) / samples)) of each sample's p, "
            + "chosen by seed, layer, group and sample index"
    }

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
