import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite("sharded safetensors")
struct ShardedSafeTensorsTests {
    /// Five F32 tensors of 4, 8, 12, 16 and 20 bytes.
    static let tensors: [(TensorInfo, [UInt8])] = (0..<5).map { index in
        (TensorInfo(name: "layer\(index).weight", dtype: .F32, shape: [index + 1]),
         [UInt8](repeating: UInt8(index + 1), count: 4 * (index + 1)))
    }

    static func provider(_ tensors: [(TensorInfo, [UInt8])]) -> TensorBytesProvider {
        let contents = Dictionary(uniqueKeysWithValues: tensors.map { ($0.0.name, $0.1) })
        return { info, consume in try contents[info.name]!.withUnsafeBytes { try consume($0) } }
    }

    @discardableResult
    func writeSet(_ directory: TemporaryDirectory, maxShardSize: Int,
                  tensors: [(TensorInfo, [UInt8])] = ShardedSafeTensorsTests.tensors) throws -> [String] {
        try SafeTensorsWriter.writeSharded(
            to: directory.path("model.safetensors"), tensors: tensors.map(\.0), metadata: ["format": "pt"],
            maxShardSize: maxShardSize, bytes: Self.provider(tensors))
    }

    @Test("shards are filled greedily, named like Hugging Face's, and read back as one checkpoint")
    func roundTrip() throws {
        let directory = TemporaryDirectory()
        let written = try writeSet(directory, maxShardSize: 18)   // 4+8 | 12 | 16 | 20 (over the limit: alone)
        let names = ["model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                     "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"]
        #expect(directory.contents() == names + ["model.safetensors.index.json"])
        #expect(written == names.map { directory.path($0) } + [directory.path("model.safetensors.index.json")])
        let reader = try ShardedSafeTensors(indexPath: directory.path("model.safetensors.index.json"))
        #expect(reader.format == .shardedSafetensors)
        #expect(reader.metadata == ["format": "pt"])
        #expect(reader.shardFiles == names.map { directory.path($0) })
        #expect(reader.tensors == Self.tensors.map(\.0))
        for (info, bytes) in Self.tensors { #expect(try reader.bytes(of: info.name) == bytes) }
        #expect(try SafeTensorsFile(path: directory.path(names[0])).tensors.map(\.name) == ["layer0.weight", "layer1.weight"])
        #expect(reader.shardPath(of: "layer4.weight") == directory.path(names[3]))
        #expect(reader.shardPath(of: "nothing") == nil)
        #expect(throws: CheckpointError.tensorNotFound(name: "nothing")) { try reader.bytes(of: "nothing") }
        #expect(try Checkpoint.open(directory.path("model.safetensors.index.json")).format == .shardedSafetensors)
        #expect(try Checkpoint.open(directory.path).tensors.count == 5)
    }

    @Test("the index is byte for byte what transformers writes: json.dumps(indent=2, sort_keys=True) + newline", .tags(.interop), .requiresPython("json"))
    func indexMatchesPython() throws {
        let directory = TemporaryDirectory()
        let names = ["z.weight", "é.bias", "a\"q", "tab\tname", "😀", "A", "a/b"]
        let tensors = names.enumerated().map { index, name in
            (TensorInfo(name: name, dtype: .U8, shape: [index + 1]), [UInt8](repeating: 1, count: index + 1))
        }
        try writeSet(directory, maxShardSize: 6, tensors: tensors)
        let indexPath = directory.path("model.safetensors.index.json")
        let index = String(decoding: fileContents(indexPath), as: UTF8.self)
        #expect(index.hasPrefix("{\n  \"metadata\": {\n    \"total_size\": 28\n  },\n  \"weight_map\": {\n    \"A\": \"model-00004-of-00005.safetensors\",\n"))
        let result = try ProcessRunner.python("""
            import sys, json
            text = open(sys.argv[1], encoding="utf-8").read()
            index = json.loads(text)
            assert text == json.dumps(index, indent=2, sort_keys=True) + "\\n", text
            print(index["metadata"]["total_size"], len(index["weight_map"]))
            """, [indexPath])
        #expect(result.status == 0 && result.stdout == "28 7\n", "\(result.stderr)")
        let reader = try ShardedSafeTensors(indexPath: indexPath)
        #expect(Set(reader.tensors.map(\.name)) == Set(names) && reader.tensors.count == names.count)
        #expect(reader.tensors.prefix(3).map(\.name) == ["a\"q", "z.weight", "é.bias"])
    }

    @Test("everything in one shard is a single file without an index")
    func singleShard() throws {
        let directory = TemporaryDirectory()
        #expect(try writeSet(directory, maxShardSize: 1_000) == [directory.path("model.safetensors")])
        #expect(directory.contents() == ["model.safetensors"])
        #expect(try SafeTensorsFile(path: directory.path("model.safetensors")).tensors.count == 5)
    }

    @Test("shards keep the given groups; a name in two groups is refused before anything is written")
    func explicitGroups() throws {
        let directory = TemporaryDirectory()
        let infos = Self.tensors.map(\.0)
        let written = try SafeTensorsWriter.writeSharded(
            to: directory.path("m.safetensors"), groups: [[infos[4], infos[0]], [infos[1]], [infos[2], infos[3]]],
            metadata: nil, bytes: Self.provider(Self.tensors))
        #expect(written.count == 4)
        let reader = try ShardedSafeTensors(indexPath: directory.path("m.safetensors.index.json"))
        #expect(reader.shardPath(of: "layer0.weight") == directory.path("m-00001-of-00003.safetensors"))
        #expect(reader.metadata.isEmpty)
        let other = TemporaryDirectory()
        #expect(throws: SafeTensorsError.duplicateTensorName(tensor: "layer1.weight")) {
            try SafeTensorsWriter.writeSharded(to: other.path("m.safetensors"), groups: [[infos[1]], [infos[1]]],
                                               metadata: nil, bytes: Self.provider(Self.tensors))
        }
        #expect(other.contents().isEmpty)
    }

    @Test("a failure while writing any shard leaves no file at all")
    func failureLeavesNothing() throws {
        let directory = TemporaryDirectory()
        struct Failure: Error {}
        #expect(throws: Failure.self) {
            try SafeTensorsWriter.writeSharded(
                to: directory.path("model.safetensors"), tensors: Self.tensors.map(\.0), metadata: nil, maxShardSize: 18
            ) { info, consume in
                if info.name == "layer4.weight" { throw Failure() }
                try Self.provider(Self.tensors)(info, consume)
            }
        }
        #expect(directory.contents().isEmpty)
    }

    @Test("the Python tooling reads the set written here with equal values", .tags(.interop), .requiresPython("numpy", "safetensors"))
    func pythonReadsSwiftSet() throws {
        let directory = TemporaryDirectory()
        try writeSet(directory, maxShardSize: 18)
        let result = try ProcessRunner.python("""
            import sys, json, os
            from safetensors import safe_open
            from safetensors.numpy import load_file
            d = sys.argv[1]
            index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
            total = 0
            for name, shard in sorted(index["weight_map"].items()):
                t = load_file(os.path.join(d, shard))[name]
                with safe_open(os.path.join(d, shard), "np") as f: assert f.metadata() == {"format": "pt"}
                total += t.nbytes
                print(name, t.dtype.str, t.tobytes().hex())
            assert total == index["metadata"]["total_size"], total
            """, [directory.path])
        try #require(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.count == Self.tensors.count)
        for (line, (info, bytes)) in zip(lines, Self.tensors) {
            #expect(line[0] == info.name && line[1] == "<f4" && hexBytes(line[2]) == bytes)
        }
    }

    @Test("a set written by Python (transformers-style index with extra metadata) reads with equal bytes and metadata", .tags(.interop), .requiresPython("numpy", "safetensors"))
    func swiftReadsPythonSet() throws {
        let directory = TemporaryDirectory()
        let result = try ProcessRunner.python("""
            import sys, json, os, numpy as np
            from safetensors.numpy import save_file
            d = sys.argv[1]
            shards = [{"embed.weight": np.arange(12, dtype=np.float32).reshape(3, 4), "embed.bias": np.array([1.5, -1], dtype=np.float16)},
                      {"head.weight": np.arange(6, dtype=np.int64).reshape(2, 3)}]
            weight_map, total = {}, 0
            for i, shard in enumerate(shards):
                name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
                save_file(shard, os.path.join(d, name), metadata={"format": "pt"})
                for k, v in shard.items():
                    weight_map[k] = name; total += v.nbytes
                    print(k, v.tobytes().hex())
            index = {"metadata": {"total_parameters": 20, "total_size": total}, "weight_map": weight_map}
            open(os.path.join(d, "model.safetensors.index.json"), "w").write(json.dumps(index, indent=2, sort_keys=True) + "\\n")
            """, [directory.path])
        try #require(result.status == 0, "\(result.stderr)")
        let reader = try ShardedSafeTensors(indexPath: directory.path("model.safetensors.index.json"))
        #expect(reader.metadata == ["format": "pt"])
        #expect(reader.tensors.map(\.name) == ["embed.weight", "embed.bias", "head.weight"])
        #expect(reader.info(named: "head.weight") == TensorInfo(name: "head.weight", dtype: .I64, shape: [2, 3]))
        for line in result.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            #expect(try reader.bytes(of: fields[0]) == hexBytes(fields[1]))
        }
    }

    @Test("defects of a set are each named", arguments: [
        ("missing", ShardedSafeTensorsError.missingShard(file: "model-00002-of-00004.safetensors")),
        ("unlisted", .tensorNotInIndex(tensor: "layer1.weight", file: "model-00001-of-00004.safetensors")),
        ("moved", .tensorNotInIndex(tensor: "layer0.weight", file: "model-00001-of-00004.safetensors")),
        ("movedAlone", .tensorMissingFromShard(tensor: "layer2.weight", file: "model-00003-of-00004.safetensors")),
        ("absent", .tensorMissingFromShard(tensor: "ghost", file: "model-00001-of-00004.safetensors")),
        ("outside", .shardOutsideFolder(file: "../x.safetensors")),
        ("absolute", .shardOutsideFolder(file: "/etc/passwd")),
        ("noMap", .invalidIndex(reason: "no \"weight_map\" object")),
        ("emptyMap", .invalidIndex(reason: "the weight_map names no tensors")),
        ("notJSON", .invalidIndex(reason: "not valid JSON: incomplete at byte 21")),
        ("trailing", .invalidIndex(reason: "not valid JSON: unexpected character at byte 2")),
        ("array", .invalidIndex(reason: "not a JSON object")),
        ("null", .invalidIndex(reason: "not a JSON object")),
        ("number", .invalidIndex(reason: "the shard of 'a' is not a string")),
    ])
    func defects(kind: String, expected: ShardedSafeTensorsError) throws {
        let directory = TemporaryDirectory()
        try writeSet(directory, maxShardSize: 18)
        let indexPath = directory.path("model.safetensors.index.json")
        var index = String(decoding: fileContents(indexPath), as: UTF8.self)
        func replace(_ old: String, _ new: String) {
            #expect(index.contains(old))
            index = index.replacingOccurrences(of: old, with: new)
        }
        switch kind {
        case "missing": try FileManager.default.removeItem(atPath: directory.path("model-00002-of-00004.safetensors"))
        case "unlisted": replace("    \"layer1.weight\": \"model-00001-of-00004.safetensors\",\n", "")
        case "moved": replace("\"layer0.weight\": \"model-00001-of-00004.safetensors\"", "\"layer0.weight\": \"model-00002-of-00004.safetensors\"")
        case "movedAlone": replace("\"layer2.weight\": \"model-00002-of-00004.safetensors\"", "\"layer2.weight\": \"model-00003-of-00004.safetensors\"")
        case "absent": replace("\"weight_map\": {\n", "\"weight_map\": {\n    \"ghost\": \"model-00001-of-00004.safetensors\",\n")
        case "outside": replace("\"model-00004-of-00004.safetensors\"", "\"../x.safetensors\"")
        case "absolute": replace("\"model-00004-of-00004.safetensors\"", "\"/etc/passwd\"")
        case "noMap": index = "{\"metadata\": {}}"
        case "emptyMap": index = "{\"weight_map\": {}}"
        case "notJSON": index = "{\"weight_map\": {\"a\": "
        case "trailing": index = "{}}"
        case "array": index = "[]"
        case "null": index = "null\n"
        default: index = "{\"weight_map\": {\"a\": 1}}"
        }
        directory.write("model.safetensors.index.json", Array(index.utf8))
        #expect(throws: expected) { try ShardedSafeTensors(indexPath: indexPath) }
    }

    @Test("a tensor in two shards is refused")
    func duplicateTensor() throws {
        let directory = TemporaryDirectory()
        try writeSet(directory, maxShardSize: 18)
        try writeSafeTensors(directory.path("model-00002-of-00004.safetensors"),
                             [(TensorInfo(name: "layer0.weight", dtype: .F32, shape: [1]), [0, 0, 0, 0]),
                              (TensorInfo(name: "layer2.weight", dtype: .F32, shape: [3]), [UInt8](repeating: 0, count: 12))])
        #expect(throws: ShardedSafeTensorsError.tensorInTwoShards(tensor: "layer0.weight", first: "model-00001-of-00004.safetensors", second: "model-00002-of-00004.safetensors")) {
            try ShardedSafeTensors(indexPath: directory.path("model.safetensors.index.json"))
        }
    }

    @Test("a defect inside a shard is reported with that shard's path")
    func corruptShard() throws {
        let directory = TemporaryDirectory()
        try writeSet(directory, maxShardSize: 18)
        let shard = directory.path("model-00003-of-00004.safetensors")
        var bytes = fileContents(shard)
        bytes.removeLast(2)
        directory.write("model-00003-of-00004.safetensors", bytes)
        #expect {
            try ShardedSafeTensors(indexPath: directory.path("model.safetensors.index.json"))
        } throws: { error in
            guard let fileError = error as? WeightFileError else { return false }
            return fileError.path == shard
                && fileError.underlying as? SafeTensorsError == .incompleteBuffer(expected: 16, actual: 14)
                && fileError.description.hasPrefix(shard + ": file truncated")
        }
    }
}
