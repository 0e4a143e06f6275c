import Safeguards

/// Shape-only operators on row-major data: targets of Reshape/Flatten/Squeeze/Unsqueeze, and the
/// index maps of Gather, Concat, Split and Slice (generic over the element type, so that integer
/// shape arithmetic shares them).
package enum Shapes {
    /// Reshape target: `0` copies the input dimension (unless `allowZero`), one `-1` is
    /// inferred; `nil` when the element counts differ.
    /// Products are checked (``Checked/product(_:)``): a target whose size overflows is `nil`.
    public static func reshapeTarget(_ shape: [Int], _ requested: [Int], allowZero: Bool) -> [Int]? {
        var target = requested
        guard let count = Checked.product(shape) else { return nil }
        for i in target.indices where target[i] == 0 && !allowZero {
            guard i < shape.count else { return nil }
            target[i] = shape[i]
        }
        guard target.filter({ $0 == -1 }).count <= 1, target.allSatisfy({ $0 >= -1 }) else { return nil }
        if let inferred = target.firstIndex(of: -1) {
            guard let known = Checked.product(target.enumerated().filter { $0.offset != inferred }.map(\.element)),
                  known > 0, count % known == 0 else { return nil }
            target[inferred] = count / known
        }
        return Checked.product(target) == count ? target : nil
    }

    /// Flatten: `[Π shape[..<axis], Π shape[axis...]]`.
    public static func flattenTarget(_ shape: [Int], axis: Int) -> [Int]? {
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0, a <= shape.count else { return nil }
        return [shape.prefix(a).reduce(1, *), shape.dropFirst(a).reduce(1, *)]
    }

    /// Squeeze: removes `axes` (each must have size 1), or every size-1 axis.
    public static func squeezeTarget(_ shape: [Int], axes: [Int]?) -> [Int]? {
        guard let axes else { return shape.filter { $0 != 1 } }
        let normalized = Set(axes.map { $0 < 0 ? $0 + shape.count : $0 })
        guard normalized.allSatisfy({ $0 >= 0 && $0 < shape.count && shape[$0] == 1 }) else { return nil }
        return shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
    }

    /// Unsqueeze: inserts size-1 axes at `axes` of the output.
    public static func unsqueezeTarget(_ shape: [Int], axes: [Int]) -> [Int]? {
        let rank = shape.count + axes.count
        let normalized = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        guard normalized.count == axes.count, normalized.allSatisfy({ $0 >= 0 && $0 < rank }) else { return nil }
        var result: [Int] = []
        var source = shape.makeIterator()
        for axis in 0..<rank { result.append(normalized.contains(axis) ? 1 : source.next()!) }
        return result
    }

    /// Gather: the slices `indices` (negative ones count from the end) of `data` along
    /// `axis`, copied as runs of the trailing axes; `nil` if an index is out of range.
    public static func gather<T>(_ data: [T], shape: [Int], indices: IntTensor, axis: Int) -> (data: [T], shape: [Int])? {
        guard let (resolved, outer, size, inner) = resolve(indices, shape: shape, axis: axis) else { return nil }
        let outShape = Array(shape.prefix(axis)) + indices.shape + Array(shape[(axis + 1)...])
        let count = outer * resolved.count * inner
        let result = [T](unsafeUninitializedCapacity: count) { out, initialized in
            data.withUnsafeBufferPointer { d in
                guard count > 0, let from = d.baseAddress, let to = out.baseAddress else { return }
                var next = 0
                for o in 0..<outer {
                    for j in resolved {
                        (to + next).initialize(from: from + (o * size + j) * inner, count: inner)
                        next += inner
                    }
                }
            }
            initialized = count
        }
        return (result, outShape)
    }

    /// The adjoint of ``gather(_:shape:indices:axis:)``: `dy` added back into zeros of `shape`,
    /// run by run (repeated indices add up); `nil` if an index is out of range.
    public static func gatherBackward(_ dy: Tensor, shape: [Int], indices: IntTensor, axis: Int) -> Tensor? {
        guard let (resolved, outer, size, inner) = resolve(indices, shape: shape, axis: axis) else { return nil }
        var dx = Tensor(zeros: shape)
        dx.data.withUnsafeMutableBufferPointer { out in dy.data.withUnsafeBufferPointer { g in
            guard let to = out.baseAddress, let from = g.baseAddress else { return }
            var next = 0
            for o in 0..<outer {
                for j in resolved {
                    let target = to + (o * size + j) * inner, source = from + next
                    for i in 0..<inner { target[i] += source[i] }
                    next += inner
                }
            }
        } }
        return dx
    }

    /// Indices along `axis` made non-negative, and the sizes before, along and after it.
    private static func resolve(_ indices: IntTensor, shape: [Int], axis: Int) -> ([Int], outer: Int, size: Int, inner: Int)? {
        let outer = shape.prefix(axis).reduce(1, *), size = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        var resolved: [Int] = []
        resolved.reserveCapacity(indices.data.count)
        for i in indices.data {
            let j = i < 0 ? i + size : i
            guard j >= 0 && j < size else { return nil }
            resolved.append(j)
        }
        return (resolved, outer, size, inner)
    }

    /// Concatenation along `axis` (shapes must agree elsewhere).
    public static func concat<T>(_ parts: [([T], [Int])], axis: Int) -> ([T], [Int]) {
        var shape = parts[0].1
        shape[axis] = parts.reduce(0) { $0 + $1.1[axis] }
        let outer = shape.prefix(axis).reduce(1, *)
        var data: [T] = []
        data.reserveCapacity(shape.reduce(1, *))
        for o in 0..<outer {
            for (values, partShape) in parts {
                let block = partShape[axis...].reduce(1, *)
                data.append(contentsOf: values[(o * block)..<((o + 1) * block)])
            }
        }
        return (data, shape)
    }

    /// Splits along `axis` into parts of `sizes` (which must sum to the axis length).
    public static func split(_ x: Tensor, axis: Int, sizes: [Int]) -> [Tensor] {
        let outer = x.shape.prefix(axis).reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        var offset = 0
        return sizes.map { size in
            var shape = x.shape
            shape[axis] = size
            var data: [Float] = []
            data.reserveCapacity(outer * size * inner)
            for o in 0..<outer {
                let start = (o * x.shape[axis] + offset) * inner
                data.append(contentsOf: x.data[start..<(start + size * inner)])
            }
            offset += size
            return Tensor(shape: shape, data: data)
        }
    }

    /// Strided slice: flat source positions, in output order, and the output shape; `nil` for a
    /// zero step, a repeated axis or mismatched list lengths.
    public static func sliceIndices(_ shape: [Int], _ arguments: SliceArguments) -> (indices: [Int], shape: [Int])? {
        let axes = arguments.axes ?? Array(0..<arguments.starts.count)
        guard arguments.ends.count == axes.count, arguments.starts.count == axes.count,
              arguments.steps.map({ $0.count == axes.count }) ?? true else { return nil }
        var begin = [Int](repeating: 0, count: shape.count), step = [Int](repeating: 1, count: shape.count)
        var count = shape
        var seen = Set<Int>()
        for (k, rawAxis) in axes.enumerated() {
            let axis = rawAxis < 0 ? rawAxis + shape.count : rawAxis
            guard axis >= 0, axis < shape.count, seen.insert(axis).inserted else { return nil }
            let dim = shape[axis], s = arguments.steps?[k] ?? 1
            guard s != 0 else { return nil }
            // Bounds are first clamped to [−dim − 1, dim + 1], which changes no result and keeps
            // every sum below in range whatever the graph asks (±2⁶³ included).
            func bounded(_ value: Int) -> Int { min(max(value, -dim - 1), dim + 1) }
            var start = bounded(arguments.starts[k]), end = bounded(arguments.ends[k])
            if start < 0 { start += dim }
            if end < 0 { end += dim }
            if s > 0 {
                start = min(max(start, 0), dim); end = min(max(end, 0), dim)
                count[axis] = end > start ? (end - start - 1) / s + 1 : 0
            } else {
                let magnitude = s == Int.min ? Int.max : -s
                start = min(max(start, -1), dim - 1); end = min(max(end, -1), dim - 1)
                count[axis] = start > end ? (start - end - 1) / magnitude + 1 : 0
            }
            // With at most one element the step is never taken (and may be huge).
            begin[axis] = start; step[axis] = count[axis] > 1 ? s : 1
        }
        guard let total = Checked.product(count) else { return nil }
        guard total > 0 else { return ([], count) }
        let strides = Tensor.strides(for: shape)
        let sliceStrides = (0..<shape.count).map { strides[$0] * step[$0] }
        let base = (0..<shape.count).reduce(0) { $0 + begin[$1] * strides[$1] }
        var indices: [Int] = []
        indices.reserveCapacity(total)
        Broadcasting.forEachRow(count, sliceStrides, [Int](repeating: 0, count: shape.count)) { _, a, _, n, sa, _ in
            for i in 0..<n { indices.append(base + a + i * sa) }
        }
        return (indices, count)
    }

    /// `data` gathered at `indices`.
    static func take<T>(_ data: [T], _ indices: [Int]) -> [T] {
        data.withUnsafeBufferPointer { d in indices.map { d[$0] } }
    }

    /// The adjoint of ``take(_:_:)``: scatters `gradient` back, adding where indices repeat.
    static func scatterAdd(_ gradient: Tensor, _ indices: [Int], into shape: [Int]) -> Tensor {
        var dx = Tensor(zeros: shape)
        dx.data.withUnsafeMutableBufferPointer { out in gradient.data.withUnsafeBufferPointer { g in
            for (k, i) in indices.enumerated() { out[i] += g[k] }
        } }
        return dx
    }
}
