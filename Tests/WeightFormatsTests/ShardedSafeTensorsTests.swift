import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite("sharded safetensors")
struct ShardedSafeTensorsTests {
    static let tensors: [(TensorInfo, [UInt8])] = (0..<5).map { index in
        (TensorInfo(name: "layer\(index).weight", dtype: .F32, shape: [index + 1]),
         [UInt8](repeating: UInt8(index + 1), count: 4 * (index + 1)))
    }

    func writeSet(_ directory: TemporaryDirectory, maxShardSize: Int) throws -> [String] {
        let contents = Dictionary(uniqueKeysWithValues: Self.tensors.map { ($0.0.name, $0.1) })
        return try SafeTensorsWriter.writeSharded(
            to: directory.path("model.safetensors"), tensors: Self.tensors.map(\.0), metadata: ["format": "pt"],
            maxShardSize: maxShardSize) { info, consume in try contents[info.name]!.withUnsafeBytes { try consume($0) } }
    }

    @Test("shards are filled greedily, named like Hugging Face's, and read back as one checkpoint")
    func roundTrip() throws {
        let directory = TemporaryDirectory()
        let written = try writeSet(directory, maxShardSize: 18)   // 4+8 | 12 | 16 | 20 (larger than the limit: alone)
        #expect(directory.contents() == [
            "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
            "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors", "model.safetensors.index.json",
        ])
        #expect(written.count == 5)
        let index = String(decoding: fileContents(directory.path("model.safetensors.index.json")), as: UTF8.self)
        #expect(index.hasPrefix("{\n  \"metadata\": {\n    \"total_size\": 60\n  },\n  \"weight_map\": {\n    \"layer0.weight\": \"model-00001-of-00004.safetensors\",\n"))
        let reader = try ShardedSafeTensors(indexPath: directory.path("model.safetensors.index.json"))
        #expect(reader.metadata == ["format": "pt"])
        #expect(reader.tensors.map(\.name) == Self.tensors.map(\.0.name))
        for (info, bytes) in Self.tensors { #expect(try reader.bytes(of: info.name) == bytes) }
        #expect(reader.shardPath(of: "layer4.weight") == directory.path("model-00004-of-00004.safetensors"))
        #expect(try Checkpoint.open(directory.path("model.safetensors.index.json")).format == .shardedSafetensors)
    }

    @Test("everything in one shard is a single file without an index")
    func singleShard() throws {
        let directory = TemporaryDirectory()
        _ = try writeSet(directory, maxShardSize: 1_000)
        #expect(directory.contents() == ["model.safetensors"])
    }

    @Test("the Python tooling reads the set written here")
    func pythonInterop() throws {
        let directory = TemporaryDirectory()
        _ = try writeSet(directory, maxShardSize: 18)
        let result = try ProcessRunner.python("""
            import sys, json, os, numpy as np
            from safetensors.numpy import load_file
            d = sys.argv[1]
            index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
            total = 0
            for name, shard in index["weight_map"].items():
                t = load_file(os.path.join(d, shard))[name]
                total += t.nbytes
            assert total == index["metadata"]["total_size"], total
            print("ok")
            """, [directory.path])
        #expect(result.status == 0 && result.stdout == "ok\n", "\(result.stderr)")
    }

    @Test("defects of a set are each named", arguments: [
        ("missing", ShardedSafeTensorsError.missingShard(file: "model-00002-of-00004.safetensors")),
        ("unlisted", ShardedSafeTensorsError.tensorNotInIndex(tensor: "layer1.weight", file: "model-00001-of-00004.safetensors")),
        ("absent", ShardedSafeTensorsError.tensorMissingFromShard(tensor: "ghost", file: "model-00001-of-00004.safetensors")),
        ("outside", ShardedSafeTensorsError.shardOutsideFolder(file: "../x.safetensors")),
        ("garbage", ShardedSafeTensorsError.invalidIndex(reason: "no \"weight_map\" object")),
    ])
    func defects(kind: String, expected: ShardedSafeTensorsError) throws {
        let directory = TemporaryDirectory()
        _ = try writeSet(directory, maxShardSize: 18)
        let indexPath = directory.path("model.safetensors.index.json")
        var index = String(decoding: fileContents(indexPath), as: UTF8.self)
        switch kind {
        case "missing": try FileManager.default.removeItem(atPath: directory.path("model-00002-of-00004.safetensors"))
        case "unlisted": index = index.replacingOccurrences(of: "    \"layer1.weight\": \"model-00001-of-00004.safetensors\",\n", with: "")
        case "absent": index = index.replacingOccurrences(of: "\"weight_map\": {\n", with: "\"weight_map\": {\n    \"ghost\": \"model-00001-of-00004.safetensors\",\n")
        case "outside": index = index.replacingOccurrences(of: "\"layer4.weight\": \"model-00004-of-00004.safetensors\"", with: "\"layer4.weight\": \"../x.safetensors\"")
        default: index = "{\"metadata\": {}}"
        }
        directory.write("model.safetensors.index.json", Array(index.utf8))
        #expect(throws: expected) { try ShardedSafeTensors(indexPath: indexPath) }
    }

    @Test("a tensor in two shards is refused")
    func duplicateTensor() throws {
        let directory = TemporaryDirectory()
        _ = try writeSet(directory, maxShardSize: 18)
        try writeSafeTensors(directory.path("model-00002-of-00004.safetensors"),
                             [(TensorInfo(name: "layer0.weight", dtype: .F32, shape: [1]), [0, 0, 0, 0]),
                              (TensorInfo(name: "layer2.weight", dtype: .F32, shape: [3]), [UInt8](repeating: 0, count: 12))])
        #expect(throws: ShardedSafeTensorsError.tensorInTwoShards(tensor: "layer0.weight", first: "model-00001-of-00004.safetensors", second: "model-00002-of-00004.safetensors")) {
            try ShardedSafeTensors(indexPath: directory.path("model.safetensors.index.json"))
        }
    }
}
