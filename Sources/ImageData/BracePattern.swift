import Safeguards

/// Brace expansion of shard lists, as WebDataset (`braceexpand`) and the shell do it:
/// `shard-{000000..000099}.tar` → 100 names, zero-padded to the width of the bounds;
/// `{train,val}-{0..3}.tar` → 8 names, the first group varying slowest. Groups do not nest.
public enum BracePattern {
    /// The names `pattern` stands for, in order; the pattern itself when it has no group.
    /// - Throws: ``ImageSourceError`` for an unclosed brace, a bad range, or more than `limit` names.
    public static func expand(_ pattern: String, limit: Int = 1_000_000) throws -> [String] {
        var results = [""]
        var rest = Substring(pattern)
        while let open = rest.firstIndex(of: "{") {
            let prefix = rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw ImageSourceError(path: pattern, reason: "'{' without a matching '}'")
            }
            let body = rest[rest.index(after: open)..<close]
            guard !body.contains("{") else { throw ImageSourceError(path: pattern, reason: "nested braces are not supported") }
            let alternatives = try Self.alternatives(String(body), pattern: pattern)
            guard results.count.multipliedReportingOverflow(by: alternatives.count).partialValue <= limit else {
                throw ImageSourceError(path: pattern, reason: "expands to more than \(limit) names")
            }
            results = results.flatMap { head in alternatives.map { head + prefix + $0 } }
            rest = rest[rest.index(after: close)...]
        }
        return results.map { $0 + rest }
    }

    /// `a..b` (integers, either direction, zero-padded when a bound has a leading zero) or `x,y,z`.
    private static func alternatives(_ body: String, pattern: String) throws -> [String] {
        if let range = body.range(of: ".."), !body.contains(",") {
            let lo = String(body[..<range.lowerBound]), hi = String(body[range.upperBound...])
            guard let a = Int(lo), let b = Int(hi), a >= 0, b >= 0 else {
                throw ImageSourceError(path: pattern, reason: "'{\(Escaping.printable(body))}' is not a range of non-negative integers")
            }
            let padded = (lo.count > 1 && lo.hasPrefix("0")) || (hi.count > 1 && hi.hasPrefix("0"))
            let width = padded ? max(lo.count, hi.count) : 0
            let values = a <= b ? Array(a...b) : Array((b...a).reversed())
            return values.map { v in
                let digits = String(v)
                return String(repeating: "0", count: max(0, width - digits.count)) + digits
            }
        }
        return body.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    /// Whether `path` contains a brace group.
    public static func hasGroups(_ path: String) -> Bool {
        guard let open = path.firstIndex(of: "{") else { return false }
        return path[open...].contains("}")
    }
}
