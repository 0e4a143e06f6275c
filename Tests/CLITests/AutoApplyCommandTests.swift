import Foundation
import Testing
import _TestSupport

/// `apply` with the default method, auto: the contract is met or the command says which limit
/// failed, exits 2 and writes nothing (unless --keep-best); never a silent no-op.
@Suite("modelforget apply --method auto")
struct AutoApplyCommandTests {
    static let train = Fixtures.path("Samples/digits-train.npz")
    static let few = ["--retain-samples", "450", "--forget-samples", "200"]
    /// Three samples of each kind to learn from: the edit cannot keep every retain validation sample
    /// (seeds 1–3 lose 9–16 points on the sample MLP), so zero limits are out of its reach.
    static let starved = ["--retain-samples", "3", "--forget-samples", "3"]

    static func json(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    @Test("default flags: the limits are met, the summary names the kept attempt, the audit record lists every attempt")
    func defaultFlagsMeetTheLimits() throws {
        let directory = TemporaryDirectory()
        let output = directory.path("mlp.forget-5-7.onnx")
        let result = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/mlp.onnx"), "--classes", "5,7", "--data", Self.train,
                                                    "-o", output, "--report", directory.path("audit.json"), "--json", "--quiet"] + Self.few)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: output))
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(summary["method"] as? String == "auto")
        let verdict = try #require(summary["contract_verdict"] as? [String: Any])
        #expect(verdict["meets"] as? Bool == true)
        #expect(try #require(verdict["forget_accuracy"] as? Double) <= 0.02)
        #expect(try #require(verdict["retain_drop"] as? Double) <= 2)
        let audit = try Self.json(directory.path("audit.json"))
        let contract = try #require(audit["contract"] as? [String: Double])
        #expect(contract == ["max_forget_accuracy": 0.02, "max_retain_drop": 2, "max_retain_damage": 0.01])
        let attempts = try #require(audit["attempts"] as? [[String: Any]])
        #expect(!attempts.isEmpty && attempts.first?["method"] as? String == "svd")
        for attempt in attempts {
            for key in ["method", "settings", "validation", "violation", "seconds"] { #expect(attempt[key] != nil, "attempt lacks \(key)") }
        }
        #expect(attempts.map { $0["method"] as? String }.contains(audit["kept"] as? String))
        // The validation split is held out: it is counted, and the search scored on it.
        let samples = try #require(audit["samples"] as? [String: Any])
        #expect(try #require(samples["validation"] as? Int) > 0)
    }

    @Test("impossible limits: exit 2, one line naming the failed limit and the best found, nothing written")
    func impossibleLimitsWriteNothing() throws {
        let directory = TemporaryDirectory()
        let output = directory.path("out.onnx")
        let result = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/mlp.onnx"), "--classes", "1", "--data", Self.train,
                                                    "--max-retain-drop", "0", "--max-forget-accuracy", "0", "--seed", "1",
                                                    "-o", output, "--report", directory.path("audit.json"), "--quiet"] + Self.starved)
        // Both limits at zero: no forget-class validation sample recognised and not one retain sample
        // lost, from three samples of each kind: the projection and the repair after it fall short.
        #expect(result.status == 2, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(!FileManager.default.fileExists(atPath: directory.path("audit.json")))
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("the limits are not met") && result.stderr.contains("nothing written"))
        #expect(result.stderr.contains("more than the limit") || result.stderr.contains("above the limit"))
        #expect(result.stderr.contains("forget accuracy") && result.stderr.contains("retain drop"))
    }

    @Test("--keep-best writes the best edit anyway, still exit 2, and the record says the limits failed")
    func keepBestWrites() throws {
        let directory = TemporaryDirectory()
        let output = directory.path("out.onnx")
        let result = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/mlp.onnx"), "--classes", "1", "--data", Self.train,
                                                    "--max-retain-drop", "0", "--max-forget-accuracy", "0", "--seed", "1", "--keep-best",
                                                    "-o", output, "--report", directory.path("audit.json"), "--quiet"] + Self.starved)
        #expect(FileManager.default.fileExists(atPath: output))
        let audit = try Self.json(directory.path("audit.json"))
        let verdict = try #require(audit["contract_verdict"] as? [String: Any])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(verdict["meets"] as? Bool == false)
        #expect(result.stderr.contains("--keep-best"))
        #expect((audit["attempts"] as? [[String: Any]])?.map { $0["method"] as? String } == ["svd", "svd+repair"])
        #expect(result.stdout.contains("tried svd") && result.stdout.contains("tried svd+repair"))
    }

    @Test("the same --seed gives byte-identical output and the same audit record apart from timings")
    func deterministic() throws {
        let directory = TemporaryDirectory()
        for name in ["a", "b"] {
            let result = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/cnn.onnx"), "--classes", "5,7", "--data", Self.train,
                                                        "-o", directory.path("\(name).onnx"), "--report", directory.path("\(name).json"),
                                                        "--quiet", "--seed", "7"] + Self.few)
            #expect(result.status == 0, "\(result.stderr)")
        }
        #expect(fileBytes(directory.path("a.onnx")) == fileBytes(directory.path("b.onnx")))
        func untimed(_ path: String) throws -> [String] {
            var record = try Self.json(path)
            for key in ["timings_seconds", "attempts", "output", "input"] { record.removeValue(forKey: key) }
            let attempts = try Self.json(path)["attempts"] as? [[String: Any]] ?? []
            return [String(describing: record.keys.sorted()), String(describing: attempts.map { $0["settings"] as? String ?? "" }),
                    String(describing: attempts.map { ($0["validation"] as? [String: Any])?["forget_accuracy"] as? Double ?? -1 })]
        }
        #expect(try untimed(directory.path("a.json")) == untimed(directory.path("b.json")))
    }

    @Test("--repair-target: the repair distils the original model's outputs by default, refits the labels when asked; the record says which")
    func repairTarget() throws {
        let directory = TemporaryDirectory()
        var targets: [String: String] = [:]
        for target in ["outputs", "labels"] {
            // The sample MLP forgetting {5, 7} with default counts: the projection alone misses the retain limit, the repair is kept.
            let result = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/mlp.onnx"), "--classes", "5,7", "--data", Self.train,
                                                        "--repair-target", target, "-o", directory.path("\(target).onnx"),
                                                        "--report", directory.path("\(target).json"), "--quiet"])
            #expect(result.status == 0, "\(result.stderr)")
            let audit = try Self.json(directory.path("\(target).json"))
            #expect(audit["kept"] as? String == "svd+repair")
            targets[target] = (audit["repair"] as? [String: Any])?["retain_target"] as? String
        }
        #expect(targets["outputs"]?.contains("distillation, temperature 4") == true, "\(targets)")
        #expect(targets["labels"]?.contains("labels") == true, "\(targets)")
        #expect(fileBytes(directory.path("outputs.onnx")) != fileBytes(directory.path("labels.onnx")))
        let usage = runInProcess(["apply", Fixtures.path("Samples/mlp.onnx"), "--repair-target", "logits", "--classes", "3", "--data", Self.train])
        #expect(usage.status == 64)
        #expect(usage.stderr.contains("--repair-target must be outputs or labels"))
    }

    @Test("--alpha-* and --search imply svd; with --method auto they are a usage error")
    func svdFlags() throws {
        let usage = runInProcess(["apply", Fixtures.path("Samples/mlp.onnx"), "--method", "auto", "--alpha-retain", "10",
                                  "--classes", "3", "--data", Self.train])
        #expect(usage.status == 64)
        #expect(usage.stderr.contains("--alpha-retain and --alpha-forget are for --method svd"))
        let search = runInProcess(["apply", Fixtures.path("Samples/mlp.onnx"), "--method", "pgu", "--search", "--classes", "3", "--data", Self.train])
        #expect(search.status == 64)
    }

    @Test("pgu that does not reach its forget target refuses: exit 2, one line, nothing written")
    func pguNoOpRefused() throws {
        let directory = TemporaryDirectory()
        let output = directory.path("out.onnx")
        let result = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/mlp.onnx"), "--method", "pgu", "--classes", "3",
                                                    "--data", Self.train, "--lr-start", "0.0001", "--lr-end", "0.0001", "--epochs", "1",
                                                    "-o", output, "--quiet"] + Self.few)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("pgu did not forget") && result.stderr.contains("nothing written"))
    }
}
