/// Matrix products through `cblas_sgemm`: Gemm, linear layers and numpy matmul, with their
/// gradients. Shapes are validated by the caller-facing functions, which return `nil` (or a
/// reason) on a mismatch.
package enum Dense {
    // MARK: Gemm

    /// `Y = alpha · op(A) · op(B) + beta · C` (A, B 2-D; C broadcast to `[M, N]`), or the reason
    /// the shapes do not fit.
    public static func gemm(_ a: Tensor, _ b: Tensor, _ c: Tensor?, _ attributes: GemmAttributes) -> Result<Tensor, ShapeMismatch> {
        guard a.rank == 2, b.rank == 2 else { return .failure(ShapeMismatch("Gemm needs 2-D A and B, got \(a.shape) and \(b.shape)")) }
        let m = attributes.transA ? a.shape[1] : a.shape[0], k = attributes.transA ? a.shape[0] : a.shape[1]
        let n = attributes.transB ? b.shape[0] : b.shape[1]
        guard (attributes.transB ? b.shape[1] : b.shape[0]) == k else {
            return .failure(ShapeMismatch("inner dimensions differ: \(a.shape) × \(b.shape) (transA \(attributes.transA), transB \(attributes.transB))"))
        }
        // Written in full: by sgemm with β = 0, or first by the broadcast C.
        var y = Tensor(uninitialized: [m, n])
        var beta: Float = 0
        if let c, attributes.beta != 0 {
            guard let shape = Broadcasting.shape(c.shape, [m, n]), shape == [m, n] else {
                return .failure(ShapeMismatch("C \(c.shape) does not broadcast to [\(m), \(n)]"))
            }
            y.data = Broadcasting.expand(c.data, shape: c.shape, to: [m, n])
            beta = attributes.beta
        }
        a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in y.data.withUnsafeMutableBufferPointer { yp in
            BLAS.sgemm(transA: attributes.transA, transB: attributes.transB, m: m, n: n, k: k, alpha: attributes.alpha,
                       a: ap.baseAddress!, lda: a.shape[1], b: bp.baseAddress!, ldb: b.shape[1], beta: beta, c: yp.baseAddress!, ldc: n)
        } } }
        return .success(y)
    }

    /// Gradients of ``gemm(_:_:_:_:)`` for A, B and C (C's summed to its shape, times beta).
    public static func gemmBackward(_ a: Tensor, _ b: Tensor, _ c: Tensor?, _ attributes: GemmAttributes, outputGradient dy: Tensor)
        -> (a: Tensor, b: Tensor, c: Tensor?)
    {
        let transA = attributes.transA, transB = attributes.transB, alpha = attributes.alpha
        let m = dy.shape[0], n = dy.shape[1], k = transA ? a.shape[0] : a.shape[1]
        // Both written in full by sgemm with β = 0.
        var da = Tensor(uninitialized: a.shape), db = Tensor(uninitialized: b.shape)
        dy.data.withUnsafeBufferPointer { gp in a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in
            da.data.withUnsafeMutableBufferPointer { dap in
                if !transA {
                    // dA [m, k] = alpha dY · op(B)ᵀ
                    BLAS.sgemm(transA: false, transB: !transB, m: m, n: k, k: n, alpha: alpha, a: gp.baseAddress!, lda: n,
                               b: bp.baseAddress!, ldb: b.shape[1], c: dap.baseAddress!, ldc: k)
                } else {
                    // dA [k, m] = alpha op(B) · dYᵀ
                    BLAS.sgemm(transA: transB, transB: true, m: k, n: m, k: n, alpha: alpha, a: bp.baseAddress!, lda: b.shape[1],
                               b: gp.baseAddress!, ldb: n, c: dap.baseAddress!, ldc: m)
                }
            }
            db.data.withUnsafeMutableBufferPointer { dbp in
                if !transB {
                    // dB [k, n] = alpha op(A)ᵀ · dY
                    BLAS.sgemm(transA: !transA, transB: false, m: k, n: n, k: m, alpha: alpha, a: ap.baseAddress!, lda: a.shape[1],
                               b: gp.baseAddress!, ldb: n, c: dbp.baseAddress!, ldc: n)
                } else {
                    // dB [n, k] = alpha dYᵀ · op(A)
                    BLAS.sgemm(transA: true, transB: transA, m: n, n: k, k: m, alpha: alpha, a: gp.baseAddress!, lda: n,
                               b: ap.baseAddress!, ldb: a.shape[1], c: dbp.baseAddress!, ldc: k)
                }
            }
        } } }
        var dc: Tensor?
        if let c {
            dc = Broadcasting.reduce(dy, to: c.shape)
            if attributes.beta != 1 { dc = Elementwise.scaled(dc!, attributes.beta) }
        }
        return (da, db, dc)
    }

    // MARK: Linear

    /// A linear layer on the last axis: `x [..., in]` → `[..., out]`, with `weight` `[out, in]`
    /// (``WeightLayout/outputsByInputs``) or `[in, out]`, and an optional bias `[out]`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, layout: WeightLayout) -> Result<Tensor, ShapeMismatch> {
        guard x.rank >= 1, weight.rank == 2 else { return .failure(ShapeMismatch("Linear needs a 2-D weight and an input of rank ≥ 1, got \(x.shape) and \(weight.shape)")) }
        let (outputs, inputs) = layout == .outputsByInputs ? (weight.shape[0], weight.shape[1]) : (weight.shape[1], weight.shape[0])
        guard x.shape[x.rank - 1] == inputs else { return .failure(ShapeMismatch("input \(x.shape) does not end in \(inputs) (weight \(weight.shape))")) }
        if let bias, bias.count != outputs { return .failure(ShapeMismatch("bias \(bias.shape) does not have \(outputs) elements")) }
        let rows = x.count / max(inputs, 1)
        // Written in full: by sgemm with β = 0, or first by the bias rows.
        var y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outputs])
        var beta: Float = 0
        if let bias {
            y.data.withUnsafeMutableBufferPointer { yp in bias.data.withUnsafeBufferPointer { bp in
                for r in 0..<rows { (yp.baseAddress! + r * outputs).update(from: bp.baseAddress!, count: outputs) }
            } }
            beta = 1
        }
        x.data.withUnsafeBufferPointer { xp in weight.data.withUnsafeBufferPointer { wp in y.data.withUnsafeMutableBufferPointer { yp in
            BLAS.sgemm(transA: false, transB: layout == .outputsByInputs, m: rows, n: outputs, k: inputs,
                       a: xp.baseAddress!, lda: inputs, b: wp.baseAddress!, ldb: weight.shape[1], beta: beta, c: yp.baseAddress!, ldc: outputs)
        } } }
        return .success(y)
    }

    /// Gradients of ``linear(_:weight:bias:layout:)``: input, weight (in its layout) and bias.
    public static func linearBackward(_ x: Tensor, weight: Tensor, layout: WeightLayout, outputGradient dy: Tensor)
        -> (input: Tensor, weight: Tensor, bias: Tensor)
    {
        let (outputs, inputs) = layout == .outputsByInputs ? (weight.shape[0], weight.shape[1]) : (weight.shape[1], weight.shape[0])
        let rows = x.count / max(inputs, 1)
        var dx = Tensor(uninitialized: x.shape), dw = Tensor(uninitialized: weight.shape)   // sgemm, β = 0
        dy.data.withUnsafeBufferPointer { gp in x.data.withUnsafeBufferPointer { xp in weight.data.withUnsafeBufferPointer { wp in
            dx.data.withUnsafeMutableBufferPointer { dxp in
                // dX [rows, in] = dY [rows, out] · W (out×in) or Wᵀ (in×out)
                BLAS.sgemm(transA: false, transB: layout == .inputsByOutputs, m: rows, n: inputs, k: outputs,
                           a: gp.baseAddress!, lda: outputs, b: wp.baseAddress!, ldb: weight.shape[1], c: dxp.baseAddress!, ldc: inputs)
            }
            dw.data.withUnsafeMutableBufferPointer { dwp in
                if layout == .outputsByInputs {
                    BLAS.sgemm(transA: true, transB: false, m: outputs, n: inputs, k: rows,
                               a: gp.baseAddress!, lda: outputs, b: xp.baseAddress!, ldb: inputs, c: dwp.baseAddress!, ldc: inputs)
                } else {
                    BLAS.sgemm(transA: true, transB: false, m: inputs, n: outputs, k: rows,
                               a: xp.baseAddress!, lda: inputs, b: gp.baseAddress!, ldb: outputs, c: dwp.baseAddress!, ldc: outputs)
                }
            }
        } } }
        return (dx, dw, columnSums(dy, columns: outputs))
    }

    /// Sums the rows of `t` viewed as `[count / columns, columns]`.
    static func columnSums(_ t: Tensor, columns: Int) -> Tensor {
        var sums = [Float](repeating: 0, count: columns)
        guard columns > 0 else { return Tensor(shape: [0], data: []) }
        t.data.withUnsafeBufferPointer { p in
            sums.withUnsafeMutableBufferPointer { s in
                for r in 0..<(p.count / columns) { for c in 0..<columns { s[c] += p[r * columns + c] } }
            }
        }
        return Tensor(shape: [columns], data: sums)
    }

    // MARK: MatMul

    /// numpy matmul for inputs of rank ≥ 2; batch axes broadcast. A 2-D right operand is shared
    /// by every row of the left one (one sgemm).
    public static func matmul(_ a: Tensor, _ b: Tensor) -> Result<Tensor, ShapeMismatch> {
        guard a.rank >= 2, b.rank >= 2 else { return .failure(ShapeMismatch("MatMul needs inputs of rank ≥ 2, got \(a.shape) and \(b.shape)")) }
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        guard b.shape[b.rank - 2] == k else { return .failure(ShapeMismatch("inner dimensions differ: \(a.shape) × \(b.shape)")) }
        if b.rank == 2 {
            let rows = a.count / max(k, 1)
            var y = Tensor(uninitialized: Array(a.shape.dropLast()) + [n])   // sgemm, β = 0
            a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in y.data.withUnsafeMutableBufferPointer { yp in
                BLAS.sgemm(transA: false, transB: false, m: rows, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n,
                           c: yp.baseAddress!, ldc: n)
            } } }
            return .success(y)
        }
        guard let batch = Broadcasting.shape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))) else {
            return .failure(ShapeMismatch("batch dimensions do not broadcast: \(a.shape) × \(b.shape)"))
        }
        let sa = Broadcasting.strides(of: Array(a.shape.dropLast(2)), broadcastTo: batch)
        let sb = Broadcasting.strides(of: Array(b.shape.dropLast(2)), broadcastTo: batch)
        var y = Tensor(uninitialized: batch + [m, n])   // every batch slice by sgemm, β = 0
        a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in y.data.withUnsafeMutableBufferPointer { yp in
            Broadcasting.forEach(batch, sa, sb) { o, i, j in
                BLAS.sgemm(transA: false, transB: false, m: m, n: n, k: k, a: ap.baseAddress! + i * m * k, lda: k,
                           b: bp.baseAddress! + j * k * n, ldb: n, c: yp.baseAddress! + o * m * n, ldc: n)
            }
        } } }
        return .success(y)
    }

    /// Gradients of ``matmul(_:_:)``: `dA = dY Bᵀ`, `dB = Aᵀ dY`, summed over broadcast batch axes.
    public static func matmulBackward(_ a: Tensor, _ b: Tensor, outputGradient dy: Tensor) -> (Tensor, Tensor) {
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        if b.rank == 2 {
            let rows = a.count / max(k, 1)
            var da = Tensor(uninitialized: a.shape), db = Tensor(uninitialized: b.shape)   // sgemm, β = 0
            dy.data.withUnsafeBufferPointer { gp in a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in
                da.data.withUnsafeMutableBufferPointer { dap in
                    BLAS.sgemm(transA: false, transB: true, m: rows, n: k, k: n, a: gp.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n,
                               c: dap.baseAddress!, ldc: k)
                }
                db.data.withUnsafeMutableBufferPointer { dbp in
                    BLAS.sgemm(transA: true, transB: false, m: k, n: n, k: rows, a: ap.baseAddress!, lda: k, b: gp.baseAddress!, ldb: n,
                               c: dbp.baseAddress!, ldc: n)
                }
            } } }
            return (da, db)
        }
        let batch = Array(dy.shape.dropLast(2))
        let sa = Broadcasting.strides(of: Array(a.shape.dropLast(2)), broadcastTo: batch)
        let sb = Broadcasting.strides(of: Array(b.shape.dropLast(2)), broadcastTo: batch)
        var da = Tensor(uninitialized: batch + [m, k]), db = Tensor(uninitialized: batch + [k, n])   // per slice, β = 0
        dy.data.withUnsafeBufferPointer { gp in a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in
            da.data.withUnsafeMutableBufferPointer { dap in db.data.withUnsafeMutableBufferPointer { dbp in
                Broadcasting.forEach(batch, sa, sb) { o, i, j in
                    BLAS.sgemm(transA: false, transB: true, m: m, n: k, k: n, a: gp.baseAddress! + o * m * n, lda: n,
                               b: bp.baseAddress! + j * k * n, ldb: n, c: dap.baseAddress! + o * m * k, ldc: k)
                    BLAS.sgemm(transA: true, transB: false, m: k, n: n, k: m, a: ap.baseAddress! + i * m * k, lda: k,
                               b: gp.baseAddress! + o * m * n, ldb: n, c: dbp.baseAddress! + o * k * n, ldc: n)
                }
            } }
        } } }
        return (Broadcasting.reduce(da, to: a.shape), Broadcasting.reduce(db, to: b.shape))
    }
}

/// Why operand shapes do not fit an operator (the caller adds the node's name).
package struct ShapeMismatch: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
