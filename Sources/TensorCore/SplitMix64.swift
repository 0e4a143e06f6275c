/// A small deterministic generator (SplitMix64): the same seed gives the same selection on
/// every machine.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `0..<n` by rejection: draws 64-bit words `r` until `r ≥ 2⁶⁴ mod n` and returns
    /// `r mod n` (exactly uniform).
    public mutating func uniform(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        let threshold = (0 &- bound) % bound   // 2⁶⁴ mod n
        while true {
            let r = next()
            if r >= threshold { return Int(r % bound) }
        }
    }
}
