import CBLAS
import CLapacke

/// Thin, documented entry points into OpenBLAS and LAPACKE; all GEMM and decompositions go here.
public enum BLAS {
    /// The OpenBLAS build configuration string (e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ...").
    public static var configuration: String { String(cString: openblas_get_config()) }
}
