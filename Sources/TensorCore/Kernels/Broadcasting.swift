/// NumPy broadcasting of shapes and the strided walks that implement it.
public enum Broadcasting {
    /// The broadcast shape of `a` and `b`, or `nil` if they are incompatible.
    public static func shape(_ a: [Int], _ b: [Int]) -> [Int]? {
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

    /// Calls `body(outputIndex, offsetA, offsetB)` for every element of `target`.
    @inline(__always)
    public static func forEach(_ target: [Int], _ stridesA: [Int], _ stridesB: [Int], _ body: (Int, Int, Int) -> Void) {
        let count = target.reduce(1, *)
        guard count > 0 else { return }
        let rank = target.count
        if rank == 0 { body(0, 0, 0); return }
        var index = [Int](repeating: 0, count: rank)
        var offsetA = 0, offsetB = 0
        let inner = target[rank - 1], innerA = stridesA[rank - 1], innerB = stridesB[rank - 1]
        var out = 0
        while out < count {
            var a = offsetA, b = offsetB
            for _ in 0..<inner {
                body(out, a, b)
                out += 1; a += innerA; b += innerB
            }
            // advance the outer odometer
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                offsetA += stridesA[axis]
                offsetB += stridesB[axis]
                if index[axis] < target[axis] { break }
                offsetA -= stridesA[axis] * target[axis]
                offsetB -= stridesB[axis] * target[axis]
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { break }
        }
    }

    /// Sums `gradient` (shaped `target`) down to `shape`, undoing a broadcast.
    public static func reduce(_ gradient: Tensor, to shape: [Int]) -> Tensor {
        if gradient.shape == shape { return gradient }
        var result = Tensor(zeros: shape)
        let s = strides(of: shape, broadcastTo: gradient.shape)
        let zero = [Int](repeating: 0, count: gradient.shape.count)
        gradient.data.withUnsafeBufferPointer { g in
            result.data.withUnsafeMutableBufferPointer { r in
                forEach(gradient.shape, s, zero) { out, a, _ in r[a] += g[out] }
            }
        }
        return result
    }

    /// Copies `tensor` broadcast to `target` (ONNX Expand).
    public static func expand<T>(_ data: [T], shape: [Int], to target: [Int]) -> [T] {
        let s = strides(of: shape, broadcastTo: target)
        let zero = [Int](repeating: 0, count: target.count)
        var result = [T]()
        result.reserveCapacity(target.reduce(1, *))
        forEach(target, s, zero) { _, a, _ in result.append(data[a]) }
        return result
    }
}

/// Generic axis permutation of row-major data.
public enum Permutation {
    /// `data` of `shape` transposed by `perm` (output axis i is input axis perm[i]).
    public static func apply<T>(_ data: [T], shape: [Int], perm: [Int]) -> (data: [T], shape: [Int]) {
        let outShape = perm.map { shape[$0] }
        let inStrides = Tensor.strides(for: shape)
        let permuted = perm.map { inStrides[$0] }
        let zero = [Int](repeating: 0, count: perm.count)
        var result = [T]()
        result.reserveCapacity(data.count)
        Broadcasting.forEach(outShape, permuted, zero) { _, a, _ in result.append(data[a]) }
        return (result, outShape)
    }

    /// The inverse permutation.
    public static func inverse(_ perm: [Int]) -> [Int] {
        var inverse = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return inverse
    }
}
