import Foundation
import Testing
import _TestSupport
@testable import modelforget

/// `--help` of every command is pinned to a file in Snapshots/ (`help-apply.txt`,
/// `help-vector-make.txt`, …). A missing snapshot, or `RECORD_SNAPSHOTS=1`, writes the current text
/// and fails, so a changed help text is always a reviewed change (and a reminder to update man/).
@Suite("--help snapshots")
struct HelpSnapshotTests {
    static let directory = Fixtures.path("Tests/CLITests/Snapshots")

    @Test("the help of every command matches its snapshot", arguments: allCommands().map(\.path))
    func helpMatchesSnapshot(path: [String]) throws {
        let run = runInProcess(path + ["--help"])
        #expect(run.status == 0 && run.stderr.isEmpty && !run.stdout.isEmpty)
        // Pinned at 100 columns: `--help` follows the terminal's width.
        let command = try #require(allCommands().first { $0.path == path }).type
        let text = ModelForget.helpMessage(for: command, columns: 100) + "\n"
        let file = Self.directory + "/help" + (path.isEmpty ? "" : "-" + path.joined(separator: "-")) + ".txt"
        let recorded = try? String(contentsOfFile: file, encoding: .utf8)
        if recorded == nil || ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
            try FileManager.default.createDirectory(atPath: Self.directory, withIntermediateDirectories: true)
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            Issue.record("recorded \(file); check it and run again")
            return
        }
        #expect(text == recorded, "help of '\(path.joined(separator: " "))' differs from \(file) (RECORD_SNAPSHOTS=1 rewrites it)")
    }

    @Test("in-process runs give the executable's statuses: 0, 64 with a usage line, 1 with one FILE: line")
    func statuses() throws {
        let version = runInProcess(["--version"])
        #expect(version.status == 0 && version.stdout == "0.1.0\n")
        let usage = runInProcess(["apply", Fixtures.path("Samples/cnn.onnx"), "--classes", "5", "--data", "x.npz", "--method", "magic"])
        #expect(usage.status == 64)
        #expect(usage.stderr.contains("--method must be auto, svd or pgu"))
        let directory = TemporaryDirectory()
        let missing = directory.path("missing.npz")
        let failure = runInProcess(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", missing])
        #expect(failure.status == 1)
        #expect(failure.stderr.hasPrefix(missing + ": ") && failure.stderr.split(separator: "\n").count == 1)
        #expect(failure.stdout.isEmpty)
    }
}
