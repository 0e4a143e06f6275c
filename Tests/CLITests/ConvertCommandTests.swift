import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite("modelforget convert")
struct ConvertCommandTests {
    @Test("safetensors → npz → safetensors keeps every tensor byte-identical")
    func roundTripThroughNPZ() throws {
        let directory = TemporaryDirectory()
        let original = directory.path("model.safetensors")
        var contents = try writeSampleCheckpoint(original)
        // npz cannot hold bfloat16: convert it to F32 on the way.
        let toNPZ = try ProcessRunner.modelforget(["convert", original, directory.path("model.npz"), "--dtype", "F32"])
        #expect(toNPZ.status == 0, "\(toNPZ.stderr)")
        #expect(toNPZ.stderr.contains("npz files have no metadata"))
        let back = try ProcessRunner.modelforget(["convert", directory.path("model.npz"), directory.path("back.safetensors")])
        #expect(back.status == 0, "\(back.stderr)")
        let reader = try Checkpoint.open(directory.path("back.safetensors"))
        contents["emb.weight"] = [Float(1.5), -2.25].withUnsafeBytes { Array($0) }
        for info in reader.tensors {
            #expect(try reader.bytes(of: info.name) == contents[info.name], "\(info.name)")
        }
        #expect(reader.info(named: "emb.weight")?.dtype == .F32)
        #expect(reader.info(named: "bn.num_batches_tracked")?.dtype == .I64)
    }

    @Test("--dtype BF16 rounds to nearest even and leaves integer tensors alone; metadata is kept")
    func castToBFloat16() throws {
        let directory = TemporaryDirectory()
        let original = directory.path("model.safetensors")
        let contents = try writeSampleCheckpoint(original)
        let result = try ProcessRunner.modelforget(["convert", original, directory.path("bf16.safetensors"), "--dtype", "BF16"])
        #expect(result.status == 0, "\(result.stderr)")
        let reader = try Checkpoint.open(directory.path("bf16.safetensors"))
        #expect(reader.metadata == ["format": "pt"])
        #expect(reader.info(named: "fc.weight")?.dtype == .BF16)
        #expect(try reader.bytes(of: "bn.num_batches_tracked") == contents["bn.num_batches_tracked"])
        let expected = (0..<12).map { DTypeConversion.floatToBFloat16(Float($0) * 0.25 - 1) }
        let stored = try reader.withBytes(of: "fc.weight") { Array($0.bindMemory(to: UInt16.self)) }
        #expect(stored == expected)
    }

    @Test("--max-shard-size writes shards and an index that read back as one checkpoint")
    func sharding() throws {
        let directory = TemporaryDirectory()
        let original = directory.path("model.safetensors")
        let contents = try writeSampleCheckpoint(original)
        try FileManager.default.createDirectory(atPath: directory.path("out"), withIntermediateDirectories: true)
        let result = try ProcessRunner.modelforget(["convert", original, directory.path("out/model.safetensors"), "--max-shard-size", "40"])
        #expect(result.status == 0, "\(result.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path("out")).sorted()
        #expect(files.contains("model.safetensors.index.json"))
        #expect(files.filter { $0.hasSuffix(".safetensors") }.count >= 2)
        let reader = try Checkpoint.open(directory.path("out"))
        #expect(reader.format == .shardedSafetensors)
        #expect(Set(reader.tensors.map(\.name)) == Set(contents.keys))
        for (name, bytes) in contents { #expect(try reader.bytes(of: name) == bytes) }
        let inspect = try ProcessRunner.modelforget(["inspect", directory.path("out"), "--json"])
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("\"format\" : \"safetensors-sharded\""))
    }

    @Test("a failing conversion leaves no output and never touches the input")
    func noPartialOutput() throws {
        let directory = TemporaryDirectory()
        let original = directory.path("model.safetensors")
        try writeSampleCheckpoint(original)
        let before = fileBytes(original)
        // BF16 has no NumPy dtype: the write fails after the archive was started.
        let result = try ProcessRunner.modelforget(["convert", original, directory.path("model.npz")])
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix(directory.path("model.npz") + ": "))
        #expect(directory.contents() == ["model.safetensors"])
        #expect(fileBytes(original) == before)
    }

    @Test("converting a file onto itself is refused with one line; the input is unchanged")
    func convertOntoItselfRefused() throws {
        let directory = TemporaryDirectory()
        let file = directory.path("model.safetensors")
        try writeSampleCheckpoint(file)
        let before = fileBytes(file)
        let result = try ProcessRunner.modelforget(["convert", file, file])
        #expect(result.status == 1)
        #expect(result.stderr.contains("is the same file as the input"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(fileBytes(file) == before)
        #expect(directory.contents() == ["model.safetensors"])
    }

    @Test("bad flag combinations are usage errors (exit 64)", arguments: [
        ["in.safetensors", "out.bin"],
        ["in.safetensors", "out.npz", "--max-shard-size", "1MB"],
        ["in.safetensors", "out.safetensors", "--compress"],
        ["in.onnx", "out.onnx", "--dtype", "F16"],
        ["in.safetensors", "out.safetensors", "--max-shard-size", "lots"],
        ["in.safetensors", "out.safetensors", "--dtype", "F8"],
    ])
    func usageErrors(arguments: [String]) throws {
        let result = try ProcessRunner.modelforget(["convert"] + arguments)
        #expect(result.status == 64, "\(result.stderr)")
    }
}

@Suite("modelforget convert with ONNX")
struct ConvertONNXCommandTests {
    @Test("ONNX → ONNX copies the model byte for byte; ONNX → safetensors keeps every initializer's bytes")
    func fromONNX() throws {
        let directory = TemporaryDirectory()
        let source = Fixtures.path("Formats/fixtures/onnx/mlp_raw.onnx")
        let copy = try ProcessRunner.modelforget(["convert", source, directory.path("copy.onnx")])
        #expect(copy.status == 0, "\(copy.stderr)")
        #expect(fileBytes(directory.path("copy.onnx")) == fileBytes(source))
        let toSafetensors = try ProcessRunner.modelforget(["convert", source, directory.path("mlp.safetensors")])
        #expect(toSafetensors.status == 0, "\(toSafetensors.stderr)")
        let model = try Checkpoint.open(source)
        let converted = try Checkpoint.open(directory.path("mlp.safetensors"))
        #expect(Set(converted.tensors) == Set(model.tensors))
        for info in model.tensors { #expect(try converted.bytes(of: info.name) == model.bytes(of: info.name)) }
    }

    @Test("only an ONNX input can be written as ONNX")
    func onnxNeedsONNX() throws {
        let directory = TemporaryDirectory()
        try writeSampleCheckpoint(directory.path("m.safetensors"))
        let result = try ProcessRunner.modelforget(["convert", directory.path("m.safetensors"), directory.path("m.onnx")])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix(directory.path("m.onnx") + ": only an ONNX input can be written as ONNX"))
        #expect(directory.contents() == ["m.safetensors"])
    }
}
