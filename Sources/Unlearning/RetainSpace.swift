import TensorCore

/// The retain space of one weight layer (one convolution group) for projected-gradient
/// unlearning (`docs/methods.md` §3.1–3.2).
///
/// From the retain Gram `C = U diag(λ) Uᵀ` (eigenvectors by `|λ|` descending; a difference of Grams
/// can be indefinite), `s_i = √|λ_i|` and the rank
/// ```
/// k = #{ i : (s_1 + … + s_i) / Σ s ≤ γ } + 1      (at most d)
/// ```
/// — cumulative square roots of the eigenvalues, not energies. The projector is `P = U_k U_kᵀ`,
/// applied as `G − (G U_k) U_kᵀ` without forming it.
///
/// Coordinates whose row of `C` is zero (inputs no sample reached: padding-only convolution taps,
/// channels that never fire) are axes of eigenvalue 0. The decomposition runs on the other
/// coordinates alone and those axes are added back, so `U` is the same up to the choice of basis
/// within repeated eigenvalues, at a cost in the reached coordinates; while every protected
/// direction lies on them (always when γ < 1: a direction of eigenvalue 0 adds nothing to the
/// cumulative sum, so the `+ 1` lands on a nonzero one), the projection works on them alone too.
package struct RetainSpace: Sendable {
    public var dimension: Int
    /// `k`, the number of protected directions.
    public var rank: Int
    /// `U_k`, row-major d × k.
    public var basis: [Double]
    /// The reached coordinates, when they are fewer than `d` and carry every protected direction:
    /// with `U_k` restricted to them (row-major `|support| × k`), the projection's arithmetic.
    var support: (coordinates: [Int], basis: [Double])?

    /// - Returns: `nil` when LAPACK does not converge.
    public init?(gram: [Double], dimension d: Int, gamma: Double) {
        let reached = Coordinates.nonzeroRows(of: gram, dimension: d), reachedSet = Set(reached)
        let unreached = (0..<d).filter { !reachedSet.contains($0) }
        let n = reached.count
        var values = [Double](repeating: 0, count: n), vectors: [Double] = []
        if n > 0 {
            let compact = n == d ? gram : Coordinates.principalSubmatrix(gram, dimension: d, reached)
            guard let (v, u) = LinearAlgebra.symmetricEigen(compact, d: n) else { return nil }
            (values, vectors) = (v, u)
        }
        // Eigenpairs 0..<n on the reached coordinates, then the unreached axes (eigenvalue 0).
        let all = values + [Double](repeating: 0, count: d - n)
        let order = (0..<d).sorted { (abs(all[$0]), -$0) > (abs(all[$1]), -$1) }
        let roots = order.map { abs(all[$0]).squareRoot() }
        let total = roots.reduce(0, +)
        var k = 0
        if total > 0 {
            var cumulative = 0.0
            for root in roots {
                cumulative += root
                guard cumulative / total <= gamma else { break }
                k += 1
            }
            k = min(k + 1, d)
        }
        dimension = d
        rank = k
        basis = [Double](repeating: 0, count: d * k)
        for (j, column) in order.prefix(k).enumerated() {
            if column < n {
                for (i, coordinate) in reached.enumerated() { basis[coordinate * k + j] = vectors[i * n + column] }
            } else {
                basis[unreached[column - n] * k + j] = 1
            }
        }
        if n < d, k > 0, order.prefix(k).allSatisfy({ $0 < n }) {
            support = (reached, reached.flatMap { i in basis[(i * k)..<((i + 1) * k)] })
        }
    }

    /// `G − G P = G − (G U_k) U_kᵀ` for the `count` rows of `g` (row-major `count × d`).
    public func removingRetainComponent(_ g: [Double], count: Int) -> [Double] {
        guard rank > 0, count > 0 else { return g }
        guard let support else { return Self.removing(g, count: count, basis: basis, dimension: dimension, rank: rank) }
        let columns = Coordinates.gatheredColumns(g, count: count, dimension: dimension, support.coordinates)
        let removed = Self.removing(columns, count: count, basis: support.basis, dimension: support.coordinates.count, rank: rank)
        return Coordinates.scatteredColumns(removed, into: g, count: count, dimension: dimension, support.coordinates)
    }

    /// `G − (G U) Uᵀ` for `count` rows of length `d`, `U` row-major `d × k`.
    private static func removing(_ g: [Double], count: Int, basis: [Double], dimension d: Int, rank k: Int) -> [Double] {
        var coordinates = [Double](repeating: 0, count: count * k)
        var result = g
        g.withUnsafeBufferPointer { gp in basis.withUnsafeBufferPointer { u in
            coordinates.withUnsafeMutableBufferPointer { c in
                BLAS.dgemm(transA: false, transB: false, m: count, n: k, k: d, a: gp.baseAddress!, lda: d, b: u.baseAddress!, ldb: k,
                           c: c.baseAddress!, ldc: k)
            }
            coordinates.withUnsafeBufferPointer { c in result.withUnsafeMutableBufferPointer { r in
                BLAS.dgemm(transA: false, transB: true, m: count, n: d, k: k, alpha: -1, a: c.baseAddress!, lda: k, b: u.baseAddress!, ldb: k,
                           beta: 1, c: r.baseAddress!, ldc: d)
            } }
        } }
        return result
    }
}
