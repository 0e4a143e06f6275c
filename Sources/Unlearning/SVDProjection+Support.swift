extension SVDProjection {
    /// The inputs of space `key` that some sample reached: the coordinates where the retain or the
    /// forget Gram has a nonzero diagonal, ascending; `nil` when that is all of them (or none).
    ///
    /// A coordinate no input vector ever reached (a convolution tap that only reads zero padding,
    /// as the 3 × 3 taps around the centre do on a 1 × 1 feature map; a ReLU channel that never
    /// fires) has a zero diagonal, so a zero row and column in both Grams (they are positive
    /// semidefinite). With the coordinates ordered support first, `Ĉ = [[Ĉ_S, 0], [0, 0]]`, so
    /// `A = [[A_S, 0], [0, I]]`, `M = [[M_S, 0], [0, 0]]` and the edit
    /// ```
    /// X' = X − X (I − M_r) M_f = [X_S − X_S (I − M_r,S) M_f,S,  X_N]
    /// ```
    /// is the same edit on the support alone, with the other columns of `X` unchanged: exact, at
    /// a cost in `|S|` instead of `d` (on a CIFAR-size input to an ImageNet ResNet, the last stage's
    /// 3 × 3 convolutions keep 512 of their 4608 inputs).
    func support(_ key: GramKey) -> [Int]? {
        guard let r = retain[key], let f = forget[key] else { return nil }
        let d = r.dimension
        let support = (0..<d).filter { r.normalized[$0 * d + $0] != 0 || f.normalized[$0 * d + $0] != 0 }
        return support.isEmpty || support.count == d ? nil : support
    }
}

extension SVDProjection.Space {
    /// The space on the coordinates `support` (``SVDProjection/support(_:)``): `Ĉ_S`, with the
    /// same trace, vector count and effective rank, since the coordinates left out are zero.
    func restricted(to support: [Int]) -> Self {
        var space = self
        let d = dimension
        space.normalized = Coordinates.principalSubmatrix(normalized, dimension: d, support)
        space.dimension = support.count
        return space
    }
}
