import TensorCore
/// Which input vectors of each layer enter the statistics when a sample contributes many (the
/// output positions of a convolution, the tokens of a sequence).
///
/// Rule (recorded in the audit record): a layer with `p` vectors per sample over a set of `n`
/// samples keeps `k = min(p, ⌈maxPerLayer / n⌉)` vectors of every sample, so at most about
/// `maxPerLayer` (+ n) per layer, group and set — the reference implementation's cap is 10 000
/// patches per layer per set. Which `k` is the first `k` of a Fisher–Yates shuffle of `0..<p`
/// seeded by (seed, layer, group, the sample's index in the data file): the choice depends on the
/// sample, not on batch size, threading or the other samples in the set.
public struct PatchSampling: Sendable, Equatable {
    /// At most this many vectors per layer and set; 0 keeps every vector.
    public var maxPerLayer: Int
    public var seed: UInt64

    public init(maxPerLayer: Int, seed: UInt64) {
        self.maxPerLayer = maxPerLayer
        self.seed = seed
    }

    /// Every vector of every sample.
    public static let all = PatchSampling(maxPerLayer: 0, seed: 0)

    /// `k = min(p, ⌈maxPerLayer / n⌉)` (at least 1), or `p` without a cap.
    public func perSample(vectors p: Int, samples n: Int) -> Int {
        guard maxPerLayer > 0, n > 0 else { return p }
        return min(p, max(1, (maxPerLayer + n - 1) / n))
    }

    /// The `k` positions (ascending) kept from sample `sample` (its index in the data file).
    public func positions(layer: Int, group: Int, sample: Int, vectors p: Int, keep k: Int) -> [Int] {
        guard k < p else { return Array(0..<p) }
        var rng = SplitMix64(seed: seed ^ (UInt64(layer) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(group) &* 0xC2B2_AE3D_27D4_EB4F)
                             ^ (UInt64(sample) &* 0x1656_67B1_9E37_79F9))
        var order = Array(0..<p)
        for i in 0..<k {
            let j = i + Int(rng.next() % UInt64(p - i))
            order.swapAt(i, j)
        }
        return order[..<k].sorted()
    }
}
