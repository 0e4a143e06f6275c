import TensorCore


/// The library's deterministic generator (SplitMix64), for reproducible tests.
public typealias SeededGenerator = SplitMix64
