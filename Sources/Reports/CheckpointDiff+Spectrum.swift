import TensorCore
import WeightFormats

extension CheckpointDiff {
    /// The numerical rank and leading singular values of Δ from its Gram on the smaller side.
    static func spectrum(_ r: inout TensorDifference, gram: [Double], side: Int, rows m: Int, columns: Int, dtypes: (DType, DType), options: Options) {
        guard let eigenvalues = LinearAlgebra.symmetricEigenvalues(gram, d: side) else {
            r.spectrumSkipped = "the eigensolver did not converge"
            return
        }
        let values = eigenvalues.map { max($0, 0).squareRoot() }
        let epsilon = dtypes.0 == .F64 && dtypes.1 == .F64 ? Double.ulpOfOne : Double(Float.ulpOfOne)
        let tolerance = (values.first ?? 0) * max(Double(max(m, columns)) * epsilon, (Double(side) * Double.ulpOfOne).squareRoot())
        r.rank = values.prefix { $0 > tolerance }.count
        r.singularValues = Array(values.prefix(options.singularValues))
    }

    /// All singular values of the row-major `rows × columns` matrix, largest first, from the
    /// eigenvalues of its Gram on the smaller side.
    public static func singularValues(_ matrix: [Double], rows m: Int, columns n: Int) -> [Double]? {
        let side = min(m, n)
        var gram = [Double](repeating: 0, count: side * side)
        if n <= m {
            BLAS.accumulateGram(&gram, rows: matrix, n: m, d: n)          // ΔᵀΔ, n × n
        } else {
            var transposed = [Double](repeating: 0, count: m * n)        // Δᵀ as n rows of m
            for i in 0..<m { for j in 0..<n { transposed[j * m + i] = matrix[i * n + j] } }
            BLAS.accumulateGram(&gram, rows: transposed, n: n, d: m)     // ΔΔᵀ, m × m
        }
        return LinearAlgebra.symmetricEigenvalues(gram, d: side)?.map { max($0, 0).squareRoot() }
    }
}
