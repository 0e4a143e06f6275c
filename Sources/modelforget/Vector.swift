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

        @Option(help: "Forget samples in total.")
        var forgetSamples = 900

        @Option(help: "Retain samples in total, spread evenly over the other classes.")
        var retainSamples = 900

        @Option(help: "Margin τ: forget samples are pushed until their true logit is τ below the best other.")
        var tau = 1.0

        @Option(help: "Weight β of the forget margin term.")
        var beta = 3.0

        @Option(help: "Weight λ of ‖δ‖₂.")
        var lambda = 1.0

        @Option(help: "Learning rate of the first epoch (× 0.9 per epoch; momentum 0.9, weight decay 5e-4).")
        var lr = 0.2

        @Option(help: "Maximum number of epochs.")
        var epochs = 60

        @Option(help: ArgumentHelp("Stop at the first epoch with forget accuracy at most this (and retain drop within --max-retain-drop).", valueName: "fraction"))
        var targetForgetAccuracy = 0.1

        @Option(help: ArgumentHelp("Largest retain-accuracy drop, in points, an epoch may have to end the run.", valueName: "points"))
        var maxRetainDrop = 5.0

        @Option(help: ArgumentHelp("Where δ is added: pixel (before normalisation by --mean/--std) or normalized (the model's input).", valueName: "pixel|normalized"))
        var space = "pixel"

        @Option(help: ArgumentHelp("Per-channel means of the normalisation the deployed model applies to pixels.", valueName: "list"))
        var mean: String?

        @Option(help: ArgumentHelp("Per-channel standard deviations of that normalisation.", valueName: "list"))
        var std: String?

        @Option(help: "Seed for sample selection and batch order.")
        var seed: UInt64 = 0

        func validate() throws {
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o must name a .safetensors file: \(output)") }
            guard ForgetVector.Space(rawValue: space) != nil else { throw ValidationError("--space must be pixel or normalized") }
            guard (mean == nil) == (std == nil) else { throw ValidationError("give --mean and --std together") }
            guard epochs > 0, lr > 0, forgetSamples > 0, retainSamples > 0 else { throw ValidationError("--epochs, --lr and sample counts must be positive") }
        }

        func run() throws {
            let dataset = try Dataset.load(data, xKey: keys.xKey, yKey: keys.yKey)
            let model = try options.load(sampleShape: dataset.sampleShape)
            try checkSampleShape(model, dataset, path: data)
            let placement = try Vector.placement(space: space, mean: mean, std: std, sampleShape: dataset.sampleShape)
            var configuration = ForgetVector.Configuration(forgetClasses: classes.classes)
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
            configuration.batchSize = options.batchSize(for: dataset)
            let result: ForgetVector.Result
            do {
                result = try ForgetVector.make(model, data: dataset, placement: placement, configuration: configuration,
                                               progress: options.progress("epochs"))
            } catch let error as UnlearningError {
                throw CommandFailure("\(data): \(error)")
            } catch let error as GraphError {
                throw CommandFailure("\(options.model): \(error)")
            }
            let selected = result.epochs[result.selectedEpoch]
            var settings = ["tau": String(tau), "alpha": "1.0", "beta": String(beta), "lambda": String(lambda), "lr": String(lr),
                            "momentum": "0.9", "weight_decay": "0.0005", "lr_decay": "0.9", "epochs": String(epochs),
                            "selected_epoch": String(result.selectedEpoch), "selection_rule": result.selectionReason, "seed": String(seed)]
            settings["forget_accuracy"] = String(selected.forgetAccuracy)
            settings["retain_accuracy"] = String(selected.retainAccuracy)
            let file = ForgetVectorFile(delta: result.delta, classes: classes.classes, placement: placement,
                                        modelSHA256: try SHA256.hex(ofFile: options.model), settings: settings)
            do { try file.write(to: output) } catch { throw WeightFileError(path: output, underlying: error) }
            let before = result.epochs[0]
            Terminal.print("wrote \(output): classes \(classes.classes.map(String.init).joined(separator: ",")), epoch \(result.selectedEpoch) (\(result.selectionReason)), ‖δ‖₂ \(String(format: "%.3f", selected.norm))")
            Terminal.print(String(format: "forget accuracy on the forget samples: %.2f%% -> %.2f%%", before.forgetAccuracy * 100, selected.forgetAccuracy * 100))
            Terminal.print(String(format: "retain accuracy on the retain samples: %.2f%% -> %.2f%%", before.retainAccuracy * 100, selected.retainAccuracy * 100))
        }
    }

    struct Combine: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add forget vectors with given coefficients: Σ w_k δ_k.")

        @Argument(help: "Forget vectors made for the same model, space and normalisation.")
        var vectors: [String]

        @Option(help: ArgumentHelp("One coefficient per vector (negative allowed), e.g. 1,1.", valueName: "list"))
        var weights: String

        @Flag(help: "Combine vectors made for different models.")
        var force = false

        @Option(name: .shortAndLong, help: ArgumentHelp("The vector to write (.safetensors).", valueName: "file"))
        var output: String

        func validate() throws {
            guard !vectors.isEmpty else { throw ValidationError("give at least one vector") }
            guard output.hasSuffix(".safetensors") else { throw ValidationError("-o must name a .safetensors file: \(output)") }
            guard let values = Vector.numbers(weights), values.count == vectors.count else {
                throw ValidationError("--weights needs \(vectors.count) comma-separated numbers")
            }
            _ = values
        }

        func run() throws {
            let parts = try vectors.map { (path: $0, file: try ForgetVectorFile.read($0)) }
            let combined = try ForgetVectorFile.combine(parts, weights: Vector.numbers(weights)!, force: force)
            do { try combined.write(to: output) } catch { throw WeightFileError(path: output, underlying: error) }
            Terminal.print("wrote \(output): \(zip(combined.coefficients, vectors).map { "\($0) × \($1)" }.joined(separator: " + "))")
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
