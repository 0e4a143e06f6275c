import Foundation
import ImageData
import ModelRuntime
import TensorCore
import Testing
import WeightFormats
import _TestSupport

@Suite("Parts of data sets and their fingerprints")
struct DataShardTests {
    static let gray = ImageLoading(preprocessing: Preprocessing(channels: 1))

    /// Runs `script` with `sh -c` in `directory`.
    static func shell(_ script: String, in directory: String) throws {
        let result = try ProcessRunner.run("/bin/sh", ["-c", script], currentDirectory: directory)
        try #require(result.status == 0, "\(script): \(result.stderr)")
    }

    @Test("parts are disjoint, cover the data, and deal every class evenly", arguments: [1, 2, 3, 4, 7])
    func perClass(count: Int) throws {
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let labels = try #require(data.labels)
        let parts = try (1...count).map { try data.indices(in: DataShard($0, of: count)) }
        #expect(parts.flatMap { $0 }.sorted() == Array(0..<data.count))
        for label in Set(labels) {
            let sizes = parts.map { part in part.filter { labels[$0] == label }.count }
            #expect(sizes.max()! - sizes.min()! <= 1, "class \(label): \(sizes)")
            #expect(sizes.min()! > 0)
        }
        #expect(try data.indices(in: DataShard(1, of: count)) == parts[0], "the cut changed between calls")
    }

    @Test("shard texts parse as i/n with 1 ≤ i ≤ n")
    func parsing() {
        #expect(DataShard("2/4") == DataShard(2, of: 4))
        #expect(DataShard("1/1") == .whole)
        for bad in ["0/4", "5/4", "2", "2/", "/4", "a/b", "2/4/1", "-1/4", " 2/4"] { #expect(DataShard(bad) == nil, "\(bad)") }
    }

    @Test("WebDataset sources are cut by whole tar shards; more parts than shards is an error")
    func webDataset() throws {
        let directory = TemporaryDirectory()
        // 3 shards of 10, 10 and 12 digit images with their labels in .cls members.
        var script = "set -e\n"
        var sample = 0
        for (shard, size) in [10, 10, 12].enumerated() {
            var members: [String] = []
            for _ in 0..<size {
                let label = sample % 10
                let image = try #require(try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("Samples/digits-test-images/\(label)")).sorted().first)
                script += "cp '\(Fixtures.path("Samples/digits-test-images/\(label)/\(image)"))' s\(sample).png; echo \(label) > s\(sample).cls\n"
                members += ["s\(sample).png", "s\(sample).cls"]
                sample += 1
            }
            script += "tar -cf shard-\(shard).tar \(members.joined(separator: " "))\n"
        }
        try Self.shell(script, in: directory.path)
        let data = try Dataset.load(directory.path("shard-{0..2}.tar"), images: Self.gray)
        #expect(data.count == 32)
        #expect(try data.indices(in: DataShard(1, of: 3)) == Array(0..<10))
        #expect(try data.indices(in: DataShard(3, of: 3)) == Array(20..<32))
        #expect(try data.indices(in: DataShard(1, of: 2)) == Array(0..<10))
        #expect(try data.indices(in: DataShard(2, of: 2)) == Array(10..<32))
        #expect(throws: ModelError.invalidData(reason: "4 parts but only 3 tar shards: parts take whole shards; use at most 3 parts or write more shards")) {
            try data.indices(in: DataShard(1, of: 4))
        }
    }

    @Test("a tensor file's fingerprint follows its bytes and keys, not its name")
    func tensorFingerprint() throws {
        let directory = TemporaryDirectory()
        let original = Fixtures.path("Samples/digits-test.npz")
        try FileManager.default.copyItem(atPath: original, toPath: directory.path("copy.npz"))
        let fingerprint = try #require(try Dataset.load(original).fingerprint())
        #expect(fingerprint.count == 64)
        #expect(try Dataset.load(directory.path("copy.npz")).fingerprint() == fingerprint)
        #expect(try Dataset.load(Fixtures.path("Samples/digits-train.npz")).fingerprint() != fingerprint)
        #expect(try Dataset.load(original, yKey: nil).fingerprint() != fingerprint)
        #expect(try Dataset(x: Tensor(shape: [1, 1], data: [0]), labels: [0]).fingerprint() == nil)
    }

    @Test("an image folder's fingerprint survives a copy and changes when an image is removed, renamed or relabelled")
    func imageFingerprint() throws {
        let directory = TemporaryDirectory()
        try Self.shell("cp -r '\(Fixtures.path("Samples/digits-test-images"))' a && cp -r a b", in: directory.path)
        let original = try #require(try Dataset.load(Fixtures.path("Samples/digits-test-images"), images: Self.gray).fingerprint())
        #expect(try Dataset.load(directory.path("a"), images: Self.gray).fingerprint() == original)
        #expect(try Dataset.load(directory.path("a"), images: ImageLoading()).fingerprint() != original, "the pipeline is part of the data")
        let first = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.path("b/3")).sorted().first)
        try Self.shell("mv b/3/\(first) b/4/\(first)", in: directory.path)
        #expect(try Dataset.load(directory.path("b"), images: Self.gray).fingerprint() != original)
        try Self.shell("mv b/4/\(first) b/3/x\(first)", in: directory.path)
        #expect(try Dataset.load(directory.path("b"), images: Self.gray).fingerprint() != original)
        try Self.shell("rm b/3/x\(first)", in: directory.path)
        #expect(try Dataset.load(directory.path("b"), images: Self.gray).fingerprint() != original)
    }
}
