import CLapacke

/// Decompositions and solves through LAPACKE, in float64: symmetric eigendecomposition and
/// Cholesky. Every call runs OpenBLAS on one thread (``BLAS/configureThreads()``).
package enum LinearAlgebra {
    /// Eigendecomposition of a symmetric d × d float64 matrix with `LAPACKE_dsyevd`.
    /// - Returns: eigenvalues in descending order and the matching eigenvectors as the columns of a
    ///   row-major d × d matrix, or `nil` if LAPACK did not converge.
    public static func symmetricEigen(_ matrix: [Double], d: Int) -> (values: [Double], vectors: [Double])? {
        BLAS.configureThreads()
        precondition(matrix.count == d * d)
        guard d > 0 else { return ([], []) }
        var a = matrix
        var w = [Double](repeating: 0, count: d)
        let info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "U")), Int32(d), &a, Int32(d), &w)
        guard info == 0 else { return nil }
        // LAPACK returns ascending order: reverse columns.
        var values = [Double](repeating: 0, count: d)
        var vectors = [Double](repeating: 0, count: d * d)
        for j in 0..<d {
            values[j] = w[d - 1 - j]
            for i in 0..<d { vectors[i * d + j] = a[i * d + (d - 1 - j)] }
        }
        return (values, vectors)
    }

    /// Eigenvalues only of a symmetric d × d float64 matrix (`LAPACKE_dsyevd` with jobz 'N', upper
    /// triangle), in descending order, or `nil` if LAPACK did not converge.
    public static func symmetricEigenvalues(_ matrix: [Double], d: Int) -> [Double]? {
        BLAS.configureThreads()
        precondition(matrix.count == d * d)
        guard d > 0 else { return [] }
        var a = matrix
        var w = [Double](repeating: 0, count: d)
        let info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "U")), Int32(d), &a, Int32(d), &w)
        guard info == 0 else { return nil }
        return w.reversed()
    }

    /// Cholesky factorisation `A = Uᵀ U` of a symmetric positive definite d × d float64 matrix
    /// (`LAPACKE_dpotrf`, upper triangle), in place.
    /// - Returns: `false` if `A` is not positive definite (or holds NaN).
    public static func choleskyFactor(_ a: inout [Double], d: Int) -> Bool {
        BLAS.configureThreads()
        precondition(a.count == d * d)
        guard d > 0 else { return true }
        return LAPACKE_dpotrf(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), Int32(d), &a, Int32(d)) == 0
    }

    /// Overwrites the r × d row-major `rows` with `rows · A⁻¹`, given the factor of the symmetric
    /// `A` from ``choleskyFactor(_:d:)`` (`LAPACKE_dpotrs`: row-major r × d is column-major d × r,
    /// the right-hand sides `rowsᵀ` of `A Z = rowsᵀ`).
    public static func choleskySolveRows(_ factor: [Double], d: Int, rows: UnsafeMutablePointer<Double>, count r: Int) {
        BLAS.configureThreads()
        precondition(factor.count == d * d)
        guard d > 0, r > 0 else { return }
        let info = factor.withUnsafeBufferPointer { f in
            LAPACKE_dpotrs(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), Int32(d), Int32(r), f.baseAddress, Int32(d), rows, Int32(d))
        }
        precondition(info == 0, "dpotrs rejected its arguments (\(info))")
    }

    /// ``choleskyFactor(_:d:)`` in float32 (`LAPACKE_spotrf`), for screening computations whose
    /// results are ranked, not kept.
    public static func choleskyFactor(_ a: inout [Float], d: Int) -> Bool {
        BLAS.configureThreads()
        precondition(a.count == d * d)
        guard d > 0 else { return true }
        return LAPACKE_spotrf(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), Int32(d), &a, Int32(d)) == 0
    }

    /// ``choleskySolveRows(_:d:rows:count:)`` in float32 (`LAPACKE_spotrs_work`: the factor comes
    /// from ``choleskyFactor(_:d:)-([Float],_)``, which checked it, and the grid search solves
    /// hundreds of times against it, so LAPACKE's scan of the factor and the rows for NaN on every
    /// call is skipped; a NaN in `rows` comes out as NaN in the result).
    public static func choleskySolveRows(_ factor: [Float], d: Int, rows: UnsafeMutablePointer<Float>, count r: Int) {
        BLAS.configureThreads()
        precondition(factor.count == d * d)
        guard d > 0, r > 0 else { return }
        let info = factor.withUnsafeBufferPointer { f in
            LAPACKE_spotrs_work(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), Int32(d), Int32(r), f.baseAddress, Int32(d), rows, Int32(d))
        }
        precondition(info == 0, "spotrs rejected its arguments (\(info))")
    }
}
