import ArgumentParser
import Foundation
import ModelRuntime
import Reports
import TensorCore
import Unlearning
import WeightFormats

/// Options of every command that runs a model.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model: an ONNX file, or a safetensors/npz checkpoint.")
    var model: String

    @Option(help: ArgumentHelp(
        "Architecture for a checkpoint: an ONNX file with matching initializer names, or an architecture spec (JSON).",
        valueName: "file"))
    var arch: String?

    @Option(help: "Samples per forward pass (default 256, fewer for large inputs: at most 256 Ki input values per batch).")
    var batchSize: Int?

    @Flag(help: "No progress on stderr.")
    var quiet = false

    @OptionGroup var memory: MemoryOptions

    func validate() throws {
        guard (batchSize ?? 1) > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    /// `--batch-size`, or 256 samples capped at 256 Ki input values (16 at least): activations of
    /// large inputs (CIFAR and up) then stay small enough to be reused instead of re-faulted.
    func batchSize(for data: Dataset) -> Int {
        if let batchSize { return batchSize }
        let values = data.sampleShape.reduce(1, *)
        return max(16, min(256, (1 << 18) / max(values, 1)))
    }

    /// The options for a model named by another option (commands whose positional arguments are
    /// something else).
    static func forFile(_ path: String, arch: String?, batchSize: Int?, quiet: Bool) throws -> ModelOptions {
        var options = try ModelOptions.parse([path])
        options.arch = arch
        options.batchSize = batchSize
        options.quiet = quiet
        return options
    }

    /// Loads the model; warnings (unused tensors) go to stderr unless quiet.
    func load(sampleShape: [Int]?) throws -> Model {
        let model = try Model.load(model, architecture: arch, sampleShape: sampleShape)
        if !quiet { for warning in model.warnings { Terminal.error("warning: \(self.model): \(warning)") } }
        return model
    }

    /// Progress on stderr when it is a terminal and not `--quiet`.
    func progress(_ label: String) -> ((Int, Int) -> Void)? {
        guard !quiet, isatty(STDERR_FILENO) != 0 else { return nil }
        return { done, total in
            FileHandle.standardError.write(Data("\r\(label): \(done)/\(total)\(done == total ? "\n" : "")".utf8))
        }
    }
}

/// Which tensors of a data file hold inputs and labels.
struct DataKeys: ParsableArguments {
    @Option(help: "Name of the input tensor in the data file.")
    var xKey = "x"

    @Option(help: "Name of the label tensor in the data file.")
    var yKey = "y"
}

/// How statistics are gathered from layers that see many vectors per sample.
struct SamplingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("At most this many input vectors (conv patches, tokens) per layer and sample set enter the statistics, spread evenly over the samples and chosen by --seed; 0 keeps all.", valueName: "n"))
    var maxPatches = 10_000

    @Option(help: "Seed for sample and patch selection.")
    var seed: UInt64 = 0

    func validate() throws {
        guard maxPatches >= 0 else { throw ValidationError("--max-patches must be 0 (all) or positive") }
    }

    var sampling: PatchSampling { PatchSampling(maxPerLayer: maxPatches, seed: seed) }
}

/// Class lists such as `5,7`.
struct ClassList: ExpressibleByArgument {
    let classes: [Int]

    init?(argument: String) {
        let parts = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        classes = parts.map { $0! }
    }
}

/// Checks that inputs fit the model's declared sample shape.
func checkSampleShape(_ model: Model, _ data: Dataset, path: String) throws {
    if let expected = model.sampleShape, expected != data.sampleShape {
        throw WeightFileError(path: path, underlying: ModelError.inputShapeMismatch(expected: expected, actual: data.sampleShape))
    }
}

/// `--mia-samples` and `--seed` of the membership-inference attacks (eval --mia, report --train).
struct MembershipInferenceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Membership inference: at most N members and N non-members.", valueName: "N"))
    var miaSamples = 2000

    @Option(help: "Membership inference: seed of the balanced subsampling.")
    var seed: UInt64 = 0

    func validate() throws {
        guard miaSamples > 0 else { throw ValidationError("--mia-samples must be positive") }
    }

    /// Both attack variants on `model` (with `offset` added to every input); errors about a sample
    /// set name its file (`trainPath` or `testPath`).
    func attacks(_ model: Model, train: Dataset, trainPath: String, test: Dataset, testPath: String, forget: Set<Int>, batchSize: Int,
                 offset: Tensor?) throws -> [MembershipInferenceResult] {
        try checkSampleShape(model, train, path: trainPath)
        var configuration = MembershipInference.Configuration()
        configuration.maxSamplesPerSide = miaSamples
        configuration.seed = seed
        do {
            return try MembershipInference.evaluate(model, train: train, test: test, forget: forget, batchSize: batchSize,
                                                    offset: offset, configuration: configuration)
        } catch let error as MembershipInference.EvaluationFailure {
            throw CommandFailure("\(error.sampleSet == .test ? testPath : trainPath): \(error)")
        } catch let error as SupportVectorClassifier.Failure {
            throw CommandFailure("\(trainPath): membership inference: \(error)")
        }
    }
}
