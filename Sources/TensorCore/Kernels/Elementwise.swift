#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Elementwise kernels: one-input functions, GELU, and two-input operators with numpy
/// broadcasting, each with its gradient. Loops run over raw buffers, one operator switch per call.
package enum Elementwise {
    // MARK: One input

    /// `f(x)` elementwise.
    public static func unary(_ op: UnaryOperator, _ x: Tensor) -> Tensor {
        var y = x
        y.data.withUnsafeMutableBufferPointer { p in
            let n = p.count
            switch op {
            case .relu: for i in 0..<n { p[i] = p[i] > 0 ? p[i] : 0 }
            case .erf: for i in 0..<n { p[i] = erff(p[i]) }
            case .sqrt: for i in 0..<n { p[i] = p[i].squareRoot() }
            case .sigmoid: for i in 0..<n { p[i] = sigmoid(p[i]) }
            case .tanh: for i in 0..<n { p[i] = tanhf(p[i]) }
            case .neg: for i in 0..<n { p[i] = -p[i] }
            case .exp: for i in 0..<n { p[i] = expf(p[i]) }
            case .log: for i in 0..<n { p[i] = logf(p[i]) }
            case .abs: for i in 0..<n { p[i] = Swift.abs(p[i]) }
            case .reciprocal: for i in 0..<n { p[i] = 1 / p[i] }
            case .hardSwish: for i in 0..<n { p[i] = hardSwish(p[i]) }
            }
        }
        return y
    }

    /// `x · min(max(x + 3, 0), 6) / 6`, in PyTorch's order of operations.
    @inline(__always)
    static func hardSwish(_ x: Float) -> Float {
        var r = x + 3
        r = r > 0 ? r : 0
        r = r < 6 ? r : 6
        return x * r / 6
    }

    /// `dx = dy ⊙ f′(x)`, from the input `x` and the forward output `y`.
    public static func unaryBackward(_ op: UnaryOperator, input x: Tensor, output y: Tensor, outputGradient dy: Tensor) -> Tensor {
        if op == .relu {
            // A select into a fresh buffer (no copy of dy first, no branch in the loop).
            var dx = Tensor(shape: dy.shape, data: uninitializedFloats(dy.count))
            x.data.withUnsafeBufferPointer { xp in dy.data.withUnsafeBufferPointer { gp in dx.data.withUnsafeMutableBufferPointer { out in
                for i in 0..<out.count { out[i] = xp[i] > 0 ? gp[i] : 0 }
            } } }
            return dx
        }
        var dx = dy
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeBufferPointer { yp in dx.data.withUnsafeMutableBufferPointer { g in
            let n = g.count
            switch op {
            case .relu: preconditionFailure("handled above")
            case .erf: for i in 0..<n { g[i] *= 1.1283791671 * expf(-xp[i] * xp[i]) }   // 2/√π e^{−x²}
            case .sqrt: for i in 0..<n { g[i] *= 0.5 / yp[i] }
            case .sigmoid: for i in 0..<n { g[i] *= yp[i] * (1 - yp[i]) }
            case .tanh: for i in 0..<n { g[i] *= 1 - yp[i] * yp[i] }
            case .neg: for i in 0..<n { g[i] = -g[i] }
            case .exp: for i in 0..<n { g[i] *= yp[i] }
            case .log: for i in 0..<n { g[i] /= xp[i] }
            case .abs: for i in 0..<n { g[i] *= xp[i] > 0 ? 1 : (xp[i] < 0 ? -1 : 0) }
            case .reciprocal: for i in 0..<n { g[i] *= -yp[i] * yp[i] }
            case .hardSwish: for i in 0..<n { let v = xp[i]; g[i] *= v <= -3 ? 0 : (v >= 3 ? 1 : (2 * v + 3) / 6) }
            }
        } } }
        return dx
    }

    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        // Stable for large |x|.
        if x >= 0 { return 1 / (1 + expf(-x)) }
        let e = expf(x)
        return e / (1 + e)
    }

    // MARK: Clip and hard sigmoid

    /// `min(max(x, lower), upper)` with absent bounds left out (NaN stays NaN; where
    /// `lower > upper` the result is `upper`).
    public static func clip(_ x: Tensor, lower: Float?, upper: Float?) -> Tensor {
        var y = x
        let low = lower ?? -.infinity, high = upper ?? .infinity
        y.data.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                var v = p[i]
                v = v < low ? low : v
                v = v > high ? high : v
                p[i] = v
            }
        }
        return y
    }

    /// Gradients of ``clip(_:lower:upper:)``: `dy` to `x` strictly between the bounds; to the
    /// upper bound where `max(x, lower) ≥ upper`, to the lower bound where `x ≤ lower < upper`
    /// (each bound's gradient summed over the elements).
    public static func clipBackward(_ x: Tensor, lower: Float?, upper: Float?, outputGradient dy: Tensor)
        -> (input: Tensor, lower: Float, upper: Float) {
        var dx = dy
        var gLow: Float = 0, gHigh: Float = 0
        let low = lower ?? -.infinity, high = upper ?? .infinity
        x.data.withUnsafeBufferPointer { xp in dx.data.withUnsafeMutableBufferPointer { g in
            for i in 0..<g.count {
                let v = xp[i]
                let lowered = !(v > low)
                let m = lowered ? low : v
                if m >= high { gHigh += g[i]; g[i] = 0 }
                else if lowered { gLow += g[i]; g[i] = 0 }
            }
        } }
        return (dx, gLow, gHigh)
    }

    /// `max(0, min(1, α x + β))`.
    public static func hardSigmoid(_ x: Tensor, alpha: Float, beta: Float) -> Tensor {
        var y = x
        y.data.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                var v = alpha * p[i] + beta
                v = v > 0 ? v : 0
                p[i] = v < 1 ? v : 1
            }
        }
        return y
    }

    /// `dx = α dy` where `0 < α x + β < 1`, else 0.
    public static func hardSigmoidBackward(_ x: Tensor, alpha: Float, beta: Float, outputGradient dy: Tensor) -> Tensor {
        var dx = dy
        x.data.withUnsafeBufferPointer { xp in dx.data.withUnsafeMutableBufferPointer { g in
            for i in 0..<g.count {
                let v = alpha * xp[i] + beta
                g[i] = v > 0 && v < 1 ? alpha * g[i] : 0
            }
        } }
        return dx
    }

    // MARK: GELU

    /// erf(x) as `x P(x²) / Q(x²)` with P and Q of degree 5, for `|x| ≤ 3.925` (beyond, ±1: erf
    /// differs from ±1 by less than 3·10⁻⁸ there). The coefficients are a weighted least-squares
    /// fit of the relative error by `Tests/TensorCoreTests/Fixtures/erf_fit.py` (4·10⁻⁸ in float64);
    /// evaluated in float32 the error is at most 4·10⁻⁷ absolute and relative (tested against
    /// float64 `erf` over the whole line).
    @inline(__always)
    static func rationalErf(_ x: Float) -> Float {
        // Clamps by compare-and-select (Swift's min/max branch on NaN, which keeps the loop scalar).
        let c = x < -3.925 ? -3.925 : (x > 3.925 ? 3.925 : x), t = c * c
        var p: Float = 2.0834553108028953e-06
        p = p * t + 0.0002846493336205562
        p = p * t + 0.003691543813899423
        p = p * t + 0.052523691457798005
        p = p * t + 0.18848813554025537
        p = p * t + 1.128379151658149
        var q: Float = 3.84255285441823e-05
        q = q * t + 0.001147270905357379
        q = q * t + 0.014819260834268003
        q = q * t + 0.1133423555056431
        q = q * t + 0.5003761446057937
        q = q * t + 1
        let erf = c * p / q
        return erf > 1 ? 1 : (erf < -1 ? -1 : erf)
    }

    static let sqrtTwoOverPi: Float = 0.7978845608028654
    static let invSqrtTwo: Float = 0.7071067811865476
    static let invSqrtTwoPi: Float = 0.3989422804014327

    /// GELU elementwise: `x Φ(x) = ½ x (1 + erf(x / √2))`, or its tanh form.
    ///
    /// The exact form evaluates erf with ``rationalErf(_:)``, a branch-free rational function the
    /// compiler vectorises (glibc's `erff` is a scalar call: it took 14 % of an SVD statistics pass
    /// over the ViT sample). `|gelu − x Φ(x)| ≤ 2·10⁻⁷ |x|`; at `x ≤ −5.55` the result is 0
    /// (the true value is below 8·10⁻⁸ in magnitude).
    public static func gelu(_ x: Tensor, _ approximation: GeluApproximation) -> Tensor {
        // Into a fresh tensor (a copy of x changed in place would stream the activations twice).
        var y = Tensor(uninitialized: x.shape)
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            let u = xp.baseAddress!, v = yp.baseAddress!
            switch approximation {
            case .none: for i in 0..<xp.count { v[i] = 0.5 * u[i] * (1 + rationalErf(u[i] * invSqrtTwo)) }
            case .tanh: for i in 0..<xp.count { let a = u[i]; v[i] = 0.5 * a * (1 + tanhf(sqrtTwoOverPi * (a + 0.044715 * a * a * a))) }
            }
        } }
        return y
    }

    /// `dx = dy ⊙ gelu′(x)`: `Φ(x) + x φ(x)`, or the derivative of the tanh form.
    ///
    /// With the forward result `output` (`y = x Φ(x)`) the exact form takes `Φ(x) = y / x` (½ where
    /// `x` is 0 or subnormal) instead of evaluating `erf` again.
    public static func geluBackward(_ x: Tensor, _ approximation: GeluApproximation, output: Tensor? = nil,
                                    outputGradient dy: Tensor) -> Tensor {
        var dx = dy
        if approximation == .none, let output, output.count == x.count {
            x.data.withUnsafeBufferPointer { xp in output.data.withUnsafeBufferPointer { yp in dx.data.withUnsafeMutableBufferPointer { g in
                for i in 0..<g.count {
                    let v = xp[i]
                    let cdf = abs(v) >= Float.leastNormalMagnitude ? yp[i] / v : 0.5
                    g[i] *= cdf + v * expf(-0.5 * v * v) * invSqrtTwoPi
                }
            } } }
            return dx
        }
        x.data.withUnsafeBufferPointer { xp in dx.data.withUnsafeMutableBufferPointer { g in
            switch approximation {
            case .none:
                for i in 0..<g.count {
                    let v = xp[i]
                    g[i] *= 0.5 * (1 + rationalErf(v * invSqrtTwo)) + v * expf(-0.5 * v * v) * invSqrtTwoPi
                }
            case .tanh:
                for i in 0..<g.count {
                    let v = xp[i]
                    let t = tanhf(sqrtTwoOverPi * (v + 0.044715 * v * v * v))
                    g[i] *= 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * sqrtTwoOverPi * (1 + 3 * 0.044715 * v * v)
                }
            }
        } }
        return dx
    }

    // MARK: Two inputs

    /// `a ∘ b` with numpy broadcasting, or `nil` if the shapes do not broadcast.
    public static func binary(_ op: BinaryOperator, _ a: Tensor, _ b: Tensor) -> Tensor? {
        guard let target = Broadcasting.shape(a.shape, b.shape) else { return nil }
        var y = Tensor(uninitialized: target)
        let sa = Broadcasting.strides(of: a.shape, broadcastTo: target), sb = Broadcasting.strides(of: b.shape, broadcastTo: target)
        a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in y.data.withUnsafeMutableBufferPointer { yp in
            Broadcasting.forEachRow(target, sa, sb) { o, i, j, n, si, sj in
                switch op {
                case .add: combineRow(yp, o, ap, i, si, bp, j, sj, n) { $0 + $1 }
                case .sub: combineRow(yp, o, ap, i, si, bp, j, sj, n) { $0 - $1 }
                case .mul: combineRow(yp, o, ap, i, si, bp, j, sj, n) { $0 * $1 }
                case .div: combineRow(yp, o, ap, i, si, bp, j, sj, n) { $0 / $1 }
                case .pow: combineRow(yp, o, ap, i, si, bp, j, sj, n) { x, e in e == 2 ? x * x : powf(x, e) }
                case .mod: combineRow(yp, o, ap, i, si, bp, j, sj, n) { fmodf($0, $1) }
                }
            }
        } } }
        return y
    }

    /// `y[o + k] = f(a[i + k·si], b[j + k·sj])` for `k < n`, with the unit-stride and broadcast
    /// (stride 0) cases as separate loops the compiler can vectorise.
    @inline(__always)
    static func combineRow(_ y: UnsafeMutableBufferPointer<Float>, _ o: Int, _ a: UnsafeBufferPointer<Float>, _ i: Int, _ si: Int,
                           _ b: UnsafeBufferPointer<Float>, _ j: Int, _ sj: Int, _ n: Int, _ f: (Float, Float) -> Float) {
        let y = y.baseAddress! + o, a = a.baseAddress! + i, b = b.baseAddress! + j
        switch (si, sj) {
        case (1, 1): for k in 0..<n { y[k] = f(a[k], b[k]) }
        case (1, 0): let v = b[0]; for k in 0..<n { y[k] = f(a[k], v) }
        case (0, 1): let v = a[0]; for k in 0..<n { y[k] = f(v, b[k]) }
        default: for k in 0..<n { y[k] = f(a[k * si], b[k * sj]) }
        }
    }

    /// Gradients of ``binary(_:_:_:)`` for both operands, each summed back to its own shape.
    /// For `pow`, the exponent's gradient `aᵇ log a` is taken as 0 where `a ≤ 0`; `mod` passes
    /// the gradient to `a` and none to `b`.
    public static func binaryBackward(_ op: BinaryOperator, _ a: Tensor, _ b: Tensor, outputGradient dy: Tensor) -> (Tensor, Tensor) {
        let target = dy.shape
        let sa = Broadcasting.strides(of: a.shape, broadcastTo: target), sb = Broadcasting.strides(of: b.shape, broadcastTo: target)
        switch op {
        case .add:
            return (Broadcasting.reduce(dy, to: a.shape), Broadcasting.reduce(dy, to: b.shape))
        case .sub:
            return (Broadcasting.reduce(dy, to: a.shape), Broadcasting.reduce(unary(.neg, dy), to: b.shape))
        case .mod:
            return (Broadcasting.reduce(dy, to: a.shape), Tensor(zeros: b.shape))
        case .mul, .div, .pow:
            // forEachRow visits every output index once: both gradients are fully written.
            var ga = Tensor(uninitialized: target), gb = Tensor(uninitialized: target)
            a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in dy.data.withUnsafeBufferPointer { g in
                ga.data.withUnsafeMutableBufferPointer { gap in gb.data.withUnsafeMutableBufferPointer { gbp in
                    Broadcasting.forEachRow(target, sa, sb) { o, i, j, n, si, sj in
                        switch op {
                        case .mul where si == 1 && sj == 1:
                            let a = ap.baseAddress! + i, b = bp.baseAddress! + j, d = g.baseAddress! + o
                            let da = gap.baseAddress! + o, db = gbp.baseAddress! + o
                            for k in 0..<n { da[k] = d[k] * b[k]; db[k] = d[k] * a[k] }
                        case .mul where si == 1 && sj == 0:
                            let a = ap.baseAddress! + i, b = bp[j], d = g.baseAddress! + o
                            let da = gap.baseAddress! + o, db = gbp.baseAddress! + o
                            for k in 0..<n { da[k] = d[k] * b; db[k] = d[k] * a[k] }
                        case .mul:
                            for k in 0..<n { let d = g[o + k]; gap[o + k] = d * bp[j + k * sj]; gbp[o + k] = d * ap[i + k * si] }
                        case .div:
                            for k in 0..<n {
                                let x = ap[i + k * si], y = bp[j + k * sj], d = g[o + k]
                                gap[o + k] = d / y; gbp[o + k] = -d * x / (y * y)
                            }
                        default:
                            for k in 0..<n {
                                let x = ap[i + k * si], y = bp[j + k * sj], d = g[o + k]
                                gap[o + k] = y == 2 ? 2 * d * x : d * y * powf(x, y - 1)
                                gbp[o + k] = x > 0 ? d * powf(x, y) * logf(x) : 0
                            }
                        }
                    }
                } }
            } } }
            return (Broadcasting.reduce(ga, to: a.shape), Broadcasting.reduce(gb, to: b.shape))
        }
    }

    /// `a + b` for tensors of equal shape (gradient accumulation).
    public static func addInPlace(_ a: inout Tensor, _ b: Tensor) {
        precondition(a.shape == b.shape || a.count == b.count)
        a.data.withUnsafeMutableBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in
            for i in 0..<ap.count { ap[i] += bp[i] }
        } }
    }

    /// `t · s`.
    static func scaled(_ t: Tensor, _ s: Float) -> Tensor {
        var y = t
        y.data.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] *= s } }
        return y
    }
}
