import Foundation
import ModelRuntime
import Testing
import WeightFormats
import _TestSupport

@Suite("apply on a model folder writes a model folder")
struct ModelFolderOutputTests {
    /// A Hub-style folder: the transformers ViT fixture's weights and configs, a model card, and
    /// a stale PyTorch pickle and ONNX export that hold the original weights.
    func makeFolder(_ directory: TemporaryDirectory) throws -> (folder: String, entry: RealModelFixtures.Entry) {
        let entry = try #require(RealModelFixtures.entries.first { $0.folder == "transformers-vit" })
        let source = Fixtures.path("\(RealModelFixtures.root)/transformers-vit")
        let folder = directory.path("vit")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        for name in ["model.safetensors", "config.json", "preprocessor_config.json", "model.onnx", "model.onnx.data"] {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: folder + "/" + name)
        }
        try Data("# a model card\n".utf8).write(to: URL(fileURLWithPath: folder + "/README.md"))
        try Data([0x80, 0x02]).write(to: URL(fileURLWithPath: folder + "/pytorch_model.bin"))
        return (folder, entry)
    }

    func contents(_ folder: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
        }
        return files
    }

    @Test("NAME.forget-5-7/ holds the edited model.safetensors and the folder's config files, not its other weight files; it loads as a model folder")
    func folderOutput() throws {
        let directory = TemporaryDirectory()
        let (folder, entry) = try makeFolder(directory)
        let data = directory.path("data.npz")
        try RealModelApplyTests().writeData(entry, to: data)
        let before = try contents(folder)
        let result = try ProcessRunner.modelforget(["apply", folder, "--classes", "5,7", "--data", data, "--batch-size", "8", "--json",
                                                    "--report", directory.path("audit.json")])
        #expect(result.status == 0, "\(result.stderr)")
        let output = folder + ".forget-5-7"
        let written = try contents(output)
        #expect(Set(written.keys) == ["model.safetensors", "config.json", "preprocessor_config.json", "README.md"])
        for name in ["config.json", "preprocessor_config.json", "README.md"] { #expect(written[name] == before[name]) }
        #expect(written["model.safetensors"] != before["model.safetensors"])
        #expect(result.stderr.contains("not copied (they hold the original weights): model.onnx, model.onnx.data, pytorch_model.bin"))
        #expect(try contents(folder) == before, "the input folder changed")
        // No staging folder is left beside the output.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(".") }.isEmpty)
        // The output opens as the input did (layout from config.json), with the checkpoint's names.
        let model = try Model.load(output)
        #expect(try Model.load(folder).graph.weightLayers.map(\.weight) == model.graph.weightLayers.map(\.weight))
        let audit = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory.path("audit.json")))) as? [String: Any])
        let recorded = try #require(audit["output"] as? [String: Any])
        #expect(recorded["path"] as? String == output + "/model.safetensors")
        #expect((recorded["sha256"] as? [String: String])?.keys.sorted() == [output + "/model.safetensors"])
    }

    @Test("an existing output folder is refused before any work, and left as it was")
    func existingFolder() throws {
        let directory = TemporaryDirectory()
        let (folder, entry) = try makeFolder(directory)
        let data = directory.path("data.npz")
        try RealModelApplyTests().writeData(entry, to: data)
        let output = directory.path("out")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: output + "/notes.txt"))
        let result = try ProcessRunner.modelforget(["apply", folder, "--classes", "5,7", "--data", data, "-o", output + "/"])
        #expect(result.status == 1)
        #expect(result.stderr == "\(output)/: exists; remove it or give another output folder with -o (a model folder is never replaced)\n")
        #expect(try contents(output) == ["notes.txt": Data("keep".utf8)])
    }

    @Test("a config file linked from outside the folder is refused with nothing written")
    func companionOutsideFolder() throws {
        let directory = TemporaryDirectory()
        let (folder, entry) = try makeFolder(directory)
        let data = directory.path("data.npz")
        try RealModelApplyTests().writeData(entry, to: data)
        try Data("{\"secret\": 1}".utf8).write(to: URL(fileURLWithPath: directory.path("elsewhere.json")))
        try FileManager.default.createSymbolicLink(atPath: folder + "/extra.json", withDestinationPath: directory.path("elsewhere.json"))
        let result = try ProcessRunner.modelforget(["apply", folder, "--classes", "5,7", "--data", data, "--quiet"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix(folder + "/extra.json: "), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: folder + ".forget-5-7"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(".") }.isEmpty)
    }
}
