import Foundation
import ModelRuntime
import Reports
import Testing

@Suite("unlearning report")
struct UnlearningReportTests {
    static func report(difference: CheckpointDifference? = nil) -> UnlearningReport {
        /// The evaluation whose confusion matrix is `confusion`.
        func evaluation(_ confusion: [[Int]]) -> EvaluationReport {
            var labels: [Int] = [], predictions: [Int] = []
            for (truth, row) in confusion.enumerated() {
                for (predicted, count) in row.enumerated() {
                    labels += Array(repeating: truth, count: count)
                    predictions += Array(repeating: predicted, count: count)
                }
            }
            return Evaluation.report(predictions: predictions, labels: labels, classes: 3, forget: [1])
        }
        let before = evaluation([[9, 1, 0], [0, 10, 0], [0, 1, 19]]), after = evaluation([[9, 1, 0], [5, 0, 5], [0, 1, 19]])
        let attack = { (value: Double) in
            MembershipInferenceResult(variant: "confidence-svc", feature: "softmax probability of the true label", members: "m", nonMembers: "n",
                                      scored: "s", score: "fraction", direction: "higher = more forgotten", value: value, membersUsed: 10,
                                      nonMembersUsed: 10, scoredSamples: 5)
        }
        return UnlearningReport(classes: [1], data: "test<1>.npz", train: "train.npz",
                                original: .init(label: "original", path: "a.onnx", sha256: "aa", evaluation: before, mia: [attack(0.1)]),
                                unlearned: .init(label: "unlearned", path: "b.onnx", sha256: "bb", evaluation: after, mia: [attack(0.9)]),
                                difference: difference, facts: [.init("modelforget.method", "svd & co")])
    }

    @Test("the HTML page is self-contained (no scripts, nothing fetched), escapes text, and holds the bar chart and both heat maps")
    func htmlIsSelfContained() {
        let html = Self.report().html()
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href=") && !html.contains("@import") && !html.contains("url("))
        #expect(html.contains("test&lt;1&gt;.npz") && html.contains("svd &amp; co") && !html.contains("test<1>"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)   // per-class bars, two confusion matrices
        #expect(html.contains("-100.00") && html.contains("90.00%") && html.contains("higher = more forgotten"))
        // Bars: class 1 before at 100 %, after at 0 % (a zero-height bar).
        #expect(html.contains("<title>original 1: 100.00%</title>") && html.contains("<title>unlearned 1: 0.00%</title>"))
        #expect(Self.report().html() == html)   // no clock time: same input, same bytes
    }

    @Test("with a checkpoint difference the page adds the relative-change bars and the spectra; Markdown has the same tables")
    func differenceFiguresAndMarkdown() {
        var changed = TensorDifference(name: "fc.weight", status: .changed, dtypeA: .F32, dtypeB: .F32, shapeA: [3, 2], shapeB: [3, 2],
                                       elements: 6, changedElements: 6)
        changed.relativeChange = 0.25
        changed.singularValues = [2, 1, 1e-3]
        changed.rank = 2
        let difference = CheckpointDifference(a: "a.onnx", b: "b.onnx", tensors: [changed],
                                              summary: .init(tensors: 1, tensorsChanged: 1, parameters: 6, parametersChanged: 6,
                                                             largestRelativeChange: 0.25, largestRelativeChangeTensor: "fc.weight"))
        let report = Self.report(difference: difference)
        let html = report.html()
        #expect(html.components(separatedBy: "<svg").count - 1 == 5)
        #expect(html.contains("fc.weight (rank 2)") && html.contains("<title>fc.weight: 0.25</title>"))
        let markdown = report.markdown()
        #expect(markdown.contains("| forget classes (1) | 100.00% | 0.00% | -100.00 |"))
        #expect(markdown.contains("| class | 0 | **1** | 2 |") && markdown.contains("1 of 1 tensors differ"))
        #expect(markdown.contains("| confidence-svc (softmax probability of the true label) | 10.00% | 90.00% | higher = more forgotten |"))
    }
}
