import ArgumentParser
import Foundation
import Safeguards
import TensorCore
import WeightFormats

@main
struct ModelForget: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modelforget",
        abstract: "Remove whole classes from trained classifiers by editing their weight files.",
        discussion: """
            modelforget reads and writes safetensors (single and sharded), NumPy .npy/.npz and the \
            initializers of ONNX models. Errors are printed as one line, FILE: what is wrong, \
            with exit status 1; usage errors exit with status 64. Output files are written to a \
            temporary file and renamed, so a failed run leaves no partial output, and inputs are \
            never modified.
            """,
        version: ModelForget.version,
        subcommands: [Apply.self, Stats.self, Vector.self, Eval.self, Predict.self, Diff.self, Report.self, Inspect.self, Convert.self])

    static let version = "0.1.0"

    /// Runs the command; file errors print as `FILE: what is wrong` and exit 1.
    static func main() {
        BLAS.configureThreads()
        Allocator.keepFreedMemory()
        InputFiles.rememberEveryInput()   // no output of this run may replace a file it has read
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as WeightFileError {
            Terminal.error(error.description)
            Foundation.exit(1)
        } catch let error as CommandFailure {
            Terminal.error(error.message)
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }
}

/// A failure the user can act on that is not tied to one input file's contents.
struct CommandFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// The CLI's JSON: indented, keys sorted (stable for scripts), `/` not escaped.
func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

enum Terminal {
    /// Prints one error line; text from files is escaped where it is put into messages, and the
    /// line is escaped once more as a whole so that nothing can break it in two.
    static func error(_ line: String) {
        FileHandle.standardError.write(Data((Escaping.printable(line) + "\n").utf8))
    }

    static func note(_ line: String) {
        FileHandle.standardError.write(Data(("note: " + line + "\n").utf8))
    }

    static func print(_ text: String) {
        FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }
}
