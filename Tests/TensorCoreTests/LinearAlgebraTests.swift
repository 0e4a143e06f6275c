import Testing
import TensorCore
import _TestSupport

@Suite("BLAS and LinearAlgebra (LAPACK) helpers")
struct LinearAlgebraTests {
    @Test("accumulated Grams equal XᵀX over all rows, batch by batch")
    func gramAccumulation() {
        var rng = SeededGenerator(seed: 1)
        let d = 5, n = 9
        let x = (0..<(n * d)).map { _ in Double.random(in: -1...1, using: &rng) }
        var gram = [Double](repeating: 0, count: d * d)
        BLAS.accumulateGram(&gram, rows: Array(x[0..<(4 * d)]), n: 4, d: d)
        BLAS.accumulateGram(&gram, rows: Array(x[(4 * d)...]), n: 5, d: d)
        for i in 0..<d {
            for j in 0..<d {
                let expected = (0..<n).reduce(0.0) { $0 + x[$1 * d + i] * x[$1 * d + j] }
                #expect(abs(gram[i * d + j] - expected) < 1e-12)
            }
        }
    }

    @Test("gramUpper: the upper triangle becomes XᵀX + β·G, the strict lower triangle is not touched")
    func gramUpperTriangle() {
        var rng = SeededGenerator(seed: 4)
        let d = 4, n = 300
        let x = (0..<(n * d)).map { _ in Double.random(in: -1...1, using: &rng) }
        for beta in [0.0, 1.0] {
            var gram = (0..<(d * d)).map { Double($0) }
            let before = gram
            gram.withUnsafeMutableBufferPointer { g in x.withUnsafeBufferPointer { BLAS.gramUpper(g.baseAddress!, rows: $0.baseAddress!, n: n, d: d, beta: beta) } }
            for i in 0..<d {
                for j in 0..<d {
                    if j < i {
                        #expect(gram[i * d + j] == before[i * d + j])
                    } else {
                        let expected = (0..<n).reduce(0.0) { $0 + x[$1 * d + i] * x[$1 * d + j] } + beta * before[i * d + j]
                        #expect(abs(gram[i * d + j] - expected) < 1e-10, "β \(beta), G[\(i), \(j)]")
                    }
                }
            }
        }
    }

    @Test("symmetric eigendecomposition: descending values, orthonormal vectors, U Λ Uᵀ = A")
    func eigen() throws {
        var rng = SeededGenerator(seed: 2)
        let d = 6
        let b = (0..<(d * d)).map { _ in Double.random(in: -1...1, using: &rng) }
        var a = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { a[i * d + j] = (0..<d).reduce(0.0) { $0 + b[$1 * d + i] * b[$1 * d + j] } } }
        let (values, vectors) = try #require(LinearAlgebra.symmetricEigen(a, d: d))
        #expect(zip(values, values.dropFirst()).allSatisfy { $0 >= $1 })
        for i in 0..<d {
            for j in 0..<d {
                let reconstructed = (0..<d).reduce(0.0) { $0 + vectors[i * d + $1] * values[$1] * vectors[j * d + $1] }
                #expect(abs(reconstructed - a[i * d + j]) < 1e-10)
                let dot = (0..<d).reduce(0.0) { $0 + vectors[$1 * d + i] * vectors[$1 * d + j] }
                #expect(abs(dot - (i == j ? 1 : 0)) < 1e-10)
            }
        }
    }

    @Test("sgemm with transposes matches a direct sum")
    func sgemm() {
        let a: [Float] = [1, 2, 3, 4, 5, 6]        // 2×3
        let b: [Float] = [1, 0, -1, 2, 0.5, 1]     // stored 2×3, used transposed (3×2)
        var c = [Float](repeating: 0, count: 4)
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            BLAS.sgemm(transA: false, transB: true, m: 2, n: 2, k: 3, a: ap.baseAddress!, lda: 3, b: bp.baseAddress!, ldb: 3, c: cp.baseAddress!, ldc: 2)
        } } }
        let expected: [Float] = [-2, 6, -2, 16.5]   // rows of a · columns of bᵀ
        #expect(c == expected)
    }
}
