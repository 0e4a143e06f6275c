import Foundation
import Testing
import ModelRuntime
import Unlearning
import WeightFormats
import _TestSupport

@Suite("merging statistics parts")
struct StatisticsMergeTests {
    /// A one-class, one-layer file for part `part` of `count` with Gram `[[v]]`.
    static func part(_ part: Int, of count: Int = 3, value: Double = 1, model: String? = "m", data: String? = "d", seed: UInt64 = 0,
                     maxPatches: Int? = 100, samples: Int = 2, dataSamples: Int = 6) -> StatisticsFile {
        var gram = LayerGram(layer: 0, group: 0, dimension: 1)
        gram.gram = [value]
        gram.rows = samples
        return StatisticsFile(grams: [0: [GramKey(layer: 0, group: 0): gram]], layerWeights: [0: "w"], maxPatches: maxPatches,
                              provenance: StatisticsProvenance(modelSHA256: model, dataFingerprint: data, shards: ShardSet(parts: [part], count: count),
                                                               samples: samples, dataSamples: dataSamples, seed: seed))
    }

    static func named(_ files: StatisticsFile...) -> [UnlearningRequest.Named<StatisticsFile>] {
        files.enumerated().map { .init($0.element, name: "p\($0.offset + 1)") }
    }

    /// The ``StatisticsError`` inside the ``WeightFileError`` `body` throws, with the file it names.
    static func failure(_ body: () throws -> Void) -> (file: String, error: StatisticsError)? {
        do { try body() } catch let error as WeightFileError {
            return (error.path, error.underlying as! StatisticsError)
        } catch { Issue.record("unexpected \(error)") }
        return nil
    }

    @Test("every kind of mismatch is refused, naming the file and the first part's file")
    func refusals() throws {
        let cases: [(StatisticsFile, StatisticsError)] = [
            (Self.part(2, model: "other"), .otherModel(found: "other", expected: "m", reference: "p1")),
            (Self.part(2, data: "other"), .otherData(found: "other", expected: "d", reference: "p1")),
            (Self.part(2, dataSamples: 7), .otherData(found: "d", expected: "d", reference: "p1")),
            (Self.part(2, seed: 1), .otherSetting("seed", found: "1", expected: "0", reference: "p1")),
            (Self.part(2, maxPatches: 0), .otherSetting("max_patches", found: "0", expected: "100", reference: "p1")),
            (Self.part(2, of: 4), .otherShardCount(found: ShardSet(parts: [2], count: 4), expected: ShardSet(parts: [1], count: 3), reference: "p1")),
            (Self.part(1), .duplicateShard(1, count: 3, other: "p1")),
        ]
        for (second, expected) in cases {
            let failure = Self.failure { _ = try StatisticsFile.merged(Self.named(Self.part(1), second, Self.part(3))) }
            #expect(failure?.file == "p2")
            #expect(failure?.error == expected)
        }
        var legacy = Self.part(2)
        legacy.provenance = nil
        #expect(Self.failure { _ = try StatisticsFile.merged(Self.named(Self.part(1), legacy, Self.part(3))) }?.error == .noProvenance)
        var otherLayers = Self.part(2)
        otherLayers.layerWeights = [0: "v"]
        #expect(Self.failure { _ = try StatisticsFile.merged(Self.named(Self.part(1), otherLayers, Self.part(3))) }?.error == .differentModels)
        #expect(throws: StatisticsError.missingShards([2], count: 3)) { try StatisticsFile.merged(Self.named(Self.part(1), Self.part(3))) }
    }

    @Test("--allow-partial merges what is there and records the missing parts; merged files merge again")
    func partial() throws {
        let directory = TemporaryDirectory()
        let partial = try StatisticsFile.merged(Self.named(Self.part(3, value: 3), Self.part(1, value: 1)), allowPartial: true)
        #expect(partial.provenance?.shards.description == "1,3/3")
        #expect(partial.provenance?.partial == true)
        #expect(partial.provenance?.samples == 4)
        #expect(partial.grams[0]?[GramKey(layer: 0, group: 0)]?.gram == [4])
        try partial.write(to: directory.path("partial.safetensors"))
        let file = try Checkpoint.open(directory.path("partial.safetensors"))
        #expect(file.metadata["shards"] == "1,3/3")
        #expect(file.metadata["missing_shards"] == "2")
        let read = try StatisticsFile.read(directory.path("partial.safetensors"))
        #expect(read.provenance == partial.provenance)
        // The rest arrives later: merging the partial file with part 2 completes the set.
        let complete = try StatisticsFile.merged([.init(read, name: "partial"), .init(Self.part(2, value: 2), name: "p2")])
        #expect(complete.provenance?.shards.isComplete == true)
        #expect(complete.provenance?.partial == false)
        #expect(complete.grams[0]?[GramKey(layer: 0, group: 0)]?.gram == [6])
        try complete.write(to: directory.path("complete.safetensors"))
        #expect(try Checkpoint.open(directory.path("complete.safetensors")).metadata["missing_shards"] == nil)
    }

    @Test("a complete set whose sample counts do not add up to the data set's is refused")
    func sampleCounts() {
        let failure = Self.failure { _ = try StatisticsFile.merged(Self.named(Self.part(1), Self.part(2), Self.part(3, samples: 1))) }
        #expect(failure?.error == .sampleCount(parts: 5, data: 6))
    }

    @Test("files without provenance (written before it was recorded) read and merge as before")
    func legacyFiles() throws {
        let directory = TemporaryDirectory()
        var old = Self.part(1)
        old.provenance = nil
        try old.write(to: directory.path("old.safetensors"))
        let metadata = try Checkpoint.open(directory.path("old.safetensors")).metadata
        #expect(Set(metadata.keys) == ["format", "version", "layer.0", "max_patches"])
        let read = try StatisticsFile.read(directory.path("old.safetensors"))
        #expect(read.provenance == nil)
        var other = old
        other.maxPatches = 5
        let merged = try StatisticsFile.merged([.init(read, name: "a"), .init(other, name: "b")])
        #expect(merged.provenance == nil)
        #expect(merged.maxPatches == nil)
        #expect(merged.grams[0]?[GramKey(layer: 0, group: 0)]?.rows == 4)
    }

    @Test("removing classes (apply --update-stats) keeps the provenance and records the classes")
    func removing() throws {
        let file = Self.part(1).removing(classes: [3, 0]).removing(classes: [5])
        #expect(file.provenance?.removedClasses == [0, 3, 5])
        #expect(file.grams.isEmpty)
        let directory = TemporaryDirectory()
        try file.write(to: directory.path("s.safetensors"))
        #expect(try Checkpoint.open(directory.path("s.safetensors")).metadata["removed_classes"] == "0,3,5")
        #expect(try StatisticsFile.read(directory.path("s.safetensors")).provenance == file.provenance)
    }

    @Test("shard sets are written as ranges and parsed back; malformed ones are rejected")
    func shardSets() {
        #expect(ShardSet(parts: [4, 1, 2, 3], count: 4).description == "1-4/4")
        #expect(ShardSet(parts: [1, 2, 4, 6, 7], count: 8).description == "1-2,4,6-7/8")
        #expect(ShardSet(parts: [1, 2, 4, 6, 7], count: 8).missing == [3, 5, 8])
        #expect(ShardSet("1-2,4,6-7/8") == ShardSet(parts: [1, 2, 4, 6, 7], count: 8))
        #expect(ShardSet("2/4") == ShardSet(DataShard(2, of: 4)))
        for bad in ["", "2", "0/4", "5/4", "1-5/4", "3-2/4", "1,1/4", "1/0", "a/4", "1/4/4", "1,/4"] {
            #expect(ShardSet(bad) == nil, "\(bad)")
        }
    }
}
