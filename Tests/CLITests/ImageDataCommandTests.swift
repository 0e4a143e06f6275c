import Foundation
import Testing
import _TestSupport

@Suite("Image sources in the CLI: eval, apply, data inspect")
struct ImageDataCommandTests {
    static let images = Fixtures.path("Samples/digits-test-images")

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// The PNGs hold round(255 x) of the npz's x = k/16: the cnn classifies every one alike.
    @Test("eval of the sample CNN on the image folder equals eval on the npz")
    func evalParity() throws {
        let onImages = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", Self.images, "--classes", "5,7", "--json"])
        #expect(onImages.status == 0, "\(onImages.stderr)")
        let onArrays = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", Fixtures.path("Samples/digits-test.npz"),
                                                      "--classes", "5,7", "--json"])
        let a = try json(onImages.stdout), b = try json(onArrays.stdout)
        #expect(a["samples"] as? Int == 540)
        #expect(a["accuracy"] as? Double == b["accuracy"] as? Double)
        #expect(a["confusion"] as? [[Int]] == b["confusion"] as? [[Int]])
        #expect(a["forget_accuracy"] as? Double == b["forget_accuracy"] as? Double)
    }

    @Test("the pipeline and label rule are noted on stderr")
    func note() throws {
        let result = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", Self.images])
        #expect(result.status == 0)
        #expect(result.stderr.contains("note: \(Self.images): 540 images, 10 classes (class names sorted by code point, as torchvision's ImageFolder does); "
            + "grayscale (PIL convert L), ToTensor (÷255) (from the model's input shape 1×8×8)"))
    }

    @Test("apply on the image folder removes classes; the audit record states the pipeline", .tags(.slow))
    func apply() throws {
        let directory = TemporaryDirectory()
        let result = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/cnn.onnx"), "--method", "svd", "--classes", "5,7", "--data", Self.images,
                                                    "--eval-data", Self.images, "-o", directory.path("cnn.onnx"), "--report", directory.path("audit.json"), "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let record = try json(String(decoding: fileBytes(directory.path("audit.json")), as: UTF8.self))
        let images = try #require(record["images"] as? [String: Any])
        #expect(images["pipeline"] as? String == "grayscale (PIL convert L), ToTensor (÷255)")
        #expect(images["label_rule"] as? String == "sorted_names")
        #expect(images["samples"] as? Int == 540)
        let evaluation = try #require(record["evaluation"] as? [String: Any])
        let after = try #require(evaluation["after"] as? [String: Any])
        #expect((after["forget_accuracy"] as? Double ?? 1) < 0.3)
    }

    /// A class-wise vector for class 5 learnt on the npz (the settings of BENCHMARKS.md's vector table).
    func vector(_ classes: String, _ directory: TemporaryDirectory) throws -> String {
        let path = directory.path("v\(classes).safetensors")
        let made = try ProcessRunner.modelforget(["vector", "make", Fixtures.path("Samples/cnn.onnx"), "--classes", classes,
                                                  "--data", Fixtures.path("Samples/digits-train.npz"), "-o", path, "--quiet",
                                                  "--beta", "1", "--lr", "0.05", "--max-retain-drop", "3", "--target-forget-accuracy", "0.05"])
        #expect(made.status == 0, "\(made.stderr)")
        return path
    }

    @Test("vector apply on the image folder adds δ to the prepared images: the CNN forgets class 5 there as on the npz")
    func vectorApply() throws {
        let directory = TemporaryDirectory()
        let v5 = try vector("5", directory)
        let output = directory.path("images+v.npz")
        let applied = try ProcessRunner.modelforget(["vector", "apply", v5, "--inputs", Self.images, "--model", Fixtures.path("Samples/cnn.onnx"), "-o", output])
        #expect(applied.status == 0, "\(applied.stderr)")
        let withVector = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", output, "--classes", "5", "--json"])
        let without = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", Self.images, "--classes", "5", "--json"])
        let after = try json(withVector.stdout), before = try json(without.stdout)
        #expect(after["samples"] as? Int == 540)
        #expect((before["forget_accuracy"] as? Double ?? 0) > 0.9)
        #expect((after["forget_accuracy"] as? Double ?? 1) <= 0.1)
        #expect((before["retain_accuracy"] as? Double ?? 0) - (after["retain_accuracy"] as? Double ?? 0) <= 0.05)
    }

    @Test("vector combine --fit learns coefficients on an image folder", .tags(.slow))
    func combineFitOnImages() throws {
        let directory = TemporaryDirectory()
        let v5 = try vector("5", directory), v7 = try vector("7", directory)
        let output = directory.path("v57.safetensors")
        let fitted = try ProcessRunner.modelforget(["vector", "combine", v5, v7, "--fit", "--model", Fixtures.path("Samples/cnn.onnx"),
                                                    "--classes", "5,7", "--data", Self.images, "--epochs", "3", "-o", output])
        #expect(fitted.status == 0, "\(fitted.stderr)")
        #expect(fitted.stderr.contains("note: \(Self.images): 540 images, 10 classes"))
        let written = try ProcessRunner.modelforget(["inspect", output, "--json"])
        #expect(written.stdout.contains("\"coefficients\""))
    }

    @Test("a corrupt image stops with one line naming it; --skip-bad-images counts it and goes on")
    func badImage() throws {
        let directory = TemporaryDirectory()
        let fm = FileManager.default
        for digit in ["0", "1"] {
            try fm.createDirectory(atPath: directory.path("images/\(digit)"), withIntermediateDirectories: true)
            for file in try fm.contentsOfDirectory(atPath: Self.images + "/" + digit).sorted().prefix(5) {
                try fm.copyItem(atPath: Self.images + "/\(digit)/" + file, toPath: directory.path("images/\(digit)/" + file))
            }
        }
        let bad = directory.path("images/1/9999.png")
        let good = fileBytes(Self.images + "/1/" + (try fm.contentsOfDirectory(atPath: Self.images + "/1").sorted()[0]))
        directory.write("images/1/9999.png", Array(good.prefix(good.count / 2)))
        let failed = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", directory.path("images")])
        #expect(failed.status == 1)
        #expect(failed.stderr.split(separator: "\n").last == "\(bad): truncated PNG: the data ends in the middle of the image")
        #expect(!failed.stderr.contains("Error"))
        let skipped = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", directory.path("images"), "--skip-bad-images", "--json"])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(try json(skipped.stdout)["samples"] as? Int == 10)
        #expect(skipped.stderr.contains("skipped 1 image that cannot be decoded, e.g. \(bad): truncated PNG"))
    }

    @Test("data inspect --json: counts per class, sizes, the pipeline for a model")
    func inspect() throws {
        let result = try ProcessRunner.modelforget(["data", "inspect", Self.images, "--model", Fixtures.path("Samples/cnn.onnx"), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        let source = try #require(object["source"] as? [String: Any])
        let inspection = try #require(object["inspection"] as? [String: Any])
        #expect((source["samples_per_class"] as? [String: Int])?["8"] == 52)
        #expect(source["sample_shape"] as? [Int] == [1, 8, 8])
        #expect(inspection["formats"] as? [String: Int] == ["PNG": 540])
        let resized = try ProcessRunner.modelforget(["data", "inspect", Self.images, "--image-size", "6", "--interpolation", "bicubic",
                                                     "--mean", "0.5", "--std", "0.25"])
        #expect(resized.stdout.contains("preprocessing (from --image-size, --interpolation, --mean/--std): RGB, Resize(6, bicubic), "
            + "CenterCrop(6), ToTensor (÷255), Normalize(mean [0.5], std [0.25])"))
        #expect(resized.stdout.contains("samples: 3×6×6 each"))
    }

    @Test("image flags are validated as usage errors")
    func usage() throws {
        let result = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", Self.images, "--interpolation", "cubic-spline"])
        #expect(result.status == 64)
        let mean = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", Self.images, "--mean", "0.5"])
        #expect(mean.status == 64)
    }
}
