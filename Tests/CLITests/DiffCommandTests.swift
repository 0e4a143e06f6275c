import Foundation
import Testing
import _TestSupport

@Suite("modelforget diff")
struct DiffCommandTests {
    @Test("an SVD edit of the sample CNN: --exit-code, --json keys, --only, --top, --markdown; identical files exit 0", .tags(.slow))
    func diffOfAnEdit() throws {
        let directory = TemporaryDirectory()
        let cnn = Fixtures.path("Samples/cnn.onnx"), edited = directory.path("cnn-57.onnx")
        let apply = try ProcessRunner.modelforget(["apply", cnn, "--method", "svd", "--classes", "5,7", "--data", Fixtures.path("Samples/digits-train.npz"),
                                                   "--retain-samples", "200", "--forget-samples", "100", "-o", edited, "--quiet"])
        #expect(apply.status == 0, "\(apply.stderr)")

        let json = try ProcessRunner.modelforget(["diff", cnn, edited, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let summary = try #require(report["summary"] as? [String: Any])
        // The SVD engine edits the five conv/linear weights and nothing else.
        #expect(summary["tensors_changed"] as? Int == 5)
        let tensors = try #require(report["tensors"] as? [[String: Any]])
        let changed = tensors.filter { $0["status"] as? String == "changed" }.compactMap { $0["name"] as? String }
        #expect(Set(changed) == ["features.0.weight", "features.3.weight", "features.7.weight", "classifier.0.weight", "classifier.3.weight"])
        let weight = try #require(tensors.first { $0["name"] as? String == "classifier.3.weight" })
        for key in ["changed_elements", "delta_norm", "relative_change", "max_abs_delta", "cosine", "rank", "singular_values"] {
            #expect(weight[key] != nil && !(weight[key] is NSNull), "missing \(key)")
        }

        let differs = try ProcessRunner.modelforget(["diff", cnn, edited, "--exit-code", "--quiet"])
        #expect(differs.status == 1 && differs.stdout.isEmpty)
        let same = try ProcessRunner.modelforget(["diff", cnn, cnn, "--exit-code"])
        #expect(same.status == 0 && same.stdout.contains("0 of 22 tensors differ"))

        let only = try ProcessRunner.modelforget(["diff", cnn, edited, "--only", "classifier.*", "--json"])
        let onlyTensors = try #require((try JSONSerialization.jsonObject(with: Data(only.stdout.utf8)) as? [String: Any])?["tensors"] as? [[String: Any]])
        #expect(onlyTensors.count == 4 && onlyTensors.allSatisfy { ($0["name"] as? String ?? "").hasPrefix("classifier.") })

        let top = try ProcessRunner.modelforget(["diff", cnn, edited, "--top", "2"])
        let rows = top.stdout.split(separator: "\n").dropFirst(3).dropLast()   // A:, B:, header … summary
        #expect(rows.count == 2 && rows.allSatisfy { $0.contains("changed") }, "\(top.stdout)")

        let markdown = try ProcessRunner.modelforget(["diff", cnn, edited, "--markdown", "--top", "1"])
        #expect(markdown.stdout.contains("| TENSOR | STATUS |") && markdown.stdout.contains("5 of 22 tensors differ"))

        let missing = try ProcessRunner.modelforget(["diff", cnn, directory.path("nope.safetensors")])
        #expect(missing.status == 1 && missing.stderr.hasPrefix(directory.path("nope.safetensors") + ":"))
        let missingWithExitCode = try ProcessRunner.modelforget(["diff", cnn, directory.path("nope.safetensors"), "--exit-code"])
        #expect(missingWithExitCode.status == 2 && missingWithExitCode.stderr.hasPrefix(directory.path("nope.safetensors") + ":"))
    }
}
