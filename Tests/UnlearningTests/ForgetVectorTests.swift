import Foundation
import Testing
import ModelRuntime
import TensorCore
import Unlearning
import WeightFormats
import _TestSupport

@Suite("forget vectors")
struct ForgetVectorTests {
    static func fixture() throws -> (indices: [Int], delta: Tensor, loss: Double, gradient: [Double]) {
        let file = try Checkpoint.open(Fixtures.path("Tests/UnlearningTests/Fixtures/forget_vector.npz"))
        func tensor(_ name: String) throws -> Tensor { try TensorLoading.floatTensor(file, try #require(file.info(named: name))) }
        let indices = try #require(file.withBytes(of: "indices") { TensorLoading.integers($0, dtype: .I64) })
        return (indices, try tensor("delta"), Double(try tensor("loss").data[0]), try tensor("gradient").data.map(Double.init))
    }

    @Test("loss and ∂L/∂δ match PyTorch autograd on a fixed mixed batch of the sample CNN (relative 1e-4)")
    func lossAndGradientMatchPyTorch() throws {
        let (indices, delta, loss, expected) = try Self.fixture()
        let model = try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        var configuration = ForgetVector.Configuration(forgetClasses: [3])
        configuration.settings.beta = 3
        let result = try ForgetVector.gradient(model, data: data, batch: indices, labels: data.labels!, forget: [3], delta: delta,
                                               placement: .init(space: .normalized), configuration: configuration)
        #expect(abs(result.loss - loss) < 1e-4 * abs(loss))
        let scale = expected.map(abs).max()!
        let error = zip(result.gradient, expected).map { abs($0 - $1) }.max()!
        #expect(error < 1e-4 * scale, "max error \(error) of \(scale)")
    }

    @Test("pixel space with std s is the normalized space with δ / s: same model offset, gradient divided by s")
    func spacesAreEquivalent() throws {
        let (indices, delta, _, _) = try Self.fixture()
        let model = try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let pixel = ForgetVector.Placement(space: .pixel, mean: [0.5], std: [0.25])
        var scaled = delta
        for i in 0..<scaled.count { scaled.data[i] = delta.data[i] / 0.25 }
        #expect(pixel.modelOffset(delta) == scaled)
        var configuration = ForgetVector.Configuration(forgetClasses: [3])
        configuration.settings.lambda = 0   // the norm is taken of δ itself, so it differs between the spaces
        let inPixels = try ForgetVector.gradient(model, data: data, batch: indices, labels: data.labels!, forget: [3], delta: delta,
                                                 placement: pixel, configuration: configuration)
        let normalized = try ForgetVector.gradient(model, data: data, batch: indices, labels: data.labels!, forget: [3], delta: scaled,
                                                   placement: .init(space: .normalized), configuration: configuration)
        #expect(abs(inPixels.loss - normalized.loss) < 1e-9)
        #expect(zip(inPixels.gradient, normalized.gradient).allSatisfy { abs($0 - $1 / 0.25) < 1e-9 })
    }

    @Test("sidecar round trip; combine is exactly linear; mismatched shape, space or model are errors")
    func sidecarAndCombine() throws {
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: 2)
        func vector(_ classes: [Int], sha: String = "abc", space: ForgetVector.Space = .pixel) -> ForgetVectorFile {
            ForgetVectorFile(delta: Tensor(shape: [1, 2, 3], data: (0..<6).map { _ in Float.random(in: -1...1, using: &rng) }), classes: classes,
                             placement: .init(space: space, mean: [0.1], std: [0.3]), modelSHA256: sha, settings: ["beta": "3.0"])
        }
        let a = vector([5]), b = vector([7])
        try a.write(to: directory.path("a.safetensors"))
        #expect(try ForgetVectorFile.read(directory.path("a.safetensors")) == a)
        let combined = try ForgetVectorFile.combine([("a", a), ("b", b)], weights: [2, -0.5], force: false)
        #expect(combined.classes == [5, 7] && combined.coefficients == [2, -0.5] && combined.sources == ["a", "b"])
        #expect(combined.delta.data == zip(a.delta.data, b.delta.data).map { Float(2 * Double($0)) + Float(-0.5 * Double($1)) })
        try combined.write(to: directory.path("c.safetensors"))
        #expect(try ForgetVectorFile.read(directory.path("c.safetensors")) == combined)
        #expect(throws: WeightFileError.self) { try ForgetVectorFile.combine([("a", a), ("x", vector([1], sha: "other"))], weights: [1, 1], force: false) }
        #expect(throws: WeightFileError.self) { try ForgetVectorFile.combine([("a", a), ("n", vector([1], space: .normalized))], weights: [1, 1], force: true) }
        _ = try ForgetVectorFile.combine([("a", a), ("x", vector([1], sha: "other"))], weights: [1, 1], force: true)
        #expect(throws: ForgetVectorError.shapeMismatch(expected: [1, 8, 8], found: [1, 2, 3])) {
            try a.check(sampleShape: [1, 8, 8], modelSHA256: "abc", force: false)
        }
        #expect(throws: ForgetVectorError.modelMismatch(expected: "zzz", found: "abc")) {
            try a.check(sampleShape: [1, 2, 3], modelSHA256: "zzz", force: false)
        }
        try a.check(sampleShape: [1, 2, 3], modelSHA256: "zzz", force: true)
    }

    /// A vector for class 5 of the sample CNN in pixel space (β 1), with `epochs` and `patience`.
    static func classFiveOfTheCNN(epochs: Int, patience: Int)
        throws -> (Model, Dataset, ForgetVector.Configuration, ForgetVector.Result) {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        var configuration = ForgetVector.Configuration(forgetClasses: [5])
        configuration.settings.beta = 1
        configuration.settings.epochs = epochs
        configuration.settings.patience = patience
        let result = try ForgetVector.make(model, data: data, placement: .init(space: .pixel), configuration: configuration)
        return (model, data, configuration, result)
    }

    @Test("making a vector for class 5 of the sample CNN: with patience 0 the selected epoch is the first that meets the stated rule",
          .tags(.slow))
    func makeSelectsByRule() throws {
        let (_, _, _, result) = try Self.classFiveOfTheCNN(epochs: 8, patience: 0)
        let before = result.epochs[0]
        func meets(_ e: ForgetVector.Epoch) -> Bool { e.forgetAccuracy <= 0.1 && (before.retainAccuracy - e.retainAccuracy) * 100 <= 5 }
        let selected = result.epochs[result.selectedEpoch]
        #expect(result.selectedEpoch > 0 && meets(selected) && result.selectedEpoch == result.epochs.count - 1)
        #expect(!result.epochs.dropFirst().dropLast().contains(where: meets))
        #expect(before.forgetAccuracy > 0.9 && result.delta.shape == [1, 8, 8] && selected.norm > 0)
        #expect(meets(result.kept) && result.meetsLimits)
    }

    @Test("with patience the run goes on past the first epoch that meets the limits and keeps the one with the largest worst margin, scaled",
          .tags(.slow))
    func makeKeepsTheLargestMarginScaled() throws {
        let (model, data, configuration, result) = try Self.classFiveOfTheCNN(epochs: 12, patience: 3)
        let before = result.epochs[0]
        func margin(_ e: ForgetVector.Epoch) -> Double {
            ForgetVector.worstRelativeMargin(forget: e.forgetAccuracy, drop: (before.retainAccuracy - e.retainAccuracy) * 100, target: 0.1,
                                             maxRetainDrop: 5)
        }
        let meeting = result.epochs.dropFirst().filter { margin($0) >= 0 }
        let first = try #require(meeting.first)
        let best = meeting.max { margin($0) < margin($1) || (margin($0) == margin($1) && $0.epoch > $1.epoch) }!
        #expect(result.selectedEpoch == best.epoch)
        // The run ends `patience` epochs after the kept one, or at the last epoch.
        #expect(result.epochs.count - 1 == min(best.epoch + 3, 12))
        #expect(result.epochs.count - 1 > first.epoch)
        // Scaling never loses margin (t = 1 is a candidate), and the kept figures are those of the written δ.
        #expect(margin(result.kept) >= margin(best) && result.scale > 0 && result.scale <= 1)
        #expect(abs(result.kept.norm - result.scale * best.norm) <= 1e-4 * best.norm)
        let selection = result.selection
        let offset = ForgetVector.Placement(space: .pixel).modelOffset(result.delta)
        func scores(_ indices: [Int]) throws -> (forget: Double, retain: Double) {
            try ForgetRetainScores.accuracies(model, data: data, indices: indices, forget: [5], batchSize: configuration.selection.batchSize, offset: offset)
        }
        // Forgetting is judged by the worse of the trained-on and the held-out forget samples.
        #expect(!selection.validation.isEmpty && Set(selection.validation).isDisjoint(with: selection.forget))
        #expect(max(try scores(selection.forget).forget, try scores(selection.validation).forget) == result.kept.forgetAccuracy)
        #expect(try scores(selection.retain).retain == result.kept.retainAccuracy)
    }

    @Test("the forget hold-out: a fifth of every forget class's selected samples, at least one, never all, disjoint from the kept ones")
    func forgetHoldOut() throws {
        let labels = (0..<300).map { $0 % 3 == 0 ? 7 : ($0 % 3 == 1 ? 5 : $0 % 10) } + [9, 9, 11]
        var configuration = SampleSelection.Configuration(forgetClasses: [5, 7, 11])
        configuration.retainSamples = 40
        configuration.forgetSamples = 150
        let selection = configuration.select(labels: labels)
        let (kept, heldOut) = selection.holdingOutForget(0.2, labels: labels, seed: 3)
        #expect(Set(kept).isDisjoint(with: heldOut) && Set(kept).union(heldOut) == Set(selection.forget))
        for c in [5, 7] {
            let selected = selection.forget.filter { labels[$0] == c }.count
            #expect(heldOut.filter { labels[$0] == c }.count == Int((Double(selected) * 0.2).rounded()))
        }
        // Class 11 has one sample: it stays with the kept ones.
        #expect(kept.contains(302) && !heldOut.contains(302))
        #expect(selection.holdingOutForget(0.2, labels: labels, seed: 3) == (kept, heldOut))
        #expect(selection.holdingOutForget(0.2, labels: labels, seed: 4).heldOut != heldOut)
        #expect(selection.holdingOutForget(0, labels: labels, seed: 3) == (selection.forget, []))
    }

    @Test("the rate search: after a run past the retain limit a quarter of the rate, after one that stayed within it 4×; a turn ends it")
    func rateSearchDirection() throws {
        #expect(ForgetVector.nextLearningRateFactor(after: 1, overshot: true, firstOvershot: true, step: 4) == 0.25)
        #expect(ForgetVector.nextLearningRateFactor(after: 0.25, overshot: true, firstOvershot: true, step: 4) == 0.0625)
        #expect(ForgetVector.nextLearningRateFactor(after: 1, overshot: false, firstOvershot: false, step: 4) == 4)
        #expect(ForgetVector.nextLearningRateFactor(after: 0.25, overshot: false, firstOvershot: true, step: 4) == nil)
        #expect(ForgetVector.nextLearningRateFactor(after: 4, overshot: true, firstOvershot: false, step: 4) == nil)
        // One epoch at a tiny rate moves nothing: every run stays within the retain limit without
        // forgetting, so each next run starts from 4× the rate (the old ladder only went down).
        let model = try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        var configuration = ForgetVector.Configuration(forgetClasses: [5])
        configuration.settings.epochs = 1
        configuration.settings.learningRate = 1e-5
        let result = try ForgetVector.make(model, data: data, placement: .init(space: .pixel), configuration: configuration)
        #expect(!result.meetsLimits)
        #expect(result.learningRatesTried.count == 4)
        for (tried, expected) in zip(result.learningRatesTried, [1e-5, 4e-5, 1.6e-4, 6.4e-4]) { #expect(abs(tried - expected) <= 1e-12) }
    }

    @Test("the kept scale: the largest worst relative margin over 0.1, …, 1 and the best ± 0.05, the larger scale on ties")
    func largestMarginScale() throws {
        // Forget accuracy falls and the retain drop grows with the scale t: margins 3(t − 0.6) (forget) and 1.95 − 2t (drop),
        // so 0.8 is best on the grid of tenths (0.35) and 0.75 (0.45) beats it and 0.85 (0.25).
        var asked: [Double] = []
        let t = try ForgetVector.largestMarginScale(target: 0.1, maxRetainDrop: 5, retainBefore: 1) { t in
            asked.append(t)
            return (0.28 - 0.3 * t, 1 - (10 * t - 4.75) / 100)
        }
        #expect(t.scale == 0.75 && t.forget == 0.28 - 0.3 * 0.75)
        #expect(asked == (1...10).map { Double($0) / 10 } + [0.75, 0.85])
        // Flat margins: the larger scale.
        #expect(try ForgetVector.largestMarginScale(target: 0.1, maxRetainDrop: 5, retainBefore: 1) { _ in (0, 1) }.scale == 1)
        // Zero limits count as zero margin when met, negative when not.
        #expect(ForgetVector.worstRelativeMargin(forget: 0, drop: 0, target: 0, maxRetainDrop: 0) == 0)
        #expect(ForgetVector.worstRelativeMargin(forget: 0.01, drop: 0, target: 0, maxRetainDrop: 5) < 0)
        #expect(ForgetVector.worstRelativeMargin(forget: 0.05, drop: 1, target: 0.1, maxRetainDrop: 5) == 0.5)
    }
}

@Suite("forget-vector arithmetic")
struct ForgetVectorArithmeticTests {
    /// Two fixed random directions in the normalized input space of the sample CNN.
    static func bases() -> [Tensor] {
        var rng = SeededGenerator(seed: 11)
        return (0..<2).map { _ in Tensor(shape: [1, 8, 8], data: (0..<64).map { _ in Float.random(in: -0.5...0.5, using: &rng) }) }
    }

    static func combination(_ w: [Double], _ bases: [Tensor]) -> Tensor {
        Tensor(shape: [1, 8, 8], data: (0..<64).map { i in Float(zip(w, bases).reduce(0.0) { $0 + $1.0 * Double($1.1.data[i]) }) })
    }

    @Test("∂L/∂w of a combination matches central finite differences of L(w) (relative 5e-3)")
    func coefficientGradientMatchesFiniteDifferences() throws {
        let (indices, _, _, _) = try ForgetVectorTests.fixture()
        let model = try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let bases = Self.bases()
        let configuration = ForgetVector.Configuration(forgetClasses: [3])
        func evaluate(_ w: [Double]) throws -> (loss: Double, gradient: [Double]) {
            try ForgetVector.coefficientGradient(model, data: data, batch: indices, labels: data.labels!, forget: [3], bases: bases,
                                                 coefficients: w, delta: Self.combination(w, bases), placement: .init(space: .normalized),
                                                 configuration: configuration)
        }
        let w = [0.7, -0.4]
        let analytic = try evaluate(w).gradient
        for k in 0..<2 {
            // The loss is piecewise smooth (ReLU, max-pool, the margin's max), so the step is small
            // enough to stay on one piece; float32 logits bound the achievable agreement.
            let h = 3e-4
            var up = w, down = w
            up[k] += h
            down[k] -= h
            let numeric = (try evaluate(up).loss - evaluate(down).loss) / (2 * h)
            #expect(abs(numeric - analytic[k]) <= 5e-3 * max(abs(analytic[k]), 1e-2), "w\(k): numeric \(numeric), analytic \(analytic[k])")
        }
    }

    @Test("fitting coefficients from zero: δ is exactly Σ w_k δ_k of the learned w, and the chosen epoch forgets more within the retain limit", .tags(.slow))
    func fitReturnsTheCombinationOfItsCoefficients() throws {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        var make = ForgetVector.Configuration(forgetClasses: [5])
        make.settings.beta = 1
        make.settings.epochs = 8
        let five = try ForgetVector.make(model, data: data, placement: .init(space: .pixel), configuration: make).delta
        let bases = [five, Self.bases()[0]]
        var configuration = ForgetVector.Configuration(forgetClasses: [5])
        configuration.settings.epochs = 4
        let fit = try ForgetVector.fitCoefficients(model, data: data, bases: bases, initial: [0, 0], placement: .init(space: .pixel),
                                                   configuration: configuration)
        #expect(fit.delta == Self.combination(fit.coefficients, bases))
        #expect(fit.epochs.count >= 2 && fit.epochs[0].norm == 0)
        // From zero, the learned combination forgets class 5 (the first vector already does) within the retain limit.
        let selected = fit.epochs[fit.selectedEpoch]
        #expect(fit.selectedEpoch > 0 && selected.forgetAccuracy < fit.epochs[0].forgetAccuracy)
        #expect((fit.epochs[0].retainAccuracy - selected.retainAccuracy) * 100 <= configuration.settings.maxRetainDrop)
    }
}
