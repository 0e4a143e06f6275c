#if canImport(Glibc)
import Glibc
#endif

extension ComputeGraph {
    /// Reverse-mode gradients of a scalar loss, given the loss's gradient with respect to graph
    /// outputs (for cross-entropy: `Normalization.crossEntropy(...).gradient`).
    ///
    /// Returns gradients for every float parameter and graph input that influences the outputs
    /// (parameters that do not are absent). Integer values carry no gradient.
    public func backward(_ record: Record, outputGradients: [String: Tensor]) throws -> Gradients {
        var grads: [String: Tensor] = outputGradients
        func accumulate(_ name: String, _ g: Tensor) {
            guard !name.isEmpty else { return }
            if var existing = grads[name] {
                for i in 0..<existing.count { existing.data[i] += g.data[i] }
                grads[name] = existing
            } else {
                grads[name] = g
            }
        }
        for step in record.steps.reversed() {
            let node = nodes[step.node]
            let outputGrads = node.outputs.map { grads[$0] }
            guard outputGrads.contains(where: { $0 != nil }) else { continue }
            let inputGrads = try gradients(node, step.inputs, step.outputs, outputGrads, step.saved)
            for (i, g) in inputGrads.enumerated() {
                guard let g, i < node.inputs.count, case .float = step.inputs[i] else { continue }
                accumulate(node.inputs[i], g)
            }
        }
        var result = Gradients(parameters: [:], inputs: [:])
        for name in parameters.keys { if let g = grads[name] { result.parameters[name] = g } }
        for name in inputNames { if let g = grads[name] { result.inputs[name] = g } }
        return result
    }

    /// Gradients of one node's float inputs from its outputs' gradients.
    func gradients(_ node: GraphNode, _ inputs: [Value?], _ outputs: [Value], _ outputGrads: [Tensor?], _ saved: Saved) throws -> [Tensor?] {
        let op = node.opType
        func fail(_ reason: String) -> GraphError { .invalidInput(node: node.name, opType: op, reason: reason) }
        func float(_ i: Int) -> Tensor? {
            guard i < inputs.count, case .float(let t) = inputs[i] else { return nil }
            return t
        }
        func intData(_ i: Int) -> [Int]? {
            guard i < inputs.count, let value = inputs[i] else { return nil }
            switch value {
            case .int(let t): return t.data
            case .float(let t): return t.data.map { Int($0) }
            }
        }
        guard let dy = outputGrads[0] ?? (op == "Split" ? Tensor(zeros: outputs[0].shape) : nil) else { return [] }
        var none = [Tensor?](repeating: nil, count: inputs.count)

        switch op {
        case "Identity", "Dropout", "Cast":
            none[0] = dy
            return none
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze":
            guard let x = float(0) else { return none }
            none[0] = dy.reshaped(x.shape)
            return none
        case "Transpose":
            guard let x = float(0) else { return none }
            let perm = node.ints("perm") ?? Array((0..<x.rank).reversed())
            let (data, shape) = Permutation.apply(dy.data, shape: dy.shape, perm: Permutation.inverse(perm))
            none[0] = Tensor(shape: shape, data: data)
            return none
        case "Gather":
            guard let x = float(0), case .int(let indices)? = inputs[1] else { return none }
            let axis = x.normalizedAxis(node.int("axis", 0))
            let outer = x.shape.prefix(axis).reduce(1, *), size = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
            var dx = Tensor(zeros: x.shape)
            var k = 0
            for o in 0..<outer {
                for raw in indices.data {
                    let j = raw < 0 ? raw + size : raw
                    for i in 0..<inner { dx.data[(o * size + j) * inner + i] += dy.data[k]; k += 1 }
                }
            }
            none[0] = dx
            return none
        case "Slice":
            guard let x = float(0), let starts = intData(1), let ends = intData(2) else { return none }
            let spec = try sliceSpec(x.shape, starts: starts, ends: ends, axes: intData(3), steps: intData(4), fail: fail)
            var dx = Tensor(zeros: x.shape)
            for (k, index) in spec.indices.enumerated() { dx.data[index] += dy.data[k] }
            none[0] = dx
            return none
        case "Concat":
            let axis = dy.normalizedAxis(node.int("axis", 0))
            let present = (0..<inputs.count).filter { inputs[$0] != nil }
            let parts = Self.split(dy, axis: axis, sizes: present.map { inputs[$0]!.shape[axis] })
            for (k, i) in present.enumerated() { none[i] = parts[k] }
            return none
        case "Split":
            guard let x = float(0) else { return none }
            let axis = x.normalizedAxis(node.int("axis", 0))
            let parts = zip(outputs, outputGrads).map { output, g in g ?? Tensor(zeros: output.shape) }
            let (data, shape) = Self.concat(parts.map { ($0.data, $0.shape) }, axis: axis)
            none[0] = Tensor(shape: shape, data: data)
            return none
        case "Expand":
            guard let x = float(0) else { return none }
            none[0] = Broadcasting.reduce(dy, to: x.shape)
            return none
        case "Where":
            guard case .int(let condition)? = inputs[0] else { return none }
            let target = dy.shape
            let cs = Broadcasting.strides(of: condition.shape, broadcastTo: target)
            var gx = Tensor(zeros: target), gy = Tensor(zeros: target)
            Broadcasting.forEach(target, cs, [Int](repeating: 0, count: target.count)) { o, c, _ in
                if condition.data[c] != 0 { gx.data[o] = dy.data[o] } else { gy.data[o] = dy.data[o] }
            }
            if let x = float(1) { none[1] = Broadcasting.reduce(gx, to: x.shape) }
            if let y = float(2) { none[2] = Broadcasting.reduce(gy, to: y.shape) }
            return none
        case "Add", "Sub", "Mul", "Div", "Pow":
            guard let a = float(0) ?? intAsFloat(inputs[0]), let b = float(1) ?? intAsFloat(inputs[1]) else { return none }
            let target = dy.shape
            let sa = Broadcasting.strides(of: a.shape, broadcastTo: target), sb = Broadcasting.strides(of: b.shape, broadcastTo: target)
            var ga = Tensor(zeros: target), gb = Tensor(zeros: target)
            Broadcasting.forEach(target, sa, sb) { o, i, j in
                let g = dy.data[o], x = a.data[i], y = b.data[j]
                switch op {
                case "Add": ga.data[o] = g; gb.data[o] = g
                case "Sub": ga.data[o] = g; gb.data[o] = -g
                case "Mul": ga.data[o] = g * y; gb.data[o] = g * x
                case "Div": ga.data[o] = g / y; gb.data[o] = -g * x / (y * y)
                default:
                    ga.data[o] = g * y * powf(x, y - 1)
                    gb.data[o] = x > 0 ? g * powf(x, y) * logf(x) : 0
                }
            }
            none[0] = Broadcasting.reduce(ga, to: a.shape)
            if inputs.count > 1 { none[1] = Broadcasting.reduce(gb, to: b.shape) }
            return none
        case "Relu", "Erf", "Sqrt", "Sigmoid", "Tanh", "Neg", "Exp", "Log", "Abs", "Reciprocal", "Gelu":
            guard let x = float(0), case .float(let y) = outputs[0] else { return none }
            let tanhForm = node.string("approximate", "none") == "tanh"
            var dx = dy
            for i in 0..<dx.count {
                let v = x.data[i], out = y.data[i]
                let d: Float
                switch op {
                case "Relu": d = v > 0 ? 1 : 0
                case "Erf": d = 1.1283791671 * expf(-v * v)
                case "Sqrt": d = 0.5 / out
                case "Sigmoid": d = out * (1 - out)
                case "Tanh": d = 1 - out * out
                case "Neg": d = -1
                case "Exp": d = out
                case "Log": d = 1 / v
                case "Abs": d = v > 0 ? 1 : (v < 0 ? -1 : 0)
                case "Reciprocal": d = -out * out
                default: d = Activations.geluDerivative(v, tanh: tanhForm)
                }
                dx.data[i] *= d
            }
            none[0] = dx
            return none
        case "Softmax":
            guard case .float(let y) = outputs[0] else { return none }
            none[0] = Normalization.softmaxBackward(y, axis: node.int("axis", -1), outputGradient: dy)
            return none
        case "LayerNormalization":
            guard let x = float(0), case .layerNorm(let mean, let invStd) = saved else { return none }
            let (dx, dscale, dbias) = Normalization.layerNormBackward(x, scale: float(1), axis: node.int("axis", -1), mean: mean, invStd: invStd, outputGradient: dy)
            none[0] = dx
            if inputs.count > 1, inputs[1] != nil { none[1] = dscale.reshaped(float(1)!.shape) }
            if inputs.count > 2, inputs[2] != nil { none[2] = dbias.reshaped(float(2)!.shape) }
            return none
        case "BatchNormalization":
            guard let x = float(0), let scale = float(1), let mean = float(3), let variance = float(4) else { return none }
            let g = Normalization.batchNormBackward(x, scale: scale, mean: mean, variance: variance,
                                                    epsilon: node.float("epsilon", 1e-5), outputGradient: dy)
            none[0] = g.input; none[1] = g.scale; none[2] = g.bias; none[3] = g.mean; none[4] = g.variance
            return none
        case "Gemm":
            guard let a = float(0), let b = float(1) else { return none }
            let transA = node.int("transA", 0) == 1, transB = node.int("transB", 0) == 1
            let alpha = node.float("alpha", 1), beta = node.float("beta", 1)
            let m = dy.shape[0], n = dy.shape[1], k = transA ? a.shape[0] : a.shape[1]
            var da = Tensor(zeros: a.shape), db = Tensor(zeros: b.shape)
            dy.data.withUnsafeBufferPointer { gp in a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in
                da.data.withUnsafeMutableBufferPointer { dap in
                    if !transA {
                        BLAS.sgemm(transA: false, transB: !transB, m: m, n: k, k: n, alpha: alpha, a: gp.baseAddress!, lda: n,
                                   b: bp.baseAddress!, ldb: b.shape[1], c: dap.baseAddress!, ldc: k)
                    } else {
                        BLAS.sgemm(transA: transB, transB: true, m: k, n: m, k: n, alpha: alpha, a: bp.baseAddress!, lda: b.shape[1],
                                   b: gp.baseAddress!, ldb: n, c: dap.baseAddress!, ldc: m)
                    }
                }
                db.data.withUnsafeMutableBufferPointer { dbp in
                    if !transB {
                        BLAS.sgemm(transA: !transA, transB: false, m: k, n: n, k: m, alpha: alpha, a: ap.baseAddress!, lda: a.shape[1],
                                   b: gp.baseAddress!, ldb: n, c: dbp.baseAddress!, ldc: n)
                    } else {
                        BLAS.sgemm(transA: true, transB: transA, m: n, n: k, k: m, alpha: alpha, a: gp.baseAddress!, lda: n,
                                   b: ap.baseAddress!, ldb: a.shape[1], c: dbp.baseAddress!, ldc: k)
                    }
                }
            } } }
            none[0] = da; none[1] = db
            if let c = float(2) {
                var dc = Broadcasting.reduce(dy, to: c.shape)
                if beta != 1 { for i in 0..<dc.count { dc.data[i] *= beta } }
                none[2] = dc
            }
            return none
        case "MatMul":
            guard let a = float(0), let b = float(1) else { return none }
            let (da, db) = Self.matmulBackward(a, b, dy)
            none[0] = da; none[1] = db
            return none
        case "Conv":
            guard let x = float(0), let w = float(1), case .convolution(let gm) = saved else { return none }
            let x4 = x.reshaped([gm.batch, gm.channels, gm.height, gm.width])
            let w4 = w.reshaped([w.shape[0], w.shape[1], gm.kernelH, gm.kernelW])
            let dy4 = dy.reshaped([gm.batch, gm.outChannels, gm.outHeight, gm.outWidth])
            let (dx, dw, db) = Convolution.backward(x4, weight: w4, geometry: gm, outputGradient: dy4)
            none[0] = dx.reshaped(x.shape); none[1] = dw.reshaped(w.shape)
            if inputs.count > 2, inputs[2] != nil { none[2] = db }
            return none
        case "MaxPool":
            guard let x = float(0), case .argmax(let argmax) = saved else { return none }
            none[0] = Pooling.maxBackward(inputShape: x.shape, argmax: argmax, outputGradient: dy)
            return none
        case "AveragePool":
            guard let x = float(0), case .pool(let g) = saved else { return none }
            let dx = Pooling.averageBackward(inputShape: [g.batch, g.channels, g.height, g.width], g,
                                             countIncludePad: node.int("count_include_pad", 0) == 1,
                                             outputGradient: dy.reshaped([g.batch, g.channels, g.outHeight, g.outWidth]))
            none[0] = dx.reshaped(x.shape)
            return none
        case "GlobalAveragePool":
            guard let x = float(0) else { return none }
            let inner = x.shape.dropFirst(2).reduce(1, *)
            var dx = Tensor(zeros: x.shape)
            for p in 0..<dy.count { for i in 0..<inner { dx.data[p * inner + i] = dy.data[p] / Float(inner) } }
            none[0] = dx
            return none
        case "ReduceMean", "ReduceSum":
            guard let x = float(0) else { return none }
            let axes = (intData(1) ?? node.ints("axes") ?? Array(0..<x.rank)).map { x.normalizedAxis($0) }
            var kept = x.shape
            for a in axes { kept[a] = 1 }
            var expanded = Tensor(shape: x.shape, data: Broadcasting.expand(dy.reshaped(kept).data, shape: kept, to: x.shape))
            if op == "ReduceMean" {
                let n = Float(axes.reduce(1) { $0 * x.shape[$1] })
                for i in 0..<expanded.count { expanded.data[i] /= max(n, 1) }
            }
            none[0] = expanded
            return none
        case "Constant", "Shape", "ConstantOfShape", "Equal", "Less", "Greater", "Mod":
            return none
        default:
            throw GraphError.unsupportedOperator(node: node.name, opType: op + " (backward)")
        }
    }

    private func intAsFloat(_ value: Value?) -> Tensor? {
        guard case .int(let t)? = value else { return nil }
        return Tensor(shape: t.shape, data: t.data.map(Float.init))
    }

    /// Gradients of numpy matmul: `dA = dY Bᵀ`, `dB = Aᵀ dY`, summed over broadcast batch axes.
    static func matmulBackward(_ a: Tensor, _ b: Tensor, _ dy: Tensor) -> (Tensor, Tensor) {
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        if b.rank == 2 {
            let rows = a.count / max(k, 1)
            var da = Tensor(zeros: a.shape), db = Tensor(zeros: b.shape)
            dy.data.withUnsafeBufferPointer { gp in a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in
                da.data.withUnsafeMutableBufferPointer { dap in
                    BLAS.sgemm(transA: false, transB: true, m: rows, n: k, k: n, a: gp.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n, c: dap.baseAddress!, ldc: k)
                }
                db.data.withUnsafeMutableBufferPointer { dbp in
                    BLAS.sgemm(transA: true, transB: false, m: k, n: n, k: rows, a: ap.baseAddress!, lda: k, b: gp.baseAddress!, ldb: n, c: dbp.baseAddress!, ldc: n)
                }
            } } }
            return (da, db)
        }
        let batch = Array(dy.shape.dropLast(2))
        let sa = Broadcasting.strides(of: Array(a.shape.dropLast(2)), broadcastTo: batch)
        let sb = Broadcasting.strides(of: Array(b.shape.dropLast(2)), broadcastTo: batch)
        var da = Tensor(zeros: batch + [m, k]), db = Tensor(zeros: batch + [k, n])
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
