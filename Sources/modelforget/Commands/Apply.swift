import ArgumentParser
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

    @OptionGroup var forgetting: ForgetRequestOptions

    @OptionGroup var images: ImageOptions

    @OptionGroup var normalization: NormalizationOptions

    @Option(help: ArgumentHelp("The unlearning method: svd (SVD projection, gradient-free) or pgu (projected-gradient unlearning).", valueName: "svd|pgu"))
    var method = "svd"

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the unlearned model (default: NAME.forget-CLASSES.EXT beside MODEL).", valueName: "file"))
    var output: String?

    @OptionGroup var counts: SampleCountOptions

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

    @Option(help: "pgu: forget samples per SGD step.")
    var sgdBatchSize = 128

    @OptionGroup var stopping: StoppingOptions

    @Option(help: ArgumentHelp("pgu with --stats: write the statistics without the forgotten classes here, for the next request.", valueName: "file"))
    var updateStats: String?

    @Option(help: ArgumentHelp("Per-class statistics from `modelforget stats collect` to use instead of a pass over --data.", valueName: "file"))
    var stats: String?

    @OptionGroup var patchCap: PatchCapOption

    @OptionGroup var seed: SeedOption

    @Option(help: ArgumentHelp("Write an audit record (JSON, see Formats/report.md) to this file.", valueName: "file"))
    var report: String?

    @Option(help: ArgumentHelp("Labelled test samples: forget and retain accuracy before and after go into the summary and report.", valueName: "file"))
    var evalData: String?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard method == "svd" || method == "pgu" else { throw ValidationError("--method must be svd or pgu") }
        guard alphaRetain > 0, alphaForget > 0 else { throw ValidationError("--alpha-retain and --alpha-forget must be positive") }
        guard !(search && method == "pgu") else { throw ValidationError("--search applies to --method svd only") }
        guard gamma > 0, gamma <= 1 else { throw ValidationError("--gamma must be in (0, 1]") }
        guard lrStart > 0, lrEnd > 0, sgdBatchSize > 0 else {
            throw ValidationError("--lr-start, --lr-end and --sgd-batch-size must be positive")
        }
        guard updateStats == nil || (method == "pgu" && stats != nil) else { throw ValidationError("--update-stats needs --method pgu and --stats") }
        if let updateStats, !updateStats.hasSuffix(".safetensors") { throw ValidationError("--update-stats must name a .safetensors file: \(updateStats)") }
    }

    /// The method and its settings from the flags.
    var unlearningMethod: UnlearningRequest.Method {
        if method == "pgu" {
            return .pgu(PGUUnlearning.Settings(gamma: gamma, lrStart: lrStart, lrEnd: lrEnd, epochs: stopping.epochs ?? 100,
                                               sgdBatchSize: sgdBatchSize, targetForgetAccuracy: stopping.targetForgetAccuracy,
                                               maxRetainDrop: stopping.maxRetainDrop))
        }
        return .svd(SVDUnlearning.Settings(alphaRetain: alphaRetain, alphaForget: alphaForget, search: search))
    }

    func run() throws {
        let loading = try images.loading(for: [forgetting.data, evalData], model: options, mean: normalization.mean, std: normalization.std)
        let dataset = try forgetting.keys.load(forgetting.data, images: loading, quiet: options.quiet)
        let model = try options.load(for: dataset, path: forgetting.data)
        let classes = try forgetting.classes.indices(for: model, path: options.model)
        var request = UnlearningRequest(model: model, weights: try Checkpoint.open(options.model), classes: classes, data: dataset)
        request.method = unlearningMethod
        request.selection = SampleSelection.Configuration(classes: classes, counts: counts, patchCap: patchCap, seed: seed,
                                                          batchSize: options.batchSize(for: dataset))
        if let evalData { request.evaluationData = .init(try forgetting.keys.load(evalData, images: loading), name: evalData) }
        if let stats {
            request.statistics = .init(try StatisticsFile.read(stats), name: stats)
            if let shards = request.statistics?.value.provenance?.shards, !shards.isComplete, !options.quiet {
                Terminal.note("\(stats): statistics of parts \(shards) only (missing \(ShardSet.ranges(shards.missing)))")
            }
        }
        let progress = options.progress(method == "pgu" ? "epochs" : "")
        request.progress = progress.map { p in { _, done, total in p(done, total) } }
        let result: UnlearningResult
        do {
            result = try request.perform()
        } catch let error as UnlearningError {
            throw CommandFailure(stats ?? forgetting.data, error)
        } catch let error as StatisticsError {
            throw CommandFailure(stats ?? forgetting.data, error)
        } catch let error as GraphError {
            throw CommandFailure(options.model, error)
        }
        let outputPath = output ?? EditedCheckpoint.defaultOutputPath(for: request.weights.path, classes: classes)
        let record = try result.write(to: outputPath)
        if let updateStats, let statistics = request.statistics {
            do { try statistics.value.removing(classes: Set(classes)).write(to: updateStats) } catch {
                throw WeightFileError(path: updateStats, underlying: error)
            }
        }
        if let report {
            do {
                let writer = try AtomicFileWriter(destination: report)
                try writer.write(try jsonText(record) + "\n")
                try writer.commit()
            } catch {
                throw WeightFileError(path: report, underlying: error)
            }
        }
        Terminal.print(json ? try jsonText(record.summary) : record.summary.text)
    }
}
