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
package struct RetainSpace: Sendable {
    public var dimension: Int
    /// `k`, the number of protected directions.
    public var rank: Int
    /// `U_k`, row-major d × k.
    public var basis: [Double]

    /// - Returns: `nil` when LAPACK does not converge.
    public init?(gram: [Double], dimension d: Int, gamma: Double) {
        guard let (values, vectors) = LinearAlgebra.symmetricEigen(gram, d: d) else { return nil }
        let order = (0..<d).sorted { (abs(values[$0]), -$0) > (abs(values[$1]), -$1) }
        let roots = order.map { abs(values[$0]).squareRoot() }
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
        for i in 0..<d { for (j, column) in order.prefix(k).enumerated() { basis[i * k + j] = vectors[i * d + column] } }
    }

    /// `G − G P = G − (G U_k) U_kᵀ` for the `count` rows of `g` (row-major `count × d`).
    public func removingRetainComponent(_ g: [Double], count: Int) -> [Double] {
        let d = dimension, k = rank
        guard k > 0, count > 0 else { return g }
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
