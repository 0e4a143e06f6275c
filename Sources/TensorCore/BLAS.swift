import CBLAS
import CLapacke

/// Thin, documented entry points into OpenBLAS and LAPACKE; every GEMM and decomposition goes here.
public enum BLAS {
    /// OpenBLAS's threaded build is not safe to enter from several threads at once (its buffer
    /// pool races); every call below holds this lock. The tool itself runs one model at a time.
    private static let lock = BLASLock()

    /// The OpenBLAS build configuration string (e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ...").
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// `C = alpha · op(A) · op(B) + beta · C`, row-major, through `cblas_sgemm`.
    /// `op(A)` is m × k, `op(B)` is k × n, C is m × n; `lda`/`ldb`/`ldc` are row strides.
    @inline(__always)
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) } }
            return
        }
        lock.lock(); defer { lock.unlock() }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `C = alpha · op(A) · op(B) + beta · C` in float64, row-major, through `cblas_dgemm`.
    public static func dgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double = 1,
                             a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                             beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int) {
        guard m > 0, n > 0, k > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Adds `XᵀX` of the n × d row-major float64 matrix `x` to the d × d Gram `gram`
    /// (upper triangle through `cblas_dsyrk`, then mirrored).
    public static func accumulateGram(_ gram: inout [Double], rows x: [Double], n: Int, d: Int) {
        precondition(gram.count == d * d && x.count == n * d)
        guard n > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        x.withUnsafeBufferPointer { xp in
            gram.withUnsafeMutableBufferPointer { gp in
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(n), 1, xp.baseAddress, Int32(d),
                            1, gp.baseAddress, Int32(d))
            }
        }
        for i in 0..<d { for j in 0..<i { gram[i * d + j] = gram[j * d + i] } }
    }

    /// Adds `C Cᵀ` of the d × n row-major float64 matrix `columns` (its columns are the vectors)
    /// to the d × d Gram `gram`.
    public static func accumulateGram(_ gram: inout [Double], columns c: [Double], d: Int, n: Int) {
        precondition(gram.count == d * d && c.count == n * d)
        guard n > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        c.withUnsafeBufferPointer { cp in
            gram.withUnsafeMutableBufferPointer { gp in
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(d), Int32(n), 1, cp.baseAddress, Int32(n),
                            1, gp.baseAddress, Int32(d))
            }
        }
        for i in 0..<d { for j in 0..<i { gram[i * d + j] = gram[j * d + i] } }
    }

    /// Eigendecomposition of a symmetric d × d float64 matrix with `LAPACKE_dsyevd`.
    /// - Returns: eigenvalues in descending order and the matching eigenvectors as the columns of a
    ///   row-major d × d matrix, or `nil` if LAPACK did not converge.
    public static func symmetricEigen(_ matrix: [Double], d: Int) -> (values: [Double], vectors: [Double])? {
        precondition(matrix.count == d * d)
        guard d > 0 else { return ([], []) }
        var a = matrix
        var w = [Double](repeating: 0, count: d)
        lock.lock(); defer { lock.unlock() }
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
}

#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex usable from any thread.
final class BLASLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    func lock() { pthread_mutex_lock(&mutex) }
    func unlock() { pthread_mutex_unlock(&mutex) }
    deinit { pthread_mutex_destroy(&mutex) }
}
