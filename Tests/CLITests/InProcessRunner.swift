import ArgumentParser
import Foundation
import Synchronization
@testable import modelforget

/// What one in-process run of the command line printed, and its exit status.
struct CapturedRun {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `modelforget ARGUMENTS` in this process with the output captured (no child process, no
/// built executable needed): the same parsing, validation, error lines and exit statuses as the
/// executable, through ``ModelForget/execute(_:)``.
func runInProcess(_ arguments: [String]) -> CapturedRun {
    let output = Mutex(""), error = Mutex("")
    let sink = Terminal.Sink(output: { text in output.withLock { $0 += text } },
                             error: { text in error.withLock { $0 += text } },
                             showsProgress: false)
    let status = Terminal.$sink.withValue(sink) { ModelForget.execute(arguments) }
    return CapturedRun(status: status, stdout: output.withLock { $0 }, stderr: error.withLock { $0 })
}

/// Every command with its path of names (`["vector", "make"]`), depth first, root first.
func allCommands(_ command: ParsableCommand.Type = ModelForget.self, path: [String] = []) -> [(path: [String], type: ParsableCommand.Type)] {
    let name = command.configuration.commandName ?? String(describing: command).lowercased()
    let here = command == ModelForget.self ? [String]() : path + [name]
    return [(here, command)] + command.configuration.subcommands.flatMap { allCommands($0, path: here) }
}
