import ArgumentParser
import Foundation
import ModelRuntime
import TensorCore
import Unlearning
import WeightFormats

struct Vector: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make, combine and apply forget vectors: input perturbations that make a model forget classes.",
        discussion: """
            A forget vector leaves the weights alone: one perturbation with the shape of an input, \
            added to every input, makes the frozen model forget the classes (Formats/forget-vector.md). \
            eval and predict take --vector FV.

            Examples:
              $ modelforget vector make Samples/cnn.onnx --classes 5 --data Samples/digits-train.npz -o fv-5.safetensors
              $ modelforget vector combine fv-5.safetensors fv-7.safetensors --weights 1,1 -o fv-5-7.safetensors
              $ modelforget eval Samples/cnn.onnx --data Samples/digits-test.npz --classes 5,7 --vector fv-5-7.safetensors
            """,
        subcommands: [Make.self, Combine.self, Apply.self])

    struct Make: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Learn a forget vector for classes of a model.")

        @OptionGroup var options: ModelOptions

        @Option(help: ArgumentHelp("Classes to forget, e.g. 5.", valueName: "list"))
        var classes: ClassList

        @Option(help: ArgumentHelp("Labelled samples (npz or safetensors with x and y): forget and retain samples come from here.", valueName: "file"))
        var data: String

        @OptionGroup var keys: DataKeys

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

        func validate() throws {
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o must name a .safetensors file: \(output)") }
            guard ForgetVector.Space(rawValue: space) != nil else { throw ValidationError("--space must be pixel or normalized") }
            guard (mean == nil) == (std == nil) else { throw ValidationError("give --mean and --std together") }
        }

        func run() throws {
            // With images, --mean/--std are the pipeline's normalisation too (or come from the model folder).
            let loading = try images.loading(for: [data], model: options, mean: mean, std: std)
            let dataset = try Dataset.load(data, xKey: keys.xKey, yKey: keys.yKey, images: loading)
            ImageOptions.describe(dataset, path: data, quiet: options.quiet)
            let model = try options.load(sampleShape: dataset.sampleShape)
            try checkSampleShape(model, dataset, path: data)
            func list(_ values: [Double]?) -> String? { values.map { $0.map { String($0) }.joined(separator: ",") } }
            let pipeline = dataset.imageSamples?.preprocessing
            let placement = try Vector.placement(space: space, mean: mean ?? list(pipeline?.mean), std: std ?? list(pipeline?.std),
                                                 sampleShape: dataset.sampleShape)
            let configuration = training.configuration(classes: classes.classes, batchSize: options.batchSize(for: dataset))
            let result: ForgetVector.Result
            do {
                result = try ForgetVector.make(model, data: dataset, placement: placement, configuration: configuration,
                                               progress: options.progress("epochs"))
            } catch let error as UnlearningError {
                throw CommandFailure("\(data): \(error)")
            } catch let error as GraphError {
                throw CommandFailure("\(options.model): \(error)")
            }
            let settings = training.settings(epochs: result.epochs, selected: result.selectedEpoch, rule: result.selectionReason)
            let file = ForgetVectorFile(delta: result.delta, classes: classes.classes, placement: placement,
                                        modelSHA256: try SHA256.hex(ofFile: options.model), settings: settings)
            do { try file.write(to: output) } catch { throw WeightFileError(path: output, underlying: error) }
            Terminal.print("wrote \(output): classes \(classes.classes.map(String.init).joined(separator: ",")), epoch \(result.selectedEpoch) (\(result.selectionReason)), ‖δ‖₂ \(String(format: "%.3f", result.epochs[result.selectedEpoch].norm))")
            VectorTrainingOptions.printAccuracies(result.epochs, selected: result.selectedEpoch)
        }
    }

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

        @Option(help: ArgumentHelp("With --fit: architecture for a checkpoint model (ONNX file or spec).", valueName: "file"))
        var arch: String?

        @Option(help: ArgumentHelp("With --fit: classes the combination must forget, e.g. 5,7.", valueName: "list"))
        var classes: ClassList?

        @Option(help: ArgumentHelp("With --fit: labelled samples (npz or safetensors with x and y).", valueName: "file"))
        var data: String?

        @OptionGroup var keys: DataKeys

        @OptionGroup var training: VectorTrainingOptions

        @Option(help: "With --fit: samples per forward pass.")
        var batchSize: Int?

        @Flag(help: "No progress on stderr.")
        var quiet = false

        @Flag(help: "Combine vectors made for different models (or for a model other than --model).")
        var force = false

        @Option(name: .shortAndLong, help: ArgumentHelp("The vector to write (.safetensors).", valueName: "file"))
        var output: String

        func validate() throws {
            guard !vectors.isEmpty else { throw ValidationError("give at least one vector") }
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o must name a .safetensors file: \(output)") }
            if let weights {
                guard let values = Vector.numbers(weights), values.count == vectors.count else {
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
            guard (batchSize ?? 1) > 0 else { throw ValidationError("--batch-size must be positive") }
        }

        func run() throws {
            let parts = try vectors.map { (path: $0, file: try ForgetVectorFile.read($0)) }
            let start = weights.flatMap(Vector.numbers) ?? [Double](repeating: 0, count: vectors.count)
            // Checks shapes, spaces and models, and gives the starting combination.
            var combined = try ForgetVectorFile.combine(parts, weights: start, force: force)
            if fit, let model, let classes, let data { combined = try fitted(parts, start: start, model: model, classes: classes.classes, data: data) }
            do { try combined.write(to: output) } catch { throw WeightFileError(path: output, underlying: error) }
            Terminal.print("wrote \(output): \(zip(combined.coefficients, vectors).map { "\($0) × \($1)" }.joined(separator: " + "))")
            if fit, let epochs = combined.settings["selected_epoch"] { Terminal.print("epoch \(epochs) (\(combined.settings["selection_rule"] ?? ""))") }
        }

        func fitted(_ parts: [(path: String, file: ForgetVectorFile)], start: [Double], model modelPath: String, classes: [Int],
                    data dataPath: String) throws -> ForgetVectorFile {
            let first = parts[0].file
            do { try first.check(sampleShape: first.delta.shape, modelSHA256: try SHA256.hex(ofFile: modelPath), force: force) } catch let error as ForgetVectorError {
                throw CommandFailure("\(parts[0].path): \(error)")
            }
            let dataset = try Dataset.load(dataPath, xKey: keys.xKey, yKey: keys.yKey)
            let options = try ModelOptions.forFile(modelPath, arch: arch, batchSize: batchSize, quiet: quiet)
            let model = try options.load(sampleShape: dataset.sampleShape)
            try checkSampleShape(model, dataset, path: dataPath)
            guard first.delta.shape == dataset.sampleShape else {
                throw CommandFailure("\(dataPath): \(ForgetVectorError.shapeMismatch(expected: dataset.sampleShape, found: first.delta.shape))")
            }
            let configuration = training.configuration(classes: classes, batchSize: options.batchSize(for: dataset))
            let result: ForgetVector.FitResult
            do {
                result = try ForgetVector.fitCoefficients(model, data: dataset, bases: parts.map(\.file.delta), initial: start,
                                                          placement: first.placement, configuration: configuration, progress: options.progress("epochs"))
            } catch let error as UnlearningError {
                throw CommandFailure("\(dataPath): \(error)")
            } catch let error as GraphError {
                throw CommandFailure("\(modelPath): \(error)")
            }
            VectorTrainingOptions.printAccuracies(result.epochs, selected: result.selectedEpoch)
            var settings = training.settings(epochs: result.epochs, selected: result.selectedEpoch, rule: result.selectionReason)
            settings["fit"] = "coefficients"
            settings["initial_coefficients"] = start.map { String($0) }.joined(separator: ",")
            return ForgetVectorFile(delta: result.delta, classes: classes, placement: first.placement, modelSHA256: first.modelSHA256,
                                    sources: parts.map(\.path), coefficients: result.coefficients, settings: settings)
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write inputs with a forget vector added, for runtimes that do not add it themselves.")

        @Argument(help: "The forget vector.")
        var vector: String

        @Option(help: ArgumentHelp("Samples (npz or safetensors).", valueName: "file"))
        var inputs: String

        @Option(help: "Name of the input tensor in the inputs file.")
        var xKey = "x"

        @Option(name: .shortAndLong, help: ArgumentHelp("The .npz file to write (x plus δ in the model's input space; y copied if present).", valueName: "file"))
        var output: String

        func validate() throws {
            guard output.hasSuffix(".npz") else { throw ValidationError("-o must name a .npz file: \(output)") }
        }

        func run() throws {
            let file = try ForgetVectorFile.read(vector)
            let dataset = try Dataset.load(inputs, xKey: xKey, yKey: "y")
            do { try file.check(sampleShape: dataset.sampleShape, modelSHA256: nil, force: true) } catch {
                throw CommandFailure("\(inputs): \(error)")
            }
            var x = try dataset.batch(0..<dataset.count)
            Evaluation.addToEverySample(&x, file.placement.modelOffset(file.delta))
            let labels = dataset.labels.map { $0.map(Int64.init) }
            var tensors = [TensorInfo(name: "x", dtype: .F32, shape: x.shape)]
            if let labels { tensors.append(TensorInfo(name: "y", dtype: .I64, shape: [labels.count])) }
            do {
                try NPZWriter.write(to: output, tensors: tensors, compression: .stored) { info, consume in
                    if info.name == "x" { try x.data.withUnsafeBytes { try consume($0) } } else { try labels!.withUnsafeBytes { try consume($0) } }
                }
            } catch {
                throw WeightFileError(path: output, underlying: error)
            }
        }
    }

    static func numbers(_ text: String) -> [Double]? {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        return values.isEmpty || values.contains(where: { $0 == nil }) ? nil : values.map { $0! }
    }

    static func placement(space: String, mean: String?, std: String?, sampleShape: [Int]) throws -> ForgetVector.Placement {
        let means = try mean.map { text in try numbers(text).orThrow(ValidationError("--mean must be comma-separated numbers")) } ?? []
        let stds = try std.map { text in try numbers(text).orThrow(ValidationError("--std must be comma-separated numbers")) } ?? []
        guard stds.allSatisfy({ $0 > 0 }), means.count == stds.count else { throw ValidationError("--std values must be positive, one per --mean value") }
        if !stds.isEmpty, stds.count != 1, stds.count != sampleShape.first {
            throw ValidationError("--mean/--std give \(stds.count) channels but samples have \(sampleShape.first ?? 0)")
        }
        return ForgetVector.Placement(space: ForgetVector.Space(rawValue: space)!, mean: means, std: stds)
    }
}

/// `--vector FV` and `--force` of eval and predict.
struct VectorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Add this forget vector to every input (see modelforget vector).", valueName: "file"))
    var vector: String?

    @Flag(help: "Use --vector even if it was made for another model (by SHA-256).")
    var force = false

    /// The offset in the model's input space, checked against the samples and the model file.
    func offset(sampleShape: [Int], modelPath: String) throws -> Tensor? {
        guard let vector else { return nil }
        let file = try ForgetVectorFile.read(vector)
        do { try file.check(sampleShape: sampleShape, modelSHA256: try SHA256.hex(ofFile: modelPath), force: force) } catch let error as ForgetVectorError {
            throw CommandFailure("\(vector): \(error)")
        }
        return file.placement.modelOffset(file.delta)
    }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> any Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}

/// The loss, optimiser and stopping options shared by `vector make` and `vector combine --fit`.
struct VectorTrainingOptions: ParsableArguments {
    @Option(help: "Forget samples in total.")
    var forgetSamples = 900

    @Option(help: "Retain samples in total, spread evenly over the other classes.")
    var retainSamples = 900

    @Option(help: "Margin τ: forget samples are pushed until their true logit is τ below the best other.")
    var tau = 1.0

    @Option(help: "Weight β of the forget margin term.")
    var beta = 3.0

    @Option(help: "Weight λ of the norm penalty: ‖δ‖₂ / B for make, ‖w‖₂ for combine --fit.")
    var lambda = 1.0

    @Option(help: "Learning rate of the first epoch (× 0.9 per epoch; momentum 0.9, weight decay 5e-4).")
    var lr = 0.2

    @Option(help: "Maximum number of epochs.")
    var epochs = 60

    @Option(help: ArgumentHelp("Stop at the first epoch with forget accuracy at most this (and retain drop within --max-retain-drop).", valueName: "fraction"))
    var targetForgetAccuracy = 0.1

    @Option(help: ArgumentHelp("Largest retain-accuracy drop, in points, an epoch may have to end the run.", valueName: "points"))
    var maxRetainDrop = 5.0

    @Option(help: "Seed for sample selection and batch order.")
    var seed: UInt64 = 0

    func validate() throws {
        guard epochs > 0, lr > 0, forgetSamples > 0, retainSamples > 0 else { throw ValidationError("--epochs, --lr and sample counts must be positive") }
    }

    func configuration(classes: [Int], batchSize: Int) -> ForgetVector.Configuration {
        var configuration = ForgetVector.Configuration(forgetClasses: classes)
        configuration.forgetSamples = forgetSamples
        configuration.retainSamples = retainSamples
        configuration.tau = tau
        configuration.beta = beta
        configuration.lambda = lambda
        configuration.learningRate = lr
        configuration.epochs = epochs
        configuration.targetForgetAccuracy = targetForgetAccuracy
        configuration.maxRetainDrop = maxRetainDrop
        configuration.seed = seed
        configuration.batchSize = batchSize
        return configuration
    }

    /// The `setting.*` metadata of a learned vector.
    func settings(epochs history: [ForgetVector.Epoch], selected: Int, rule: String) -> [String: String] {
        ["tau": String(tau), "alpha": "1.0", "beta": String(beta), "lambda": String(lambda), "lr": String(lr),
         "momentum": "0.9", "weight_decay": "0.0005", "lr_decay": "0.9", "epochs": String(epochs),
         "selected_epoch": String(selected), "selection_rule": rule, "seed": String(seed),
         "forget_accuracy": String(history[selected].forgetAccuracy), "retain_accuracy": String(history[selected].retainAccuracy)]
    }

    static func printAccuracies(_ history: [ForgetVector.Epoch], selected: Int) {
        let before = history[0], after = history[selected]
        Terminal.print(String(format: "forget accuracy on the forget samples: %.2f%% -> %.2f%%", before.forgetAccuracy * 100, after.forgetAccuracy * 100))
        Terminal.print(String(format: "retain accuracy on the retain samples: %.2f%% -> %.2f%%", before.retainAccuracy * 100, after.retainAccuracy * 100))
    }
}
