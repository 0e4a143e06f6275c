import Foundation
import Testing
import _TestSupport

/// `--classes` by name: a model folder whose config.json names the classes (timm's `label_names`).
@Suite("class names from the model's config")
struct ClassNameTests {
    static let names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

    /// A timm-style folder: the ResNet sample as model.safetensors and a config naming the digits.
    static func folder(_ directory: TemporaryDirectory) throws -> String {
        let folder = directory.path("resnet-folder")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("Samples/resnet.safetensors"), toPath: folder + "/model.safetensors")
        let config: [String: Any] = ["architecture": "resnet18", "num_classes": 10, "label_names": names]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        return folder
    }

    @Test("eval --classes five,seven resolves the names, shows them beside the indices and in --json")
    func evalByName() throws {
        let directory = TemporaryDirectory()
        let folder = try Self.folder(directory)
        let data = Fixtures.path("Samples/digits-test.npz")
        let byName = try ProcessRunner.modelforget(["eval", folder, "--data", data, "--classes", "five,Seven"])
        #expect(byName.status == 0, "\(byName.stderr)")
        let byIndex = try ProcessRunner.modelforget(["eval", folder, "--data", data, "--classes", "5,7"])
        #expect(byName.stdout == byIndex.stdout)
        #expect(byName.stdout.contains("forget accuracy (classes 5,7 (five, seven)):"))
        #expect(byName.stdout.contains("CLASS  NAME "))
        let json = try ProcessRunner.modelforget(["eval", folder, "--data", data, "--classes", "five", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["class_names"] as? [String: String])?["5"] == "five")
    }

    @Test("apply by name: the summary and the audit record name the classes; an unknown name is one line listing the classes")
    func applyByName() throws {
        let directory = TemporaryDirectory()
        let folder = try Self.folder(directory)
        let output = directory.path("out.safetensors"), record = directory.path("audit.json")
        let result = try ProcessRunner.modelforget(["apply", folder, "--method", "svd", "--classes", "three", "--data", Fixtures.path("Samples/digits-train.npz"),
                                                    "-o", output, "--report", record, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("classes 3 (three) removed by svd"))
        let audit = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: record))) as? [String: Any])
        #expect(audit["classes"] as? [Int] == [3])
        #expect((audit["class_names"] as? [String: String]) == ["3": "three"])
        let unknown = try ProcessRunner.modelforget(["apply", folder, "--classes", "eleven", "--data", Fixtures.path("Samples/digits-train.npz"),
                                                     "-o", directory.path("never.safetensors")])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.split(separator: "\n").count == 1)
        #expect(unknown.stderr.contains("no class named 'eleven' (the model's classes: zero, one, two"))
        #expect(!FileManager.default.fileExists(atPath: directory.path("never.safetensors")))
    }
}
