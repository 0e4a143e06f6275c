import Foundation
import Testing
@testable import TensorCore

/// The branch-free erf (exact GELU) and exp (softmax) against float64 functions of the C library.
@Suite("vectorisable erf, GELU and exp")
struct VectorisableMathTests {
    /// Every 1/4096 on [−8, 8], plus zeros, subnormals and the clamp points.
    static let points: [Float] = (-32768...32768).map { Float($0) / 4096 } + [1e-40, -1e-40, 1e-30, -1e-30, 3.925, -3.925, 3.9249999, 1e4, -1e4]

    @Test("erf within 4e-7 absolute and relative of float64 erf (one subnormal step below the normal range); odd; ±1 at the clamp")
    func erfAccuracy() {
        var worstAbsolute = 0.0, worstRelative = 0.0
        for x in Self.points {
            let approx = Double(Elementwise.rationalErf(x)), exact = Foundation.erf(Double(x))
            worstAbsolute = max(worstAbsolute, abs(approx - exact))
            if abs(exact) >= Double(Float.leastNormalMagnitude) {
                worstRelative = max(worstRelative, abs(approx - exact) / abs(exact))
            } else {
                #expect(abs(approx - exact) <= Double(Float.leastNonzeroMagnitude), "x = \(x)")
            }
            #expect(Elementwise.rationalErf(-x) == -Elementwise.rationalErf(x))
        }
        #expect(worstAbsolute <= 4e-7)
        #expect(worstRelative <= 4e-7)
        #expect(Elementwise.rationalErf(100) == 1 && Elementwise.rationalErf(-100) == -1)
        #expect(Elementwise.rationalErf(.nan).isNaN)
    }

    @Test("exact GELU within 2e-7·|x| of x Φ(x) in float64, and 0 far in the negative tail")
    func geluAccuracy() {
        let x = Tensor(shape: [Self.points.count], data: Self.points)
        let y = Elementwise.gelu(x, .none)
        for (v, g) in zip(Self.points, y.data) {
            let exact = 0.5 * Double(v) * (1 + Foundation.erf(Double(v) / 2.0.squareRoot()))
            #expect(abs(Double(g) - exact) <= 2e-7 * max(abs(Double(v)), 1e-30) + Double(Float.ulpOfOne) * abs(exact), "x = \(v)")
        }
        #expect(Elementwise.gelu(Tensor(shape: [2], data: [-6, -100]), .none).data == [0, 0])
    }

    @Test("e^x for x ≤ 0 within 2.5e-7 relative of float64 exp; 0 below −87.33; NaN stays NaN")
    func exponentialAccuracy() {
        var worst = 0.0
        for i in 0...2_000_000 {
            let x = -Float(i) * 87.33 / 2_000_000
            let approx = Double(Normalization.exponentialOfNonPositive(x)), exact = Foundation.exp(Double(x))
            worst = max(worst, abs(approx - exact) / exact)
        }
        #expect(worst <= 2.5e-7)
        #expect(Normalization.exponentialOfNonPositive(0) == 1)
        #expect(Normalization.exponentialOfNonPositive(-87.4) == 0 && Normalization.exponentialOfNonPositive(-.infinity) == 0)
        #expect(Normalization.exponentialOfNonPositive(.nan).isNaN)
    }

    @Test("softmax rows sum to 1 and match float64 softmax; a row with −∞ entries gives them 0; a non-last axis gives the same values")
    func softmaxRows() {
        let row: [Float] = [3, -1, 0.5, -80, 2.25, -.infinity, 10, 9.5]
        let y = Normalization.softmax(Tensor(shape: [2, 4], data: row), axis: 1)
        for r in 0..<2 {
            let x = row[(r * 4)..<(r * 4 + 4)].map(Double.init), m = x.max()!
            let e = x.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
            for c in 0..<4 { #expect(abs(Double(y.data[r * 4 + c]) - e[c] / total) <= 1e-6 * max(e[c] / total, 1e-30) + 1e-30) }
        }
        #expect(y.data[5] == 0)
        // Along axis 0 (a strided line per column): the same values as the rows of the transpose.
        func transposed(_ i: Int) -> Int { (i % 2) * 4 + i / 2 }   // [4, 2] index → [2, 4] index
        let columns = Normalization.softmax(Tensor(shape: [4, 2], data: (0..<8).map { row[transposed($0)] }), axis: 0)
        for i in 0..<8 { #expect(columns.data[i] == y.data[transposed(i)]) }
    }
}
