import Foundation

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
