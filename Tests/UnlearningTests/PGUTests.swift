import Testing
import ModelRuntime
import TensorCore
@testable import Unlearning
import WeightFormats
import _TestSupport

@Suite("projected-gradient unlearning")
struct PGUTests {
    @Test("loss and logit gradient match PyTorch autograd on a fixed batch (1e-6), saturated and uniform rows included")
    func lossMatchesPyTorch() throws {
        let file = try Checkpoint.open(Fixtures.path("Tests/UnlearningTests/Fixtures/forget_loss.npz"))
        func tensor(_ name: String) throws -> Tensor { try TensorLoading.floatTensor(file, try #require(file.info(named: name))) }
        let logits = try tensor("logits"), expected = try tensor("gradient"), loss = try tensor("loss")
        let labels = try #require(file.withBytes(of: "labels") { TensorLoading.integers($0, dtype: .I64) })
        let result = ForgetLoss.evaluate(logits: logits, labels: labels, total: labels.count)
        #expect(abs(result.loss - Double(loss.data[0])) < 1e-6)
        #expect(zip(result.gradient.data, expected.data).allSatisfy { abs($0 - $1) < 1e-6 })
        // Two halves with total = 12 add up to the whole.
        let first = ForgetLoss.evaluate(logits: Tensor(shape: [5, 10], data: Array(logits.data[..<50])), labels: Array(labels[..<5]), total: 12)
        let second = ForgetLoss.evaluate(logits: Tensor(shape: [7, 10], data: Array(logits.data[50...])), labels: Array(labels[5...]), total: 12)
        #expect(abs(first.loss + second.loss - result.loss) < 1e-12)
        #expect(first.gradient.data + second.gradient.data == result.gradient.data)
    }

    @Test("rank rule: k counts cumulative square roots of |λ| up to γ, plus one; indefinite Grams use |λ|")
    func rankRule() throws {
        // Eigenvalues 16, −9, 1, 0 on the axes: roots 4, 3, 1, 0 (sum 8), cumulative shares 0.5, 0.875, 1, 1.
        let gram: [Double] = [16, 0, 0, 0, 0, -9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
        #expect(try #require(RetainSpace(gram: gram, dimension: 4, gamma: 0.5)).rank == 2)
        #expect(try #require(RetainSpace(gram: gram, dimension: 4, gamma: 0.9)).rank == 3)
        #expect(try #require(RetainSpace(gram: gram, dimension: 4, gamma: 0.4)).rank == 1)
        #expect(try #require(RetainSpace(gram: gram, dimension: 4, gamma: 1)).rank == 4)
        let space = try #require(RetainSpace(gram: gram, dimension: 4, gamma: 0.5))
        // The protected directions are e0 and e1 (largest |λ|).
        let projected = space.removingRetainComponent([1, 2, 3, 4], count: 1)
        #expect(zip(projected, [0.0, 0, 3, 4]).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    @Test("projected gradients are orthogonal to the retain space: ‖(G − G P) U_k‖ ≈ 0, and the rest is kept")
    func projectionIsOrthogonal() throws {
        var rng = SeededGenerator(seed: 4)
        let d = 10
        var gram = [Double](repeating: 0, count: d * d)
        for _ in 0..<6 {
            let x = (0..<d).map { _ in Double.random(in: -1...1, using: &rng) }
            for i in 0..<d { for j in 0..<d { gram[i * d + j] += x[i] * x[j] } }
        }
        let space = try #require(RetainSpace(gram: gram, dimension: d, gamma: 0.95))
        #expect(space.rank >= 1 && space.rank <= 6)
        let g = (0..<(3 * d)).map { _ in Double.random(in: -1...1, using: &rng) }
        let projected = space.removingRetainComponent(g, count: 3)
        for row in 0..<3 {
            for column in 0..<space.rank {
                let dot = (0..<d).reduce(0.0) { $0 + projected[row * d + $1] * space.basis[$1 * space.rank + column] }
                #expect(abs(dot) < 1e-12)
            }
            // G − G P is idempotent: projecting again changes nothing.
        }
        let twice = space.removingRetainComponent(projected, count: 3)
        #expect(zip(twice, projected).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    @Test("coordinates no sample reached: the same rank and projection as the decomposition of the whole Gram (1e-10), their columns untouched")
    func unreachedCoordinatesKeepTheProjection() throws {
        var rng = SeededGenerator(seed: 9)
        let d = 11, unreached: Set = [0, 4, 7]
        var gram = [Double](repeating: 0, count: d * d)
        for _ in 0..<5 {
            let x = (0..<d).map { unreached.contains($0) ? 0 : Double.random(in: -1...1, using: &rng) }
            for i in 0..<d { for j in 0..<d { gram[i * d + j] += x[i] * x[j] } }
        }
        // The reference: U_k from the eigendecomposition of all d coordinates.
        let (values, vectors) = try #require(LinearAlgebra.symmetricEigen(gram, d: d))
        let order = (0..<d).sorted { abs(values[$0]) > abs(values[$1]) }
        let g = (0..<(3 * d)).map { _ in Double.random(in: -1...1, using: &rng) }
        for gamma in [0.5, 0.8, 0.95] {
            let space = try #require(RetainSpace(gram: gram, dimension: d, gamma: gamma))
            #expect(space.support?.coordinates == (0..<d).filter { !unreached.contains($0) })
            let roots = order.map { abs(values[$0]).squareRoot() }, total = roots.reduce(0, +)
            var k = 0, cumulative = 0.0
            for root in roots { cumulative += root; if cumulative / total > gamma { break }; k += 1 }
            #expect(space.rank == min(k + 1, d))
            var expected = g
            for row in 0..<3 {
                for column in order.prefix(space.rank) {
                    let dot = (0..<d).reduce(0.0) { $0 + g[row * d + $1] * vectors[$1 * d + column] }
                    for i in 0..<d { expected[row * d + i] -= dot * vectors[i * d + column] }
                }
            }
            let projected = space.removingRetainComponent(g, count: 3)
            #expect(zip(projected, expected).allSatisfy { abs($0 - $1) < 1e-10 }, "γ \(gamma)")
            for row in 0..<3 { for c in unreached { #expect(projected[row * d + c] == g[row * d + c]) } }
        }
    }

    @Test("statistics: the retained classes' sum equals a pass over their samples; removing classes drops exactly those", .tags(.slow))
    func statisticsSubtraction() throws {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/mlp.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let file = try StatisticsFile.collect(model, data: data, batchSize: 256, sampling: .all)
        let retainedIndices = (0..<data.count).filter { data.labels![$0] != 3 }
        let direct = try ActivationStatistics.collect(model, data: data, indices: retainedIndices, batchSize: 256, sampling: .all)
        let summed = file.summed(classes: Set(0..<10).subtracting([3]))
        for (key, gram) in direct {
            let other = try #require(summed[key])
            #expect(other.rows == gram.rows)
            let scale = gram.gram.map(abs).max() ?? 1
            #expect(zip(gram.gram, other.gram).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
        }
        let next = file.removing(classes: [3])
        #expect(Set(next.grams.keys) == Set(0..<10).subtracting([3]))
        #expect(next.grams[4] == file.grams[4])
    }

    @Test("stopping rule: stops at the first epoch at or below the target and keeps it; an impossible retain limit is an error", .tags(.slow))
    func stoppingRule() throws {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/mlp.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        var configuration = PGUUnlearning.Configuration(forgetClasses: [3])
        configuration.settings.lrStart = 0.3
        configuration.settings.lrEnd = 0.06
        configuration.settings.gamma = 0.8
        configuration.settings.targetForgetAccuracy = 0.1
        configuration.settings.maxRetainDrop = 100
        let result = try PGUUnlearning.run(model, data: data, configuration: configuration, clock: { 0 })
        let last = try #require(result.epochs.last)
        #expect(last.forgetAccuracy <= 0.1)
        #expect(result.epochs.dropLast().dropFirst().allSatisfy { $0.forgetAccuracy > 0.1 })
        #expect(result.bestEpoch == last.epoch && result.epochs.count - 1 < configuration.settings.epochs)
        #expect(result.layers.allSatisfy { $0.relativeChange > 0 && $0.retainRank > 0 })
        // Retain accuracy measured: no layer carries an estimated damage.
        #expect(result.layers.allSatisfy { $0.estimatedRetainDamage == nil })
        // The run leaves the model's own weights alone.
        #expect(model.graph.parameters == (try Model.fromONNXFile(Fixtures.path("Samples/mlp.onnx"))).graph.parameters)
        var harsh = configuration
        harsh.settings.lrStart = 500
        harsh.settings.lrEnd = 500
        harsh.settings.gamma = 0.01
        harsh.settings.maxRetainDrop = 0
        #expect(throws: UnlearningError.noEpochWithinRetainLimit(maxDrop: 0)) {
            try PGUUnlearning.run(model, data: data, configuration: harsh, clock: { 0 })
        }
    }
}
