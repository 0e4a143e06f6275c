import Foundation
import Testing
import _TestSupport

@Suite("modelforget report")
struct ReportCommandTests {
    @Test("an SVD edit of the sample CNN: HTML with accuracies, MIA, weight changes and audit facts; Markdown; a forget vector; bad combinations", .tags(.slow))
    func reportOfAnEdit() throws {
        let directory = TemporaryDirectory()
        let cnn = Fixtures.path("Samples/cnn.onnx"), edited = directory.path("cnn-57.onnx")
        let test = Fixtures.path("Samples/digits-test.npz"), train = Fixtures.path("Samples/digits-train.npz")
        let apply = try ProcessRunner.modelforget(["apply", cnn, "--method", "svd", "--classes", "5,7", "--data", train, "--retain-samples", "300", "--forget-samples", "200",
                                                   "-o", edited, "--report", directory.path("audit.json"), "--quiet"])
        #expect(apply.status == 0, "\(apply.stderr)")
        let html = try ProcessRunner.modelforget(["report", "--original", cnn, "--unlearned", edited, "--data", test, "--train", train,
                                                  "--classes", "5,7", "--audit", directory.path("audit.json"), "-o", directory.path("report.html"), "--quiet"])
        #expect(html.status == 0, "\(html.stderr)")
        let page = try String(contentsOfFile: directory.path("report.html"), encoding: .utf8)
        #expect(page.components(separatedBy: "<svg").count - 1 == 5)
        for expected in ["confidence-svc", "entropy-svc", "5 of 22 tensors differ", "modelforget.method", "audit.configuration.retain_samples", "classifier.3.weight"] {
            #expect(page.contains(expected), "missing \(expected)")
        }
        #expect(!page.contains("<script") && !page.contains("src="))

        let markdown = try ProcessRunner.modelforget(["report", "--original", cnn, "--unlearned", edited, "--data", test, "--classes", "5,7", "--markdown"])
        #expect(markdown.status == 0 && markdown.stdout.hasPrefix("## Unlearning report: classes 5, 7") && !markdown.stdout.contains("Membership inference"))

        let make = try ProcessRunner.modelforget(["vector", "make", cnn, "--classes", "5", "--data", train, "--beta", "1", "--epochs", "4",
                                                  "-o", directory.path("fv.safetensors"), "--quiet"])
        #expect(make.status == 0, "\(make.stderr)")
        let vector = try ProcessRunner.modelforget(["report", "--original", cnn, "--vector", directory.path("fv.safetensors"), "--data", test,
                                                    "--classes", "5", "--markdown"])
        #expect(vector.status == 0 && vector.stdout.contains("with forget vector") && vector.stdout.contains("vector.setting.selected_epoch"))

        let both = try ProcessRunner.modelforget(["report", "--original", cnn, "--unlearned", edited, "--vector", directory.path("fv.safetensors"),
                                                  "--data", test, "--classes", "5"])
        #expect(both.status == 64 && both.stderr.contains("exactly one of --unlearned and --vector"))
        let badAudit = try ProcessRunner.modelforget(["report", "--original", cnn, "--unlearned", edited, "--data", test, "--classes", "5",
                                                      "--audit", cnn, "-o", directory.path("x.html")])
        #expect(badAudit.status == 1 && badAudit.stderr.hasPrefix(cnn + ": not a JSON audit record"))
        #expect(!FileManager.default.fileExists(atPath: directory.path("x.html")))
    }
}
