import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite("modelforget inspect")
struct InspectCommandTests {
    @Test("lists format, metadata and every tensor's dtype, shape and bytes")
    func tableOutput() throws {
        let directory = TemporaryDirectory()
        let file = directory.path("model.safetensors")
        try writeSampleCheckpoint(file)
        let result = try ProcessRunner.modelforget(["inspect", file])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("safetensors, 4 tensors, 18 parameters"))
        #expect(result.stdout.contains("format: pt"))
        let row = result.stdout.split(separator: "\n").first { $0.hasPrefix("fc.weight") }
        #expect(row?.split(separator: " ", omittingEmptySubsequences: true) == ["fc.weight", "F32", "[3,", "4]", "48"])
    }

    @Test("--json has the documented keys and values")
    func jsonOutput() throws {
        let directory = TemporaryDirectory()
        let file = directory.path("model.safetensors")
        try writeSampleCheckpoint(file)
        let result = try ProcessRunner.modelforget(["inspect", file, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["file", "format", "metadata", "files", "tensor_count", "parameter_count", "total_bytes", "tensors", "model"])
        let model = try #require(object["model"] as? [String: Any])
        #expect(model["family"] is NSNull && (model["unrecognized"] as? String)?.contains("cannot tell the architecture") == true)
        #expect(object["format"] as? String == "safetensors")
        #expect(object["tensor_count"] as? Int == 4)
        #expect(object["total_bytes"] as? Int == 48 + 12 + 4 + 8)
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        let bf16 = try #require(tensors.first { $0["name"] as? String == "emb.weight" })
        #expect(bf16["dtype"] as? String == "BF16")
        #expect(bf16["shape"] as? [Int] == [2])
        #expect(bf16["bytes"] as? Int == 4)
    }

    @Test("the model a checkpoint holds: family, naming and what was read from where (headers only)")
    func recognisedModel() throws {
        let text = try ProcessRunner.modelforget(["inspect", Fixtures.path("Samples/resnet.safetensors")])
        #expect(text.status == 0)
        #expect(text.stdout.contains("model: ResNet (BasicBlock), torchvision/timm names"))
        let result = try ProcessRunner.modelforget(["inspect", Fixtures.path("Samples/resnet.safetensors"), "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let model = try #require(object["model"] as? [String: Any])
        #expect(model["family"] as? String == "ResNet (BasicBlock)" && model["naming"] as? String == "torchvision/timm")
        let facts = try #require(model["facts"] as? [[String: String]])
        #expect(facts.contains { $0["key"] == "blocks per stage" && $0["value"] == "2,2,2" && $0["source"] == "tensor names" })
        let onnx = try ProcessRunner.modelforget(["inspect", Fixtures.path("Samples/vit.onnx")])
        #expect(onnx.stdout.contains("model: ONNX graph"))
    }

    @Test("a missing file is one line naming it, exit 1")
    func missingFile() throws {
        let result = try ProcessRunner.modelforget(["inspect", "/nonexistent/model.safetensors"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("/nonexistent/model.safetensors: ") == true)
    }

    @Test("a file whose bytes contradict its extension is refused")
    func extensionMismatch() throws {
        let directory = TemporaryDirectory()
        let npzNamedSafetensors = directory.path("model.safetensors")
        try writeSampleCheckpoint(directory.path("real.safetensors"))
        let real = try Checkpoint.open(directory.path("real.safetensors"))
        try Checkpoint.write(to: directory.path("real.npz"), tensors: real.tensors.filter { $0.dtype != .BF16 },
                             options: CheckpointWriteOptions(container: .npz(.stored)),
                             bytes: { info, consume in try real.withBytes(of: info.name) { try consume($0) } })
        try FileManager.default.copyItem(atPath: directory.path("real.npz"), toPath: npzNamedSafetensors)
        let result = try ProcessRunner.modelforget(["inspect", npzNamedSafetensors])
        #expect(result.status == 1)
        #expect(result.stderr == "\(npzNamedSafetensors): the name ends in .safetensors but the contents are a NumPy .npz archive; rename the file\n")
    }

    @Test("a truncated safetensors file names the defect")
    func truncatedFile() throws {
        let directory = TemporaryDirectory()
        let file = directory.path("model.safetensors")
        try writeSampleCheckpoint(file)
        let bytes = fileBytes(file)
        directory.write("cut.safetensors", Array(bytes.dropLast(5)))
        let result = try ProcessRunner.modelforget(["inspect", directory.path("cut.safetensors")])
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.hasPrefix(directory.path("cut.safetensors") + ": "))
    }

    @Test("usage errors exit 64")
    func usageError() throws {
        let result = try ProcessRunner.modelforget(["inspect", "--no-such-flag", "x"])
        #expect(result.status == 64)
    }
}
