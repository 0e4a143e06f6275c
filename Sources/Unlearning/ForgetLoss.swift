import TensorCore

/// The PGU loss on forget samples (`docs/methods.md` §3.3), with its gradient with respect to the
/// logits.
///
/// With `p = softmax(z)` per sample and `N` samples:
/// ```
/// L = (1/N) Σ_n −log(1 + ε − p_y)  +  (β/N) Σ_n Σ_c p_c log(p_c + 10⁻¹⁵)      (ε = 0.05, β = 0.2)
/// ```
/// The first term pushes the true-class probability down, the second (negative entropy) pushes the
/// output toward uniform. Gradients, from `∂p_c/∂z_j = p_c (δ_cj − p_j)`:
/// ```
/// ∂a/∂z_j = p_y (δ_jy − p_j) / (1 + ε − p_y)
/// ∂b/∂z_j = p_j (g_j − Σ_c p_c g_c),   g_c = log(p_c + 10⁻¹⁵) + p_c / (p_c + 10⁻¹⁵)
/// ```
/// Computed in float64 per sample.
package enum ForgetLoss {
    public static let epsilon = 0.05
    public static let entropyWeight = 0.2
    static let floor = 1e-15

    /// The loss summed over the rows of `logits` (`[n, classes]`) and divided by `total` (the
    /// batch size when a batch is split over workers), and its gradient, also divided by `total`.
    public static func evaluate(logits: Tensor, labels: [Int], total: Int) -> (loss: Double, gradient: Tensor) {
        let n = logits.shape[0], classes = logits.shape[1]
        precondition(labels.count == n)
        var gradient = Tensor(zeros: [n, classes])
        var loss = 0.0
        var p = [Double](repeating: 0, count: classes), g = [Double](repeating: 0, count: classes)
        for row in 0..<n {
            let z = logits.data[(row * classes)..<((row + 1) * classes)]
            let largest = Double(z.max() ?? 0)
            var sum = 0.0
            for (c, v) in z.enumerated() { p[c] = _exp(Double(v) - largest); sum += p[c] }
            for c in 0..<classes { p[c] /= sum }
            let y = labels[row], py = p[y]
            var negativeEntropy = 0.0, mean = 0.0
            for c in 0..<classes {
                negativeEntropy += p[c] * _log(p[c] + floor)
                g[c] = _log(p[c] + floor) + p[c] / (p[c] + floor)
                mean += p[c] * g[c]
            }
            loss += -_log(1 + epsilon - py) + entropyWeight * negativeEntropy
            for j in 0..<classes {
                let a = py * ((j == y ? 1 : 0) - p[j]) / (1 + epsilon - py)
                let b = p[j] * (g[j] - mean)
                gradient.data[row * classes + j] = Float((a + entropyWeight * b) / Double(total))
            }
        }
        return (loss / Double(total), gradient)
    }
}

#if canImport(Glibc)
import Glibc
func _log(_ x: Double) -> Double { Glibc.log(x) }
func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#endif
