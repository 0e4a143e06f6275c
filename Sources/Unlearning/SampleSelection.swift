import TensorCore

/// Which samples of a labelled data set serve as retain, forget and validation samples.
public struct SampleSelection: Sendable, Equatable {
    public var retain: [Int]
    public var forget: [Int]
    /// Held out for `--search` (never used for statistics).
    public var validation: [Int]

    /// Picks up to `retainCount` samples spread evenly over the retained classes (every class
    /// present except the forget classes) and up to `forgetCount` spread over the forget classes,
    /// after holding out `validationFraction` of every class; seeded.
    public static func make(labels: [Int], forget: Set<Int>, retainCount: Int, forgetCount: Int,
                            validationFraction: Double, seed: UInt64) -> SampleSelection {
        var rng = SplitMix64(seed: seed)
        var byClass: [Int: [Int]] = [:]
        for (index, label) in labels.enumerated() { byClass[label, default: []].append(index) }
        var validation: [Int] = []
        var pool: [Int: [Int]] = [:]
        for label in byClass.keys.sorted() {
            let shuffled = byClass[label]!.shuffled(using: &rng)
            let held = validationFraction > 0 ? max(1, Int((Double(shuffled.count) * validationFraction).rounded())) : 0
            validation += shuffled.prefix(min(held, shuffled.count - 1))
            pool[label] = Array(shuffled.dropFirst(min(held, shuffled.count - 1)))
        }
        func spread(_ classes: [Int], total: Int) -> [Int] {
            guard !classes.isEmpty else { return [] }
            var picked: [Int] = []
            var quota = [Int](repeating: total / classes.count, count: classes.count)
            for i in 0..<(total % classes.count) { quota[i] += 1 }
            // Classes with fewer samples than their quota give the rest to the others.
            var spare = 0
            for (i, c) in classes.enumerated() where pool[c, default: []].count < quota[i] {
                spare += quota[i] - pool[c, default: []].count
                quota[i] = pool[c, default: []].count
            }
            for (i, c) in classes.enumerated() where spare > 0 {
                let extra = min(spare, pool[c, default: []].count - quota[i])
                quota[i] += extra
                spare -= extra
            }
            for (i, c) in classes.enumerated() { picked += pool[c, default: []].prefix(quota[i]) }
            return picked.sorted()
        }
        let classes = pool.keys.sorted()
        return SampleSelection(retain: spread(classes.filter { !forget.contains($0) }, total: retainCount),
                               forget: spread(classes.filter { forget.contains($0) }, total: forgetCount),
                               validation: validation.sorted())
    }

    /// Samples per class among `indices`.
    public static func countsPerClass(_ indices: [Int], labels: [Int]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for i in indices { counts[String(labels[i]), default: 0] += 1 }
        return counts
    }
}
