import Foundation
import ModelRuntime
import Reports
import TensorCore
import Testing
import WeightFormats
import _TestSupport

@Suite("membership inference")
struct MembershipInferenceTests {
    static func doubles(_ file: any CheckpointReader, _ name: String) throws -> [Double] {
        try file.withBytes(of: name) { raw in
            (0..<(raw.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
        }
    }

    /// The fixture's case (made by Fixtures/make_mia_fixture.py with scikit-learn).
    struct SVCCase {
        var members: [Double], nonMembers: [Double], scored: [Double], decisions: [Double], predictions: [Int]
        init() throws {
            let file = try Checkpoint.open(Fixtures.path("Tests/ReportsTests/Fixtures/mia_svc.npz"))
            members = try MembershipInferenceTests.doubles(file, "members")
            nonMembers = try MembershipInferenceTests.doubles(file, "non_members")
            scored = try MembershipInferenceTests.doubles(file, "scored")
            decisions = try MembershipInferenceTests.doubles(file, "decisions")
            predictions = try #require(file.withBytes(of: "predictions") { TensorLoading.integers($0, dtype: .I64) })
        }
        func train() throws -> SupportVectorClassifier {
            try SupportVectorClassifier(samples: (members + nonMembers).map { [$0] },
                                        labels: members.map { _ in true } + nonMembers.map { _ in false }, c: 3)
        }
    }

    @Test("libsvm's RBF SVC gives scikit-learn's predictions on a fixed case (all equal; decision values within 1e-9)")
    func matchesScikitLearn() throws {
        let fixture = try SVCCase()
        let classifier = try fixture.train()
        #expect(classifier.gamma == 1 && classifier.c == 3)
        #expect(fixture.predictions.contains(0) && fixture.predictions.contains(1))
        for (i, x) in fixture.scored.enumerated() {
            let (label, decision) = classifier.predict([x])
            #expect(label == (fixture.predictions[i] == 1), "sample \(i)")
            // Same solver, same parameters, same sample order: the two agree to rounding (measured
            // worst difference 1e-12, scikit-learn 1.9.1); a different solver or stopping point would
            // show at the tolerance 1e-3.
            #expect(abs(decision - fixture.decisions[i]) < 1e-9, "sample \(i): \(decision) vs \(fixture.decisions[i])")
            #expect(label == (decision > 0), "sample \(i): the decision value is oriented to members")
        }
    }

    @Test("training is deterministic: two fits on the same samples give bit-identical decision values")
    func deterministicTraining() throws {
        let fixture = try SVCCase()
        let a = try fixture.train(), b = try fixture.train()
        #expect(a.supportVectorCount == b.supportVectorCount)
        for x in fixture.scored { #expect(a.predict([x]).decision.bitPattern == b.predict([x]).decision.bitPattern) }
    }

    @Test("the decision value is positive for true even when the first sample is false")
    func orientation() throws {
        let classifier = try SupportVectorClassifier(samples: [[0], [0.1], [0.9], [1]], labels: [false, false, true, true], c: 3)
        #expect(classifier.predict([1]).label && classifier.predict([1]).decision > 0)
        #expect(!classifier.predict([0]).label && classifier.predict([0]).decision < 0)
    }

    @Test("bad training samples are errors, not crashes")
    func svcFailures() {
        #expect(throws: SupportVectorClassifier.Failure.oneClassOnly) {
            try SupportVectorClassifier(samples: [[0], [1]], labels: [true, true], c: 3)
        }
        #expect(throws: SupportVectorClassifier.Failure.raggedSamples(index: 1, features: 2, expected: 1)) {
            try SupportVectorClassifier(samples: [[0], [1, 2]], labels: [true, false], c: 3)
        }
        #expect(throws: SupportVectorClassifier.Failure.nonFiniteSample(index: 1)) {
            try SupportVectorClassifier(samples: [[0], [.nan]], labels: [true, false], c: 3)
        }
        #expect(throws: SupportVectorClassifier.Failure.noFeatures) {
            try SupportVectorClassifier(samples: [[], []], labels: [true, false], c: 3)
        }
        #expect(throws: SupportVectorClassifier.Failure.self) {
            try SupportVectorClassifier(samples: [[0], [1]], labels: [true, false], c: -1)
        }
    }

    @Test("confidence and entropy by hand, and stable for large logits")
    func features() {
        // p = (1, 2, 3) / 6 from logits log 1, log 2, log 3 (shifted by 7: softmax does not see shifts).
        let p = [1.0, 2, 3].map { $0 / 6 }
        let handEntropy = -p.reduce(0) { $0 + $1 * log($1) }
        let logits = Tensor(shape: [4, 3], data: [0, 0, 0, 1000, 0, -1000, 1e4, 1e4, -1e4, Float(7), Float(7 + log(2.0)), Float(7 + log(3.0))])
        let confidence = MembershipInference.confidence(logits, labels: [1, 0, 1, 2])
        #expect(abs(confidence[0] - 1.0 / 3) < 1e-12 && confidence[1] == 1 && abs(confidence[2] - 0.5) < 1e-12)
        #expect(abs(confidence[3] - 0.5) < 1e-6)
        let entropy = MembershipInference.entropy(logits)
        #expect(abs(entropy[0] - log(3.0)) < 1e-12 && entropy[1] == 0 && abs(entropy[2] - log(2.0)) < 1e-12)
        #expect(abs(entropy[3] - handEntropy) < 1e-6)
        #expect((confidence + entropy).allSatisfy(\.isFinite) && entropy.allSatisfy { $0 >= 0 })
        // A confident row: the entropy is tiny but resolved, p log p of the rest ≈ 9 · e⁻²⁰ · 20.
        let sharp = MembershipInference.entropy(Tensor(shape: [1, 10], data: [20] + [Float](repeating: 0, count: 9)))[0]
        let rest = 9 * exp(-20.0) / (1 + 9 * exp(-20.0))
        let handSharp = -(1 - rest) * log1p(-rest) - rest * log(rest / 9)
        #expect(abs(sharp - handSharp) < 1e-12 * handSharp, "\(sharp) vs \(handSharp)")
        // The confidence of the other classes there is e⁻²⁰ / (1 + 9 e⁻²⁰), to full precision too.
        let low = MembershipInference.confidence(Tensor(shape: [1, 10], data: [20] + [Float](repeating: 0, count: 9)), labels: [3])[0]
        #expect(abs(low - exp(-20.0) / (1 + 9 * exp(-20.0))) < 1e-12 * low)
    }

    @Test("balanced subsampling: distinct, sorted, seeded, uniform enough")
    func subsampling() {
        let a = MembershipInference.subsample(100, count: 10, seed: 1)
        #expect(a.count == 10 && Set(a).count == 10 && a == a.sorted() && a.allSatisfy { (0..<100).contains($0) })
        #expect(a == MembershipInference.subsample(100, count: 10, seed: 1))
        #expect(a != MembershipInference.subsample(100, count: 10, seed: 2))
        #expect(MembershipInference.subsample(7, count: 7, seed: 3) == Array(0..<7))
        #expect(MembershipInference.subsample(7, count: 0, seed: 3).isEmpty)
        // Every index is drawn about equally often: 2000 draws of 10 of 100 pick each index ~200 times.
        var counts = [Int](repeating: 0, count: 100)
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<2000 { for i in MembershipInference.subsample(100, count: 10, using: &rng) { counts[i] += 1 } }
        #expect(counts.min()! > 140 && counts.max()! < 260, "\(counts.min()!)…\(counts.max()!)")
    }

    @Test("the attack balances members and non-members, is seeded, and points the right way")
    func wiringAndDirection() throws {
        var rng = SeededGenerator(seed: 5)
        let members = (0..<400).map { _ in Double.random(in: 0.9...1, using: &rng) }
        let nonMembers = (0..<300).map { _ in Double.random(in: 0.3...0.6, using: &rng) }
        let fromNonMembers = (0..<50).map { _ in Double.random(in: 0.3...0.6, using: &rng) }
        let fromMembers = (0..<50).map { _ in Double.random(in: 0.9...1, using: &rng) }
        var configuration = MembershipInference.Configuration()
        configuration.maxSamplesPerSide = 250
        let forgotten = try MembershipInference.attack(members: members, nonMembers: nonMembers, scored: fromNonMembers, configuration: configuration)
        #expect(forgotten.value > 0.95 && forgotten.members == 250 && forgotten.nonMembers == 250)
        let remembered = try MembershipInference.attack(members: members, nonMembers: nonMembers, scored: fromMembers, configuration: configuration)
        #expect(remembered.value < 0.05)
        configuration.maxSamplesPerSide = 2000
        let uncapped = try MembershipInference.attack(members: members, nonMembers: nonMembers, scored: fromNonMembers, configuration: configuration)
        #expect(uncapped.members == 300 && uncapped.nonMembers == 300)

        // Overlapping sets: the value depends on which members are drawn, so the seed shows.
        let overlapMembers = (0..<400).map { _ in Double.random(in: 0.4...1, using: &rng) }
        let overlapNon = (0..<400).map { _ in Double.random(in: 0...0.6, using: &rng) }
        let scored = (0..<400).map { _ in Double.random(in: 0...1, using: &rng) }
        configuration.maxSamplesPerSide = 50
        let values = try (0..<4).map { seed -> Double in
            configuration.seed = UInt64(seed)
            return try MembershipInference.attack(members: overlapMembers, nonMembers: overlapNon, scored: scored, configuration: configuration).value
        }
        configuration.seed = 0
        #expect(try MembershipInference.attack(members: overlapMembers, nonMembers: overlapNon, scored: scored, configuration: configuration).value == values[0])
        #expect(Set(values).count > 1, "\(values)")

        #expect(throws: MembershipInference.EvaluationFailure.noForgetSamples) {
            try MembershipInference.attack(members: members, nonMembers: nonMembers, scored: [], configuration: configuration)
        }
        #expect(throws: MembershipInference.EvaluationFailure.nonFiniteFeature) {
            try MembershipInference.attack(members: members, nonMembers: nonMembers, scored: [.nan], configuration: configuration)
        }
    }

    /// The sample MLP and 200 training / 200 test digits.
    static func mlpCase() throws -> (Model, train: Dataset, test: Dataset) {
        let train = try Dataset.load(Fixtures.path("Samples/digits-train.npz"), xKey: "x", yKey: "y")
        let test = try Dataset.load(Fixtures.path("Samples/digits-test.npz"), xKey: "x", yKey: "y")
        let model = try Model.load(Fixtures.path("Samples/mlp.onnx"), architecture: nil, sampleShape: train.sampleShape)
        return (model, train, test)
    }

    @Test("evaluate: the wiring on a real model, with the offset applied to the training samples too", .tags(.slow))
    func evaluateWiring() throws {
        let (model, train, test) = try Self.mlpCase()
        let forget: Set<Int> = [5, 7]
        let configuration = MembershipInference.Configuration()
        var offset = Tensor(shape: train.sampleShape, data: [Float](repeating: 0, count: train.sampleShape.reduce(1, *)))
        for i in 0..<offset.count where i % 3 == 0 { offset.data[i] = 0.5 }
        for shift in [nil, offset] {
            let results = try MembershipInference.evaluate(model, train: train, test: test, forget: forget, batchSize: 64, offset: shift,
                                                           configuration: configuration)
            #expect(results.map(\.variant) == ["confidence-svc", "entropy-svc"])
            // The same numbers by hand from logits with the same offset.
            let trainLogits = try Evaluation.logits(model, train, batchSize: 64, offset: shift)
            let testLogits = try Evaluation.logits(model, test, batchSize: 64, offset: shift)
            let y = try #require(train.labels), t = try #require(test.labels)
            let retain = y.indices.filter { !forget.contains(y[$0]) }, scored = y.indices.filter { forget.contains(y[$0]) }
            let retainTest = t.indices.filter { !forget.contains(t[$0]) }
            let trainFeatures = [MembershipInference.confidence(trainLogits, labels: y), MembershipInference.entropy(trainLogits)]
            let testFeatures = [MembershipInference.confidence(testLogits, labels: t), MembershipInference.entropy(testLogits)]
            for (k, result) in results.enumerated() {
                let expected = try MembershipInference.attack(members: retain.map { trainFeatures[k][$0] }, nonMembers: retainTest.map { testFeatures[k][$0] },
                                                              scored: scored.map { trainFeatures[k][$0] }, configuration: configuration)
                #expect(result.value == expected.value && result.membersUsed == min(retain.count, retainTest.count))
                #expect(result.scoredSamples == scored.count && result.membersUsed == result.nonMembersUsed)
                #expect(result.direction == "higher = more forgotten")
            }
        }
    }

    @Test("evaluate: labels the model does not have, and a training set without scored samples, are errors", .tags(.slow))
    func evaluateFailures() throws {
        let (model, train, test) = try Self.mlpCase()
        var labels = try #require(train.labels)
        labels[3] = 12
        var relabelled = train
        relabelled.labels = labels
        #expect(throws: MembershipInference.EvaluationFailure.labelOutOfRange(.train, label: 12, classes: 10)) {
            try MembershipInference.evaluate(model, train: relabelled, test: test, forget: [5], batchSize: 64, offset: nil, configuration: .init())
        }
        #expect(throws: MembershipInference.EvaluationFailure.noForgetSamples) {
            try MembershipInference.evaluate(model, train: train, test: test, forget: [11], batchSize: 64, offset: nil, configuration: .init())
        }
    }
}
