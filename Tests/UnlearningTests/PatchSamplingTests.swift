import Testing
import WeightFormats
@testable import ModelRuntime
import TensorCore
import Unlearning
import _TestSupport

@Suite("patch sampling: how many vectors per sample, which, and independence from batching")
struct PatchSamplingTests {
    @Test("k = min(p, ⌈cap / n⌉), at least 1; no cap keeps all")
    func perSampleRule() {
        let sampling = PatchSampling(maxPerLayer: 10_000, seed: 0)
        #expect(sampling.perSample(vectors: 1024, samples: 900) == 12)
        #expect(sampling.perSample(vectors: 16, samples: 900) == 12)
        #expect(sampling.perSample(vectors: 4, samples: 900) == 4)
        #expect(sampling.perSample(vectors: 1024, samples: 50_000) == 1)
        #expect(PatchSampling.all.perSample(vectors: 1024, samples: 900) == 1024)
    }

    @Test("positions: k distinct, ascending, fixed by (seed, layer, group, sample), different across samples")
    func positions() {
        let sampling = PatchSampling(maxPerLayer: 100, seed: 7)
        let a = sampling.positions(layer: 2, group: 0, sample: 41, vectors: 64, keep: 5)
        #expect(a.count == 5 && Set(a).count == 5 && a == a.sorted() && a.allSatisfy { (0..<64).contains($0) })
        #expect(a == sampling.positions(layer: 2, group: 0, sample: 41, vectors: 64, keep: 5))
        let others = (0..<20).map { sampling.positions(layer: 2, group: 0, sample: $0, vectors: 64, keep: 5) }
        #expect(Set(others).count > 15)
        #expect(a != PatchSampling(maxPerLayer: 100, seed: 8).positions(layer: 2, group: 0, sample: 41, vectors: 64, keep: 5))
    }

    @Test("Grams by support class equal XᵀX of every full unfolded patch (float64 reference loop), border patches included; float32 blocks within their bound",
          arguments: [GramPrecision.float64, .float32Blocks])
    func gramsEqualFullPatchGrams(precision: GramPrecision) throws {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/resnet.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let indices = Array(0..<24)
        // One batch (no two-thread split), so the reference sees the very same float32 activations.
        let grams = try ActivationStatistics.collect(model, data: data, indices: indices, batchSize: 24, sampling: .all, precision: precision)
        // The exact Gram XᵀX (float32 products are exact in float64) and |X|ᵀ|X|, which bounds the float32 sums' error.
        var reference: [GramKey: (gram: [Double], magnitudes: [Double])] = [:]
        _ = try model.graph.forward([model.inputName: try data.samples(indices)], capture: { input in
            let rows = input.rows, n = rows.shape[0], d = rows.shape[1]
            var g = [Double](repeating: 0, count: d * d), a = g
            for r in 0..<n {
                for i in 0..<d {
                    let xi = Double(rows.data[r * d + i])
                    if xi == 0 { continue }
                    for j in 0..<d {
                        let xj = Double(rows.data[r * d + j])
                        g[i * d + j] += xi * xj
                        a[i * d + j] += abs(xi * xj)
                    }
                }
            }
            reference[GramKey(layer: input.layer, group: input.group)] = (g, a)
        })
        #expect(Set(grams.keys) == Set(reference.keys))
        // γ_b = b u / (1 − b u), u = 2⁻²⁴, for blocks of b rows (LayerGram's stated bound).
        let b = Double(LayerGram.float32BlockRows), u = 0x1p-24
        let gamma = b * u / (1 - b * u)
        var largestRelative = 0.0
        for (key, gram) in grams {
            let expected = try #require(reference[key])
            let scale = expected.gram.map(abs).max() ?? 1
            let slack = 1e-12 * scale * Double(gram.rows)   // the float64 sums
            // Per entry: the error over what the precision allows (≤ 1 everywhere when within the bound).
            var worst = 0.0
            for i in gram.gram.indices {
                let error = abs(gram.gram[i] - expected.gram[i])
                guard error > 0 else { continue }
                let allowed = precision == .float64 ? slack : gamma * expected.magnitudes[i] + slack
                worst = max(worst, error / allowed)
                largestRelative = max(largestRelative, error / scale)
            }
            #expect(worst <= 1, "layer \(key.layer): an entry is \(worst)× the allowed error")
        }
        // The float32 path does round (this test would not notice a float64 path taken by mistake otherwise).
        if precision == .float32Blocks { #expect(largestRelative > 1e-12) }
    }

    @Test("capped Grams count k vectors per sample and do not depend on batch size or the two-thread split")
    func cappedGramsIndependentOfBatching() throws {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let indices = Array(0..<300)
        let sampling = PatchSampling(maxPerLayer: 1000, seed: 3)
        let small = try ActivationStatistics.collect(model, data: data, indices: indices, batchSize: 32, sampling: sampling)
        let large = try ActivationStatistics.collect(model, data: data, indices: indices, batchSize: 300, sampling: sampling)
        let all = try ActivationStatistics.collect(model, data: data, indices: indices, batchSize: 300, sampling: .all)
        #expect(Set(small.keys) == Set(large.keys))
        for (key, gram) in small {
            let other = try #require(large[key])
            let full = try #require(all[key])
            #expect(gram.rows == other.rows)
            if full.rows > 300 {   // a layer with many vectors per sample: ⌈1000 / 300⌉ = 4 each
                #expect(gram.rows == 300 * 4, "layer \(key.layer)")
            } else {
                #expect(gram.rows == full.rows)
            }
            let scale = gram.gram.map(abs).max() ?? 1
            #expect(zip(gram.gram, other.gram).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "layer \(key.layer)")
        }
    }

    @Test("""
          an exported nn.MultiheadAttention left unfused (sequence-first projections) gives the fused model's Grams, \
          batches smaller than its 17 tokens and 4 tokens kept per sample
          """)
    func sequenceFirstProjections() throws {
        // torchvision's VisionTransformer as torch 2.15 exports it: the projections read [L, N, E]
        // and [L·N, E]. Taking the 17 token positions for samples trapped (index out of the batch).
        let path = Fixtures.path("\(RealModelFixtures.root)/torchvision-vit/model.onnx")
        let unfused = try Model.fromONNX(ONNXModel(path: path), checkpoint: nil, fusingKernels: false)
        let fused = try Model.fromONNXFile(path)
        #expect(unfused.graph.weightLayers.contains { $0.rowOrder == .positionMajor })
        var rng = SeededGenerator(seed: 5)
        let data = Dataset(x: .random([300, 3, 32, 32], using: &rng), labels: (0..<300).map { $0 % 10 })
        let indices = Array(0..<300)
        let sampling = PatchSampling(maxPerLayer: 1000, seed: 3)   // ⌈1000 / 300⌉ = 4 of 17 tokens per sample
        let ours = try ActivationStatistics.collect(unfused, data: data, indices: indices, batchSize: 8, sampling: sampling)
        let reference = try ActivationStatistics.collect(fused, data: data, indices: indices, batchSize: 300, sampling: sampling)
        #expect(Set(ours.keys) == Set(reference.keys))
        for (key, gram) in ours {
            let other = try #require(reference[key])
            #expect(gram.rows == other.rows, "layer \(key.layer)")
            let scale = other.gram.map(abs).max() ?? 1
            #expect(zip(gram.gram, other.gram).allSatisfy { abs($0 - $1) <= 1e-4 * scale }, "layer \(key.layer)")
        }
        let tokenLayers = ours.filter { $0.value.rows == 300 * 4 }.count
        #expect(tokenLayers == 9)   // the patch embedding (4 of 16 patches), the projections and MLPs of two blocks (4 of 17 tokens)
    }
}
