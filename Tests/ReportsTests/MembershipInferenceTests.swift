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

    @Test("libsvm's RBF SVC gives scikit-learn's predictions on a fixed case (all equal; decision values within 1e-3)")
    func matchesScikitLearn() throws {
        let file = try Checkpoint.open(Fixtures.path("Tests/ReportsTests/Fixtures/mia_svc.npz"))
        let members = try Self.doubles(file, "members"), nonMembers = try Self.doubles(file, "non_members")
        let scored = try Self.doubles(file, "scored"), decisions = try Self.doubles(file, "decisions")
        let predictions = try #require(file.withBytes(of: "predictions") { TensorLoading.integers($0, dtype: .I64) })
        let classifier = try SupportVectorClassifier(samples: (members + nonMembers).map { [$0] },
                                                     labels: members.map { _ in true } + nonMembers.map { _ in false }, c: 3, gamma: 1)
        for (i, x) in scored.enumerated() {
            let (label, decision) = classifier.predict([x])
            #expect(label == (predictions[i] == 1), "sample \(i)")
            // sklearn's tolerance is libsvm's (1e-3), so both stop at the same point of the same solver.
            #expect(abs(decision - decisions[i]) < 1e-3, "sample \(i): \(decision) vs \(decisions[i])")
        }
    }

    @Test("confidence and entropy features by hand, stable for large logits")
    func features() {
        let logits = Tensor(shape: [2, 3], data: [0, 0, 0, 1000, 0, -1000])
        let confidence = MembershipInference.confidence(logits, labels: [1, 0])
        #expect(abs(confidence[0] - 1.0 / 3) < 1e-12 && confidence[1] == 1)
        let entropy = MembershipInference.entropy(logits)
        #expect(abs(entropy[0] - _log(3.0)) < 1e-12 && entropy[1] == 0)
    }

    @Test("balanced seeded subsampling; the score's direction on constructed sets")
    func wiringAndDirection() throws {
        let a = MembershipInference.subsample(100, count: 10, seed: 1)
        #expect(a.count == 10 && Set(a).count == 10 && a == a.sorted())
        #expect(a == MembershipInference.subsample(100, count: 10, seed: 1) && a != MembershipInference.subsample(100, count: 10, seed: 2))
        var rng = SeededGenerator(seed: 5)
        let members = (0..<400).map { _ in Double.random(in: 0.9...1, using: &rng) }
        let nonMembers = (0..<300).map { _ in Double.random(in: 0.3...0.6, using: &rng) }
        var configuration = MembershipInference.Configuration()
        configuration.maxSamplesPerSide = 250
        let forgotten = try MembershipInference.attack(members: members, nonMembers: nonMembers,
                                                        scored: (0..<50).map { _ in Double.random(in: 0.3...0.6, using: &rng) }, configuration: configuration)
        #expect(forgotten.value > 0.95 && forgotten.members == 250 && forgotten.nonMembers == 250)
        let remembered = try MembershipInference.attack(members: members, nonMembers: nonMembers,
                                                         scored: (0..<50).map { _ in Double.random(in: 0.9...1, using: &rng) }, configuration: configuration)
        #expect(remembered.value < 0.05)
    }
}
