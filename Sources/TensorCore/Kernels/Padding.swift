import Safeguards

/// Padding as an index map: every output element reads one input element or the constant, so
/// forward is a gather and backward a scatter-add of the same map. The map is kept per axis
/// (``Plan``) and walked one output row at a time, never materialised element by element.
package enum Padding {
    /// Where the output of a pad reads from, axis by axis.
    public struct Plan: Sendable {
        /// The output shape `shape[a] + begins[a] + ends[a]`.
        public let shape: [Int]
        /// Per axis, for each output position the input position it reads, or −1 (the constant).
        let maps: [[Int]]
        /// Row-major strides of the input.
        let strides: [Int]

        /// Calls `body(outputOffset, inputBase)` for every output row (the last axis); `inputBase`
        /// is −1 when the whole row is the constant. Element `k` of the row reads
        /// `inputBase + maps.last[k]` (or the constant where that map entry is −1).
        func forEachRow(_ body: (Int, Int) -> Void) {
            let rank = shape.count
            guard shape.reduce(1, *) > 0 else { return }
            guard rank > 0 else { body(0, 0); return }
            let width = shape[rank - 1]
            var index = [Int](repeating: 0, count: rank - 1)
            var offset = 0
            while true {
                var base = 0
                for axis in 0..<(rank - 1) {
                    let s = maps[axis][index[axis]]
                    if s < 0 { base = -1; break }
                    base += s * strides[axis]
                }
                body(offset, base)
                offset += width
                var axis = rank - 2
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < shape[axis] { break }
                    index[axis] = 0
                    axis -= 1
                }
                if axis < 0 { break }
            }
        }

        /// The last axis's map (the positions within a row).
        var row: [Int] { maps.last ?? [0] }
    }

    /// The plan of padding `shape` by `begins` and `ends` (one per axis; negative amounts crop).
    ///
    /// Outside the input, ``PadMode/constant`` reads the constant, ``PadMode/edge`` the nearest
    /// element, ``PadMode/wrap`` the input periodically, ``PadMode/reflect`` the mirror image
    /// without the edge (period `2 (n − 1)`, so amounts of `n` or more reflect again, as NumPy's
    /// `reflect`; an axis of length 1 repeats its element).
    public static func plan(_ shape: [Int], begins: [Int], ends: [Int], mode: PadMode) -> Result<Plan, ShapeMismatch> {
        let rank = shape.count
        precondition(begins.count == rank && ends.count == rank, "one begin and one end per axis")
        var outShape = shape
        var maps: [[Int]] = []
        for axis in 0..<rank {
            let n = shape[axis]
            guard let m = Checked.sum([n, begins[axis], ends[axis]]) else {
                return .failure(ShapeMismatch("pads \(begins[axis]), \(ends[axis]) of axis \(axis) overflow"))
            }
            guard m >= 0 else {
                return .failure(ShapeMismatch("pads \(begins[axis]), \(ends[axis]) crop more than the \(n) elements of axis \(axis)"))
            }
            if mode != .constant, n == 0, m > 0 {
                return .failure(ShapeMismatch("axis \(axis) is empty: nothing to repeat for \(mode) padding"))
            }
            outShape[axis] = m
            maps.append((0..<m).map { source($0 - begins[axis], length: n, mode: mode) })
        }
        return .success(Plan(shape: outShape, maps: maps, strides: Tensor.strides(for: shape)))
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

    /// The padded elements of `data`, `fill` where the plan reads the constant.
    static func apply<T>(_ data: [T], _ plan: Plan, fill: T) -> [T] {
        let total = plan.shape.reduce(1, *)
        let row = plan.row
        return [T](unsafeUninitializedCapacity: total) { out, initialized in
            data.withUnsafeBufferPointer { d in
                plan.forEachRow { offset, base in
                    let to = out.baseAddress! + offset
                    if base < 0 {
                        to.initialize(repeating: fill, count: row.count)
                    } else {
                        for (k, s) in row.enumerated() { (to + k).initialize(to: s < 0 ? fill : d[base + s]) }
                    }
                }
            }
            initialized = total
        }
    }

    /// The adjoint of ``apply(_:_:fill:)``: `gradient` added back into zeros of `shape` (where
    /// positions repeat, as reflect/edge/wrap padding makes them, the contributions add up), and
    /// the sum of the gradient at the constant's positions.
    static func backward(_ gradient: Tensor, _ plan: Plan, into shape: [Int]) -> (input: Tensor, constant: Float) {
        var dx = Tensor(zeros: shape)
        var constant: Float = 0
        let row = plan.row
        dx.data.withUnsafeMutableBufferPointer { out in gradient.data.withUnsafeBufferPointer { g in
            plan.forEachRow { offset, base in
                for (k, s) in row.enumerated() {
                    if base >= 0 && s >= 0 { out[base + s] += g[offset + k] } else { constant += g[offset + k] }
                }
            }
        } }
        return (dx, constant)
    }
}
