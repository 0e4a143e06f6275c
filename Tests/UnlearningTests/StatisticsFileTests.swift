import Foundation
import Testing
import ModelRuntime
import TensorCore
import Unlearning
import WeightFormats
import _TestSupport

@Suite("statistics files")
struct StatisticsFileTests {
    @Test("statistics of two halves merged equal those of the whole, and survive a file round trip", .tags(.slow))
    func mergeEqualsWhole() throws {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let half = data.count / 2
        func part(_ range: Range<Int>) throws -> Dataset {
            Dataset(x: try data.batch(range), labels: Array(data.labels![range]))
        }
        let whole = try StatisticsFile.collect(model, data: data, batchSize: 128, sampling: .all)
        let first = try StatisticsFile.collect(model, data: try part(0..<half), batchSize: 100, sampling: .all)
        let second = try StatisticsFile.collect(model, data: try part(half..<data.count), batchSize: 77, sampling: .all)
        let directory = TemporaryDirectory()
        try first.write(to: directory.path("a.safetensors"))
        try second.write(to: directory.path("b.safetensors"))
        let merged = try StatisticsFile.merged([StatisticsFile.read(directory.path("a.safetensors")), StatisticsFile.read(directory.path("b.safetensors"))])
        #expect(Set(merged.grams.keys) == Set(0..<10))
        for (label, perLayer) in whole.grams {
            for (key, gram) in perLayer {
                let other = try #require(merged.grams[label]?[key])
                #expect(other.rows == gram.rows)
                let scale = gram.gram.map(abs).max() ?? 1
                // Float32 activations differ in the last bits with the batch composition (BLAS blocking): 1e-5 of the largest entry.
                #expect(zip(gram.gram, other.gram).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "class \(label) layer \(key.layer)")
            }
        }
        #expect(merged.layerWeights == whole.layerWeights)
    }

    @Test("apply with statistics forgets like apply with data; other files are refused with a clear message", .tags(.slow))
    func applyWithStatistics() throws {
        let directory = TemporaryDirectory()
        let stats = directory.path("cnn.stats.safetensors")
        let collect = try ProcessRunner.modelforget(["stats", "collect", Fixtures.path("Samples/cnn.onnx"), "--data", Fixtures.path("Samples/digits-train.npz"), "-o", stats])
        #expect(collect.status == 0, "\(collect.stderr)")
        let result = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/cnn.onnx"), "--classes", "5,7", "--data", Fixtures.path("Samples/digits-train.npz"),
                                                    "--stats", stats, "--alpha-retain", "10", "--eval-data", Fixtures.path("Samples/digits-test.npz"),
                                                    "-o", directory.path("out.onnx"), "--json", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((summary["forget_accuracy_after"] as? Double ?? 1) <= 0.02)
        #expect((summary["retain_accuracy_after"] as? Double ?? 0) >= (summary["retain_accuracy_before"] as? Double ?? 1) - 0.02)
        let wrong = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/mlp.onnx"), "--classes", "5", "--data", Fixtures.path("Samples/digits-train.npz"),
                                                   "--stats", stats, "-o", directory.path("x.onnx")])
        #expect(wrong.status == 1)
        #expect(wrong.stderr == "\(stats): the statistics were collected on a model with other weight layers; collect them on this model\n")
        let notStats = try ProcessRunner.modelforget(["stats", "merge", Fixtures.path("Samples/cnn.safetensors"), stats, "-o", directory.path("m.safetensors")])
        #expect(notStats.status == 1)
        #expect(notStats.stderr.hasPrefix(Fixtures.path("Samples/cnn.safetensors") + ": not a statistics file"))
        #expect(!FileManager.default.fileExists(atPath: directory.path("m.safetensors")))
    }
}
