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
            (Formats/stats.md). Collect them once, in parts if the data is large, merge the parts, \
            and let apply use them instead of a pass over the data.

            Examples:
              $ modelforget stats collect Samples/cnn.onnx --data part1.npz -o part1.stats.safetensors
              $ modelforget stats merge part1.stats.safetensors part2.stats.safetensors -o cnn.stats.safetensors
              $ modelforget apply Samples/cnn.onnx --classes 5,7 --data Samples/digits-train.npz --stats cnn.stats.safetensors
            """,
        subcommands: [Collect.self, Merge.self])

    struct Collect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Collect per-class statistics of a model over labelled samples.")

        @OptionGroup var options: ModelOptions

        @Option(help: ArgumentHelp("Labelled samples (npz or safetensors with x and y).", valueName: "file"))
        var data: String

        @OptionGroup var keys: DataKeys

        @OptionGroup var patchCap: PatchCapOption

        @OptionGroup var seed: SeedOption

        @OptionGroup var images: ImageOptions

        @OptionGroup var normalization: NormalizationOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("The statistics file to write (.safetensors).", valueName: "file"))
        var output: String

        func validate() throws {
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o must name a .safetensors file: \(output)") }
        }

        func run() throws {
            let loading = try images.loading(for: [data], model: options, mean: normalization.mean, std: normalization.std)
            let dataset = try keys.load(data, images: loading, quiet: options.quiet)
            let model = try options.load(for: dataset, path: data)
            let statistics: StatisticsFile
            do {
                statistics = try StatisticsFile.collect(model, data: dataset, batchSize: options.batchSize(for: dataset),
                                                        sampling: PatchSampling(maxPerLayer: patchCap.maxPatches, seed: seed.seed),
                                                        progress: options.progress("statistics"))
            } catch let error as UnlearningError {
                throw CommandFailure(data, error)
            }
            do { try statistics.write(to: output) } catch { throw WeightFileError(path: output, underlying: error) }
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sum statistics files collected on parts of a data set.")

        @Argument(help: "Statistics files of the same model.")
        var files: [String]

        @Option(name: .shortAndLong, help: ArgumentHelp("The merged file to write (.safetensors).", valueName: "file"))
        var output: String

        func validate() throws {
            guard files.count >= 2 else { throw ValidationError("give at least two statistics files") }
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o must name a .safetensors file: \(output)") }
        }

        func run() throws {
            let parts = try files.map { try StatisticsFile.read($0) }
            let merged: StatisticsFile
            do { merged = try StatisticsFile.merged(parts) } catch { throw CommandFailure(files.joined(separator: ", "), error) }
            do { try merged.write(to: output) } catch { throw WeightFileError(path: output, underlying: error) }
        }
    }
}
