import Foundation

/// Small inline-SVG charts for the report page: no scripts, no external resources, fixed number
/// formatting (so the same data gives the same bytes).
enum SVGChart {
    static let before = "#4c78a8"
    static let after = "#f58518"
    static let forget = "#d62728"

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// `text`, or its last `limit − 1` characters after an ellipsis when longer (tensor names end
    /// in what tells them apart).
    static func shortened(_ text: String, _ limit: Int) -> String { text.count <= limit ? text : "…" + text.suffix(limit - 1) }

    /// Grouped bars, one group per category with one bar per series, values in [0, 1] shown as
    /// percentages; categories in `highlighted` get a red label.
    static func groupedBars(categories: [String], series: [(name: String, color: String, values: [Double?])], highlighted: Set<Int>,
                            title: String) -> String {
        let width = 720.0, height = 260.0, left = 48.0, right = 12.0, top = 30.0, bottom = 40.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let group = plotWidth / Double(max(categories.count, 1))
        let bar = group * 0.8 / Double(max(series.count, 1))
        var svg = header(width: width, height: height, title: title)
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            let y = top + plotHeight * (1 - tick)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(width - right))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\" font-size=\"11\">\(Int(tick * 100))%</text>"
        }
        for (i, category) in categories.enumerated() {
            let x0 = left + group * Double(i) + group * 0.1
            for (k, s) in series.enumerated() {
                guard let value = s.values[i] else { continue }
                let h = plotHeight * max(0, min(1, value))
                svg += "<rect x=\"\(f(x0 + bar * Double(k)))\" y=\"\(f(top + plotHeight - h))\" width=\"\(f(bar - 1))\" height=\"\(f(h))\" fill=\"\(s.color)\">"
                svg += "<title>\(escape(s.name)) \(escape(category)): \(String(format: "%.2f", value * 100))%</title></rect>"
            }
            let color = highlighted.contains(i) ? forget : "#333"
            svg += "<text x=\"\(f(left + group * (Double(i) + 0.5)))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\" font-size=\"12\" "
                + "fill=\"\(color)\"\(highlighted.contains(i) ? " font-weight=\"bold\"" : "")>\(escape(category))</text>"
        }
        svg += legend(series.map { ($0.name, $0.color) }, x: left, y: height - 8)
        return svg + "</svg>"
    }

    /// A heat map of a confusion matrix, each row normalised to its samples; counts in the cells.
    static func heatmap(_ matrix: [[Int]], labels: [String], highlighted: Set<Int>, title: String, color: String) -> String {
        let n = matrix.count, cell = min(32.0, 320.0 / Double(max(n, 1))), left = 40.0, top = 44.0
        let width = left + cell * Double(n) + 12, height = top + cell * Double(n) + 12
        var svg = header(width: width, height: height, title: title)
        svg += "<text x=\"\(f(left + cell * Double(n) / 2))\" y=\"34\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">predicted</text>"
        for (i, row) in matrix.enumerated() {
            let total = max(row.reduce(0, +), 1)
            let labelColor = highlighted.contains(i) ? forget : "#333"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(top + cell * (Double(i) + 0.65)))\" text-anchor=\"end\" font-size=\"11\" fill=\"\(labelColor)\">\(escape(labels[i]))</text>"
            for (j, count) in row.enumerated() {
                let share = Double(count) / Double(total)
                svg += "<rect x=\"\(f(left + cell * Double(j)))\" y=\"\(f(top + cell * Double(i)))\" width=\"\(f(cell))\" height=\"\(f(cell))\" "
                    + "fill=\"\(color)\" fill-opacity=\"\(String(format: "%.3f", share))\" stroke=\"#eee\">"
                svg += "<title>true \(escape(labels[i])), predicted \(escape(labels[j])): \(count)</title></rect>"
                if count > 0 && cell >= 18 {
                    svg += "<text x=\"\(f(left + cell * (Double(j) + 0.5)))\" y=\"\(f(top + cell * (Double(i) + 0.65)))\" "
                        + "text-anchor=\"middle\" font-size=\"9\" fill=\"\(share > 0.6 ? "#fff" : "#222")\">\(count)</text>"
                }
            }
        }
        return svg + "</svg>"
    }

    /// Horizontal bars, one per row, with the value printed; scaled to the largest value.
    static func horizontalBars(_ rows: [(label: String, value: Double)], title: String, format: (Double) -> String) -> String {
        let rowHeight = 18.0, left = 220.0, top = 30.0, width = 720.0
        let height = top + rowHeight * Double(rows.count) + 10
        let largest = max(rows.map(\.value).filter(\.isFinite).max() ?? 0, 1e-300)
        var svg = header(width: width, height: height, title: title)
        for (i, row) in rows.enumerated() {
            let y = top + rowHeight * Double(i)
            let w = (width - left - 90) * (row.value.isFinite ? row.value / largest : 1)
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 13))\" text-anchor=\"end\" font-size=\"11\">\(escape(shortened(row.label, 34)))</text>"
            svg += "<rect x=\"\(f(left))\" y=\"\(f(y + 3))\" width=\"\(f(max(w, 0.5)))\" height=\"\(f(rowHeight - 6))\" "
                + "fill=\"\(after)\"><title>\(escape(row.label)): \(format(row.value))</title></rect>"
            svg += "<text x=\"\(f(left + max(w, 0.5) + 4))\" y=\"\(f(y + 13))\" font-size=\"11\">\(format(row.value))</text>"
        }
        return svg + "</svg>"
    }

    /// Lines of `σ_i / σ_1` against `i` on a log scale, one per series.
    static func spectra(_ series: [(label: String, values: [Double])], title: String) -> String {
        let width = 760.0, height = 280.0, left = 56.0, right = 240.0, top = 30.0, bottom = 34.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let count = max(series.map(\.values.count).max() ?? 1, 2)
        let floor = -8.0   // log10 of the smallest ratio drawn
        func y(_ ratio: Double) -> Double { top + plotHeight * (max(log10(max(ratio, 1e-300)), floor) / floor) }
        func x(_ i: Int) -> Double { left + plotWidth * Double(i) / Double(count - 1) }
        let palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"]
        var svg = header(width: width, height: height, title: title)
        for exponent in stride(from: 0, through: Int(floor), by: -2) {
            let yy = y(pow(10, Double(exponent)))
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(yy))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(yy))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(yy + 4))\" text-anchor=\"end\" font-size=\"11\">1e\(exponent)</text>"
        }
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\" font-size=\"11\" "
            + "fill=\"#555\">index i of σ_i (largest first); y: σ_i / σ_1</text>"
        for (k, s) in series.enumerated() {
            guard let first = s.values.first, first > 0 else { continue }
            let color = palette[k % palette.count]
            let points = s.values.enumerated().map { "\(f(x($0.offset))),\(f(y($0.element / first)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"><title>\(escape(s.label))</title></polyline>"
            svg += "<text x=\"\(f(left + plotWidth + 8))\" y=\"\(f(top + 12 + 14 * Double(k)))\" font-size=\"11\" fill=\"\(color)\">\(escape(shortened(s.label, 34)))</text>"
        }
        return svg + "</svg>"
    }

    static func header(width: Double, height: Double, title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" "
            + "role=\"img\" aria-label=\"\(escape(title))\" font-family=\"sans-serif\">"
            + "<text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\">\(escape(title))</text>"
    }

    static func legend(_ items: [(String, String)], x: Double, y: Double) -> String {
        var svg = "", offset = x
        for (name, color) in items {
            svg += "<rect x=\"\(f(offset))\" y=\"\(f(y - 9))\" width=\"10\" height=\"10\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(f(offset + 14))\" y=\"\(f(y))\" font-size=\"11\">\(escape(name))</text>"
            offset += 20 + Double(name.count) * 6.5
        }
        return svg
    }
}
