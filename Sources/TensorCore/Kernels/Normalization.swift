#if canImport(Glibc)
import Glibc
#endif

/// Batch normalisation in inference mode and layer normalisation, with their gradients.
public enum Normalization {
    /// `y = (x − mean) / sqrt(var + ε) · scale + bias` per channel (axis 1), running statistics.
    public static func batchNorm(_ x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, epsilon: Float) -> Tensor {
        var y = x
        let channels = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
        for n in 0..<x.shape[0] {
            for c in 0..<channels {
                let factor = scale.data[c] / (variance.data[c] + epsilon).squareRoot()
                let shift = bias.data[c] - mean.data[c] * factor
                let base = (n * channels + c) * inner
                for i in 0..<inner { y.data[base + i] = x.data[base + i] * factor + shift }
            }
        }
        return y
    }

    /// Gradients of ``batchNorm`` with respect to the input, scale, bias, running mean and running
    /// variance (the statistics are constants of the layer, but their gradients are exact too).
    public static func batchNormBackward(_ x: Tensor, scale: Tensor, mean: Tensor, variance: Tensor, epsilon: Float, outputGradient dy: Tensor)
        -> (input: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor)
    {
        var dx = dy
        var dscale = Tensor(zeros: scale.shape), dbias = Tensor(zeros: scale.shape)
        var dmean = Tensor(zeros: scale.shape), dvariance = Tensor(zeros: scale.shape)
        let channels = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
        for n in 0..<x.shape[0] {
            for c in 0..<channels {
                let invStd = 1 / (variance.data[c] + epsilon).squareRoot()
                let base = (n * channels + c) * inner
                var sumG: Float = 0, sumGX: Float = 0
                for i in 0..<inner {
                    let g = dy.data[base + i]
                    dx.data[base + i] = g * scale.data[c] * invStd
                    sumG += g
                    sumGX += g * (x.data[base + i] - mean.data[c]) * invStd
                }
                dbias.data[c] += sumG
                dscale.data[c] += sumGX
                dmean.data[c] -= sumG * scale.data[c] * invStd
                dvariance.data[c] -= 0.5 * sumGX * scale.data[c] * invStd * invStd
            }
        }
        return (dx, dscale, dbias, dmean, dvariance)
    }

    /// Normalises over the axes from `axis` to the end: `y = (x − μ)/sqrt(σ² + ε) · scale + bias`.
    /// Also returns the per-row mean and inverse standard deviation for backward.
    public static func layerNorm(_ x: Tensor, scale: Tensor?, bias: Tensor?, axis: Int, epsilon: Float)
        -> (Tensor, mean: [Float], invStd: [Float])
    {
        let a = x.normalizedAxis(axis)
        let inner = x.shape[a...].reduce(1, *), rows = x.count / max(inner, 1)
        var y = x
        var means = [Float](repeating: 0, count: rows), invStds = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let base = r * inner
            var mean: Double = 0
            for i in 0..<inner { mean += Double(x.data[base + i]) }
            mean /= Double(inner)
            var variance: Double = 0
            for i in 0..<inner { let d = Double(x.data[base + i]) - mean; variance += d * d }
            variance /= Double(inner)
            let invStd = Float(1 / (variance + Double(epsilon)).squareRoot())
            means[r] = Float(mean); invStds[r] = invStd
            for i in 0..<inner {
                var v = (x.data[base + i] - Float(mean)) * invStd
                if let scale { v *= scale.data[i] }
                if let bias { v += bias.data[i] }
                y.data[base + i] = v
            }
        }
        return (y, means, invStds)
    }

    public static func layerNormBackward(_ x: Tensor, scale: Tensor?, axis: Int, mean: [Float], invStd: [Float], outputGradient dy: Tensor)
        -> (input: Tensor, scale: Tensor, bias: Tensor)
    {
        let a = x.normalizedAxis(axis)
        let inner = x.shape[a...].reduce(1, *), rows = x.count / max(inner, 1)
        var dx = Tensor(zeros: x.shape)
        var dscale = Tensor(zeros: Array(x.shape[a...])), dbias = Tensor(zeros: Array(x.shape[a...]))
        for r in 0..<rows {
            let base = r * inner
            var sumG: Float = 0, sumGXhat: Float = 0
            for i in 0..<inner {
                let xhat = (x.data[base + i] - mean[r]) * invStd[r]
                let g = dy.data[base + i]
                dbias.data[i] += g
                dscale.data[i] += g * xhat
                let gs = g * (scale?.data[i] ?? 1)
                sumG += gs
                sumGXhat += gs * xhat
            }
            let n = Float(inner)
            for i in 0..<inner {
                let xhat = (x.data[base + i] - mean[r]) * invStd[r]
                let gs = dy.data[base + i] * (scale?.data[i] ?? 1)
                dx.data[base + i] = invStd[r] * (gs - sumG / n - xhat * sumGXhat / n)
            }
        }
        return (dx, dscale, dbias)
    }

    /// Softmax along `axis` (max-subtracted for stability).
    public static func softmax(_ x: Tensor, axis: Int) -> Tensor {
        let a = x.normalizedAxis(axis)
        let size = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *), outer = x.count / max(size * inner, 1)
        var y = x
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * size * inner + i
                var maxValue = -Float.infinity
                for k in 0..<size { maxValue = max(maxValue, x.data[base + k * inner]) }
                var sum: Float = 0
                for k in 0..<size { let e = expf(x.data[base + k * inner] - maxValue); y.data[base + k * inner] = e; sum += e }
                for k in 0..<size { y.data[base + k * inner] /= sum }
            }
        }
        return y
    }

    /// `dx = y ⊙ (dy − Σ dy ⊙ y)` along `axis`.
    public static func softmaxBackward(_ y: Tensor, axis: Int, outputGradient dy: Tensor) -> Tensor {
        let a = y.normalizedAxis(axis)
        let size = y.shape[a], inner = y.shape[(a + 1)...].reduce(1, *), outer = y.count / max(size * inner, 1)
        var dx = dy
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * size * inner + i
                var dot: Float = 0
                for k in 0..<size { dot += dy.data[base + k * inner] * y.data[base + k * inner] }
                for k in 0..<size { dx.data[base + k * inner] = y.data[base + k * inner] * (dy.data[base + k * inner] - dot) }
            }
        }
        return dx
    }

    /// Mean softmax cross-entropy of `logits` [N, C] against integer `labels`, and its gradient.
    public static func crossEntropy(logits: Tensor, labels: [Int]) -> (loss: Float, gradient: Tensor) {
        let n = logits.shape[0], c = logits.shape[1]
        var probabilities = softmax(logits, axis: 1)
        var loss: Double = 0
        for i in 0..<n {
            loss -= Double(logf(max(probabilities.data[i * c + labels[i]], .leastNormalMagnitude)))
            probabilities.data[i * c + labels[i]] -= 1
        }
        for k in 0..<probabilities.count { probabilities.data[k] /= Float(n) }
        return (Float(loss / Double(n)), probabilities)
    }
}
