import Foundation
import Synchronization

/// Where commands print: standard output and standard error, or a sink a test installs to run a
/// command in-process (`Terminal.$sink.withValue(capture) { ... }`).
enum Terminal {
    /// Receives every line commands print.
    struct Sink: Sendable {
        var output: @Sendable (String) -> Void
        var error: @Sendable (String) -> Void
        /// Whether progress lines (carriage-return updates) are wanted: standard error is a terminal.
        var showsProgress: Bool

        static let standard = Sink(
            output: { FileHandle.standardOutput.write(Data($0.utf8)) },
            error: { FileHandle.standardError.write(Data($0.utf8)) },
            showsProgress: isatty(STDERR_FILENO) != 0)
    }

    @TaskLocal static var sink = Sink.standard

    /// A line (or lines) on standard error.
    static func error(_ line: String) { sink.error(line + "\n") }

    static func note(_ line: String) { error("note: " + line) }

    /// Text on standard output, newline-terminated.
    static func print(_ text: String) { sink.output(text.hasSuffix("\n") ? text : text + "\n") }

    /// Raw text on standard output (no newline added).
    static func write(_ text: String) { sink.output(text) }

    /// A progress callback `(done, total)` printing `label: done/total (rate/s)` on one updated
    /// line of standard error, or `nil` when progress is not wanted (quiet, or not a terminal).
    /// The rate is samples per second (images/s for image sources, decoded as they are used).
    static func progress(_ label: String, quiet: Bool) -> ((Int, Int) -> Void)? {
        guard !quiet, sink.showsProgress else { return nil }
        let sink = sink
        let start = Date()
        return { done, total in
            let rate = Double(done) / max(Date().timeIntervalSince(start), 1e-3)
            sink.error("\r\(label): \(done)/\(total) (\(Int(rate))/s)\(done == total ? "\n" : "")")
        }
    }

    /// Progress of a long pass (`stats collect`): `label: done/total (rate/s, ETA 1m05s)` on one
    /// updated line of a terminal; when standard error is not a terminal (a batch job's log), the
    /// same as a full line at most every `logInterval` seconds. `nil` when quiet.
    static func timedProgress(_ label: String, quiet: Bool, logInterval: Double = 15) -> ((Int, Int) -> Void)? {
        guard !quiet else { return nil }
        let sink = sink
        let start = Date()
        let lastLine = Mutex(0.0)
        return { done, total in
            let elapsed = max(Date().timeIntervalSince(start), 1e-3)
            let rate = Double(done) / elapsed
            let eta = rate > 0 ? " ETA \(duration(Double(total - done) / rate))" : ""
            let text = "\(label): \(done)/\(total) (\(Int(rate))/s,\(done == total ? " \(duration(elapsed))" : eta))"
            if sink.showsProgress {
                sink.error("\r\(text)\(done == total ? "\n" : "")")
            } else if lastLine.withLock({ last in
                guard elapsed - last >= logInterval else { return false }
                last = elapsed
                return true
            }) {
                sink.error(text + "\n")
            }
        }
    }

    /// `42s`, `3m05s`, `2h07m`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}

/// The CLI's JSON: indented, keys sorted (stable for scripts), `/` not escaped.
func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Left-aligned columns separated by two spaces; `rightAligned` columns are padded on the left.
func alignedTable(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> [String] {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { column, cell in
            let padding = String(repeating: " ", count: widths[column] - cell.count)
            if rightAligned.contains(column) { return padding + cell }
            return column == row.count - 1 ? cell : cell + padding
        }.joined(separator: "  ")
    }
}

/// `5,7`, or `5,7 (cat, dog)` when the classes have names.
func classDescription(_ classes: [Int], names: [String: String]?) -> String {
    let indices = classes.map(String.init).joined(separator: ",")
    let named = classes.compactMap { names?[String($0)] }
    return named.count == classes.count && !classes.isEmpty ? "\(indices) (\(named.joined(separator: ", ")))" : indices
}
