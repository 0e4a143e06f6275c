/// Padding as an index map: every output element reads one input element or the constant, so
/// forward is a gather and backward a scatter-add of the same map.
package enum Padding {
    /// For every output element (row-major) the flat input index it reads, or −1 where it takes the
    /// constant; and the output shape `shape[a] + begins[a] + ends[a]`. Negative amounts crop.
    ///
    /// Outside the input, ``PadMode/constant`` reads the constant, ``PadMode/edge`` the nearest
    /// element, ``PadMode/wrap`` the input periodically, ``PadMode/reflect`` the mirror image
    /// without the edge (period `2 (n − 1)`, so amounts of `n` or more reflect again, as NumPy's
    /// `reflect`; an axis of length 1 repeats its element).
    public static func indices(_ shape: [Int], begins: [Int], ends: [Int], mode: PadMode) -> Result<(indices: [Int], shape: [Int]), ShapeMismatch> {
        let rank = shape.count
        precondition(begins.count == rank && ends.count == rank, "one begin and one end per axis")
        var outShape = shape
        var maps: [[Int]] = []
        for axis in 0..<rank {
            let n = shape[axis], m = n + begins[axis] + ends[axis]
            guard m >= 0 else {
                return .failure(ShapeMismatch("pads \(begins[axis]), \(ends[axis]) crop more than the \(n) elements of axis \(axis)"))
            }
            if mode != .constant, n == 0, m > 0 {
                return .failure(ShapeMismatch("axis \(axis) is empty: nothing to repeat for \(mode) padding"))
            }
            outShape[axis] = m
            maps.append((0..<m).map { source($0 - begins[axis], length: n, mode: mode) })
        }
        let total = outShape.reduce(1, *)
        guard total > 0 else { return .success(([], outShape)) }
        guard rank > 0 else { return .success(([0], [])) }
        let strides = Tensor.strides(for: shape)
        let last = maps[rank - 1]
        var result: [Int] = []
        result.reserveCapacity(total)
        var index = [Int](repeating: 0, count: rank - 1)
        while true {
            var base = 0, outside = false
            for axis in 0..<(rank - 1) {
                let s = maps[axis][index[axis]]
                if s < 0 { outside = true; break }
                base += s * strides[axis]
            }
            if outside {
                result.append(contentsOf: repeatElement(-1, count: last.count))
            } else {
                for s in last { result.append(s < 0 ? -1 : base + s) }
            }
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < outShape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { break }
        }
        return .success((result, outShape))
    }

    /// The input position that output position `i − begin` reads along an axis of `length`.
    static func source(_ i: Int, length n: Int, mode: PadMode) -> Int {
        if i >= 0 && i < n { return i }
        switch mode {
        case .constant: return -1
        case .edge: return i < 0 ? 0 : n - 1
        case .wrap: return ((i % n) + n) % n
        case .reflect:
            guard n > 1 else { return 0 }
            let period = 2 * (n - 1)
            let r = ((i % period) + period) % period
            return r < n ? r : period - r
        }
    }

    /// `data` gathered at `indices`, `fill` where an index is −1.
    static func take<T>(_ data: [T], _ indices: [Int], fill: T) -> [T] {
        data.withUnsafeBufferPointer { d in indices.map { $0 >= 0 ? d[$0] : fill } }
    }

    /// The adjoint of ``take(_:_:fill:)``: `gradient` added back into zeros of `shape` (where
    /// indices repeat, as reflect/edge/wrap padding makes them, the contributions add up), and the
    /// sum of the gradient at the constant's positions.
    static func backward(_ gradient: Tensor, _ indices: [Int], into shape: [Int]) -> (input: Tensor, constant: Float) {
        var dx = Tensor(zeros: shape)
        var constant: Float = 0
        dx.data.withUnsafeMutableBufferPointer { out in gradient.data.withUnsafeBufferPointer { g in
            for (k, i) in indices.enumerated() {
                if i >= 0 { out[i] += g[k] } else { constant += g[k] }
            }
        } }
        return (dx, constant)
    }
}
