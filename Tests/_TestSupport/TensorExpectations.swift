import Testing
import TensorCore

/// The largest violation of `|actual − expected| ≤ atol + rtol·|expected|` between two equally
/// long sequences: `(index, actual, expected)` of the worst element, or `nil` if all pass. NaNs
/// count as violations unless both sides are NaN.
public func worstMismatch(_ actual: [Float], _ expected: [Float], rtol: Float, atol: Float) -> (index: Int, actual: Float, expected: Float)? {
    var worst: (Int, Float, Float)?
    var worstExcess: Float = 0
    for i in 0..<min(actual.count, expected.count) {
        let a = actual[i], e = expected[i]
        if a.isNaN && e.isNaN { continue }
        let excess = a.isNaN || e.isNaN ? Float.infinity : abs(a - e) - (atol + rtol * abs(e))
        if excess > worstExcess || (excess.isInfinite && worst == nil) { worstExcess = excess; worst = (i, a, e) }
    }
    return worst
}

/// Expects `actual` to equal `expected` elementwise within `atol + rtol·|expected|`: first the
/// shapes, then every element; a failure names the worst element (index, both values).
public func expectClose(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6, _ comment: Comment? = nil,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "shape \(actual.shape) differs from \(expected.shape) \(comment?.rawValue ?? "")",
            sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    if let (index, a, e) = worstMismatch(actual.data, expected.data, rtol: rtol, atol: atol) {
        Issue.record("element \(index) is \(a), expected \(e) (|Δ| = \(abs(a - e)), rtol \(rtol), atol \(atol)) \(comment?.rawValue ?? "")",
                     sourceLocation: sourceLocation)
    }
}

/// `expectClose` for plain arrays (compared as 1-D tensors).
public func expectClose(_ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6, _ comment: Comment? = nil,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    expectClose(Tensor(shape: [actual.count], data: actual), Tensor(shape: [expected.count], data: expected), rtol: rtol, atol: atol,
                comment, sourceLocation: sourceLocation)
}
