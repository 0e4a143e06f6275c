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
        version: Toolkit.version,
        subcommands: [Apply.self, Stats.self, Vector.self, Eval.self, Predict.self, Diff.self, Report.self, Inspect.self, Convert.self,
                      DataCommand.self])

    static func main() {
        BLAS.configureThreads()
        Allocator.keepFreedMemory()
        InputFiles.rememberEveryInput()   // no output of this run may replace a file it has read
        Foundation.exit(execute(Array(CommandLine.arguments.dropFirst())))
    }

    /// Parses and runs one command line, printing through ``Terminal`` (so tests can run commands
    /// in-process with a captured sink), and returns the exit status: 0, 1 for failures the user
    /// can act on (printed as one line, `FILE: what is wrong`), 64 for usage errors, or a
    /// command's own status (`diff --exit-code`).
    static func execute(_ arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let error as WeightFileError {
            Terminal.error(Escaping.printable(ErrorHints.line(for: error)))
            return 1
        } catch let error as CommandFailure {
            // Text from files is escaped where it enters a message; the line is escaped once
            // more as a whole so that nothing can break it in two.
            Terminal.error(Escaping.printable(error.message))
            return 1
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if code == .success { Terminal.print(message) } else { Terminal.error(message) }
            }
            return code.rawValue
        }
    }
}

/// A failure the user can act on that is not tied to one input file's contents.
struct CommandFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }

    /// `names: error` with the error's flag hint, if any (see ``ErrorHints``).
    init(_ names: String, _ error: any Error) {
        message = names + ": " + ErrorHints.text(of: error)
    }
}
