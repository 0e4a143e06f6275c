import Foundation
import Testing
import _TestSupport

@Suite("modelforget eval --mia")
struct MembershipInferenceCommandTests {
    @Test("both variants, labelled with wiring and direction, in [0, 1], deterministic; --mia without --train is a usage error")
    func evalWithMembershipInference() throws {
        let arguments = ["eval", Fixtures.path("Samples/cnn.onnx"), "--data", Fixtures.path("Samples/digits-test.npz"),
                         "--train", Fixtures.path("Samples/digits-train.npz"), "--classes", "5,7", "--mia", "--json"]
        let first = try ProcessRunner.modelforget(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
        #expect(report["forget_accuracy"] != nil)
        let attacks = try #require(report["mia"] as? [[String: Any]])
        #expect(attacks.compactMap { $0["variant"] as? String } == ["confidence-svc", "entropy-svc"])
        for attack in attacks {
            let value = try #require(attack["value"] as? Double)
            #expect((0...1).contains(value))
            #expect(attack["direction"] as? String == "higher = more forgotten")
            #expect(attack["members"] as? String == "retain-class training samples (--train)")
            #expect((attack["members_used"] as? Int ?? 0) > 100 && attack["members_used"] as? Int == attack["non_members_used"] as? Int)
        }
        // The original model remembers its training samples of 5 and 7: few are called non-members.
        #expect((attacks[0]["value"] as? Double ?? 1) < 0.2)
        let second = try ProcessRunner.modelforget(arguments)
        #expect(second.stdout == first.stdout)

        let missing = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", Fixtures.path("Samples/digits-test.npz"),
                                                     "--classes", "5", "--mia"])
        #expect(missing.status == 64 && missing.stderr.contains("--mia needs --train and --classes"))
    }
}
