import Foundation
import ArgumentParser

/// A byte count given on the command line: `5000000`, `500MB`, `5GB`, `512MiB`, `2GiB`, `64KB`.
/// SI suffixes are powers of 1000 (as Hugging Face's `max_shard_size`), IEC suffixes powers of 1024.
struct ByteSize: ExpressibleByArgument, Equatable {
    let bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces)
        let digits = text.prefix { $0.isNumber || $0 == "." }
        let unit = text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).uppercased()
        guard let value = Double(digits), value > 0 else { return nil }
        let scale: Double
        switch unit {
        case "", "B": scale = 1
        case "KB", "K": scale = 1e3
        case "MB", "M": scale = 1e6
        case "GB", "G": scale = 1e9
        case "TB", "T": scale = 1e12
        case "KIB": scale = 1024
        case "MIB": scale = 1_048_576
        case "GIB": scale = 1_073_741_824
        case "TIB": scale = 1_099_511_627_776
        default: return nil
        }
        let total = (value * scale).rounded(.down)
        guard total >= 1, total < Double(Int.max) else { return nil }
        bytes = Int(total)
    }

    static var defaultValueDescription: String { "SIZE" }
}

/// Human-readable sizes for people: 1.5 MiB.
func formatBytes(_ count: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
}
