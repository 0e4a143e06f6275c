import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite("modelforget eval --mia")
struct MembershipInferenceCommandTests {
    static let cnn = Fixtures.path("Samples/cnn.onnx"), test = Fixtures.path("Samples/digits-test.npz")
    static let train = Fixtures.path("Samples/digits-train.npz")

    @Test("both variants, labelled with wiring and direction, in [0, 1], deterministic; --mia without --train is a usage error")
    func evalWithMembershipInference() throws {
        let arguments = ["eval", Self.cnn, "--data", Self.test, "--train", Self.train, "--classes", "5,7", "--mia", "--json"]
        let first = try ProcessRunner.modelforget(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
        #expect(report["forget_accuracy"] != nil)
        let attacks = try #require(report["mia"] as? [[String: Any]])
        #expect(attacks.compactMap { $0["variant"] as? String } == ["confidence-svc", "entropy-svc"])
        #expect(attacks.compactMap { $0["feature"] as? String } == ["softmax probability of the true label", "entropy of the softmax"])
        let keys: Set = ["variant", "feature", "members", "non_members", "scored", "score", "direction", "value",
                         "members_used", "non_members_used", "scored_samples"]
        for attack in attacks {
            #expect(Set(attack.keys) == keys)
            let value = try #require(attack["value"] as? Double)
            #expect((0...1).contains(value))
            #expect(attack["direction"] as? String == "higher = more forgotten")
            #expect(attack["score"] as? String == "fraction of scored samples predicted non-member")
            #expect(attack["members"] as? String == "retain-class training samples (--train)")
            #expect(attack["non_members"] as? String == "retain-class test samples (--data)")
            #expect(attack["scored"] as? String == "forget-class training samples (--train)")
            // 431 retain-class test digits; 252 training digits of 5 and 7.
            #expect(attack["members_used"] as? Int == 431 && attack["non_members_used"] as? Int == 431)
            #expect(attack["scored_samples"] as? Int == 252)
        }
        // The original model remembers its training samples of 5 and 7: few are called non-members.
        #expect((attacks[0]["value"] as? Double ?? 1) < 0.2)
        let second = try ProcessRunner.modelforget(arguments)
        #expect(second.stdout == first.stdout)

        let capped = try ProcessRunner.modelforget(arguments + ["--mia-samples", "100", "--seed", "3"])
        #expect(capped.status == 0, "\(capped.stderr)")
        let cappedAttacks = try #require((try JSONSerialization.jsonObject(with: Data(capped.stdout.utf8)) as? [String: Any])?["mia"] as? [[String: Any]])
        #expect(cappedAttacks.allSatisfy { $0["members_used"] as? Int == 100 && $0["non_members_used"] as? Int == 100 })

        let missing = try ProcessRunner.modelforget(["eval", Self.cnn, "--data", Self.test, "--classes", "5", "--mia"])
        #expect(missing.status == 64 && missing.stderr.contains("--mia needs --train and --classes"))
        let noClasses = try ProcessRunner.modelforget(["eval", Self.cnn, "--data", Self.test, "--train", Self.train, "--mia"])
        #expect(noClasses.status == 64 && noClasses.stderr.contains("--mia needs --train and --classes"))
        let trainAlone = try ProcessRunner.modelforget(["eval", Self.cnn, "--data", Self.test, "--train", Self.train, "--classes", "5"])
        #expect(trainAlone.status == 64 && trainAlone.stderr.contains("--train is for --mia"))
    }

    @Test("text output: one line per variant naming the wiring and direction; data errors name the file")
    func textAndErrors() throws {
        let text = try ProcessRunner.modelforget(["eval", Self.cnn, "--data", Self.test, "--train", Self.train, "--classes", "5,7", "--mia"])
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").filter { $0.hasPrefix("MIA-efficacy") }
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("MIA-efficacy (confidence-svc: softmax probability of the true label; members 431 retain-class train, non-members 431 retain-class test; "
            + "scored 252 forget-class train): ") == true)
        #expect(lines.allSatisfy { $0.hasSuffix("% predicted non-member (higher = more forgotten)") })

        let nothingToScore = try ProcessRunner.modelforget(["eval", Self.cnn, "--data", Self.test, "--train", Self.train, "--classes", "11", "--mia"])
        #expect(nothingToScore.status == 1)
        #expect(nothingToScore.stderr.hasPrefix("\(Self.train): the training samples hold none of the classes to forget"))
    }

    @Test("a label outside the model's classes, in --train or in --data, is a one-line error naming that file (exit 1)")
    func labelOutOfRange() throws {
        let directory = TemporaryDirectory()
        /// `source` (a digits npz) with its first label replaced by 12, written as safetensors.
        func withBadLabel(_ source: String, _ name: String) throws -> String {
            let file = try Checkpoint.open(Fixtures.path(source))
            let path = directory.path(name)
            try Checkpoint.write(to: path, tensors: file.tensors, options: CheckpointWriteOptions(container: .safetensors)) { info, consume in
                try file.withBytes(of: info.name) { bytes in
                    guard info.name == "y" else { return try consume(bytes) }
                    var labels = Array(bytes)
                    withUnsafeBytes(of: Int64(12).littleEndian) { for i in 0..<8 { labels[i] = $0[i] } }
                    return try labels.withUnsafeBytes { try consume($0) }
                }
            }
            return path
        }
        let train = try withBadLabel("Samples/digits-train.npz", "train.safetensors")
        let test = try withBadLabel("Samples/digits-test.npz", "test.safetensors")
        for (data, trainData, named, samples) in [(Fixtures.path("Samples/digits-test.npz"), train, train, "training samples"),
                                                  (test, Fixtures.path("Samples/digits-train.npz"), test, "test samples")] {
            let result = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", data, "--train", trainData,
                                                        "--classes", "5,7", "--mia"])
            #expect(result.status == 1)
            #expect(result.stderr.hasPrefix("\(named): the \(samples) have label 12, but the model has 10 classes (0–9)"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
    }
}
