import ArgumentParser
import Foundation
import ModelRuntime
import TensorCore
import Unlearning
import WeightFormats

extension Vector {
    struct Make: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Learn a forget vector for classes of a model.")

        @OptionGroup var options: ModelOptions

        @OptionGroup var forgetting: ForgetRequestOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("The vector to write (.safetensors).", valueName: "file"))
        var output: String

        @OptionGroup var training: VectorTrainingOptions

        @Option(help: ArgumentHelp("Where δ is added: pixel (before normalisation by --mean/--std) or normalized (the model's input).", valueName: "pixel|normalized"))
        var space = "pixel"

        @Option(help: ArgumentHelp("Per-channel means of the normalisation the deployed model applies to pixels.", valueName: "list"))
        var mean: String?

        @Option(help: ArgumentHelp("Per-channel standard deviations of that normalisation.", valueName: "list"))
        var std: String?

        @OptionGroup var images: ImageOptions

        @Flag(help: "Write the best vector found even when no epoch meets --target-forget-accuracy and --max-retain-drop (exit status 2 all the same).")
        var keepBest = false

        func validate() throws {
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o must name a .safetensors file: \(output)") }
            guard ForgetVector.Space(rawValue: space) != nil else { throw ValidationError("--space must be pixel or normalized") }
            guard (mean == nil) == (std == nil) else { throw ValidationError("give --mean and --std together") }
        }

        /// `--space`, `--mean` and `--std` (or an image pipeline's normalisation), checked against the
        /// samples' channels.
        func placement(sampleShape: [Int], mean: String?, std: String?) throws -> ForgetVector.Placement {
            let means = try mean.map { text in try numberList(text).orThrow(ValidationError("--mean must be comma-separated numbers")) } ?? []
            let stds = try std.map { text in try numberList(text).orThrow(ValidationError("--std must be comma-separated numbers")) } ?? []
            guard stds.allSatisfy({ $0 > 0 }), means.count == stds.count else { throw ValidationError("--std values must be positive, one per --mean value") }
            if !stds.isEmpty, stds.count != 1, stds.count != sampleShape.first {
                throw ValidationError("--mean/--std give \(stds.count) channels but samples have \(sampleShape.first ?? 0)")
            }
            return ForgetVector.Placement(space: ForgetVector.Space(rawValue: space)!, mean: means, std: stds)
        }

        func run() throws {
            // With images, --mean/--std are the pipeline's normalisation too (or come from the model folder).
            let loading = try images.loading(for: [forgetting.data], model: options, mean: mean, std: std)
            let dataset = try forgetting.keys.load(forgetting.data, images: loading, quiet: options.quiet)
            let model = try options.load(for: dataset, path: forgetting.data)
            func list(_ values: [Double]?) -> String? { values.map { $0.map { String($0) }.joined(separator: ",") } }
            let pipeline = dataset.imageSamples?.preprocessing
            let placement = try placement(sampleShape: dataset.sampleShape, mean: mean ?? list(pipeline?.mean), std: std ?? list(pipeline?.std))
            let classes = try forgetting.classes.indices(for: model, path: options.model)
            let configuration = training.configuration(classes: classes, batchSize: options.batchSize(for: dataset, model: model))
            let made: (file: ForgetVectorFile, result: ForgetVector.Result)
            do {
                made = try ForgetVectorFile.make(model, modelSHA256: try SHA256.hex(ofFile: options.model), data: dataset, placement: placement,
                                                 configuration: configuration, progress: options.progress("epochs"))
            } catch let error as UnlearningError {
                throw CommandFailure(forgetting.data, error)
            } catch let error as GraphError {
                throw CommandFailure(options.model, error)
            }
            let result = made.result
            let selected = result.kept
            if !result.meetsLimits {
                let rates = result.learningRatesTried.map { String($0) }.joined(separator: ", ")
                Terminal.error("\(forgetting.data): no forget vector met the limits (learning rates \(rates)): best found forget accuracy "
                               + String(format: "%.2f%%", selected.forgetAccuracy * 100) + " (limit "
                               + String(format: "%.2f%%", configuration.settings.targetForgetAccuracy * 100) + "), retain drop "
                               + String(format: "%.2f", (result.epochs[0].retainAccuracy - selected.retainAccuracy) * 100) + " points (limit "
                               + String(format: "%.2f", configuration.settings.maxRetainDrop) + ") on the training samples"
                               + (keepBest ? "; writing it (--keep-best)" : "; nothing written (--keep-best writes the best found)"))
                guard keepBest else { throw ExitCode(2) }
            }
            do { try made.file.write(to: output) } catch { throw WeightFileError(path: output, underlying: error) }
            Terminal.print("wrote \(output): classes \(classes.map(String.init).joined(separator: ",")), learning rate \(result.learningRate), "
                           + "epoch \(result.selectedEpoch) "
                           + "(\(result.selectionReason)), ‖δ‖₂ \(String(format: "%.3f", result.kept.norm))")
            training.printAccuracies(before: result.epochs[0], after: result.kept)
            if !result.meetsLimits { throw ExitCode(2) }
        }
    }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> any Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
