import Foundation
import ModelRuntime

extension UnlearningReport {
    static func percent(_ value: Double?) -> String { value.map { String(format: "%.2f%%", $0 * 100) } ?? "–" }

    static func change(_ before: Double?, _ after: Double?) -> String {
        guard let before, let after else { return "–" }
        return String(format: "%+.2f", (after - before) * 100)
    }

    var classList: String { classes.map { label($0) }.joined(separator: ", ") }

    /// `5`, or `5 cat` when the original model's config names the class.
    func label(_ index: Int) -> String {
        original.evaluation.classNames?[String(index)].map { "\(index) \($0)" } ?? String(index)
    }

    /// Rows of the accuracy summary: measure, before, after, change in points.
    var accuracyRows: [[String]] {
        let a = original.evaluation, b = unlearned.evaluation
        return [
            ["forget classes (\(classList))", Self.percent(a.forgetAccuracy), Self.percent(b.forgetAccuracy), Self.change(a.forgetAccuracy, b.forgetAccuracy)],
            ["retained classes", Self.percent(a.retainAccuracy), Self.percent(b.retainAccuracy), Self.change(a.retainAccuracy, b.retainAccuracy)],
            ["all", Self.percent(a.accuracy), Self.percent(b.accuracy), Self.change(a.accuracy, b.accuracy)],
        ]
    }

    /// Rows of the membership-inference table: variant, before, after, direction.
    var miaRows: [[String]] {
        zip(original.mia, unlearned.mia).map { a, b in [a.variant + " (" + a.feature + ")", Self.percent(a.value), Self.percent(b.value), a.direction] }
    }

    /// Changed matrices with a spectrum, in checkpoint order.
    var changedLayers: [TensorDifference] {
        (difference?.tensors ?? []).filter { $0.status == .changed || $0.status == .dtypeChanged }
    }

    // MARK: - HTML

    /// One self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched.
    public func html() -> String {
        let e = SVGChart.escape
        let classes = evaluatedClasses
        let forgetIndices = Set(classes.enumerated().filter { self.classes.contains($0.element) }.map(\.offset))
        func table(_ header: [String], _ rows: [[String]], numeric: Set<Int> = []) -> String {
            var html = "<table><thead><tr>" + header.map { "<th>\(e($0))</th>" }.joined() + "</tr></thead><tbody>"
            for row in rows {
                html += "<tr>" + row.enumerated().map { "<td\(numeric.contains($0.offset) ? " class=\"n\"" : "")>\(e($0.element))</td>" }.joined() + "</tr>"
            }
            return html + "</tbody></table>"
        }
        var body = "<h1>Unlearning report: classes \(e(classList))</h1>"
        body += "<p class=\"files\"><b>Original</b> <code>\(e(original.path))</code><br><b>Unlearned</b> <code>\(e(unlearned.path))</code> (\(e(unlearned.label)))<br>"
        body += "<b>Evaluated on</b> <code>\(e(data))</code>, \(original.evaluation.samples) samples"
        if let train { body += "; membership inference with <code>\(e(train))</code>" }
        body += "</p>"

        body += "<h2>Accuracy</h2>" + table(["", original.label, unlearned.label, "change (points)"], accuracyRows, numeric: [1, 2, 3])
        let perClass = { (r: EvaluationReport) -> [Double?] in classes.map { r.perClassAccuracy[String($0)] } }
        body += "<figure>" + SVGChart.groupedBars(
            categories: classes.map { label($0) },
            series: [(original.label, SVGChart.before, perClass(original.evaluation)), (unlearned.label, SVGChart.after, perClass(unlearned.evaluation))],
            highlighted: forgetIndices, title: "Per-class accuracy (forget classes in red)") + "</figure>"
        body += "<h2>Confusion matrices</h2><p>Rows: true class; columns: predicted; shade: share of the row.</p><div class=\"row\">"
        body += "<figure>" + SVGChart.heatmap(original.evaluation.confusion, labels: original.evaluation.confusion.indices.map { label($0) },
                                              highlighted: Set(self.classes), title: original.label, color: SVGChart.before) + "</figure>"
        body += "<figure>" + SVGChart.heatmap(unlearned.evaluation.confusion, labels: unlearned.evaluation.confusion.indices.map { label($0) },
                                              highlighted: Set(self.classes), title: unlearned.label, color: SVGChart.after) + "</figure></div>"

        if !original.mia.isEmpty {
            body += "<h2>Membership inference</h2>"
            let wiring = original.mia[0]
            body += "<p>MIA-efficacy: an RBF SVC (libsvm, C = 3, γ = 1/features) learns members (\(e(wiring.members)), \(wiring.membersUsed) used) "
                + "against non-members (\(e(wiring.nonMembers)), \(wiring.nonMembersUsed) used); the score is the \(e(wiring.score)) among "
                + "\(wiring.scoredSamples) \(e(wiring.scored)): <b>\(e(wiring.direction))</b>. A model retrained without the classes is the reference value.</p>"
            body += table(["variant", original.label, unlearned.label, "direction"], miaRows, numeric: [1, 2])
        }

        if let difference {
            body += "<h2>What changed in the weights</h2><p>\(e(difference.summaryLine)).</p>"
            let layers = changedLayers
            if !layers.isEmpty {
                body += "<figure>" + SVGChart.horizontalBars(layers.map { ($0.name, $0.relativeChange ?? 0) },
                                                           title: "Relative change ‖Δ‖ / ‖W‖ per changed tensor", format: { String(format: "%.4g", $0) }) + "</figure>"
                let spectra = layers.compactMap { t in t.singularValues.map { (t.name + (t.rank.map { " (rank \($0))" } ?? ""), $0) } }
                if !spectra.isEmpty {
                    body += "<figure>" + SVGChart.spectra(Array(spectra.prefix(10)), title: "Singular values of Δ (normalised), up to 10 tensors") + "</figure>"
                }
            }
            body += table(CheckpointDifference.columns, difference.rows().filter { $0[1] != "same" }, numeric: [3, 4, 5, 6, 7, 8])
        }

        body += "<h2>Audit facts</h2>"
        var factRows = [["SHA-256 of " + original.path, original.sha256], ["SHA-256 of " + unlearned.path, unlearned.sha256]]
        factRows += facts.map { [$0.key, $0.value] }
        body += table(["fact", "value"], factRows)
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Unlearning report: classes \(e(classList))</title>
            <style>
            body{font-family:sans-serif;max-width:980px;margin:24px auto;padding:0 16px;color:#222}
            h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
            table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
            td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}code{font-size:12px}
            figure{margin:8px 0}.row{display:flex;gap:24px;flex-wrap:wrap}.files{line-height:1.6}
            </style></head><body>
            \(body)
            <p style="color:#777;font-size:12px">Generated by modelforget.</p>
            </body></html>

            """
    }

    // MARK: - Markdown

    /// The same content as Markdown tables (no figures), for pull requests.
    public func markdown() -> String {
        func table(_ header: [String], _ rows: [[String]]) -> String {
            func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
            return (["| " + header.map(cell).joined(separator: " | ") + " |", "|" + header.map { _ in "---" }.joined(separator: "|") + "|"]
                + rows.map { "| " + $0.map(cell).joined(separator: " | ") + " |" }).joined(separator: "\n")
        }
        var parts = ["## Unlearning report: classes \(classList)",
                     "Original `\(original.path)`, unlearned `\(unlearned.path)` (\(unlearned.label)); evaluated on `\(data)` (\(original.evaluation.samples) samples).",
                     "### Accuracy", table(["", original.label, unlearned.label, "change (points)"], accuracyRows)]
        let classes = evaluatedClasses
        parts.append(table(["class"] + classes.map { self.classes.contains($0) ? "**\(label($0))**" : label($0) },
                           [[original.label] + classes.map { Self.percent(original.evaluation.perClassAccuracy[String($0)]) },
                            [unlearned.label] + classes.map { Self.percent(unlearned.evaluation.perClassAccuracy[String($0)]) }]))
        if !original.mia.isEmpty {
            let w = original.mia[0]
            parts.append("### Membership inference")
            parts.append("Members: \(w.members) (\(w.membersUsed)); non-members: \(w.nonMembers) (\(w.nonMembersUsed)); "
                + "score: \(w.score) among \(w.scoredSamples) \(w.scored); **\(w.direction)**.")
            parts.append(table(["variant", original.label, unlearned.label, "direction"], miaRows))
        }
        if let difference {
            parts.append("### What changed in the weights")
            parts.append(difference.summaryLine)
            parts.append(table(CheckpointDifference.columns, difference.rows().filter { $0[1] != "same" }))
        }
        parts.append("### Audit facts")
        parts.append(table(["fact", "value"], [["SHA-256 of " + original.path, original.sha256],
                                               ["SHA-256 of " + unlearned.path, unlearned.sha256]] + facts.map { [$0.key, $0.value] }))
        return parts.joined(separator: "\n\n") + "\n"
    }
}
