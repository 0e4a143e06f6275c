import Foundation
import Testing
import ModelRuntime
import TensorCore
import Unlearning
import WeightFormats
import _TestSupport

@Suite("statistics files")
struct StatisticsFileTests {
    @Test("statistics of parts merged equal those of the whole with a patch cap, in any argument order, and survive a file round trip", .tags(.slow))
    func mergeEqualsWhole() throws {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        // 500 vectors per layer and class: the convolutions keep 4 of 64 patches per sample, so
        // parts counting only their own samples would keep twice as many.
        let sampling = PatchSampling(maxPerLayer: 500, seed: 7)
        let whole = try StatisticsFile.collect(model, data: data, batchSize: 128, sampling: sampling, modelSHA256: "m", dataFingerprint: "d")
        let directory = TemporaryDirectory()
        var parts: [UnlearningRequest.Named<StatisticsFile>] = []
        for i in 1...3 {
            let part = try StatisticsFile.collect(model, data: data, batchSize: 50 + 27 * i, sampling: sampling, shard: DataShard(i, of: 3),
                                                  modelSHA256: "m", dataFingerprint: "d")
            try part.write(to: directory.path("\(i).safetensors"))
            parts.append(.init(try StatisticsFile.read(directory.path("\(i).safetensors")), name: "\(i)"))
        }
        let merged = try StatisticsFile.merged(parts)
        let reversed = try StatisticsFile.merged(parts.reversed())
        // The streaming merge of the files writes the same bytes as the merge in memory.
        try merged.write(to: directory.path("in-memory.safetensors"))
        let streamed = try StatisticsFile.merge(files: (1...3).reversed().map { directory.path("\($0).safetensors") }, to: directory.path("streamed.safetensors"))
        #expect(streamed.provenance == merged.provenance && streamed.classes == 10)
        #expect(FileManager.default.contents(atPath: directory.path("streamed.safetensors")) == FileManager.default.contents(atPath: directory.path("in-memory.safetensors")))
        #expect(Set(merged.grams.keys) == Set(0..<10))
        for (label, perLayer) in whole.grams {
            for (key, gram) in perLayer {
                let other = try #require(merged.grams[label]?[key])
                #expect(other.rows == gram.rows)
                #expect(reversed.grams[label]?[key] == other, "the argument order changed the sum")
                // The same vectors of every sample, so only rounding differs: float32 blocks of other
                // rows (each side within γ_256 ≈ 1.53e-5 of (|X|ᵀ|X|)_ij ≤ the largest diagonal entry,
                // so 2γ_256 between them), float64 additions in another order (1e-15), and float32
                // activations that change in the last bit with the batch's composition (2e-8).
                let scale = gram.gram.map(abs).max() ?? 1
                #expect(zip(gram.gram, other.gram).allSatisfy { abs($0 - $1) <= 3.2e-5 * scale }, "class \(label) layer \(key.layer)")
            }
        }
        #expect(merged.layerWeights == whole.layerWeights)
        #expect(merged.provenance == StatisticsProvenance(modelSHA256: "m", dataFingerprint: "d", shards: ShardSet(parts: [1, 2, 3], count: 3),
                                                          samples: data.count, dataSamples: data.count, seed: 7))
        #expect(merged.maxPatches == 500)
    }

    @Test("apply with statistics forgets like apply with data; other files are refused with a clear message", .tags(.slow))
    func applyWithStatistics() throws {
        let directory = TemporaryDirectory()
        let stats = directory.path("cnn.stats.safetensors")
        let collect = try ProcessRunner.modelforget(["stats", "collect", Fixtures.path("Samples/cnn.onnx"), "--data", Fixtures.path("Samples/digits-train.npz"), "-o", stats])
        #expect(collect.status == 0, "\(collect.stderr)")
        let result = try ProcessRunner.modelforget(["apply", Fixtures.path("Samples/cnn.onnx"), "--method", "svd",
                                                    "--classes", "5,7", "--data", Fixtures.path("Samples/digits-train.npz"),
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
