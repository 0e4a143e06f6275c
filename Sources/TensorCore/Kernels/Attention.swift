#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Multi-head self-attention with PyTorch `nn.MultiheadAttention` semantics (query = key = value,
/// no mask, dropout off, `add_bias_kv = False`), every contraction through `cblas_sgemm`.
///
/// With `x` as `[N, L, E]` rows (`[N·L, E]`), `h` heads of width `d = E / h`:
/// `[Q K V] = x W_inᵀ + b_in` (W_in `[3E, E]`), per sample and head
/// `P = softmax(Q_h K_hᵀ / √d)`, `O_h = P V_h`, and `y = O W_outᵀ + b_out` with `O` the heads
/// side by side (`[N·L, E]`).
package enum Attention {
    /// What backward needs from the forward pass.
    public struct Saved: Sendable {
        /// `x` as `[N·L, E]` (batch-first).
        var input: [Float]
        /// `[N·L, 3E]` projections (Q, K, V side by side).
        var qkv: [Float]
        /// `[N, h, L, L]` attention probabilities.
        var probabilities: [Float]
        /// `[N·L, E]` concatenated head outputs (the out-projection's input).
        var context: [Float]
        var batch, length, embed, heads: Int
    }

    /// The shapes of one call: `(N, L, E)` or the reason they do not fit.
    static func dimensions(_ x: Tensor, inWeight: Tensor, inBias: Tensor?, outWeight: Tensor, outBias: Tensor?, heads: Int, batchFirst: Bool)
        -> Result<(batch: Int, length: Int, embed: Int), ShapeMismatch>
    {
        guard x.rank == 3 else { return .failure(ShapeMismatch("attention input must be 3-D, got \(x.shape)")) }
        let e = x.shape[2]
        let (n, l) = batchFirst ? (x.shape[0], x.shape[1]) : (x.shape[1], x.shape[0])
        guard heads > 0, e % heads == 0 else { return .failure(ShapeMismatch("embedding size \(e) is not divisible by \(heads) heads")) }
        guard inWeight.shape == [3 * e, e] else { return .failure(ShapeMismatch("in_proj_weight must be [\(3 * e), \(e)], got \(inWeight.shape)")) }
        guard outWeight.shape == [e, e] else { return .failure(ShapeMismatch("out_proj weight must be [\(e), \(e)], got \(outWeight.shape)")) }
        if let inBias, inBias.count != 3 * e { return .failure(ShapeMismatch("in_proj_bias must have \(3 * e) elements, got \(inBias.shape)")) }
        if let outBias, outBias.count != e { return .failure(ShapeMismatch("out_proj bias must have \(e) elements, got \(outBias.shape)")) }
        return .success((n, l, e))
    }

    /// `[L, N, E]` ↔ `[N, L, E]` (the swap is its own inverse).
    static func swapLeadingAxes(_ data: [Float], _ a: Int, _ b: Int, _ e: Int) -> [Float] {
        Permutation.apply(data, shape: [a, b, e], perm: [1, 0, 2]).data
    }

    /// Forward pass; `capture` receives the in-projection's input rows (`x`, `[N·L, E]`, sample-major)
    /// with index 0 and the out-projection's (`O`, `[N·L, E]`) with index 1, each with the batch size N.
    public static func forward(_ x: Tensor, inWeight: Tensor, inBias: Tensor?, outWeight: Tensor, outBias: Tensor?, heads: Int,
                               batchFirst: Bool, capture: ((Int, Tensor, Int) -> Void)? = nil) -> Result<(Tensor, Saved), ShapeMismatch> {
        let dims: (batch: Int, length: Int, embed: Int)
        switch dimensions(x, inWeight: inWeight, inBias: inBias, outWeight: outWeight, outBias: outBias, heads: heads, batchFirst: batchFirst) {
        case .success(let d): dims = d
        case .failure(let f): return .failure(f)
        }
        let (n, l, e) = dims
        let rows = n * l, d = e / heads
        let input = batchFirst ? x.data : swapLeadingAxes(x.data, l, n, e)
        let rowsTensor = Tensor(shape: [rows, e], data: input)
        capture?(0, rowsTensor, n)
        guard case .success(let qkvTensor) = Dense.linear(rowsTensor, weight: inWeight, bias: inBias, layout: .outputsByInputs) else {
            return .failure(ShapeMismatch("in-projection shapes do not fit"))
        }
        let qkv = qkvTensor.data
        // Written in full below: every probability by the softmax, every context column by sgemm (β = 0).
        var probabilities = uninitializedFloats(n * heads * l * l)
        var context = uninitializedFloats(rows * e)
        let scale = 1 / Float(d).squareRoot()
        // The scores go to a scratch block and their softmax to `probabilities`: in place, the
        // softmax loops would fail their overlap checks and run scalar.
        var scores = [Float](repeating: 0, count: l * l)
        qkv.withUnsafeBufferPointer { qp in probabilities.withUnsafeMutableBufferPointer { pp in context.withUnsafeMutableBufferPointer { cp in
          scores.withUnsafeMutableBufferPointer { sp in
            for s in 0..<n {
                for h in 0..<heads {
                    let q = qp.baseAddress! + s * l * 3 * e + h * d
                    let p = pp.baseAddress! + (s * heads + h) * l * l
                    // S = Q Kᵀ / √d  [L, L]
                    BLAS.sgemm(transA: false, transB: true, m: l, n: l, k: d, alpha: scale, a: q, lda: 3 * e, b: q + e, ldb: 3 * e,
                               c: sp.baseAddress!, ldc: l)
                    Normalization.softmaxRows(sp.baseAddress!, p, rows: l, columns: l)
                    // O_h = P V  [L, d], written into its columns of the context
                    BLAS.sgemm(transA: false, transB: false, m: l, n: d, k: l, a: p, lda: l, b: q + 2 * e, ldb: 3 * e,
                               c: cp.baseAddress! + s * l * e + h * d, ldc: e)
                }
            }
          }
        } } }
        let contextTensor = Tensor(shape: [rows, e], data: context)
        capture?(1, contextTensor, n)
        guard case .success(var y) = Dense.linear(contextTensor, weight: outWeight, bias: outBias, layout: .outputsByInputs) else {
            return .failure(ShapeMismatch("out-projection shapes do not fit"))
        }
        y = batchFirst ? y.reshaped([n, l, e]) : Tensor(shape: [l, n, e], data: swapLeadingAxes(y.data, n, l, e))
        return .success((y, Saved(input: input, qkv: qkv, probabilities: probabilities, context: context,
                                   batch: n, length: l, embed: e, heads: heads)))
    }

    /// Gradients for x, in_proj weight, in_proj bias, out_proj weight and out_proj bias.
    public static func backward(_ saved: Saved, inWeight: Tensor, outWeight: Tensor, batchFirst: Bool, outputGradient dy: Tensor)
        -> (input: Tensor, inWeight: Tensor, inBias: Tensor, outWeight: Tensor, outBias: Tensor)
    {
        let n = saved.batch, l = saved.length, e = saved.embed, heads = saved.heads
        let rows = n * l, d = e / heads
        let scale = 1 / Float(d).squareRoot()
        let dyRows = Tensor(shape: [rows, e], data: batchFirst ? dy.data : swapLeadingAxes(dy.data, l, n, e))
        let context = Tensor(shape: [rows, e], data: saved.context)
        let (dContext, dOutWeight, dOutBias) = Dense.linearBackward(context, weight: outWeight, layout: .outputsByInputs, outputGradient: dyRows)
        var dqkv = [Float](repeating: 0, count: rows * 3 * e)
        var dp = [Float](repeating: 0, count: l * l)
        saved.qkv.withUnsafeBufferPointer { qp in saved.probabilities.withUnsafeBufferPointer { pp in
            dContext.data.withUnsafeBufferPointer { gp in dqkv.withUnsafeMutableBufferPointer { dq in dp.withUnsafeMutableBufferPointer { dpp in
                for s in 0..<n {
                    for h in 0..<heads {
                        let q = qp.baseAddress! + s * l * 3 * e + h * d
                        let dqh = dq.baseAddress! + s * l * 3 * e + h * d
                        let p = pp.baseAddress! + (s * heads + h) * l * l
                        let g = gp.baseAddress! + s * l * e + h * d
                        // dP = dO Vᵀ [L, L]; dV = Pᵀ dO [L, d]
                        BLAS.sgemm(transA: false, transB: true, m: l, n: l, k: d, a: g, lda: e, b: q + 2 * e, ldb: 3 * e,
                                   c: dpp.baseAddress!, ldc: l)
                        BLAS.sgemm(transA: true, transB: false, m: l, n: d, k: l, a: p, lda: l, b: g, ldb: e,
                                   c: dqh + 2 * e, ldc: 3 * e)
                        // dS = P ⊙ (dP − rowsum(dP ⊙ P)), times the scale
                        for r in 0..<l {
                            var dot: Float = 0
                            for c in 0..<l { dot += dpp[r * l + c] * p[r * l + c] }
                            for c in 0..<l { dpp[r * l + c] = p[r * l + c] * (dpp[r * l + c] - dot) * scale }
                        }
                        // dQ = dS K [L, d]; dK = dSᵀ Q [L, d]
                        BLAS.sgemm(transA: false, transB: false, m: l, n: d, k: l, a: dpp.baseAddress!, lda: l, b: q + e, ldb: 3 * e,
                                   c: dqh, ldc: 3 * e)
                        BLAS.sgemm(transA: true, transB: false, m: l, n: d, k: l, a: dpp.baseAddress!, lda: l, b: q, ldb: 3 * e,
                                   c: dqh + e, ldc: 3 * e)
                    }
                }
            } } }
        } }
        let input = Tensor(shape: [rows, e], data: saved.input)
        let (dInput, dInWeight, dInBias) = Dense.linearBackward(input, weight: inWeight, layout: .outputsByInputs,
                                                                outputGradient: Tensor(shape: [rows, 3 * e], data: dqkv))
        let dx = batchFirst ? dInput.reshaped([n, l, e]) : Tensor(shape: [l, n, e], data: swapLeadingAxes(dInput.data, n, l, e))
        return (dx, dInWeight, dInBias, dOutWeight, dOutBias)
    }
}
