import Foundation

/// The result of running a program: exit status and captured output.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs programs from tests and captures their output.
public enum ProcessRunner {
    /// Runs `executable` with `arguments` (standard input is /dev/null, standard output and error
    /// are captured through temporary files) and waits for it.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           currentDirectory: String? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("mf-out-\(UUID().uuidString)")
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("mf-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outFile)
            try? FileManager.default.removeItem(at: errFile)
        }
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return ProcessResult(
            status: process.terminationStatus,
            stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
    }

    /// Runs a Python snippet with `python3 -c`; `arguments` become `sys.argv[1:]`.
    public static func python(_ code: String, _ arguments: [String] = []) throws -> ProcessResult {
        try run("/usr/bin/env", ["python3", "-c", code] + arguments)
    }

    /// The built `modelforget` executable next to the test bundle.
    public static var modelforgetPath: String {
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for directory in [bundleDirectory, bundleDirectory.deletingLastPathComponent()] {
            let candidate = directory.appendingPathComponent("modelforget").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return Fixtures.path(".build/debug/modelforget")
    }

    /// Runs the built `modelforget` with `arguments`.
    public static func modelforget(_ arguments: [String], currentDirectory: String? = nil) throws -> ProcessResult {
        try run(modelforgetPath, arguments, currentDirectory: currentDirectory)
    }
}
