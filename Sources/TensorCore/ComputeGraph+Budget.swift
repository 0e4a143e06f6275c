import Safeguards

/// The allocation budget of a forward pass: before a node runs, the bytes of its outputs and of
/// the work buffers its kernel allocates are computed from its input shapes and attributes with
/// checked arithmetic and compared with what the pass may still use.
///
/// Sizes that a graph controls — a ConstantOfShape or Expand target, padding, a broadcast, a
/// Gather with many indices, a Concat that repeats an input, a product of two large matrices —
/// are thus refused with ``GraphError/exceedsMemoryLimit(node:opType:what:bytes:)`` (or, when a
/// size overflows `Int`, ``GraphError/invalidInput(node:opType:reason:)``) before anything is
/// allocated, instead of exhausting memory or trapping on an overflow.
///
/// The budget of a pass is ``AllocationBudget/limit`` minus the bytes of the values alive in it
/// (parameters, constants, inputs and every computed value not yet dropped). BLAS takes 32-bit
/// dimensions: a matrix product with a dimension or leading dimension above 2³¹ − 1 is refused too.
extension ComputeGraph {
    /// Bytes of a value's elements (4 per float, 8 per integer).
    static func bytes(of value: Value) -> Int {
        switch value {
        case .float(let t): t.data.count * MemoryLayout<Float>.stride
        case .int(let t): t.data.count * MemoryLayout<Int>.stride
        }
    }

    /// Checks that `node` can run within `available` bytes.
    /// - Throws: ``GraphError`` naming the node when a size overflows or exceeds the budget.
    func checkBudget(_ node: GraphNode, _ operands: Operands, available: Int) throws {
        let plan = try plannedAllocation(node, operands)
        guard let bytes = plan.bytes, bytes <= available else {
            throw GraphError.exceedsMemoryLimit(node: node.name, opType: node.operation.name, what: plan.what, bytes: plan.bytes)
        }
        if let large = plan.blasDimensions.first(where: { $0 > Int(Int32.max) }) {
            throw operands.fail("a matrix dimension of \(large) is above the 2³¹ − 1 that BLAS takes")
        }
    }

    /// What a node will allocate: a description for messages and its size in bytes (`nil` when
    /// the size overflows `Int`). Inputs whose shapes do not fit the operator plan nothing: the
    /// operator then reports the mismatch itself.
    struct PlannedAllocation {
        var what: String
        var bytes: Int?
        /// Dimensions and leading dimensions the node's matrix products hand to BLAS.
        var blasDimensions: [Int] = []

        static let nothing = PlannedAllocation(what: "", bytes: 0)

        /// Elements of `shape` at `size` bytes each.
        init(output shape: [Int], size: Int, label: String = "its output") {
            what = "\(label) \(shape)"
            bytes = Checked.product(shape).flatMap { Checked.bytes(elements: $0, size: size) }
        }

        init(what: String, bytes: Int?) {
            self.what = what
            self.bytes = bytes
        }

        /// `self` with matrix products of these dimensions (checked against BLAS's 32-bit sizes).
        func multiplying(_ dimensions: [Int]) -> PlannedAllocation {
            var result = self
            result.blasDimensions += dimensions
            return result
        }

        /// `self` plus `elements` more elements of `size` bytes (a work buffer).
        func adding(elements: Int?, size: Int) -> PlannedAllocation {
            var result = self
            result.bytes = bytes.flatMap { total in
                elements.flatMap { Checked.bytes(elements: $0, size: size) }.flatMap { Checked.add(total, $0) }
            }
            return result
        }
    }

    private static let floatSize = MemoryLayout<Float>.stride
    private static let intSize = MemoryLayout<Int>.stride

    func plannedAllocation(_ node: GraphNode, _ operands: Operands) throws -> PlannedAllocation {
        let floatSize = Self.floatSize, intSize = Self.intSize
        func present(_ i: Int) -> Value? { i < operands.values.count ? operands.values[i] : nil }
        func size(of value: Value) -> Int { if case .int = value { intSize } else { floatSize } }
        func count(_ value: Value?) -> Int {
            switch value {
            case .float(let t)?: t.data.count
            case .int(let t)?: t.data.count
            case nil: 0
            }
        }
        /// The same number of elements as input 0 (elementwise results, transposes, casts).
        func likeInput(_ elementSize: Int) -> PlannedAllocation {
            guard let x = present(0) else { return .nothing }
            return PlannedAllocation(output: x.shape, size: elementSize)
        }

        switch node.operation {
        case .constant, .identity, .dropout, .shape, .globalAveragePool, .unsupported, .invalid:
            return .nothing
        case .reshape, .flatten, .squeeze, .unsqueeze:
            return .nothing   // the elements are shared, only the shape changes
        case .cast(let toFloat):
            return likeInput(toFloat ? floatSize : intSize)
        case .constantOfShape(let fill):
            guard let shape = try? operands.ints(0).data, shape.allSatisfy({ $0 >= 0 }) else { return .nothing }
            if case .int? = fill { return PlannedAllocation(output: shape, size: intSize) }
            return PlannedAllocation(output: shape, size: floatSize)
        case .transpose, .split:
            return likeInput(present(0).map(size(of:)) ?? floatSize)
        case .slice:
            // Source indices (one Int per output element) and the output, both at most the input's size.
            guard let x = present(0) else { return .nothing }
            return PlannedAllocation(output: x.shape, size: size(of: x) + intSize)
        case .gather(let rawAxis):
            guard let data = present(0), let indices = present(1) else { return .nothing }
            let rank = data.shape.count
            let axis = rawAxis < 0 ? rawAxis + rank : rawAxis
            guard axis >= 0, axis < rank else { return .nothing }
            let shape = Array(data.shape.prefix(axis)) + indices.shape + Array(data.shape[(axis + 1)...])
            return PlannedAllocation(output: shape, size: size(of: data)).adding(elements: count(indices), size: intSize)
        case .concat(let rawAxis):
            let parts = operands.values.compactMap { $0 }
            guard let first = parts.first else { return .nothing }
            let rank = first.shape.count
            let axis = rawAxis < 0 ? rawAxis + rank : rawAxis
            guard axis >= 0, axis < rank, parts.allSatisfy({ $0.shape.count == rank }) else { return .nothing }
            var shape = first.shape
            guard let length = Checked.sum(parts.map { $0.shape[axis] }) else {
                return PlannedAllocation(what: "its output (\(parts.count) inputs along axis \(axis))", bytes: nil)
            }
            shape[axis] = length
            return PlannedAllocation(output: shape, size: parts.allSatisfy { if case .int = $0 { true } else { false } } ? intSize : floatSize)
        case .expand(let staticShape):
            guard let data = present(0), let requested = try? staticShape ?? operands.ints(1).data,
                  let target = Broadcasting.shape(data.shape, requested), target.allSatisfy({ $0 >= 0 }) else { return .nothing }
            return PlannedAllocation(output: target, size: size(of: data))
        case .compare:
            guard let a = present(0), let b = present(1), let target = Broadcasting.shape(a.shape, b.shape) else { return .nothing }
            return PlannedAllocation(output: target, size: intSize)
        case .select:
            guard let c = present(0), let x = present(1), let y = present(2),
                  let t1 = Broadcasting.shape(c.shape, x.shape), let target = Broadcasting.shape(t1, y.shape) else { return .nothing }
            // The expanded mask, both expanded branches and the result.
            return PlannedAllocation(output: target, size: intSize + 3 * max(size(of: x), size(of: y)))
        case .binary:
            guard let a = present(0), let b = present(1), let target = Broadcasting.shape(a.shape, b.shape) else { return .nothing }
            let bothInt = operands.isInt(0) && operands.isInt(1)
            // Integer inputs of a float operation are converted to float copies first.
            var plan = PlannedAllocation(output: target, size: bothInt ? intSize : floatSize)
            if !bothInt {
                if case .int = a { plan = plan.adding(elements: count(a), size: floatSize) }
                if case .int = b { plan = plan.adding(elements: count(b), size: floatSize) }
            }
            return plan
        case .unary, .gelu, .softmax, .batchNormalization, .reduce, .clip, .hardSigmoid:
            return likeInput(floatSize)
        case .isNaN:
            return likeInput(intSize)
        case .pad(let arguments):
            guard let x = present(0), let pads = try? arguments.pads ?? operands.ints(1).data else { return .nothing }
            let rank = x.shape.count
            let listed = (try? operands.optionalInts(3)) ?? nil
            let axes = listed.map { $0.map { $0 < 0 ? $0 + rank : $0 } } ?? Array(0..<rank)
            guard pads.count == 2 * axes.count, axes.allSatisfy({ (0..<rank).contains($0) }) else { return .nothing }
            var shape = x.shape
            for (k, axis) in axes.enumerated() {
                guard let length = Checked.sum([shape[axis], pads[k], pads[k + axes.count]]) else {
                    return PlannedAllocation(what: "its output (pads \(pads))", bytes: nil)
                }
                guard length >= 0 else { return .nothing }
                shape[axis] = length
            }
            // The output and, per axis, the source index of every output position.
            return PlannedAllocation(output: shape, size: floatSize).adding(elements: Checked.sum(shape), size: intSize)
        case .layerNormalization:
            return likeInput(floatSize).adding(elements: count(present(0)), size: 2 * floatSize)
        case .gemm(let attributes):
            guard let a = present(0), let b = present(1), a.shape.count == 2, b.shape.count == 2 else { return .nothing }
            let m = attributes.transA ? a.shape[1] : a.shape[0], k = attributes.transA ? a.shape[0] : a.shape[1]
            let n = attributes.transB ? b.shape[0] : b.shape[1]
            return PlannedAllocation(output: [m, n], size: floatSize).multiplying([m, n, k, a.shape[1], b.shape[1]])
        case .linear(let layout):
            guard let x = present(0), let w = present(1), w.shape.count == 2, let inputs = x.shape.last else { return .nothing }
            let outputs = layout == .outputsByInputs ? w.shape[0] : w.shape[1]
            return PlannedAllocation(output: Array(x.shape.dropLast()) + [outputs], size: floatSize)
                .multiplying([count(x) / max(inputs, 1), outputs, inputs, w.shape[1]])
        case .matMul:
            guard let a = present(0), let b = present(1), a.shape.count >= 2, b.shape.count >= 2 else { return .nothing }
            let m = a.shape[a.shape.count - 2], k = a.shape[a.shape.count - 1], n = b.shape[b.shape.count - 1]
            if b.shape.count == 2 {
                return PlannedAllocation(output: Array(a.shape.dropLast()) + [n], size: floatSize).multiplying([count(a) / max(k, 1), n, k])
            }
            guard let batch = Broadcasting.shape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))) else { return .nothing }
            return PlannedAllocation(output: batch + [m, n], size: floatSize).multiplying([m, n, k])
        case .convolution(let attributes):
            guard let x = present(0), let w = present(1),
                  case .success(let g) = ConvolutionGeometry.resolve(input: x.shape, weight: w.shape, attributes) else { return .nothing }
            guard let positions = Checked.multiply(g.outHeight, g.outWidth),
                  let patch = Checked.product([g.groupChannels, g.kernelH, g.kernelW]) else {
                return PlannedAllocation(what: "its output and unfolded patches", bytes: nil)
            }
            // im2col columns [patch, S·positions] and products [M/groups, S·positions] for a chunk of
            // S ≥ 1 samples (Convolution.chunkSize keeps S·patch·positions near 2²² when it can).
            let perSample = Checked.multiply(patch, positions)
            let chunk = perSample.map { max(1, min(g.batch, Convolution.chunkFloats / max(1, $0))) } ?? 1
            var plan = PlannedAllocation(output: g.outputShape(rank: x.shape.count), size: floatSize)
                .adding(elements: perSample.flatMap { Checked.multiply($0, chunk) }, size: floatSize)
                .adding(elements: Checked.product([g.groupOutChannels, chunk, positions]), size: floatSize)
            plan.what += " and its unfolded patches"
            return plan.multiplying([g.groupOutChannels, patch, Checked.multiply(chunk, positions) ?? Int.max])
        case .maxPool(let attributes), .averagePool(let attributes, _):
            guard let x = present(0), case .success(let g) = PoolGeometry.resolve(input: x.shape, attributes) else { return .nothing }
            let shape = [g.batch, g.channels, g.outHeight, g.outWidth]
            var plan = PlannedAllocation(output: g.outputShape(rank: x.shape.count), size: floatSize)
            if case .maxPool = node.operation { plan = plan.adding(elements: Checked.product(shape), size: intSize) }
            return plan
        case .multiHeadAttention(let heads, let batchFirst):
            guard let x = present(0), x.shape.count == 3, heads > 0 else { return .nothing }
            let e = x.shape[2], (n, l) = batchFirst ? (x.shape[0], x.shape[1]) : (x.shape[1], x.shape[0])
            guard let rows = Checked.multiply(n, l) else { return PlannedAllocation(what: "its projections", bytes: nil) }
            // Projections [rows, 3E], probabilities [N, h, L, L], scores [L, L], context and
            // output [rows, E] (and the input copy when sequence-first).
            return PlannedAllocation(what: "its projections and attention probabilities", bytes: 0)
                .adding(elements: Checked.multiply(rows, e).flatMap { Checked.multiply($0, 3) }, size: floatSize)
                .adding(elements: Checked.product([n, heads, l, l]), size: floatSize)
                .adding(elements: Checked.multiply(l, l), size: floatSize)
                .adding(elements: Checked.multiply(rows, e).flatMap { Checked.multiply($0, batchFirst ? 2 : 4) }, size: floatSize)
                .multiplying([rows, l, 3 * min(e, Int(Int32.max))])
        }
    }
}
