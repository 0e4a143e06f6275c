import Foundation
import Testing
import Unlearning
import WeightFormats
import _TestSupport

@Suite("modelforget apply")
struct ApplyCommandTests {
    @Test("safetensors in, safetensors out: class 3 forgotten, untouched tensors byte-identical, metadata and provenance, audit record", .tags(.slow))
    func safetensorsRoundTrip() throws {
        let directory = TemporaryDirectory()
        let input = directory.path("cnn.safetensors")
        try FileManager.default.copyItem(atPath: Fixtures.path("Samples/cnn.safetensors"), toPath: input)
        let before = fileBytes(input)
        let result = try ProcessRunner.modelforget(["apply", input, "--classes", "3", "--data", Fixtures.path("Samples/digits-train.npz"),
                                                    "--eval-data", Fixtures.path("Samples/digits-test.npz"), "--alpha-retain", "10", "--alpha-forget", "1",
                                                    "--report", directory.path("audit.json"), "--json", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(fileBytes(input) == before)
        let output = directory.path("cnn.forget-3.safetensors")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(summary["output"] as? String == output)
        let forgetAfter = try #require(summary["forget_accuracy_after"] as? Double)
        let retainBefore = try #require(summary["retain_accuracy_before"] as? Double)
        let retainAfter = try #require(summary["retain_accuracy_after"] as? Double)
        #expect(forgetAfter <= 0.02)
        #expect(retainAfter >= retainBefore - 0.02)
        let original = try Checkpoint.open(input), edited = try Checkpoint.open(output)
        #expect(edited.tensors.map(\.name).sorted() == original.tensors.map(\.name).sorted())
        #expect(edited.metadata["format"] == "pt")
        #expect(edited.metadata["modelforget.method"] == "svd" && edited.metadata["modelforget.classes"] == "3")
        let weights: Set<String> = ["features.0.weight", "features.3.weight", "features.7.weight", "classifier.0.weight", "classifier.3.weight"]
        for info in original.tensors {
            #expect(edited.info(named: info.name)?.dtype == info.dtype)
            let same = try edited.bytes(of: info.name) == original.bytes(of: info.name)
            #expect(same != weights.contains(info.name), "\(info.name)")
        }
        let audit = try #require(try JSONSerialization.jsonObject(with: fileContentsData(directory.path("audit.json"))) as? [String: Any])
        for key in ["tool", "version", "method", "input", "output", "classes", "configuration", "alpha_retain_used", "alpha_forget_used",
                    "samples", "layers", "search", "evaluation", "timings_seconds"] {
            #expect(audit[key] != nil, "audit record lacks \(key)")
        }
        let outputHashes = try #require((audit["output"] as? [String: Any])?["sha256"] as? [String: String])
        #expect(outputHashes[output] == (try SHA256.hex(ofFile: output)))
        let samples = try #require(audit["samples"] as? [String: Any])
        #expect((samples["retain"] as? [String: Int])?["3"] == nil)
        #expect((samples["forget"] as? [String: Int])?.keys.sorted() == ["3"])
    }

    @Test("ONNX in, ONNX out; npz in, npz out; the same seed gives byte-identical files", .tags(.interop, .slow), .requiresPython("onnx"))
    func otherFormatsAndDeterminism() throws {
        let directory = TemporaryDirectory()
        for (source, name) in [("Samples/mlp.onnx", "a.onnx"), ("Samples/mlp.onnx", "b.onnx")] {
            let result = try ProcessRunner.modelforget(["apply", Fixtures.path(source), "--method", "svd", "--classes", "5,7", "--data", Fixtures.path("Samples/digits-train.npz"),
                                                        "-o", directory.path(name), "--quiet"])
            #expect(result.status == 0, "\(result.stderr)")
        }
        #expect(fileBytes(directory.path("a.onnx")) == fileBytes(directory.path("b.onnx")))
        let model = try ONNXModel(path: directory.path("a.onnx"))
        #expect(model.metadata["modelforget.classes"] == "5,7")
        let check = try ProcessRunner.python("import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1])); print('ok')", [directory.path("a.onnx")])
        #expect(check.stdout == "ok\n", "\(check.stderr)")
        let npz = directory.path("mlp.npz")
        _ = try ProcessRunner.modelforget(["convert", Fixtures.path("Samples/mlp.safetensors"), npz])
        let result = try ProcessRunner.modelforget(["apply", npz, "--method", "svd", "--classes", "1", "--data", Fixtures.path("Samples/digits-train.npz"), "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Checkpoint.open(directory.path("mlp.forget-1.npz")).format == .npz)
    }

    @Test("a forget class without samples is one line naming the data file, exit 1, no output", .tags(.slow))
    func emptyForgetSet() throws {
        let directory = TemporaryDirectory()
        let result = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/mlp.onnx"), "--classes", "42", "--data", Fixtures.path("Samples/digits-train.npz"),
                                                    "-o", directory.path("x.onnx")])
        #expect(result.status == 1)
        #expect(result.stderr == "\(Fixtures.path("Samples/digits-train.npz")): the data has no samples of the forget classes 42\n")
        #expect(directory.contents().isEmpty)
        let usage = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/mlp.onnx"), "--classes", "1", "--data", "x.npz", "--method", "magic"])
        #expect(usage.status == 64)
    }

    @Test("--method pgu from statistics and forget samples only: forgets, writes --update-stats without the class, same bytes twice", .tags(.slow))
    func pguFromStatistics() throws {
        let directory = TemporaryDirectory()
        let stats = directory.path("mlp.stats.safetensors")
        let collect = try ProcessRunner.modelforget(["stats", "collect", Fixtures.path("Samples/mlp.onnx"), "--data", Fixtures.path("Samples/digits-train.npz"),
                                                     "-o", stats, "--quiet"])
        #expect(collect.status == 0, "\(collect.stderr)")
        for name in ["a", "b"] {
            let result = try ProcessRunner.modelforget([
                "apply", Fixtures.path("Samples/mlp.onnx"), "--method", "pgu", "--classes", "3", "--data", Fixtures.path("Samples/digits-train.npz"),
                "--stats", stats, "--lr-start", "0.3", "--lr-end", "0.06", "--gamma", "0.8", "--eval-data", Fixtures.path("Samples/digits-test.npz"),
                "--update-stats", directory.path("\(name).next.safetensors"), "--report", directory.path("\(name).json"),
                "-o", directory.path("\(name).onnx"), "--json", "--quiet"])
            #expect(result.status == 0, "\(result.stderr)")
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect((summary["forget_accuracy_after"] as? Double ?? 1) <= 0.05)
            #expect((summary["retain_accuracy_before"] as? Double ?? 0) - (summary["retain_accuracy_after"] as? Double ?? 0) <= 0.03)
            #expect(summary["best_epoch"] as? Int ?? 0 > 0)
        }
        #expect(fileBytes(directory.path("a.onnx")) == fileBytes(directory.path("b.onnx")))
        let next = try StatisticsFile.read(directory.path("a.next.safetensors"))
        #expect(Set(next.grams.keys) == Set(0..<10).subtracting([3]))
        let record = try #require(try JSONSerialization.jsonObject(with: fileContentsData(directory.path("a.json"))) as? [String: Any])
        #expect(record["method"] as? String == "pgu")
        #expect((record["epochs"] as? [[String: Any]])?.first?["epoch"] as? Int == 0)
        #expect(record["stop_reason"] is String)
        let usage = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/mlp.onnx"), "--method", "pgu", "--search", "--classes", "3",
                                                   "--data", Fixtures.path("Samples/digits-train.npz")])
        #expect(usage.status == 64)
    }

    @Test("--method pgu stops at the contract's --max-forget-accuracy by default, --target-forget-accuracy overrides it; a run above it writes nothing")
    func pguTargetIsTheForgetLimit() throws {
        let directory = TemporaryDirectory()
        let cases: [(flags: [String], target: String)] = [([], "2.00%"), (["--max-forget-accuracy", "0.05"], "5.00%"),
                                                          (["--max-forget-accuracy", "0.05", "--target-forget-accuracy", "0.1"], "10.00%")]
        for (flags, target) in cases {
            // One epoch at the reference's first rate leaves the forget samples near 100 %: the run fails its target.
            let result = try ProcessRunner.modelforget([
                "apply", Fixtures.path("Samples/mlp.onnx"), "--method", "pgu", "--classes", "3", "--data", Fixtures.path("Samples/digits-train.npz"),
                "--epochs", "1", "--lr-start", "0.05", "-o", directory.path("out.onnx"), "--quiet"] + flags)
            #expect(result.status == 2, "\(result.stderr)")
            #expect(result.stderr.contains("pgu did not forget") && result.stderr.contains("(target \(target))"), "\(result.stderr)")
            #expect(directory.contents().isEmpty)
        }
    }
}

func fileContentsData(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }
