/// Part `index` of `count` (1-based, as the `--shard i/n` flags of common tools count) of a data
/// set, for spreading one pass over the samples across machines: ``Dataset/indices(in:)`` says
/// which samples the part holds.
public struct DataShard: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// 1…count.
    public let index: Int
    public let count: Int

    /// - Precondition: `1 ≤ index ≤ count`.
    public init(_ index: Int, of count: Int) {
        precondition(count >= 1 && (1...count).contains(index), "shard \(index)/\(count) out of range")
        self.index = index
        self.count = count
    }

    /// The whole data set (part 1 of 1).
    public static let whole = DataShard(1, of: 1)

    /// Parses `i/n` with `1 ≤ i ≤ n`; `nil` otherwise.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, (1...n).contains(i) else { return nil }
        self.init(i, of: n)
    }

    public var description: String { "\(index)/\(count)" }
}

extension Dataset {
    /// The samples of `shard`, ascending.
    ///
    /// Samples are dealt per class, so that every part sees every class with at least `count`
    /// samples: the `m` samples of a class, in file order, are cut into `count` contiguous runs,
    /// part `i` taking positions `⌊(i−1)·m/count⌋ ..< ⌊i·m/count⌋`. Without labels the whole set is
    /// cut that way. WebDataset sources are cut by whole tar shards instead (part `i` reads only
    /// its own shards: files `⌊(i−1)·S/count⌋ ..< ⌊i·S/count⌋` of the `S` shards in pattern order).
    /// The parts are disjoint and together hold every sample; the cut depends only on the labels
    /// (or the shards), never on the machine.
    /// - Throws: ``ModelError/invalidData(reason:)`` when a WebDataset source has fewer shards
    ///   than parts.
    public func indices(in shard: DataShard) throws -> [Int] {
        guard shard.count > 1 else { return Array(0..<count) }
        if let shards = imageSamples?.shardOfSample, let shardCount = imageSamples?.collection.shards.count {
            guard shardCount >= shard.count else {
                throw ModelError.invalidData(reason: "\(shard.count) parts but only \(shardCount) tar shard\(shardCount == 1 ? "" : "s"): "
                                             + "parts take whole shards; use at most \(shardCount) parts or write more shards")
            }
            let range = Self.run(shard, of: shardCount)
            return shards.indices.filter { range.contains(shards[$0]) }
        }
        var byClass: [Int: [Int]] = [:]
        for (index, label) in (labels ?? [Int](repeating: 0, count: count)).enumerated() { byClass[label, default: []].append(index) }
        var result: [Int] = []
        for members in byClass.values {
            result += Self.run(shard, of: members.count).map { members[$0] }
        }
        return result.sorted()
    }

    /// Positions `⌊(i−1)·m/n⌋ ..< ⌊i·m/n⌋` of `m` items.
    static func run(_ shard: DataShard, of m: Int) -> Range<Int> {
        (shard.index - 1) * m / shard.count ..< shard.index * m / shard.count
    }
}
