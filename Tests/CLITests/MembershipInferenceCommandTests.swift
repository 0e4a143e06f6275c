import Foundation
import Testing
import WeightFormats
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
        for (data, trainData, named, option) in [(Fixtures.path("Samples/digits-test.npz"), train, train, "--train"),
                                                 (test, Fixtures.path("Samples/digits-train.npz"), test, "--data")] {
            let result = try ProcessRunner.modelforget(["eval", Fixtures.path("Samples/cnn.onnx"), "--data", data, "--train", trainData,
                                                        "--classes", "5,7", "--mia"])
            #expect(result.status == 1)
            #expect(result.stderr.hasPrefix("\(named): label 12 in \(option) is not one of the model's 10 classes"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
    }
}
