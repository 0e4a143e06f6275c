import ModelRuntime

/// Where a statistics file came from: the model and data it was collected on, which parts of the
/// data it holds, and the patch-sampling seed (the cap is ``StatisticsFile/maxPatches``). `stats
/// merge` sums only files that agree on everything but the parts (`Formats/stats.md`).
public struct StatisticsProvenance: Sendable, Equatable {
    /// SHA-256 of the model file the statistics were collected on (`nil`: not known).
    public var modelSHA256: String?
    /// ``Dataset/fingerprint()`` of the whole data set (`nil`: samples built in memory).
    public var dataFingerprint: String?
    /// The parts of the data set the file holds.
    public var shards: ShardSet
    /// Samples behind the file (the parts' samples).
    public var samples: Int
    /// Samples in the whole data set.
    public var dataSamples: Int
    /// The seed of the ``PatchSampling`` that chose the vectors of each sample.
    public var seed: UInt64
    /// Classes removed by `apply --update-stats` (ascending).
    public var removedClasses: [Int]
    /// Merged with parts missing (`stats merge --allow-partial`): ``shards`` is incomplete.
    public var partial: Bool

    public init(modelSHA256: String?, dataFingerprint: String?, shards: ShardSet, samples: Int, dataSamples: Int, seed: UInt64,
                removedClasses: [Int] = [], partial: Bool = false) {
        self.modelSHA256 = modelSHA256
        self.dataFingerprint = dataFingerprint
        self.shards = shards
        self.samples = samples
        self.dataSamples = dataSamples
        self.seed = seed
        self.removedClasses = removedClasses
        self.partial = partial
    }

    /// The metadata fields (`Formats/stats.md`): `model_sha256` and `data_fingerprint` when
    /// known, `shards`, `samples`, `data_samples`, `seed`, `removed_classes` when classes were
    /// removed, `missing_shards` when ``partial``.
    var metadata: [String: String] {
        var fields = ["shards": shards.description, "samples": String(samples), "data_samples": String(dataSamples), "seed": String(seed)]
        if let modelSHA256 { fields["model_sha256"] = modelSHA256 }
        if let dataFingerprint { fields["data_fingerprint"] = dataFingerprint }
        if !removedClasses.isEmpty { fields["removed_classes"] = removedClasses.map(String.init).joined(separator: ",") }
        if partial { fields["missing_shards"] = ShardSet.ranges(shards.missing) }
        return fields
    }

    /// The provenance in `metadata`, `nil` when it has none (a file written before it was recorded).
    /// - Throws: ``StatisticsError/malformedMetadata(_:)`` naming a field that does not parse.
    init?(metadata: [String: String]) throws {
        guard let text = metadata["shards"] else { return nil }
        func field<T>(_ name: String, _ parse: (String) -> T?) throws -> T {
            guard let value = metadata[name].flatMap(parse) else { throw StatisticsError.malformedMetadata(name) }
            return value
        }
        let shards = try field("shards") { _ in ShardSet(text) }
        var removed: [Int] = []
        if let list = metadata["removed_classes"] {
            removed = try list.split(separator: ",").map { item in
                guard let label = Int(item), label >= 0 else { throw StatisticsError.malformedMetadata("removed_classes") }
                return label
            }
        }
        self.init(modelSHA256: metadata["model_sha256"], dataFingerprint: metadata["data_fingerprint"], shards: shards,
                  samples: try field("samples") { Int($0) }, dataSamples: try field("data_samples") { Int($0) },
                  seed: try field("seed") { UInt64($0) }, removedClasses: removed, partial: metadata["missing_shards"] != nil)
    }
}

/// A set of parts `i` of `count` (1-based), written `2/4`, `1-4/4` or `1-2,4/4`.
public struct ShardSet: Sendable, Equatable, CustomStringConvertible {
    /// Ascending, each in 1…count.
    public let parts: [Int]
    public let count: Int

    /// - Precondition: every part in `1...count`, no duplicates.
    public init(parts: [Int], count: Int) {
        let sorted = parts.sorted()
        precondition(count >= 1 && sorted.allSatisfy { (1...count).contains($0) } && Set(sorted).count == sorted.count, "bad shard set")
        self.parts = sorted
        self.count = count
    }

    /// The single part `shard`.
    public init(_ shard: DataShard) { self.init(parts: [shard.index], count: shard.count) }

    /// Parses the ``description`` form; `nil` when malformed, out of range or repeating a part.
    public init?(_ text: String) {
        let halves = text.split(separator: "/", omittingEmptySubsequences: false)
        guard halves.count == 2, let count = Int(halves[1]), count >= 1 else { return nil }
        var parts: [Int] = []
        for item in halves[0].split(separator: ",", omittingEmptySubsequences: false) {
            let ends = item.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(ends.count), let first = Int(ends[0]), let last = Int(ends[ends.count - 1]), first <= last,
                  first >= 1, last <= count else { return nil }
            parts += Array(first...last)
        }
        guard Set(parts).count == parts.count else { return nil }
        self.init(parts: parts, count: count)
    }

    /// Every part present.
    public var isComplete: Bool { parts.count == count }

    /// The parts not present, ascending.
    public var missing: [Int] { Array(Set(1...count).subtracting(parts)).sorted() }

    /// Runs of consecutive parts as `a-b`, separated by commas, then `/count`.
    public var description: String { "\(Self.ranges(parts))/\(count)" }

    /// `1-3,5` for `[1, 2, 3, 5]`.
    public static func ranges(_ values: [Int]) -> String {
        var items: [String] = []
        var index = 0
        while index < values.count {
            var end = index
            while end + 1 < values.count && values[end + 1] == values[end] + 1 { end += 1 }
            items.append(end == index ? "\(values[index])" : "\(values[index])-\(values[end])")
            index = end + 1
        }
        return items.joined(separator: ",")
    }
}
