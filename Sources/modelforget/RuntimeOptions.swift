import ArgumentParser
import Foundation
import ModelRuntime
import WeightFormats

/// Options of every command that runs a model.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model: an ONNX file, or a safetensors/npz checkpoint.")
    var model: String

    @Option(help: ArgumentHelp(
        "Architecture for a checkpoint: an ONNX file with matching initializer names, or an architecture spec (JSON).",
        valueName: "file"))
    var arch: String?

    @Option(help: "Samples per forward pass.")
    var batchSize = 256

    @Flag(help: "No progress on stderr.")
    var quiet = false

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
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
