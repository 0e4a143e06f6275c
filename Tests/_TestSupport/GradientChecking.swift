import Testing
import TensorCore

/// Checks analytic gradients of a scalar function against central finite differences.
///
/// For every element `i` of every tensor in `inputs`, the numeric derivative is
/// `(f(x + h eᵢ) − f(x − h eᵢ)) / (x₊ − x₋)` with the loss in float64 and the actual float32
/// perturbed values in the denominator. It must agree with `analytic[name][i]` within
/// `atol + rtol·|numeric|`. With float32 forward passes, `h = 1e-2` keeps the rounding error
/// (≈ 1e-7·|f| / h) well below the truncation error (O(h²·f‴)), hence the defaults.
/// A failure names the tensor and its worst element.
public func checkGradient(_ label: String, inputs: [String: Tensor], analytic: [String: Tensor], step: Float = 1e-2,
                          rtol: Double = 2e-2, atol: Double = 2e-3, sourceLocation: SourceLocation = #_sourceLocation,
                          loss f: ([String: Tensor]) throws -> Double) rethrows {
    for name in inputs.keys.sorted() {
        let tensor = inputs[name]!
        guard let gradient = analytic[name] else {
            Issue.record("\(label): no gradient for '\(name)'", sourceLocation: sourceLocation)
            continue
        }
        guard gradient.shape == tensor.shape else {
            Issue.record("\(label): gradient of '\(name)' has shape \(gradient.shape), the input \(tensor.shape)", sourceLocation: sourceLocation)
            continue
        }
        var worst: (excess: Double, index: Int, analytic: Double, numeric: Double) = (0, -1, 0, 0)
        for i in 0..<tensor.count {
            var plus = inputs, minus = inputs
            let x = tensor.data[i]
            plus[name]!.data[i] = x + step
            minus[name]!.data[i] = x - step
            let width = Double(x + step) - Double(x - step)
            let numeric = (try f(plus) - f(minus)) / width
            let a = Double(gradient.data[i])
            let excess = abs(a - numeric) - (atol + rtol * abs(numeric))
            if excess > worst.excess || (a.isNaN && worst.index < 0) { worst = (excess.isNaN ? .infinity : excess, i, a, numeric) }
        }
        if worst.index >= 0 {
            Issue.record("\(label): d/d\(name)[\(worst.index)] is \(worst.analytic), finite differences give \(worst.numeric)",
                         sourceLocation: sourceLocation)
        }
    }
}
