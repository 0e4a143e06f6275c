import ArgumentParser
import ModelRuntime
import WeightFormats

/// `--arch`: where a checkpoint's architecture comes from.
struct ArchitectureOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Architecture for a checkpoint: an ONNX file with matching initializer names, an architecture spec (JSON), "
            + "or a model config (JSON, e.g. {\"num_heads\": 4}) for a recognised layout.",
        valueName: "file"))
    var arch: String?
}

/// `--batch-size`: samples per forward pass.
struct BatchSizeOption: ParsableArguments {
    @Option(help: "Samples per forward pass (default 256, fewer for models whose activations would outgrow 12 MiB per batch).")
    var batchSize: Int?

    func validate() throws {
        guard (batchSize ?? 1) > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    /// `--batch-size`, or the model's default for `data` (``Model/defaultBatchSize(sampleShape:limit:)``:
    /// 256 samples, fewer when the activations would outgrow the memory blocks malloc reuses).
    func batchSize(for data: Dataset, model: Model) -> Int {
        batchSize ?? model.defaultBatchSize(sampleShape: data.sampleShape)
    }
}

/// `--quiet`: no progress on stderr.
struct QuietFlag: ParsableArguments {
    @Flag(help: "No progress on stderr.")
    var quiet = false

    /// Progress on stderr when it is a terminal and not `--quiet`.
    func progress(_ label: String) -> ((Int, Int) -> Void)? { Terminal.progress(label, quiet: quiet) }

    /// `--quiet` given.
    static var silent: QuietFlag {
        var flag = QuietFlag()
        flag.quiet = true
        return flag
    }
}

/// The model argument and the options of every command that runs a model.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model: an ONNX file, or a safetensors/npz checkpoint.")
    var model: String

    @OptionGroup var architecture: ArchitectureOption

    @OptionGroup var batch: BatchSizeOption

    @OptionGroup var verbosity: QuietFlag

    @OptionGroup var memory: MemoryOptions

    /// The options for a model named by another option (commands whose positional arguments are
    /// something else).
    static func forFile(_ path: String, architecture: ArchitectureOption, batch: BatchSizeOption, verbosity: QuietFlag) throws -> ModelOptions {
        var options = try ModelOptions.parse([path])
        options.architecture = architecture
        options.batch = batch
        options.verbosity = verbosity
        return options
    }

    var quiet: Bool { verbosity.quiet }

    func batchSize(for data: Dataset, model: Model) -> Int { batch.batchSize(for: data, model: model) }

    func progress(_ label: String) -> ((Int, Int) -> Void)? { verbosity.progress(label) }

    /// Loads the model; warnings (unused tensors) go to stderr unless quiet.
    func load(sampleShape: [Int]?) throws -> Model {
        let model = try Model.load(model, architecture: architecture.arch, sampleShape: sampleShape)
        if !quiet { for warning in model.warnings { Terminal.error("warning: \(self.model): \(warning)") } }
        return model
    }

    /// Loads the model for `data` (read from `path`) and checks that the samples fit it.
    func load(for data: Dataset, path: String) throws -> Model {
        let model = try load(sampleShape: data.sampleShape)
        if let expected = model.sampleShape, expected != data.sampleShape {
            throw WeightFileError(path: path, underlying: ModelError.inputShapeMismatch(expected: expected, actual: data.sampleShape))
        }
        return model
    }
}
