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
///
/// The in-projection is one `[3E, E]` weight whose rows are q; k; v (``InProjection/fused``:
/// PyTorch's `in_proj_weight`, timm's `qkv`) or three `[E, E]` weights (``InProjection/separate``:
/// transformers' `query`, `key`, `value`). The two are the same function: the separate form is the
/// fused form with `W_in = [W_q; W_k; W_v]` and `b_in = [b_q; b_k; b_v]`, computed without
/// stacking (each projection writes its third of the `[N·L, 3E]` rows in place).
package enum Attention {
    /// The in-projection's weights (and optional biases).
    public enum InProjection: Sendable {
        /// `W_in` `[3E, E]`, rows q; k; v; `b_in` `[3E]`.
        case fused(weight: Tensor, bias: Tensor?)
        /// `W_q`, `W_k`, `W_v`, each `[E, E]`, with their `[E]` biases.
        case separate(weights: [Tensor], biases: [Tensor?])

        /// Weight tensors in input order: one (fused) or three (q, k, v).
        var weights: [Tensor] {
            switch self {
            case .fused(let weight, _): [weight]
            case .separate(let weights, _): weights
            }
        }

        var biases: [Tensor?] {
            switch self {
            case .fused(_, let bias): [bias]
            case .separate(_, let biases): biases
            }
        }
    }

    /// Gradients of ``backward(_:inProjection:outWeight:batchFirst:outputGradient:)``: the input,
    /// the in-projection's weights and biases in the order of ``InProjection/weights`` (one or
    /// three), and the out-projection's.
    public struct Gradients: Sendable {
        public var input: Tensor
        public var inWeights: [Tensor]
        public var inBiases: [Tensor]
        public var outWeight: Tensor
        public var outBias: Tensor
    }

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
    static func dimensions(_ x: Tensor, inProjection: InProjection, outWeight: Tensor, outBias: Tensor?, heads: Int, batchFirst: Bool)
        -> Result<(batch: Int, length: Int, embed: Int), ShapeMismatch>
    {
        guard x.rank == 3 else { return .failure(ShapeMismatch("attention input must be 3-D, got \(x.shape)")) }
        let e = x.shape[2]
        let (n, l) = batchFirst ? (x.shape[0], x.shape[1]) : (x.shape[1], x.shape[0])
        guard heads > 0, e % heads == 0 else { return .failure(ShapeMismatch("embedding size \(e) is not divisible by \(heads) heads")) }
        switch inProjection {
        case .fused(let inWeight, let inBias):
            guard inWeight.shape == [3 * e, e] else { return .failure(ShapeMismatch("in_proj_weight must be [\(3 * e), \(e)], got \(inWeight.shape)")) }
            if let inBias, inBias.count != 3 * e { return .failure(ShapeMismatch("in_proj_bias must have \(3 * e) elements, got \(inBias.shape)")) }
        case .separate(let weights, let biases):
            guard weights.count == 3, biases.count == 3 else { return .failure(ShapeMismatch("separate projections need query, key and value")) }
            for (part, (weight, bias)) in zip(["query", "key", "value"], zip(weights, biases)) {
                guard weight.shape == [e, e] else { return .failure(ShapeMismatch("\(part) weight must be [\(e), \(e)], got \(weight.shape)")) }
                if let bias, bias.count != e { return .failure(ShapeMismatch("\(part) bias must have \(e) elements, got \(bias.shape)")) }
            }
        }
        guard outWeight.shape == [e, e] else { return .failure(ShapeMismatch("out_proj weight must be [\(e), \(e)], got \(outWeight.shape)")) }
        if let outBias, outBias.count != e { return .failure(ShapeMismatch("out_proj bias must have \(e) elements, got \(outBias.shape)")) }
        return .success((n, l, e))
    }

    /// `[L, N, E]` ↔ `[N, L, E]` (the swap is its own inverse).
    static func swapLeadingAxes(_ data: [Float], _ a: Int, _ b: Int, _ e: Int) -> [Float] {
        Permutation.apply(data, shape: [a, b, e], perm: [1, 0, 2]).data
    }

    /// Forward pass with the fused in-projection (see ``forward(_:inProjection:outWeight:outBias:heads:batchFirst:capture:)``).
    public static func forward(_ x: Tensor, inWeight: Tensor, inBias: Tensor?, outWeight: Tensor, outBias: Tensor?, heads: Int,
                               batchFirst: Bool, capture: ((Int, Tensor, Int) -> Void)? = nil) -> Result<(Tensor, Saved), ShapeMismatch> {
        forward(x, inProjection: .fused(weight: inWeight, bias: inBias), outWeight: outWeight, outBias: outBias, heads: heads,
                batchFirst: batchFirst, capture: capture)
    }

    /// Forward pass; `capture` receives each in-projection's input rows (`x`, `[N·L, E]`,
    /// sample-major) with indices 0 (fused) or 0, 1, 2 (query, key, value: the same rows), then
    /// the out-projection's (`O`, `[N·L, E]`) with the next index, each with the batch size N.
    public static func forward(_ x: Tensor, inProjection: InProjection, outWeight: Tensor, outBias: Tensor?, heads: Int,
                               batchFirst: Bool, capture: ((Int, Tensor, Int) -> Void)? = nil) -> Result<(Tensor, Saved), ShapeMismatch> {
        let dims: (batch: Int, length: Int, embed: Int)
        switch dimensions(x, inProjection: inProjection, outWeight: outWeight, outBias: outBias, heads: heads, batchFirst: batchFirst) {
        case .success(let d): dims = d
        case .failure(let f): return .failure(f)
        }
        let (n, l, e) = dims
        let rows = n * l, d = e / heads
        let input = batchFirst ? x.data : swapLeadingAxes(x.data, l, n, e)
        let rowsTensor = Tensor(shape: [rows, e], data: input)
        let parts = inProjection.weights.count
        for slot in 0..<parts { capture?(slot, rowsTensor, n) }
        let qkv = inProjectionForward(rowsTensor, inProjection)
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
        capture?(parts, contextTensor, n)
        guard case .success(var y) = Dense.linear(contextTensor, weight: outWeight, bias: outBias, layout: .outputsByInputs) else {
            return .failure(ShapeMismatch("out-projection shapes do not fit"))
        }
        y = batchFirst ? y.reshaped([n, l, e]) : Tensor(shape: [l, n, e], data: swapLeadingAxes(y.data, n, l, e))
        return .success((y, Saved(input: input, qkv: qkv, probabilities: probabilities, context: context,
                                   batch: n, length: l, embed: e, heads: heads)))
    }

    /// Gradients for x, in_proj weight, in_proj bias, out_proj weight and out_proj bias (fused in-projection).
    public static func backward(_ saved: Saved, inWeight: Tensor, outWeight: Tensor, batchFirst: Bool, outputGradient dy: Tensor)
        -> (input: Tensor, inWeight: Tensor, inBias: Tensor, outWeight: Tensor, outBias: Tensor)
    {
        let g = backward(saved, inWeights: [inWeight], outWeight: outWeight, batchFirst: batchFirst, outputGradient: dy)
        return (g.input, g.inWeights[0], g.inBiases[0], g.outWeight, g.outBias)
    }

    /// Gradients for x, the in-projection's weights and biases (`inWeights`: the fused `[3E, E]`
    /// weight, or the query, key and value weights) and the out-projection's.
    public static func backward(_ saved: Saved, inWeights: [Tensor], outWeight: Tensor, batchFirst: Bool, outputGradient dy: Tensor)
        -> Gradients
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
        let (dInput, dInWeights, dInBiases) = inProjectionBackward(input, weights: inWeights, outputGradient: dqkv)
        let dx = batchFirst ? dInput.reshaped([n, l, e]) : Tensor(shape: [l, n, e], data: swapLeadingAxes(dInput.data, n, l, e))
        return Gradients(input: dx, inWeights: dInWeights, inBiases: dInBiases, outWeight: dOutWeight, outBias: dOutBias)
    }

    // MARK: - In-projection

    /// `[Q K V]` as `[N·L, 3E]` rows: `x W_inᵀ + b_in`, or per part `x W_pᵀ + b_p` written into
    /// columns `p·E ..< (p+1)·E`.
    static func inProjectionForward(_ x: Tensor, _ projection: InProjection) -> [Float] {
        let rows = x.shape[0], e = x.shape[1]
        switch projection {
        case .fused(let weight, let bias):
            guard case .success(let qkv) = Dense.linear(x, weight: weight, bias: bias, layout: .outputsByInputs) else {
                preconditionFailure("in-projection shapes were checked")
            }
            return qkv.data
        case .separate(let weights, let biases):
            // Written in full: every column block by its sgemm (β = 0, or β = 1 over the bias rows).
            var qkv = uninitializedFloats(rows * 3 * e)
            qkv.withUnsafeMutableBufferPointer { qp in x.data.withUnsafeBufferPointer { xp in
                for (part, (weight, bias)) in zip(weights, biases).enumerated() {
                    let c = qp.baseAddress! + part * e
                    if let bias {
                        bias.data.withUnsafeBufferPointer { bp in for r in 0..<rows { (c + r * 3 * e).update(from: bp.baseAddress!, count: e) } }
                    }
                    weight.data.withUnsafeBufferPointer { wp in
                        BLAS.sgemm(transA: false, transB: true, m: rows, n: e, k: e, a: xp.baseAddress!, lda: e, b: wp.baseAddress!, ldb: e,
                                   beta: bias == nil ? 0 : 1, c: c, ldc: 3 * e)
                    }
                }
            } }
            return qkv
        }
    }

    /// Gradients of ``inProjectionForward(_:_:)`` from `dqkv` (`[N·L, 3E]`): the input, each
    /// weight and each bias (in the order of `weights`).
    static func inProjectionBackward(_ x: Tensor, weights: [Tensor], outputGradient dqkv: [Float]) -> (Tensor, [Tensor], [Tensor]) {
        let rows = x.shape[0], e = x.shape[1]
        if weights.count == 1 {
            let g = Dense.linearBackward(x, weight: weights[0], layout: .outputsByInputs, outputGradient: Tensor(shape: [rows, 3 * e], data: dqkv))
            return (g.input, [g.weight], [g.bias])
        }
        // dX = Σ_p dQKV_p W_p; dW_p = dQKV_pᵀ X; db_p = Σ_rows dQKV_p (every buffer written in full).
        var dx = Tensor(uninitialized: [rows, e])
        var dWeights: [Tensor] = []
        var dBiases: [Tensor] = []
        dqkv.withUnsafeBufferPointer { gp in x.data.withUnsafeBufferPointer { xp in dx.data.withUnsafeMutableBufferPointer { dxp in
            for (part, weight) in weights.enumerated() {
                let g = gp.baseAddress! + part * e
                weight.data.withUnsafeBufferPointer { wp in
                    BLAS.sgemm(transA: false, transB: false, m: rows, n: e, k: e, a: g, lda: 3 * e, b: wp.baseAddress!, ldb: e,
                               beta: part == 0 ? 0 : 1, c: dxp.baseAddress!, ldc: e)
                }
                var dw = Tensor(uninitialized: [e, e])
                dw.data.withUnsafeMutableBufferPointer { dwp in
                    BLAS.sgemm(transA: true, transB: false, m: e, n: e, k: rows, a: g, lda: 3 * e, b: xp.baseAddress!, ldb: e,
                               c: dwp.baseAddress!, ldc: e)
                }
                dWeights.append(dw)
                var db = [Float](repeating: 0, count: e)
                for r in 0..<rows { for c in 0..<e { db[c] += g[r * 3 * e + c] } }
                dBiases.append(Tensor(shape: [e], data: db))
            }
        } } }
        return (dx, dWeights, dBiases)
    }
}
