import TensorCore

extension Tensor {
    /// A tensor of `shape` with elements uniform in `range`, from a seeded generator.
    public static func random<G: RandomNumberGenerator>(_ shape: [Int], in range: ClosedRange<Float> = -1.5...1.5, using generator: inout G) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &generator) })
    }

    /// A tensor of `shape` whose elements are distinct, at least 0.1 apart and away from 0 (no
    /// ReLU kink or max-pool tie within a finite-difference step), in a seeded order.
    public static func distinct<G: RandomNumberGenerator>(_ shape: [Int], using generator: inout G) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape, data: (0..<count).map { Float($0 - count / 2) * 0.1 + 0.05 }.shuffled(using: &generator))
    }
}
