import Foundation
import Testing
import _TestSupport

@Suite("eval --probe / --relearn, report --probe / --relearn, the probe in the audit record")
struct EvidenceCommandTests {
    static let mlp = Fixtures.path("Samples/mlp.onnx"), test = Fixtures.path("Samples/digits-test.npz")
    static let train = Fixtures.path("Samples/digits-train.npz")

    /// The sample MLP with 5 and 7 removed by SVD, and the audit record of that run.
    static func unlearned(_ directory: TemporaryDirectory) throws -> (model: String, audit: String) {
        let model = directory.path("mlp.forget-5-7.onnx"), audit = directory.path("audit.json")
        let run = try ProcessRunner.modelforget(["apply", Self.mlp, "--classes", "5,7", "--data", Self.train, "--method", "svd",
                                                 "--eval-data", Self.test, "-o", model, "--report", audit, "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        return (model, audit)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("eval --probe --relearn --original: JSON keys labelled with their variant, the counts, deterministic; text lines", .tags(.slow))
    func evalJSONAndText() throws {
        let directory = TemporaryDirectory()
        let (model, audit) = try Self.unlearned(directory)
        let arguments = ["eval", model, "--data", Self.test, "--classes", "5,7", "--probe", "--relearn", "--train", Self.train,
                         "--original", Self.mlp, "--json"]
        let first = try ProcessRunner.modelforget(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let report = try Self.json(first.stdout)
        #expect(report["mia"] == nil)
        let probe = try #require(report["probe"] as? [String: Any])
        #expect(Set(probe.keys) == ["variant", "layer", "weight", "features", "samples", "fit_samples_per_class", "fit_samples", "held_out_samples",
                                    "held_out_forget_samples", "seed", "l2", "iterations", "step", "forget_accuracy", "retain_accuracy",
                                    "model_forget_accuracy", "direction"])
        #expect(probe["variant"] as? String == "logistic-regression" && probe["weight"] as? String == "5.weight" && probe["samples"] as? String == "--data")
        #expect(probe["fit_samples_per_class"] as? Int == 20 && probe["seed"] as? Int == 0 && probe["direction"] as? String == "lower = more forgotten")
        #expect((probe["model_forget_accuracy"] as? Double ?? 1) <= 0.05)
        let relearn = try #require(report["relearn"] as? [String: Any])
        #expect(relearn["variant"] as? String == "sgd-cross-entropy" && relearn["learning_rate"] as? Double == 0.001)
        #expect(relearn["max_steps"] as? Int == 200 && relearn["batch_size"] as? Int == 32 && relearn["threshold"] as? Double == 0.5)
        #expect(relearn["trained"] as? String == "forget-class samples (--train)" && relearn["measured"] as? String == "forget-class samples (--data)")
        let original = try #require(relearn["original"] as? [String: Any]), unlearnedCount = try #require(relearn["model"] as? [String: Any])
        #expect(original["steps"] as? Int == 0)
        let steps = try #require(unlearnedCount["steps"] as? Int)
        #expect(steps > 0 && steps <= 200)
        #expect(try ProcessRunner.modelforget(arguments).stdout == first.stdout)

        // The same probe as in the audit record of apply --eval-data (same samples, seed and model).
        let record = try Self.json(try String(contentsOfFile: audit, encoding: .utf8))
        let evaluation = try #require(record["evaluation"] as? [String: Any])
        let after = try #require(evaluation["probe_after"] as? [String: Any]), before = try #require(evaluation["probe_before"] as? [String: Any])
        #expect(after["forget_accuracy"] as? Double == probe["forget_accuracy"] as? Double)
        #expect(after["model_forget_accuracy"] as? Double == probe["model_forget_accuracy"] as? Double)
        #expect((before["model_forget_accuracy"] as? Double ?? 0) >= 0.9 && evaluation["probe_skipped"] == nil)

        let text = try ProcessRunner.modelforget(Array(arguments.dropLast()))
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("linear probe (logistic-regression on the 64 inputs of 5.weight; fit 20 per class, 200 samples of --data; ") })
        #expect(lines.contains { $0.hasPrefix("relearn time (sgd-cross-entropy on 252 forget-class samples (--train), batch 32, lr 0.001, seed 0, at most 200 steps; ")
            && $0.hasSuffix("model \(steps) steps, original 0 steps (more steps = more forgotten)") })
    }

    @Test("usage errors: --probe and --relearn need --classes, --original needs --relearn, --relearn takes no --vector; a capped count is '> N'")
    func usage() throws {
        let base = ["eval", Self.mlp, "--data", Self.test]
        for (extra, message) in [(["--probe"], "--probe needs --classes"), (["--relearn"], "--relearn needs --classes"),
                                 (["--classes", "5", "--original", Self.mlp], "--original is for --relearn"),
                                 (["--classes", "5", "--relearn", "--vector", "fv.safetensors"], "--relearn trains the weights"),
                                 (["--classes", "5", "--probe", "--probe-samples", "0"], "--probe-samples must be positive"),
                                 (["--classes", "5", "--train", Self.train], "--train is for --mia or --relearn")] {
            let run = try ProcessRunner.modelforget(base + extra)
            #expect(run.status == 64 && run.stderr.contains(message), "\(extra): \(run.stderr)")
        }
        let capped = try ProcessRunner.modelforget(["eval", Self.mlp, "--data", Self.test, "--classes", "5", "--relearn", "--relearn-steps", "0"])
        #expect(capped.status == 0 && capped.stdout.contains("model 0 steps"), "\(capped.stderr)")
        let none = try ProcessRunner.modelforget(["eval", Self.mlp, "--data", Self.test, "--classes", "11", "--relearn"])
        #expect(none.status == 1 && none.stderr.hasPrefix("\(Self.test): the samples hold none of the classes to forget"), "\(none.stderr)")
    }

    @Test("report --probe --relearn: both sections in Markdown and HTML, labelled; --relearn with --vector is a usage error", .tags(.slow))
    func report() throws {
        let directory = TemporaryDirectory()
        let (model, _) = try Self.unlearned(directory)
        let run = try ProcessRunner.modelforget(["report", "--original", Self.mlp, "--unlearned", model, "--data", Self.test, "--classes", "5,7",
                                                 "--probe", "--relearn", "--markdown"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("### Linear-probe recovery\n\nA multinomial logistic-regression probe (logistic-regression, L2 λ = 0.01, 500 iterations"))
        #expect(run.stdout.contains("| probe accuracy, held-out forget samples | 97.10% | "))
        #expect(run.stdout.contains("### Relearn time\n\nPlain SGD (sgd-cross-entropy, learning rate 0.001, batches of 32, seed 0, at most 200 steps) "
            + "on the 109 forget-class samples (--data)"))
        #expect(run.stdout.contains("| SGD steps until forget accuracy ≥ 50.00% | 0 | "))
        let html = try ProcessRunner.modelforget(["report", "--original", Self.mlp, "--unlearned", model, "--data", Self.test, "--classes", "5,7",
                                                  "--probe"])
        #expect(html.status == 0 && html.stdout.contains("<h2>Linear-probe recovery</h2>") && !html.stdout.contains("Relearn time"))
        let plain = try ProcessRunner.modelforget(["report", "--original", Self.mlp, "--unlearned", model, "--data", Self.test, "--classes", "5,7"])
        #expect(plain.status == 0 && !plain.stdout.contains("Linear-probe") && !plain.stdout.contains("Relearn"))
        let vector = try ProcessRunner.modelforget(["report", "--original", Self.mlp, "--vector", "fv.safetensors", "--data", Self.test, "--classes", "5",
                                                    "--relearn"])
        #expect(vector.status == 64 && vector.stderr.contains("--relearn trains the weights"))
    }
}
