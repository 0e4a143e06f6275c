import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite("modelforget eval and predict")
struct EvalPredictCommandTests {
    @Test("eval --json reports the documented keys; the sample CNN scores its recorded test accuracy")
    func evalJSON() throws {
        let result = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", Fixtures.path("Samples/digits-test.npz"),
                                                    "--classes", "5,7", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["accuracy", "per_class_accuracy", "forget_accuracy", "retain_accuracy", "confusion", "samples"])
        #expect(object["samples"] as? Int == 540)
        let accuracy = try #require(object["accuracy"] as? Double)
        #expect(abs(accuracy - 0.987037) < 1e-4)   // Samples/accuracy.json: 0.9870370370370371
        let confusion = try #require(object["confusion"] as? [[Int]])
        #expect(confusion.count == 10 && confusion.map { $0.reduce(0, +) }.reduce(0, +) == 540)
        let forget = try #require(object["forget_accuracy"] as? Double)
        let perClass = try #require(object["per_class_accuracy"] as? [String: Double])
        let counts = confusion.map { $0.reduce(0, +) }
        let expectedForget = (perClass["5"]! * Double(counts[5]) + perClass["7"]! * Double(counts[7])) / Double(counts[5] + counts[7])
        #expect(abs(forget - expectedForget) < 1e-12)
    }

    @Test("eval on a checkpoint with a recognised layout prints a table; BatchNorm step counters are not warned about")
    func evalText() throws {
        let result = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/resnet.safetensors"),
                                                    "--data", Fixtures.path("Samples/digits-test.safetensors"), "--classes", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("accuracy: 98.89%"))
        #expect(result.stdout.contains("forget accuracy (classes 3): 100.00%"))
        #expect(!result.stderr.contains("num_batches_tracked"), "\(result.stderr)")
        let quiet = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/resnet.safetensors"), "--data", Fixtures.path("Samples/digits-test.npz"), "--quiet"])
        #expect(quiet.stderr.isEmpty)
    }

    @Test("predict writes logits and labels that numpy reads", .tags(.interop), .requiresPython("numpy"))
    func predict() throws {
        let directory = TemporaryDirectory()
        let out = directory.path("p.npz")
        let result = try ProcessRunner.modelforget(["predict", Fixtures.path("Samples/mlp.onnx"), "--inputs", Fixtures.path("Samples/mlp.expected.npz"), "-o", out])
        #expect(result.status == 0, "\(result.stderr)")
        let check = try ProcessRunner.python("""
            import sys, numpy as np
            p = np.load(sys.argv[1]); e = np.load(sys.argv[2])
            assert p["logits"].shape == (64, 10) and p["labels"].dtype == np.int64
            assert np.abs(p["logits"] - e["logits"]).max() < 1e-4
            assert (p["labels"] == e["logits"].argmax(1)).all()
            print("ok")
            """, [out, Fixtures.path("Samples/mlp.expected.npz")])
        #expect(check.status == 0 && check.stdout == "ok\n", "\(check.stderr)")
    }

    @Test("bad inputs: a missing data key, a wrong input shape, an unknown layout — one line each, exit 1, no output")
    func errors() throws {
        let directory = TemporaryDirectory()
        let missingKey = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", Fixtures.path("Samples/digits-test.npz"), "--x-key", "images"])
        #expect(missingKey.status == 1)
        #expect(missingKey.stderr == "\(Fixtures.path("Samples/digits-test.npz")): no tensor 'images' (the file has: x, y); choose one with --x-key/--y-key\n")
        let shapes = try ProcessRunner.modelforget(["predict", Fixtures.path("Samples/cnn.onnx"), "--inputs", Fixtures.path("Samples/cnn.expected.npz"),
                                                    "--x-key", "logits", "-o", directory.path("o.npz")])
        #expect(shapes.status == 1)
        #expect(shapes.stderr.split(separator: "\n").count == 1)
        #expect(directory.contents().isEmpty)
        let layout = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/digits-train.npz"), "--data", Fixtures.path("Samples/digits-test.npz")])
        #expect(layout.status == 1)
        #expect(layout.stderr.hasPrefix(Fixtures.path("Samples/digits-train.npz") + ": cannot tell the architecture"))
        // The library says what is wrong; the command line adds the flag that fixes it.
        #expect(layout.stderr.hasSuffix("; give --arch with an ONNX file, an architecture spec or a model config\n"))
        // The sample ViT has torchvision's names, which do not store the head count.
        let heads = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/vit.safetensors"), "--data", Fixtures.path("Samples/digits-test.npz")])
        #expect(heads.status == 1)
        #expect(heads.stderr.hasPrefix(Fixtures.path("Samples/vit.safetensors") + ": a torchvision ViT: the checkpoint does not fix the number of attention heads"))
        #expect(heads.stderr.hasSuffix("; give --arch with a JSON config setting it, e.g. {\"num_heads\": N}\n"))
        #expect(heads.stderr.split(separator: "\n").count == 1)
        let usage = try ProcessRunner.modelforget(["predict", Fixtures.path("Samples/cnn.onnx"), "--inputs", "x.npz", "-o", "out.csv"])
        #expect(usage.status == 64)
    }
}
