import Foundation

extension CheckpointDifference {
    /// Column headers of ``rows(top:)``.
    public static let columns = ["TENSOR", "STATUS", "SHAPE", "CHANGED", "‖Δ‖", "‖Δ‖/‖A‖", "MAX |Δ|", "COSINE", "RANK", "LEADING σ"]

    /// One row per tensor, sorted by relative change (``byRelativeChange``), at most `top` rows.
    public func rows(top: Int? = nil) -> [[String]] {
        let sorted = byRelativeChange
        return sorted.prefix(top ?? sorted.count).map { t in
            let shape = t.status == .shapeChanged
                ? "\(Self.shape(t.shapeA)) → \(Self.shape(t.shapeB))"
                : Self.shape(t.shapeA ?? t.shapeB)
            let status = t.status == .dtypeChanged ? "dtype \(t.dtypeA!.rawValue) → \(t.dtypeB!.rawValue)" : t.status.rawValue
            let changed = t.elements > 0 ? "\(t.changedElements)/\(t.elements)" : "-"
            return [t.name, status, shape, changed, Self.number(t.deltaNorm), Self.number(t.relativeChange), Self.number(t.maxAbsDelta),
                    t.cosine.map { String(format: "%.6f", $0) } ?? "-", t.rank.map(String.init) ?? "-",
                    t.singularValues.map { $0.prefix(3).map { Self.number($0) }.joined(separator: " ") } ?? "-"]
        }
    }

    /// The summary as one line: tensors changed, parameters changed, largest relative change.
    public var summaryLine: String {
        var line = "\(summary.tensorsChanged) of \(summary.tensors) tensors differ; \(summary.parametersChanged) of \(summary.parameters) parameters changed"
        if let largest = summary.largestRelativeChange, let name = summary.largestRelativeChangeTensor {
            line += "; largest relative change \(Self.number(largest)) (\(name))"
        }
        return line
    }

    /// A Markdown table (for pull requests) with the summary line above it.
    public func markdown(top: Int? = nil) -> String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        var lines = ["**\(a)** → **\(b)**: \(summaryLine)", "", "| " + Self.columns.map(cell).joined(separator: " | ") + " |",
                     "|" + Self.columns.map { _ in "---" }.joined(separator: "|") + "|"]
        for row in rows(top: top) { lines.append("| " + row.map(cell).joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n")
    }

    static func shape(_ shape: [Int]?) -> String { shape.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" } ?? "-" }

    /// Four significant digits; "-" for nil.
    static func number(_ value: Double?) -> String {
        guard let value else { return "-" }
        if value == 0 { return "0" }
        if !value.isFinite { return value.isNaN ? "nan" : "inf" }
        return String(format: "%.4g", value)
    }
}
