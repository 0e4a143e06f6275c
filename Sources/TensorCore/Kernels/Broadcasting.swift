/// NumPy broadcasting of shapes and the strided walks that implement it.
package enum Broadcasting {
    /// The broadcast shape of `a` and `b`, or `nil` if they are incompatible or one has a
    /// negative dimension (an Expand target taken from a graph may).
    public static func shape(_ a: [Int], _ b: [Int]) -> [Int]? {
        guard a.allSatisfy({ $0 >= 0 }), b.allSatisfy({ $0 >= 0 }) else { return nil }
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if da == db || db == 1 { result[i] = da } else if da == 1 { result[i] = db } else { return nil }
        }
        return result
    }

    /// Strides (in elements) of `shape` viewed as `target` (0 along broadcast axes).
    public static func strides(of shape: [Int], broadcastTo target: [Int]) -> [Int] {
        let own = Tensor.strides(for: shape)
        let offset = target.count - shape.count
        return (0..<target.count).map { axis in
            axis < offset || shape[axis - offset] == 1 ? 0 : own[axis - offset]
        }
    }

    /// Calls `body(outputIndex, offsetA, offsetB)` for every element of `target`, in row-major
    /// order. For hot loops prefer ``forEachRow(_:_:_:_:)``, which calls once per innermost row.
    @inline(__always)
    public static func forEach(_ target: [Int], _ stridesA: [Int], _ stridesB: [Int], _ body: (Int, Int, Int) -> Void) {
        forEachRow(target, stridesA, stridesB) { out, a, b, count, innerA, innerB in
            var a = a, b = b
            for o in out..<(out + count) {
                body(o, a, b)
                a += innerA; b += innerB
            }
        }
    }

    /// Walks `target` one innermost row at a time: `body(outputStart, offsetA, offsetB, rowLength,
    /// innerStrideA, innerStrideB)`; element `i` of the row is output `outputStart + i`, operand A
    /// at `offsetA + i·innerStrideA`, operand B at `offsetB + i·innerStrideB`. Trailing axes that
    /// are contiguous in the output and in both operands are merged first, so same-shape and
    /// row-broadcast cases become long rows.
    @inline(__always)
    public static func forEachRow(_ target: [Int], _ stridesA: [Int], _ stridesB: [Int],
                                  _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
        let count = target.reduce(1, *)
        guard count > 0 else { return }
        if target.isEmpty { body(0, 0, 0, 1, 0, 0); return }
        // Merge axis pairs (i-1, i) while each operand steps through both as one axis.
        var shape = target, sa = stridesA, sb = stridesB
        var axis = shape.count - 1
        while axis > 0 {
            let n = shape[axis]
            if sa[axis - 1] == sa[axis] * n && sb[axis - 1] == sb[axis] * n {
                shape[axis - 1] *= n
                sa[axis - 1] = sa[axis]
                sb[axis - 1] = sb[axis]
                shape.remove(at: axis); sa.remove(at: axis); sb.remove(at: axis)
            }
            axis -= 1
        }
        let rank = shape.count
        let inner = shape[rank - 1], innerA = sa[rank - 1], innerB = sb[rank - 1]
        if rank == 1 { body(0, 0, 0, inner, innerA, innerB); return }
        var index = [Int](repeating: 0, count: rank)
        var offsetA = 0, offsetB = 0, out = 0
        while out < count {
            body(out, offsetA, offsetB, inner, innerA, innerB)
            out += inner
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                offsetA += sa[axis]
                offsetB += sb[axis]
                if index[axis] < shape[axis] { break }
                offsetA -= sa[axis] * shape[axis]
                offsetB -= sb[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { break }
        }
    }

    /// Sums `gradient` (shaped like the broadcast result) down to `shape`, undoing a broadcast.
    public static func reduce(_ gradient: Tensor, to shape: [Int]) -> Tensor {
        if gradient.shape == shape { return gradient }
        var result = Tensor(zeros: shape)
        let s = strides(of: shape, broadcastTo: gradient.shape)
        let own = Tensor.strides(for: gradient.shape)
        gradient.data.withUnsafeBufferPointer { g in
            result.data.withUnsafeMutableBufferPointer { r in
                forEachRow(gradient.shape, s, own) { _, a, b, count, sa, sg in
                    let from = g.baseAddress! + b, to = r.baseAddress! + a
                    if sa == 0 {
                        var sum: Float = 0
                        if sg == 1 {
                            for i in 0..<count { sum += from[i] }
                        } else {
                            for i in 0..<count { sum += from[i * sg] }
                        }
                        to[0] += sum
                    } else if sa == 1 && sg == 1 {
                        for i in 0..<count { to[i] += from[i] }
                    } else {
                        for i in 0..<count { to[i * sa] += from[i * sg] }
                    }
                }
            }
        }
        return result
    }

    /// The row-major elements of a strided view of `data`: output element at index `(i₀, i₁, …)` of
    /// `shape` is `data[Σ iₖ · strides[k]]`. Written row by row in place: a row with stride 1 is one
    /// copy, a row with stride 0 one fill (Expand and Transpose are both such views).
    static func materialize<T>(_ data: [T], shape: [Int], strides: [Int]) -> [T] {
        let zero = [Int](repeating: 0, count: shape.count)
        let total = shape.reduce(1, *)
        return [T](unsafeUninitializedCapacity: total) { out, initialized in
            data.withUnsafeBufferPointer { d in
                guard total > 0, let from = d.baseAddress, let to = out.baseAddress else { return }
                forEachRow(shape, strides, zero) { o, a, _, count, sa, _ in
                    switch sa {
                    case 1: (to + o).initialize(from: from + a, count: count)
                    case 0: (to + o).initialize(repeating: from[a], count: count)
                    default: for i in 0..<count { (to + o + i).initialize(to: from[a + i * sa]) }
                    }
                }
            }
            initialized = total
        }
    }

    /// Copies `tensor` broadcast to `target` (numpy-style broadcast, as in `broadcast_to`).
    public static func expand<T>(_ data: [T], shape: [Int], to target: [Int]) -> [T] {
        materialize(data, shape: target, strides: strides(of: shape, broadcastTo: target))
    }
}

/// Generic axis permutation of row-major data.
package enum Permutation {
    /// `data` of `shape` transposed by `perm` (output axis i is input axis perm[i]).
    public static func apply<T>(_ data: [T], shape: [Int], perm: [Int]) -> (data: [T], shape: [Int]) {
        let outShape = perm.map { shape[$0] }
        let inStrides = Tensor.strides(for: shape)
        let permuted = perm.map { inStrides[$0] }
        // Rows that keep the last axis (e.g. [T, B, D] ↔ [B, T, D]) are single copies.
        let result = Broadcasting.materialize(data, shape: outShape, strides: permuted)
        return (result, outShape)
    }

    /// The inverse permutation.
    public static func inverse(_ perm: [Int]) -> [Int] {
        var inverse = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return inverse
    }
}
