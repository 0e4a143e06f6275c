import ArgumentParser
import Foundation
import ModelRuntime
import Safeguards
import TensorCore
import Unlearning
import WeightFormats

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove classes from a classifier by editing its weights.",
        discussion: """
            Writes an unlearned copy of MODEL that no longer recognises --classes, in MODEL's own \
            format (safetensors, sharded safetensors, npz or ONNX), by default as \
            NAME.forget-5-7.EXT beside it. The default method, auto, holds out a validation split \
            of --data and keeps the cheapest edit that meets the limits there (forget accuracy at \
            most --max-forget-accuracy, retain accuracy at most --max-retain-drop points lower): \
            SVD projection (gradient-free: each weight is projected away from the part of the \
            forget classes' inputs that the retained classes' inputs do not explain) with a search \
            over its scales and the layers it edits, then SVD followed by a short retain repair \
            (also after a projection within the limits with less than half of either to spare, \
            forget samples within one logit of their class counted as nearly right). \
            When no edit meets the limits, nothing is written (unless --keep-best) and the exit \
            status is 2, with the best edit found and the limit that failed.

            Examples:
              $ modelforget apply Samples/cnn.safetensors --classes 5,7 --data Samples/digits-train.npz
              $ modelforget apply Samples/resnet.onnx --classes 3 --data Samples/digits-train.npz --search \\
                    --eval-data Samples/digits-test.npz --report audit.json
            """)

    @OptionGroup var options: ModelOptions

    @OptionGroup var forgetting: ForgetRequestOptions

    @OptionGroup var images: ImageOptions

    @OptionGroup var normalization: NormalizationOptions

    @Option(name: .customLong("method"), help: ArgumentHelp(
        "The unlearning method: auto (the default: the cheapest edit that meets --max-forget-accuracy and --max-retain-drop on a "
            + "validation split, trying SVD projection with a search over scales and edited layers, then SVD with a retain repair, or, from --stats and "
            + "forget samples alone on a model without attention, PGU), "
            + "svd (SVD projection with the paper's scales or --alpha-*/--search; the default when those are given) or pgu "
            + "(projected-gradient unlearning).", valueName: "auto|svd|pgu"))
    var methodName: String?

    /// The method: `--method`, else svd when SVD's own flags are given, else auto.
    var method: String { methodName ?? (search || alphaRetain != nil || alphaForget != nil ? "svd" : "auto") }

    @Option(name: .shortAndLong, help: ArgumentHelp(
        "Where to write the unlearned model (default: NAME.forget-CLASSES.EXT beside MODEL; for a model folder, a new folder "
            + "NAME.forget-CLASSES/, or the folder OUTPUT/ when OUTPUT ends with a slash).", valueName: "path"))
    var output: String?

    @OptionGroup var counts: SampleCountOptions

    @Option(help: ArgumentHelp("svd: α of the retain space (larger keeps more of it; default 100, the paper's).", valueName: "α"))
    var alphaRetain: Double?

    @Option(help: ArgumentHelp("svd: α of the forget space (default 3, the paper's).", valueName: "α"))
    var alphaForget: Double?

    @Flag(help: "svd: choose α on the paper's grid by retain × (1 − forget) accuracy on the validation split, editing every layer (the paper's search).")
    var search = false

    @Option(help: "pgu: share of the retain space's spectrum (cumulative square roots of eigenvalues) to protect.")
    var gamma = 0.95

    @Option(help: """
        pgu: learning rate of the first epoch (default 0.05; a statistics-only run that does not forget runs again \
        from 4× and 16× both rates, unless --lr-start or --lr-end is given).
        """)
    var lrStart: Double?

    @Option(help: "pgu: learning rate of the last epoch, exponential decay in between (default 0.01).")
    var lrEnd: Double?

    @Option(help: "pgu: forget samples per SGD step.")
    var sgdBatchSize = 128

    @OptionGroup var stopping: StoppingOptions

    @OptionGroup var limits: ContractOptions

    @Option(help: ArgumentHelp(
        "auto: what the retain repair after the projection fits the retain samples to: outputs (the original model's, distilled at "
            + "temperature 4, its forget-class outputs removed; the default) or labels (cross-entropy).", valueName: "outputs|labels"))
    var repairTarget = "outputs"

    @Flag(help: "Write the best edit found even when it does not meet the limits (the exit status is still 2).")
    var keepBest = false

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
        guard ["auto", "svd", "pgu"].contains(method) else { throw ValidationError("--method must be auto, svd or pgu") }
        guard method == "svd" || (alphaRetain == nil && alphaForget == nil) else { throw ValidationError("--alpha-retain and --alpha-forget are for --method svd") }
        guard (alphaRetain ?? 1) > 0, (alphaForget ?? 1) > 0 else { throw ValidationError("--alpha-retain and --alpha-forget must be positive") }
        guard !(search && method != "svd") else { throw ValidationError("--search applies to --method svd only") }
        guard ["outputs", "labels"].contains(repairTarget) else { throw ValidationError("--repair-target must be outputs or labels") }
        guard gamma > 0, gamma <= 1 else { throw ValidationError("--gamma must be in (0, 1]") }
        guard (lrStart ?? 1) > 0, (lrEnd ?? 1) > 0, sgdBatchSize > 0 else {
            throw ValidationError("--lr-start, --lr-end and --sgd-batch-size must be positive")
        }
        guard updateStats == nil || (method == "pgu" && stats != nil) else { throw ValidationError("--update-stats needs --method pgu and --stats") }
        if let updateStats, !updateStats.hasSuffix(".safetensors") { throw ValidationError("--update-stats must name a .safetensors file: \(updateStats)") }
    }

    /// The method and its settings from the flags.
    var unlearningMethod: UnlearningRequest.Method {
        if method == "pgu" {
            var settings = PGUUnlearning.Settings(gamma: gamma, lrStart: lrStart ?? 0.05, lrEnd: lrEnd ?? 0.01, epochs: stopping.epochs ?? 100,
                                                  sgdBatchSize: sgdBatchSize,
                                                  targetForgetAccuracy: stopping.targetForgetAccuracy ?? limits.maxForgetAccuracy,
                                                  maxRetainDrop: stopping.maxRetainDrop ?? 5)
            if lrStart != nil || lrEnd != nil { settings.learningRateFactors = [1] }
            settings.maxRetainDamage = limits.maxRetainDamage
            return .pgu(settings)
        }
        let contract = limits.contract(maxRetainDrop: stopping.maxRetainDrop)
        if method == "auto" { return .auto(contract) }
        if search { return .svd(SVDUnlearning.Settings(search: true)) }
        return .svd(SVDUnlearning.Settings(alphaRetain: alphaRetain ?? 100, alphaForget: alphaForget ?? 3))
    }

    func run() throws {
        let loading = try images.loading(for: [forgetting.data, evalData], model: options, mean: normalization.mean, std: normalization.std)
        let dataset = try forgetting.keys.load(forgetting.data, images: loading, quiet: options.quiet)
        let model = try options.load(for: dataset, path: forgetting.data)
        let classes = try forgetting.classes.indices(for: model, path: options.model)
        var request = UnlearningRequest(model: model, weights: try Checkpoint.open(options.model), classes: classes, data: dataset)
        let destination = try destination(weights: request.weights.path, classes: classes)
        request.method = unlearningMethod
        request.repairTarget = repairTarget == "labels" ? .labels : .standard
        request.selection = SampleSelection.Configuration(classes: classes, counts: counts, patchCap: patchCap, seed: seed,
                                                          batchSize: options.batchSize(for: dataset, model: model))
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
        var unmet = false
        if let verdict = result.verdict, !verdict.meets, let contract = request.contract {
            unmet = true
            let damageFailed = contract.exceedsRetainDamage(verdict.estimatedRetainDamage)
            Terminal.error("\(forgetting.data): the limits are not met: " + verdict.line(for: contract)
                           + (keepBest ? "; writing the best edit found (--keep-best)" : "; nothing written (--keep-best writes the best edit found)")
                           + (damageFailed ? "; add retained-class samples to --data so retain accuracy can be measured, or raise --max-retain-damage" : ""))
            guard keepBest else { throw ExitCode(2) }
        }
        if case .pgu(let r) = result.details, r.forgetAccuracy > r.targetForgetAccuracy + 1e-12 {
            // Never a silent no-op: PGU that did not bring the forget samples to its target refuses.
            unmet = true
            let judged = r.retainDamageLimit == nil ? "" : " (the worse of trained-on and held-out)"
            Terminal.error("\(forgetting.data): pgu did not forget: forget accuracy on the forget samples\(judged) "
                           + String(format: "%.2f%% -> %.2f%%", (r.epochs.first?.forgetAccuracy ?? 0) * 100, r.forgetAccuracy * 100)
                           + String(format: " (target %.2f%%)", r.targetForgetAccuracy * 100) + ", stopped: \(Escaping.printable(r.stopReason))"
                           + (keepBest ? "; writing the best epoch (--keep-best)" : "; nothing written (--keep-best writes the best epoch; raise --lr-start or --epochs)"))
            guard keepBest else { throw ExitCode(2) }
        }
        let record = try write(result, to: destination)
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
        if unmet { throw ExitCode(2) }
    }
}

extension Apply {
    /// Where the unlearned model goes: for a model folder (unless `-o` names a file), a new
    /// folder `NAME.forget-CLASSES/` with the edited weights under their own names and the
    /// folder's config files; else one checkpoint (`NAME.forget-CLASSES.EXT` by default).
    enum Destination {
        case file(String)
        case folder(String, source: String)
    }

    /// The destination, checked before any work is done (a folder is never replaced).
    func destination(weights: String, classes: [Int]) throws -> Destination {
        let model = options.model
        guard try Checkpoint.weightsFile(inFolder: model) != nil, output.map({ $0.hasSuffix("/") }) ?? true else {
            return .file(output ?? EditedCheckpoint.defaultOutputPath(for: weights, classes: classes))
        }
        let folder = output ?? EditedCheckpoint.defaultOutputFolder(for: model, classes: classes)
        if FileManager.default.fileExists(atPath: folder) {
            throw CommandFailure("\(folder): exists; remove it or give another output folder with -o (a model folder is never replaced)")
        }
        return .folder(folder, source: model)
    }

    func write(_ result: UnlearningResult, to destination: Destination) throws -> AuditRecord {
        switch destination {
        case .file(let path):
            return try result.write(to: path)
        case .folder(let folder, let model):
            let written = try result.writeFolder(folder, copyingFrom: model)
            if !written.companions.leftOut.isEmpty && !options.quiet {
                Terminal.note("\(model): not copied (they hold the original weights): \(written.companions.leftOut.joined(separator: ", "))")
            }
            return written.record
        }
    }
}
