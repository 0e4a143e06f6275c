import ArgumentParser
import Foundation
import ModelRuntime
import Unlearning
import WeightFormats

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Collect and merge per-class activation statistics for apply --stats.",
        discussion: """
            Statistics are the Gram matrices of every weight layer's inputs, per class, in float64 \
            (Formats/stats.md). Collect them once, in parts on several machines if the data is \
            large (--shard i/n, or a Slurm job array or Kubernetes Indexed Job: docs/scale-out.md), \
            merge the parts, and let apply use them instead of a pass over the data.

            Examples:
              $ modelforget stats collect Samples/cnn.onnx --data Samples/digits-train.npz --shard 1/2 -o part-{shard}.stats.safetensors
              $ modelforget stats collect Samples/cnn.onnx --data Samples/digits-train.npz --shard 2/2 -o part-{shard}.stats.safetensors
              $ modelforget stats merge part-1.stats.safetensors part-2.stats.safetensors -o cnn.stats.safetensors
              $ modelforget apply Samples/cnn.onnx --classes 5,7 --data Samples/digits-train.npz --stats cnn.stats.safetensors
            """,
        subcommands: [Collect.self, Merge.self])

    struct Collect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Collect per-class statistics of a model over labelled samples.",
            discussion: """
                With --shard i/n (or in a Slurm job array or a Kubernetes Indexed Job, which set it \
                through the environment) only part i of n of the samples is collected; every part \
                records the model's SHA-256, the data set's fingerprint, its part, sample counts, \
                --max-patches and --seed, so that stats merge can check the parts belong together. \
                {shard} in -o stands for the part's index.

                Examples:
                  $ modelforget stats collect Samples/cnn.onnx --data Samples/digits-train.npz --shard 2/4 -o part-{shard}.stats.safetensors
                  $ sbatch --array=1-4 --wrap 'modelforget stats collect model.onnx --data train.npz -o part-{shard}.stats.safetensors --json'
                """)

        @OptionGroup var options: ModelOptions

        @Option(help: ArgumentHelp("Labelled samples (npz or safetensors with x and y).", valueName: "file"))
        var data: String

        @OptionGroup var keys: DataKeys

        @OptionGroup var patchCap: PatchCapOption

        @OptionGroup var seed: SeedOption

        @OptionGroup var sharding: ShardOptions

        @OptionGroup var images: ImageOptions

        @OptionGroup var normalization: NormalizationOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("The statistics file to write (.safetensors); {shard} is replaced by the part's index.", valueName: "file"))
        var output: String

        @Flag(help: "When done, print one JSON line (part, samples, seconds, samples/s, file size) instead of the summary.")
        var json = false

        func validate() throws {
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o must name a .safetensors file: \(output)") }
        }

        func run() throws {
            let (shard, origin) = try sharding.resolve(ShardOptions.environment)
            if let origin, !options.quiet { Terminal.note("collecting part \(shard) (from \(origin))") }
            let output = self.output.replacingOccurrences(of: "{shard}", with: String(shard.index))
            let start = Date()
            let loading = try images.loading(for: [data], model: options, mean: normalization.mean, std: normalization.std)
            let dataset = try keys.load(data, images: loading, quiet: options.quiet)
            let model = try options.load(for: dataset, path: data)
            let modelSHA256 = try SHA256.hex(ofFile: options.model)
            let fingerprint = try dataset.fingerprint()
            let collectStart = Date()
            let statistics: StatisticsFile
            do {
                statistics = try StatisticsFile.collect(model, data: dataset, batchSize: options.batchSize(for: dataset, model: model),
                                                        sampling: PatchSampling(maxPerLayer: patchCap.maxPatches, seed: seed.seed), shard: shard,
                                                        modelSHA256: modelSHA256, dataFingerprint: fingerprint,
                                                        progress: Terminal.timedProgress("statistics \(shard)", quiet: options.quiet))
            } catch let error as UnlearningError {
                throw CommandFailure(data, error)
            } catch let error as ModelError {
                throw WeightFileError(path: data, underlying: error)
            }
            let collectSeconds = Date().timeIntervalSince(collectStart)
            do { try statistics.write(to: output) } catch { throw WeightFileError(path: output, underlying: error) }
            let report = PartReport(statistics: statistics, output: output, seconds: Date().timeIntervalSince(start), collectSeconds: collectSeconds)
            Terminal.print(json ? try report.jsonLine() : report.text)
        }
    }

    /// What `stats collect` reports of one part: a line of text, or one JSON line with `--json`.
    struct PartReport: Encodable {
        let shard: String
        let samples: Int
        let dataSamples: Int
        let classes: Int
        let output: String
        let bytes: Int
        let seconds: Double
        let collectSeconds: Double
        let samplesPerSecond: Double
        let modelSHA256: String?
        let dataFingerprint: String?
        let maxPatches: Int?
        let seed: UInt64

        enum CodingKeys: String, CodingKey {
            case shard, samples, classes, output, bytes, seconds, seed
            case dataSamples = "data_samples", collectSeconds = "collect_seconds", samplesPerSecond = "samples_per_second"
            case modelSHA256 = "model_sha256", dataFingerprint = "data_fingerprint", maxPatches = "max_patches"
        }

        init(statistics: StatisticsFile, output: String, seconds: Double, collectSeconds: Double) {
            let provenance = statistics.provenance!
            shard = provenance.shards.description
            samples = provenance.samples
            dataSamples = provenance.dataSamples
            classes = statistics.grams.count
            self.output = output
            bytes = ((try? FileManager.default.attributesOfItem(atPath: output)[.size]) as? Int) ?? 0
            self.seconds = (seconds * 1000).rounded() / 1000
            self.collectSeconds = (collectSeconds * 1000).rounded() / 1000
            samplesPerSecond = (Double(samples) / max(collectSeconds, 1e-3) * 10).rounded() / 10
            modelSHA256 = provenance.modelSHA256
            dataFingerprint = provenance.dataFingerprint
            maxPatches = statistics.maxPatches
            seed = provenance.seed
        }

        /// `wrote FILE: part 2/4, 350 of 1400 samples, 10 classes, 1.2 MB in 0.84 s (417 samples/s)`.
        var text: String {
            String(format: "wrote %@: part %@, %d of %d samples, %d classes, %@ in %.2f s (%.0f samples/s)", output, shard, samples, dataSamples, classes,
                   ByteCountFormatter.string(fromByteCount: Int64(bytes), countStyle: .file), seconds, samplesPerSecond)
        }

        /// One line of JSON, keys sorted.
        func jsonLine() throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(self), as: UTF8.self)
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sum statistics files collected on parts of a data set.",
            discussion: """
                The parts must come from the same model file, data set, --max-patches and --seed, \
                each part once and every part present (--allow-partial merges what there is and \
                records the missing parts). They are summed in the order of their parts, so the \
                result does not depend on the order of the arguments.
                """)

        @Argument(help: "Statistics files of the same model and data set, from stats collect (with --shard) or stats merge.")
        var files: [String]

        @Option(name: .shortAndLong, help: ArgumentHelp("The merged file to write (.safetensors).", valueName: "file"))
        var output: String

        @Flag(help: "Merge the parts given although some are missing (the merged file records which).")
        var allowPartial = false

        func validate() throws {
            guard !files.isEmpty else { throw ValidationError("give the statistics files to merge") }
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o must name a .safetensors file: \(output)") }
        }

        func run() throws {
            let merged: (provenance: StatisticsProvenance?, classes: Int)
            do { merged = try StatisticsFile.merge(files: files, allowPartial: allowPartial, to: output) } catch let error as StatisticsError {
                throw CommandFailure(files.count <= 3 ? files.joined(separator: ", ") : "\(files[0]), …, \(files[files.count - 1])", error)
            }
            guard let provenance = merged.provenance else {
                Terminal.print("wrote \(output): \(files.count) files summed (no provenance recorded)")
                return
            }
            let missing = provenance.partial ? " (missing \(ShardSet.ranges(provenance.shards.missing)): partial)" : ""
            Terminal.print("wrote \(output): parts \(provenance.shards)\(missing), \(provenance.samples) of \(provenance.dataSamples) samples, \(merged.classes) classes")
        }
    }
}
