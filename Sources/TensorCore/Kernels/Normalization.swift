#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Batch normalisation (inference), layer normalisation, softmax and softmax cross-entropy, with
/// their gradients.
package enum Normalization {
    // MARK: Batch normalisation

    /// `y = (x − mean) / sqrt(var + ε) · scale + bias` per channel (axis 1), running statistics.
    public static func batchNorm(_ x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, epsilon: Float) -> Tensor {
        var y = x
        let channels = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
        y.data.withUnsafeMutableBufferPointer { yp in
            for c in 0..<channels {
                let factor = scale.data[c] / (variance.data[c] + epsilon).squareRoot()
                let shift = bias.data[c] - mean.data[c] * factor
                for n in 0..<x.shape[0] {
                    let row = yp.baseAddress! + (n * channels + c) * inner
                    for i in 0..<inner { row[i] = row[i] * factor + shift }
                }
            }
        }
        return y
    }

    /// Gradients of ``batchNorm`` with respect to the input, scale, bias, running mean and running
    /// variance (the statistics are constants of an inference layer, but their gradients are exact).
    public static func batchNormBackward(_ x: Tensor, scale: Tensor, mean: Tensor, variance: Tensor, epsilon: Float, outputGradient dy: Tensor)
        -> (input: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor)
    {
        var dx = dy
        let channels = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
        var dscale = [Float](repeating: 0, count: channels), dbias = dscale, dmean = dscale, dvariance = dscale
        x.data.withUnsafeBufferPointer { xp in dx.data.withUnsafeMutableBufferPointer { gp in
            for c in 0..<channels {
                let invStd = 1 / (variance.data[c] + epsilon).squareRoot()
                let s = scale.data[c], mu = mean.data[c]
                var sumG: Float = 0, sumGX: Float = 0
                for n in 0..<x.shape[0] {
                    let base = (n * channels + c) * inner
                    for i in 0..<inner {
                        let g = gp[base + i]
                        sumG += g
                        sumGX += g * (xp[base + i] - mu)
                        gp[base + i] = g * s * invStd
                    }
                }
                dbias[c] = sumG
                dscale[c] = sumGX * invStd
                dmean[c] = -sumG * s * invStd
                dvariance[c] = -0.5 * sumGX * s * invStd * invStd * invStd
            }
        } }
        return (dx, Tensor(shape: scale.shape, data: dscale), Tensor(shape: scale.shape, data: dbias),
                Tensor(shape: mean.shape, data: dmean), Tensor(shape: variance.shape, data: dvariance))
    }

    // MARK: Layer normalisation

    /// Normalises over the axes from `axis` to the end: `y = (x − μ)/sqrt(σ² + ε) · scale + bias`
    /// (biased variance, statistics in float64). Also returns the per-row mean and inverse
    /// standard deviation for backward.
    public static func layerNorm(_ x: Tensor, scale: Tensor?, bias: Tensor?, axis: Int, epsilon: Float)
        -> (Tensor, mean: [Float], invStd: [Float])
    {
        let a = x.normalizedAxis(axis)
        let inner = x.shape[a...].reduce(1, *), rows = x.count / max(inner, 1)
        var y = Tensor(uninitialized: x.shape)   // every element written below (not a copy of x changed in place)
        var means = [Float](repeating: 0, count: rows), invStds = [Float](repeating: 0, count: rows)
        let ones = [Float](repeating: 1, count: inner), zeros = [Float](repeating: 0, count: inner)
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            (scale?.data ?? ones).withUnsafeBufferPointer { sp in (bias?.data ?? zeros).withUnsafeBufferPointer { bp in
              means.withUnsafeMutableBufferPointer { mp in invStds.withUnsafeMutableBufferPointer { ip in
                // Statistics for a few rows, then their outputs: each row's statistics are a chain of
                // dependent additions, a division and a square root, and chains of neighbouring rows
                // overlap only when no normalisation loop stands between them.
                let chunk = 16
                for first in stride(from: 0, to: rows, by: chunk) {
                    let end = min(first + chunk, rows)
                    for r in first..<end {
                        let row = xp.baseAddress! + r * inner
                        let mean = sumOfFour(inner) { Double(row[$0]) } / Double(inner)
                        let squares = sumOfFour(inner) { let d = Double(row[$0]) - mean; return d * d }
                        mp[r] = Float(mean)
                        ip[r] = Float(1 / (squares / Double(inner) + Double(epsilon)).squareRoot())
                    }
                    for r in first..<end {
                        let row = xp.baseAddress! + r * inner, out = yp.baseAddress! + r * inner
                        let m = mp[r], invStd = ip[r]
                        for i in 0..<inner { out[i] = (row[i] - m) * invStd * sp[i] + bp[i] }
                    }
                }
              } }
            } }
        } }
        return (y, means, invStds)
    }

    /// `Σ term(i)` for `i < count` in float64 with four interleaved partial sums (i mod 4), added
    /// pairwise at the end: independent additions the processor can overlap, in a fixed order.
    @inline(__always)
    static func sumOfFour(_ count: Int, _ term: (Int) -> Double) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var i = 0
        while i + 4 <= count {
            s0 += term(i); s1 += term(i + 1); s2 += term(i + 2); s3 += term(i + 3)
            i += 4
        }
        while i < count { s0 += term(i); i += 1 }
        return (s0 + s1) + (s2 + s3)
    }

    /// Gradients of ``layerNorm`` for the input, scale and bias (scale and bias shaped like the
    /// normalised trailing axes).
    public static func layerNormBackward(_ x: Tensor, scale: Tensor?, axis: Int, mean: [Float], invStd: [Float], outputGradient dy: Tensor)
        -> (input: Tensor, scale: Tensor, bias: Tensor)
    {
        let a = x.normalizedAxis(axis)
        let trailing = Array(x.shape[a...])
        let inner = trailing.reduce(1, *), rows = x.count / max(inner, 1)
        var dx = Tensor(uninitialized: x.shape)   // every element is written below
        var dscale = [Float](repeating: 0, count: inner), dbias = [Float](repeating: 0, count: inner)
        let ones = [Float](repeating: 1, count: inner)
        let n = Float(inner)
        x.data.withUnsafeBufferPointer { xp in dy.data.withUnsafeBufferPointer { gp in (scale?.data ?? ones).withUnsafeBufferPointer { sp in
            dx.data.withUnsafeMutableBufferPointer { dp in dscale.withUnsafeMutableBufferPointer { dscale in dbias.withUnsafeMutableBufferPointer { dbias in
                for r in 0..<rows {
                    let base = r * inner, m = mean[r], s = invStd[r]
                    var sumG: Float = 0, sumGXhat: Float = 0
                    for i in 0..<inner {
                        let xhat = (xp[base + i] - m) * s
                        let g = gp[base + i]
                        dbias[i] += g
                        dscale[i] += g * xhat
                        let gs = g * sp[i]
                        sumG += gs
                        sumGXhat += gs * xhat
                    }
                    for i in 0..<inner {
                        let xhat = (xp[base + i] - m) * s
                        dp[base + i] = s * (gp[base + i] * sp[i] - sumG / n - xhat * sumGXhat / n)
                    }
                }
            } } }
        } } }
        return (dx, Tensor(shape: trailing, data: dscale), Tensor(shape: trailing, data: dbias))
    }

    // MARK: Softmax

    /// Softmax along `axis` (max-subtracted for stability).
    public static func softmax(_ x: Tensor, axis: Int) -> Tensor {
        let a = x.normalizedAxis(axis)
        let size = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *), outer = x.count / max(size * inner, 1)
        var y = Tensor(uninitialized: x.shape)
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            guard inner == 1 else {
                for o in 0..<outer {
                    for i in 0..<inner {
                        let start = o * size * inner + i
                        softmaxLine(xp.baseAddress! + start, yp.baseAddress! + start, count: size, stride: inner)
                    }
                }
                return
            }
            // The last axis (attention scores, logits): contiguous rows.
            softmaxRows(xp.baseAddress!, yp.baseAddress!, rows: outer, columns: size)
        } }
        return y
    }

    /// Softmax of each of `rows` contiguous rows of `from` into `to` (which may be `from`).
    static func softmaxRows(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        // A literal stride: the inlined loops are unit-stride and vectorise.
        for r in 0..<rows { softmaxLine(from + r * columns, to + r * columns, count: columns, stride: 1) }
    }

    /// Softmax of the `count` values `x[k · stride]` into `y[k · stride]` (`y` may be `x`):
    /// `e^{x − max} / Σ e^{x − max}`, the exponentials by ``exponentialOfNonPositive(_:)``.
    ///
    /// The maximum and the sum run in four lanes (element k in lane k mod 4 while four remain, the
    /// rest after the lanes are added pairwise): independent operations the processor overlaps, and
    /// vector instructions at unit stride. A single chain of float additions and maxima cannot be
    /// vectorised (it would reorder them) and took 10 cycles an element on the ViT's 17-wide
    /// attention rows. The order is fixed, so every stride gives the same bits for the same values.
    @inline(__always)
    static func softmaxLine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, stride: Int) {
        let lanesEnd = count & ~3
        var maxima = SIMD4<Float>(repeating: -.infinity)
        var k = 0
        if stride == 1 {
            let raw = UnsafeRawPointer(x)
            while k < lanesEnd {
                let v = raw.loadUnaligned(fromByteOffset: k * 4, as: SIMD4<Float>.self)
                maxima.replace(with: v, where: v .> maxima)   // a compare and a blend (Swift's max/pointwiseMax branch on NaN)
                k += 4
            }
        } else {
            while k < lanesEnd {
                for lane in 0..<4 where x[(k + lane) * stride] > maxima[lane] { maxima[lane] = x[(k + lane) * stride] }
                k += 4
            }
        }
        var maximum = maxima[0]
        for lane in 1..<4 where maxima[lane] > maximum { maximum = maxima[lane] }
        while k < count { if x[k * stride] > maximum { maximum = x[k * stride] }; k += 1 }
        for k in 0..<count { y[k * stride] = exponentialOfNonPositive(x[k * stride] - maximum) }
        var sums = SIMD4<Float>(repeating: 0)
        k = 0
        if stride == 1 {
            let raw = UnsafeRawPointer(y)
            while k < lanesEnd { sums += raw.loadUnaligned(fromByteOffset: k * 4, as: SIMD4<Float>.self); k += 4 }
        } else {
            while k < lanesEnd {
                for lane in 0..<4 { sums[lane] += y[(k + lane) * stride] }
                k += 4
            }
        }
        var sum = (sums[0] + sums[1]) + (sums[2] + sums[3])
        while k < count { sum += y[k * stride]; k += 1 }
        let inverse = 1 / sum
        for k in 0..<count { y[k * stride] *= inverse }
    }

    /// `e^x` for `x ≤ 0`, branch-free so loops over it vectorise (glibc's `expf` is a call per
    /// element: with the loop around it, 12 cycles an element in the ViT's attention softmax).
    ///
    /// `x = n ln 2 + r` with `n = round(x / ln 2)` and `|r| ≤ ln 2 / 2` (ln 2 split in two parts,
    /// Cody–Waite, so r is exact to float rounding); `e^r` by its Taylor polynomial to degree 7
    /// (remainder below 3·10⁻⁹); `2ⁿ` assembled in the exponent bits. Within 2.5·10⁻⁷ relative of
    /// the true value (tested against float64 `exp`); `x < −87.33` (`e^x` below the smallest
    /// normal float) gives 0, NaN gives NaN.
    @inline(__always)
    static func exponentialOfNonPositive(_ x: Float) -> Float {
        let clamped = x < -87.33 ? -87.33 : (x > 0 ? 0 : x)   // compare-and-select, as in rationalErf
        // Round to nearest by adding and subtracting 1.5·2²³; the integer is kept in the low bits.
        let shifted = clamped * 1.44269504 + 12_582_912
        let n = shifted - 12_582_912
        let r = (clamped - n * 0.693359375) - n * -2.12194440e-4
        var p: Float = 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // 2ⁿ: n + 127 in the exponent field (n ≥ −126 here, so the field stays normal).
        let twoToN = Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
        return x < -87.33 ? 0 : p * twoToN
    }

    /// `dx = y ⊙ (dy − Σ dy ⊙ y)` along `axis`, from the softmax output `y`.
    public static func softmaxBackward(_ y: Tensor, axis: Int, outputGradient dy: Tensor) -> Tensor {
        let a = y.normalizedAxis(axis)
        let size = y.shape[a], inner = y.shape[(a + 1)...].reduce(1, *), outer = y.count / max(size * inner, 1)
        var dx = dy
        y.data.withUnsafeBufferPointer { yp in dx.data.withUnsafeMutableBufferPointer { gp in
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * size * inner + i
                    var dot: Float = 0
                    for k in 0..<size { dot += gp[base + k * inner] * yp[base + k * inner] }
                    for k in 0..<size { gp[base + k * inner] = yp[base + k * inner] * (gp[base + k * inner] - dot) }
                }
            }
        } }
        return dx
    }

    // MARK: Loss

    /// Mean softmax cross-entropy of `logits` `[N, C]` against integer `labels` (each in `0..<C`):
    /// `L = −(1/N) Σ_n log softmax(z_n)[y_n]`, and `∂L/∂z = (softmax(z) − onehot(y)) / N`.
    /// The loss is accumulated in float64 from log-sum-exp (exact for large logits).
    public static func crossEntropy(logits: Tensor, labels: [Int]) -> (loss: Float, gradient: Tensor) {
        precondition(logits.rank == 2 && labels.count == logits.shape[0], "logits \(logits.shape) and \(labels.count) labels")
        let n = logits.shape[0], c = logits.shape[1]
        precondition(labels.allSatisfy { $0 >= 0 && $0 < c }, "a label is outside 0..<\(c)")
        var gradient = softmax(logits, axis: 1)
        var loss: Double = 0
        logits.data.withUnsafeBufferPointer { zp in gradient.data.withUnsafeMutableBufferPointer { gp in
            for i in 0..<n {
                let row = zp.baseAddress! + i * c
                var maximum = -Float.infinity
                for k in 0..<c { maximum = max(maximum, row[k]) }
                var sum: Double = 0
                for k in 0..<c { sum += exp(Double(row[k] - maximum)) }
                loss += log(sum) + Double(maximum) - Double(row[labels[i]])
                gp[i * c + labels[i]] -= 1
                for k in 0..<c { gp[i * c + k] /= Float(n) }
            }
        } }
        return (Float(loss / Double(max(n, 1))), gradient)
    }
}

