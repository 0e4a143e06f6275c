import ArgumentParser
import ModelRuntime
import TensorCore
import Unlearning
import WeightFormats

extension Vector {
    struct Combine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Combine forget vectors: Σ w_k δ_k with given coefficients, or coefficients learned for new classes (--fit).",
            discussion: """
                With --weights the coefficients are given. With --fit they are learned for --classes on \
                --data with the forget-vector loss (norm penalty λ‖w‖₂ on the coefficients), starting \
                from --weights or from zeros (no vector); --model names the model the vectors were made for.
                """)

        @Argument(help: "Forget vectors made for the same model, space and normalisation.")
        var vectors: [String]

        @Option(help: ArgumentHelp("One coefficient per vector (negative allowed), e.g. 1,1; with --fit, the starting point.", valueName: "list"))
        var weights: String?

        @Flag(help: "Learn the coefficients for --classes on --data (needs --model).")
        var fit = false

        @Option(help: ArgumentHelp("With --fit: the model the vectors were made for.", valueName: "file"))
        var model: String?

        @OptionGroup var architecture: ArchitectureOption

        @Option(help: ArgumentHelp("With --fit: classes the combination must forget, e.g. 5,7.", valueName: "list"))
        var classes: ClassList?

        @Option(help: ArgumentHelp("With --fit: labelled samples (npz or safetensors with x and y).", valueName: "file"))
        var data: String?

        @OptionGroup var keys: DataKeys

        @OptionGroup var images: ImageOptions

        @OptionGroup var training: VectorTrainingOptions

        @OptionGroup var batch: BatchSizeOption

        @OptionGroup var verbosity: QuietFlag

        @Flag(help: "Combine vectors made for different models (or for a model other than --model).")
        var force = false

        @Option(name: .shortAndLong, help: ArgumentHelp("The vector to write (.safetensors).", valueName: "file"))
        var output: String

        func validate() throws {
            guard !vectors.isEmpty else { throw ValidationError("give at least one vector") }
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o must name a .safetensors file: \(output)") }
            if let weights {
                guard let values = numberList(weights), values.count == vectors.count else {
                    throw ValidationError("--weights needs \(vectors.count) comma-separated numbers")
                }
            } else if !fit {
                throw ValidationError("give --weights, or --fit with --model, --classes and --data")
            }
            if fit {
                guard model != nil, classes != nil, data != nil else { throw ValidationError("--fit needs --model, --classes and --data") }
            } else if model != nil || classes != nil || data != nil {
                throw ValidationError("--model, --classes and --data are for --fit")
            }
        }

        func run() throws {
            let parts = try vectors.map { (path: $0, file: try ForgetVectorFile.read($0)) }
            let start = weights.flatMap(numberList) ?? [Double](repeating: 0, count: vectors.count)
            // Checks shapes, spaces and models, and gives the starting combination.
            var combined = try ForgetVectorFile.combine(parts, weights: start, force: force)
            if fit, let model, let classes, let data { combined = try fitted(parts, start: start, model: model, classes: classes, data: data) }
            do { try combined.write(to: output) } catch { throw WeightFileError(path: output, underlying: error) }
            Terminal.print("wrote \(output): \(zip(combined.coefficients, vectors).map { "\($0) × \($1)" }.joined(separator: " + "))")
            if fit, let epochs = combined.settings["selected_epoch"] { Terminal.print("epoch \(epochs) (\(combined.settings["selection_rule"] ?? ""))") }
        }

        func fitted(_ parts: [(path: String, file: ForgetVectorFile)], start: [Double], model modelPath: String, classes list: ClassList,
                    data dataPath: String) throws -> ForgetVectorFile {
            let first = parts[0].file
            do { try first.check(sampleShape: first.delta.shape, modelSHA256: try SHA256.hex(ofFile: modelPath), force: force) } catch let error as ForgetVectorError {
                throw CommandFailure(parts[0].path, error)
            }
            let options = try ModelOptions.forFile(modelPath, architecture: architecture, batch: batch, verbosity: verbosity)
            // Images are prepared as the model expects (its folder's config, the image flags), with
            // the vectors' normalisation when they were made in pixel space with one.
            let normalization = first.placement.std.isEmpty ? nil : first.placement
            let loading = try images.loading(for: [dataPath], model: options,
                                             mean: normalization.map { $0.mean.map { "\($0)" }.joined(separator: ",") },
                                             std: normalization.map { $0.std.map { "\($0)" }.joined(separator: ",") })
            let dataset = try keys.load(dataPath, images: loading, quiet: options.quiet)
            let model = try options.load(for: dataset, path: dataPath)
            let classes = try list.indices(for: model, path: modelPath)
            let configuration = training.configuration(classes: classes, batchSize: options.batchSize(for: dataset, model: model))
            let fitted: (file: ForgetVectorFile, result: ForgetVector.FitResult)
            do {
                fitted = try ForgetVectorFile.fit(parts, start: start, model: model, data: dataset, configuration: configuration,
                                                  progress: options.progress("epochs"))
            } catch let error as ForgetVectorError {
                throw CommandFailure(dataPath, error)
            } catch let error as UnlearningError {
                throw CommandFailure(dataPath, error)
            } catch let error as GraphError {
                throw CommandFailure(modelPath, error)
            }
            training.printAccuracies(before: fitted.result.epochs[0], after: fitted.result.kept)
            return fitted.file
        }
    }
}
