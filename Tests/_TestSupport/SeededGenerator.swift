import TensorCore


/// The library's deterministic generator (SplitMix64), for reproducible tests.
package typealias SeededGenerator = SplitMix64
