import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin, documented entry points into OpenBLAS's cblas and its thread configuration; every GEMM and
/// Gram goes here (decompositions: ``LinearAlgebra``).
package enum BLAS {
    /// The OpenBLAS build configuration string (e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ...").
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The kernel family OpenBLAS picked for this processor at load time (e.g. "Haswell",
    /// "SkylakeX"; "Prescott", its SSE3 fallback, for a processor model it does not know).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS runs on one thread, set once before the first call: TensorCore parallelises its
    /// own work over fixed pieces (``Parallel``). OpenBLAS's thread count is process-wide state;
    /// changing it while other threads are inside BLAS calls is unsafe (it can hang), and
    /// threaded kernels such as `dpotrf` round differently from single-threaded ones, so results
    /// would depend on the core count.
    ///
    /// The threaded OpenBLAS builds start their worker threads when the library is loaded and
    /// those threads spin (`sched_yield`) for about 2²⁸ cycles before they sleep: on a 2-core
    /// machine that takes a core from a short run for its first ~0.1 s. With one thread they are
    /// never used, so they are shut down here (`blas_thread_shutdown_`, looked up at run time
    /// because serial builds lack it). Call ``configureThreads()`` early, e.g. first thing in
    /// `main`; every BLAS entry point also ensures it.
    static let configured: Void = {
        openblas_set_num_threads(1)
        if let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "blas_thread_shutdown_") {
            let shutdown = unsafeBitCast(symbol, to: (@convention(c) () -> Int32).self)
            _ = shutdown()
        }
    }()

    /// Puts OpenBLAS on one thread and stops its idle worker threads (see ``configured``);
    /// idempotent and cheap after the first call.
    public static func configureThreads() { _ = configured }

    /// `C = alpha · op(A) · op(B) + beta · C`, row-major, through `cblas_sgemm`.
    /// `op(A)` is m × k, `op(B)` is k × n, C is m × n; `lda`/`ldb`/`ldc` are row strides.
    @inline(__always)
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = configured
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `C = alpha · op(A) · op(B) + beta · C` in float64, row-major, through `cblas_dgemm`.
    public static func dgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double = 1,
                             a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                             beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int) {
        _ = configured
        guard m > 0, n > 0, k > 0 else { return }
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Adds `XᵀX` of the n × d row-major float64 matrix `x` to the d × d Gram `gram`
    /// (upper triangle through `cblas_dsyrk`, then mirrored: `gram` stays fully symmetric).
    /// Indices are 32-bit (LP64 OpenBLAS): `n`, `d` must be below 2³¹.
    public static func accumulateGram(_ gram: inout [Double], rows x: [Double], n: Int, d: Int) {
        precondition(x.count == n * d)
        x.withUnsafeBufferPointer { accumulateGram(&gram, rows: $0, n: n, d: d) }
    }

    /// `accumulateGram` for the first `n · d` elements of a float64 buffer.
    public static func accumulateGram(_ gram: inout [Double], rows x: UnsafeBufferPointer<Double>, n: Int, d: Int) {
        _ = configured
        precondition(gram.count == d * d && x.count >= n * d)
        guard n > 0 else { return }
        gram.withUnsafeMutableBufferPointer { gp in
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(n), 1, x.baseAddress, Int32(d),
                        1, gp.baseAddress, Int32(d))
        }
        for i in 0..<d { for j in 0..<i { gram[i * d + j] = gram[j * d + i] } }
    }

    /// `G ← XᵀX + beta · G` on the upper triangle only (`cblas_dsyrk`): `rows` is n × d row-major
    /// float64, `gram` d × d row-major; the strict lower triangle is neither read nor written.
    public static func gramUpper(_ gram: UnsafeMutablePointer<Double>, rows: UnsafePointer<Double>, n: Int, d: Int, beta: Double) {
        _ = configured
        guard d > 0 else { return }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(n), 1, rows, Int32(d), beta, gram, Int32(d))
    }

    /// ``gramUpper(_:rows:n:d:beta:)`` in float32 (`cblas_ssyrk`): about twice the speed of the
    /// float64 form (4 lanes per SSE register instead of 2, half the bytes to pack).
    public static func gramUpper(_ gram: UnsafeMutablePointer<Float>, rows: UnsafePointer<Float>, n: Int, d: Int, beta: Float) {
        _ = configured
        guard d > 0 else { return }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(n), 1, rows, Int32(d), beta, gram, Int32(d))
    }
}
