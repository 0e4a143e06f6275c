#if canImport(Glibc)
import Glibc
#endif

extension ComputeGraph {
    /// Runs the graph on `inputs` and returns every graph output.
    ///
    /// - Parameters:
    ///   - recording: keep what ``backward(_:outputGradients:)`` needs (inputs and outputs of every
    ///     node); without it intermediate values are dropped as soon as they are used.
    ///   - capture: called for every weight layer with the rows its weight multiplies.
    public func forward(_ inputs: [String: Tensor], recording: Bool = false,
                        capture: ((LayerInput) -> Void)? = nil) throws -> (outputs: [String: Tensor], record: Record) {
        var values: [String: Value] = [:]
        for (name, tensor) in parameters { values[name] = .float(tensor) }
        for (name, value) in constants { values[name] = value }
        for name in inputNames {
            guard let tensor = inputs[name] else {
                if parameters[name] != nil || constants[name] != nil { continue }
                throw GraphError.missingGraphInput(name)
            }
            values[name] = .float(tensor)
        }
        // Drop intermediates after their last use when not recording.
        var lastUse: [String: Int] = [:]
        if !recording {
            for (index, node) in nodes.enumerated() { for input in node.inputs { lastUse[input] = index } }
            for name in outputNames { lastUse[name] = Int.max }
        }
        let layerOfNode = Dictionary(weightLayers.enumerated().map { ($1.nodeIndex, $0) }, uniquingKeysWith: { a, _ in a })
        var record = Record()
        for (index, node) in nodes.enumerated() {
            var nodeInputs: [Value?] = []
            for name in node.inputs {
                if name.isEmpty { nodeInputs.append(nil); continue }
                guard let value = values[name] else { throw GraphError.missingValue(node: node.name, name: name) }
                nodeInputs.append(value)
            }
            let layerCapture: ((Int, Tensor) -> Void)? = capture.flatMap { hook in
                layerOfNode[index].map { layer in
                    { group, vectors in
                        hook(LayerInput(layer: layer, group: group, vectors: vectors, vectorsAreColumns: node.opType == "Conv"))
                    }
                }
            }
            let (outputs, saved) = try evaluate(node, nodeInputs, capture: layerCapture)
            for (name, value) in zip(node.outputs, outputs) where !name.isEmpty { values[name] = value }
            if recording {
                record.steps.append((index, nodeInputs, outputs, saved))
            } else {
                for name in node.inputs where lastUse[name] == index && parameters[name] == nil && constants[name] == nil {
                    values[name] = nil
                }
            }
        }
        var outputs: [String: Tensor] = [:]
        for name in outputNames {
            guard case .float(let tensor) = values[name] else { throw GraphError.missingValue(node: "graph output", name: name) }
            outputs[name] = tensor
        }
        return (outputs, record)
    }

    // MARK: - Operator dispatch

    func evaluate(_ node: GraphNode, _ inputs: [Value?], capture: ((Int, Tensor) -> Void)?) throws -> ([Value], Saved) {
        let op = node.opType
        func fail(_ reason: String) -> GraphError { .invalidInput(node: node.name, opType: op, reason: reason) }
        func float(_ i: Int) throws -> Tensor {
            guard i < inputs.count, let value = inputs[i] else { throw fail("input \(i) is missing") }
            switch value {
            case .float(let t): return t
            case .int(let t): return Tensor(shape: t.shape, data: t.data.map(Float.init))
            }
        }
        func optionalFloat(_ i: Int) throws -> Tensor? { i < inputs.count && inputs[i] != nil ? try float(i) : nil }
        func ints(_ i: Int) throws -> IntTensor {
            guard i < inputs.count, let value = inputs[i] else { throw fail("input \(i) is missing") }
            switch value {
            case .int(let t): return t
            case .float(let t): return IntTensor(shape: t.shape, data: t.data.map { Int($0) })
            }
        }
        func optionalInts(_ i: Int) throws -> [Int]? { i < inputs.count && inputs[i] != nil ? try ints(i).data : nil }
        func isInt(_ i: Int) -> Bool { if case .int = inputs[i] { true } else { false } }

        switch op {
        case "Constant":
            if case .tensor(let value) = node.attributes["value"] { return ([value], .none) }
            if case .float(let v) = node.attributes["value_float"] { return ([.float(Tensor(shape: [], data: [v]))], .none) }
            if case .floats(let v) = node.attributes["value_floats"] { return ([.float(Tensor(shape: [v.count], data: v))], .none) }
            if case .int(let v) = node.attributes["value_int"] { return ([.int(IntTensor(scalar: v))], .none) }
            if case .ints(let v) = node.attributes["value_ints"] { return ([.int(IntTensor(v))], .none) }
            throw fail("no value attribute")
        case "Identity", "Dropout":
            guard let value = inputs[0] else { throw fail("input 0 is missing") }
            return ([value], .none)
        case "Cast":
            let to = node.int("to", 1)
            if [1, 10, 11, 16].contains(to) { return ([.float(try float(0))], .none) }
            return ([.int(try ints(0))], .none)
        case "Shape":
            guard let value = inputs[0] else { throw fail("input 0 is missing") }
            var shape = value.shape
            let start = node.int("start", 0), end = node.int("end", shape.count)
            let s = max(0, start < 0 ? start + shape.count : start), e = min(shape.count, end < 0 ? end + shape.count : end)
            shape = s < e ? Array(shape[s..<e]) : []
            return ([.int(IntTensor(shape))], .none)
        case "ConstantOfShape":
            let shape = try ints(0).data
            if case .tensor(let fill) = node.attributes["value"] {
                switch fill {
                case .float(let t): return ([.float(Tensor(repeating: t.data.first ?? 0, shape: shape))], .none)
                case .int(let t): return ([.int(IntTensor(shape: shape, data: Array(repeating: t.data.first ?? 0, count: shape.reduce(1, *))))], .none)
                }
            }
            return ([.float(Tensor(zeros: shape))], .none)
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze":
            guard let value = inputs[0] else { throw fail("input 0 is missing") }
            let shape = try reshapeTarget(node, value.shape, inputs: inputs, fail: fail)
            return ([reshape(value, shape)], .none)
        case "Transpose":
            guard let value = inputs[0] else { throw fail("input 0 is missing") }
            let perm = node.ints("perm") ?? Array((0..<value.shape.count).reversed())
            switch value {
            case .float(let t):
                let (data, shape) = Permutation.apply(t.data, shape: t.shape, perm: perm)
                return ([.float(Tensor(shape: shape, data: data))], .none)
            case .int(let t):
                let (data, shape) = Permutation.apply(t.data, shape: t.shape, perm: perm)
                return ([.int(IntTensor(shape: shape, data: data))], .none)
            }
        case "Gather":
            guard let data = inputs[0] else { throw fail("input 0 is missing") }
            let indices = try ints(1)
            let axis = node.int("axis", 0) < 0 ? node.int("axis", 0) + data.shape.count : node.int("axis", 0)
            return ([try gather(data, indices, axis: axis, fail: fail)], .none)
        case "Concat":
            let present = inputs.compactMap { $0 }
            guard let first = present.first else { throw fail("no inputs") }
            let axis = node.int("axis", 0) < 0 ? node.int("axis", 0) + first.shape.count : node.int("axis", 0)
            if present.allSatisfy({ if case .int = $0 { true } else { false } }) {
                let parts = present.map { v -> IntTensor in if case .int(let t) = v { t } else { fatalError() } }
                let (data, shape) = Self.concat(parts.map { ($0.data, $0.shape) }, axis: axis)
                return ([.int(IntTensor(shape: shape, data: data))], .none)
            }
            let parts = try (0..<inputs.count).filter { inputs[$0] != nil }.map { try float($0) }
            let (data, shape) = Self.concat(parts.map { ($0.data, $0.shape) }, axis: axis)
            return ([.float(Tensor(shape: shape, data: data))], .none)
        case "Split":
            let x = try float(0)
            let axis = x.normalizedAxis(node.int("axis", 0))
            var sizes = try optionalInts(1) ?? node.ints("split") ?? []
            if sizes.isEmpty {
                let parts = node.outputs.count
                let each = (x.shape[axis] + parts - 1) / parts
                sizes = (0..<parts).map { min(each, x.shape[axis] - $0 * each) }
            }
            return (Self.split(x, axis: axis, sizes: sizes).map { .float($0) }, .none)
        case "Slice":
            guard let data = inputs[0] else { throw fail("input 0 is missing") }
            let spec = try sliceSpec(data.shape, starts: try ints(1).data, ends: try ints(2).data,
                                     axes: try optionalInts(3), steps: try optionalInts(4), fail: fail)
            switch data {
            case .float(let t): return ([.float(Tensor(shape: spec.shape, data: spec.indices.map { t.data[$0] }))], .none)
            case .int(let t): return ([.int(IntTensor(shape: spec.shape, data: spec.indices.map { t.data[$0] }))], .none)
            }
        case "Expand":
            guard let data = inputs[0] else { throw fail("input 0 is missing") }
            guard let target = Broadcasting.shape(data.shape, try ints(1).data) else { throw fail("cannot expand \(data.shape)") }
            switch data {
            case .float(let t): return ([.float(Tensor(shape: target, data: Broadcasting.expand(t.data, shape: t.shape, to: target)))], .none)
            case .int(let t): return ([.int(IntTensor(shape: target, data: Broadcasting.expand(t.data, shape: t.shape, to: target)))], .none)
            }
        case "Equal", "Less", "Greater":
            let a = try float(0), b = try float(1)
            guard let target = Broadcasting.shape(a.shape, b.shape) else { throw fail("shapes \(a.shape) and \(b.shape) do not broadcast") }
            var out = [Int](repeating: 0, count: target.reduce(1, *))
            Broadcasting.forEach(target, Broadcasting.strides(of: a.shape, broadcastTo: target), Broadcasting.strides(of: b.shape, broadcastTo: target)) { o, i, j in
                let x = a.data[i], y = b.data[j]
                out[o] = (op == "Equal" ? x == y : op == "Less" ? x < y : x > y) ? 1 : 0
            }
            return ([.int(IntTensor(shape: target, data: out))], .none)
        case "Where":
            let condition = try ints(0)
            guard let x = inputs[1], let y = inputs[2] else { throw fail("inputs missing") }
            guard let t1 = Broadcasting.shape(condition.shape, x.shape), let target = Broadcasting.shape(t1, y.shape) else {
                throw fail("shapes do not broadcast")
            }
            let cs = Broadcasting.strides(of: condition.shape, broadcastTo: target)
            let zero = [Int](repeating: 0, count: target.count)
            var mask = [Bool](repeating: false, count: target.reduce(1, *))
            Broadcasting.forEach(target, cs, zero) { o, c, _ in mask[o] = condition.data[c] != 0 }
            if case .int(let xi) = x, case .int(let yi) = y {
                let xe = Broadcasting.expand(xi.data, shape: xi.shape, to: target), ye = Broadcasting.expand(yi.data, shape: yi.shape, to: target)
                return ([.int(IntTensor(shape: target, data: (0..<mask.count).map { mask[$0] ? xe[$0] : ye[$0] }))], .none)
            }
            let xf = try float(1), yf = try float(2)
            let xe = Broadcasting.expand(xf.data, shape: xf.shape, to: target), ye = Broadcasting.expand(yf.data, shape: yf.shape, to: target)
            return ([.float(Tensor(shape: target, data: (0..<mask.count).map { mask[$0] ? xe[$0] : ye[$0] }))], .none)
        case "Add", "Sub", "Mul", "Div", "Pow", "Mod":
            if isInt(0) && isInt(1) {
                let a = try ints(0), b = try ints(1)
                guard let target = Broadcasting.shape(a.shape, b.shape) else { throw fail("shapes \(a.shape) and \(b.shape) do not broadcast") }
                var out = [Int](repeating: 0, count: target.reduce(1, *))
                Broadcasting.forEach(target, Broadcasting.strides(of: a.shape, broadcastTo: target), Broadcasting.strides(of: b.shape, broadcastTo: target)) { o, i, j in
                    let x = a.data[i], y = b.data[j]
                    switch op {
                    case "Add": out[o] = x &+ y
                    case "Sub": out[o] = x &- y
                    case "Mul": out[o] = x &* y
                    case "Div": out[o] = y == 0 ? 0 : x / y
                    case "Mod": out[o] = y == 0 ? 0 : (node.int("fmod", 0) == 1 ? x % y : ((x % y) + y) % y)
                    default: out[o] = Int(pow(Double(x), Double(y)))
                    }
                }
                return ([.int(IntTensor(shape: target, data: out))], .none)
            }
            let a = try float(0), b = try float(1)
            guard let target = Broadcasting.shape(a.shape, b.shape) else { throw fail("shapes \(a.shape) and \(b.shape) do not broadcast") }
            return ([.float(Self.binary(op, a, b, target))], .none)
        case "Relu", "Erf", "Sqrt", "Sigmoid", "Tanh", "Neg", "Exp", "Log", "Abs", "Reciprocal":
            let x = try float(0)
            return ([.float(Tensor(shape: x.shape, data: x.data.map { Self.unary(op, $0) }))], .none)
        case "Gelu":
            let x = try float(0)
            let tanhForm = node.string("approximate", "none") == "tanh"
            return ([.float(Tensor(shape: x.shape, data: x.data.map { Activations.gelu($0, tanh: tanhForm) }))], .none)
        case "Softmax":
            let x = try float(0)
            return ([.float(Normalization.softmax(x, axis: node.int("axis", -1)))], .none)
        case "LayerNormalization":
            let x = try float(0)
            let (y, mean, invStd) = Normalization.layerNorm(x, scale: try optionalFloat(1), bias: try optionalFloat(2),
                                                            axis: node.int("axis", -1), epsilon: node.float("epsilon", 1e-5))
            return ([.float(y)], .layerNorm(mean: mean, invStd: invStd))
        case "BatchNormalization":
            let x = try float(0)
            let y = Normalization.batchNorm(x, scale: try float(1), bias: try float(2), mean: try float(3), variance: try float(4),
                                            epsilon: node.float("epsilon", 1e-5))
            return ([.float(y)], .none)
        case "Gemm":
            let a = try float(0), b = try float(1)
            guard a.rank == 2, b.rank == 2 else { throw fail("Gemm needs 2-D inputs, got \(a.shape) and \(b.shape)") }
            let transA = node.int("transA", 0) == 1, transB = node.int("transB", 0) == 1
            let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
            let n = transB ? b.shape[0] : b.shape[1]
            guard (transB ? b.shape[1] : b.shape[0]) == k else { throw fail("inner dimensions differ: \(a.shape) × \(b.shape)") }
            if let capture { capture(0, transA ? Self.transpose2D(a) : a) }
            var y = Tensor(zeros: [m, n])
            if let c = try optionalFloat(2) {
                guard let _ = Broadcasting.shape(c.shape, [m, n]) else { throw fail("bias \(c.shape) does not broadcast to [\(m), \(n)]") }
                y.data = Broadcasting.expand(c.data, shape: c.shape, to: [m, n])
                let beta = node.float("beta", 1)
                if beta != 1 { for i in 0..<y.count { y.data[i] *= beta } }
            }
            a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in y.data.withUnsafeMutableBufferPointer { yp in
                BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: node.float("alpha", 1), a: ap.baseAddress!, lda: a.shape[1],
                           b: bp.baseAddress!, ldb: b.shape[1], beta: 1, c: yp.baseAddress!, ldc: n)
            } } }
            return ([.float(y)], .none)
        case "MatMul":
            let a = try float(0), b = try float(1)
            if let capture, b.rank == 2 { capture(0, a.reshaped([a.count / max(a.shape.last ?? 1, 1), a.shape.last ?? 1])) }
            return ([.float(try Self.matmul(a, b, fail: fail))], .none)
        case "Conv":
            let x = try float(0), w = try float(1)
            let geometry = try convolutionGeometry(node, x.shape, w.shape, fail: fail)
            let x4 = x.reshaped([geometry.batch, geometry.channels, geometry.height, geometry.width])
            let w4 = w.reshaped([w.shape[0], w.shape[1], geometry.kernelH, geometry.kernelW])
            var y = Convolution.forward(x4, weight: w4, bias: try optionalFloat(2), geometry: geometry, patches: capture)
            if x.rank == 3 { y = y.reshaped([geometry.batch, geometry.outChannels, geometry.outWidth]) }
            return ([.float(y)], .convolution(geometry))
        case "MaxPool", "AveragePool":
            let x = try float(0)
            let geometry = try poolGeometry(node, x.shape, fail: fail)
            let x4 = x.reshaped([geometry.batch, geometry.channels, geometry.height, geometry.width])
            var y: Tensor
            var saved = Saved.pool(geometry)
            if op == "MaxPool" {
                let (pooled, argmax) = Pooling.maxForward(x4, geometry)
                y = pooled
                saved = .argmax(argmax)
            } else {
                y = Pooling.averageForward(x4, geometry, countIncludePad: node.int("count_include_pad", 0) == 1)
            }
            if x.rank == 3 { y = y.reshaped([geometry.batch, geometry.channels, geometry.outWidth]) }
            return ([.float(y)], saved)
        case "GlobalAveragePool":
            let x = try float(0)
            let inner = x.shape.dropFirst(2).reduce(1, *)
            var shape = Array(x.shape.prefix(2)) + [Int](repeating: 1, count: x.rank - 2)
            if x.rank < 2 { shape = x.shape }
            var y = Tensor(zeros: shape)
            for p in 0..<y.count {
                var sum: Float = 0
                for i in 0..<inner { sum += x.data[p * inner + i] }
                y.data[p] = sum / Float(max(inner, 1))
            }
            return ([.float(y)], .none)
        case "ReduceMean", "ReduceSum":
            let x = try float(0)
            let axes = (try optionalInts(1) ?? node.ints("axes") ?? Array(0..<x.rank)).map { x.normalizedAxis($0) }
            let keep = node.int("keepdims", 1) == 1
            var reducedShape = x.shape
            for a in axes { reducedShape[a] = 1 }
            var y = Broadcasting.reduce(x, to: reducedShape)
            if op == "ReduceMean" {
                let n = Float(axes.reduce(1) { $0 * x.shape[$1] })
                for i in 0..<y.count { y.data[i] /= max(n, 1) }
            }
            if !keep { y = y.reshaped(reducedShape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)) }
            return ([.float(y)], .none)
        default:
            throw GraphError.unsupportedOperator(node: node.name, opType: op)
        }
    }

    // MARK: - Helpers shared with backward

    func reshapeTarget(_ node: GraphNode, _ shape: [Int], inputs: [Value?], fail: (String) -> GraphError) throws -> [Int] {
        func intInput(_ i: Int) -> [Int]? {
            guard i < inputs.count, let value = inputs[i] else { return nil }
            switch value {
            case .int(let t): return t.data
            case .float(let t): return t.data.map { Int($0) }
            }
        }
        let count = shape.reduce(1, *)
        switch node.opType {
        case "Flatten":
            let axis = node.int("axis", 1) < 0 ? node.int("axis", 1) + shape.count : node.int("axis", 1)
            let outer = shape.prefix(axis).reduce(1, *)
            return [outer, count / max(outer, 1)]
        case "Squeeze":
            let axes = (intInput(1) ?? node.ints("axes"))?.map { $0 < 0 ? $0 + shape.count : $0 }
            return shape.enumerated().filter { item in axes.map { !$0.contains(item.offset) } ?? (item.element != 1) }.map(\.element)
        case "Unsqueeze":
            guard let raw = intInput(1) ?? node.ints("axes") else { throw fail("no axes") }
            let rank = shape.count + raw.count
            let axes = Set(raw.map { $0 < 0 ? $0 + rank : $0 })
            var result: [Int] = []
            var source = shape.makeIterator()
            for axis in 0..<rank { result.append(axes.contains(axis) ? 1 : source.next() ?? 1) }
            return result
        default:
            guard var target = intInput(1) else { throw fail("no target shape") }
            let allowZero = node.int("allowzero", 0) == 1
            for i in target.indices where target[i] == 0 && !allowZero { target[i] = i < shape.count ? shape[i] : 0 }
            if let inferred = target.firstIndex(of: -1) {
                let known = target.enumerated().filter { $0.offset != inferred }.reduce(1) { $0 * $1.element }
                target[inferred] = known == 0 ? 0 : count / known
            }
            guard target.reduce(1, *) == count else { throw fail("cannot reshape \(shape) to \(target)") }
            return target
        }
    }

    func reshape(_ value: Value, _ shape: [Int]) -> Value {
        switch value {
        case .float(let t): .float(t.reshaped(shape))
        case .int(let t): .int(IntTensor(shape: shape, data: t.data))
        }
    }

    func gather(_ data: Value, _ indices: IntTensor, axis: Int, fail: (String) -> GraphError) throws -> Value {
        let shape = data.shape
        let outer = shape.prefix(axis).reduce(1, *), size = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        let resolved = try indices.data.map { i -> Int in
            let j = i < 0 ? i + size : i
            guard j >= 0 && j < size else { throw fail("index \(i) out of range for axis of size \(size)") }
            return j
        }
        let outShape = Array(shape.prefix(axis)) + indices.shape + Array(shape[(axis + 1)...])
        var order: [Int] = []
        order.reserveCapacity(outer * resolved.count * inner)
        for o in 0..<outer { for j in resolved { for i in 0..<inner { order.append((o * size + j) * inner + i) } } }
        switch data {
        case .float(let t): return .float(Tensor(shape: outShape, data: order.map { t.data[$0] }))
        case .int(let t): return .int(IntTensor(shape: outShape, data: order.map { t.data[$0] }))
        }
    }

    static func concat<T>(_ parts: [([T], [Int])], axis: Int) -> ([T], [Int]) {
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

    static func split(_ x: Tensor, axis: Int, sizes: [Int]) -> [Tensor] {
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

    struct SliceSpec { var shape: [Int]; var indices: [Int] }

    func sliceSpec(_ shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?, fail: (String) -> GraphError) throws -> SliceSpec {
        var begin = [Int](repeating: 0, count: shape.count), step = [Int](repeating: 1, count: shape.count)
        var count = shape
        for (k, rawAxis) in (axes ?? Array(0..<starts.count)).enumerated() {
            let axis = rawAxis < 0 ? rawAxis + shape.count : rawAxis
            let dim = shape[axis], s = steps?[k] ?? 1
            guard s != 0 else { throw fail("slice step 0") }
            var start = starts[k], end = ends[k]
            if start < 0 { start += dim }
            if end < 0 { end += dim }
            if s > 0 {
                start = min(max(start, 0), dim); end = min(max(end, 0), dim)
                count[axis] = max(0, (end - start + s - 1) / s)
            } else {
                start = min(max(start, -1), dim - 1); end = min(max(end, -1), dim - 1)
                count[axis] = max(0, (start - end + (-s) - 1) / (-s))
            }
            begin[axis] = start; step[axis] = s
        }
        let strides = Tensor.strides(for: shape)
        var indices: [Int] = []
        indices.reserveCapacity(count.reduce(1, *))
        let sliceStrides = (0..<shape.count).map { strides[$0] * step[$0] }
        let base = (0..<shape.count).reduce(0) { $0 + begin[$1] * strides[$1] }
        Broadcasting.forEach(count, sliceStrides, [Int](repeating: 0, count: shape.count)) { _, a, _ in indices.append(base + a) }
        if count.reduce(1, *) == 0 { indices = [] }
        return SliceSpec(shape: count, indices: indices)
    }

    static func binary(_ op: String, _ a: Tensor, _ b: Tensor, _ target: [Int]) -> Tensor {
        var y = Tensor(zeros: target)
        let sa = Broadcasting.strides(of: a.shape, broadcastTo: target), sb = Broadcasting.strides(of: b.shape, broadcastTo: target)
        a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in y.data.withUnsafeMutableBufferPointer { yp in
            switch op {
            case "Add": Broadcasting.forEach(target, sa, sb) { o, i, j in yp[o] = ap[i] + bp[j] }
            case "Sub": Broadcasting.forEach(target, sa, sb) { o, i, j in yp[o] = ap[i] - bp[j] }
            case "Mul": Broadcasting.forEach(target, sa, sb) { o, i, j in yp[o] = ap[i] * bp[j] }
            case "Div": Broadcasting.forEach(target, sa, sb) { o, i, j in yp[o] = ap[i] / bp[j] }
            case "Mod": Broadcasting.forEach(target, sa, sb) { o, i, j in yp[o] = fmodf(ap[i], bp[j]) }
            default: Broadcasting.forEach(target, sa, sb) { o, i, j in yp[o] = powf(ap[i], bp[j]) }
            }
        } } }
        return y
    }

    static func unary(_ op: String, _ x: Float) -> Float {
        switch op {
        case "Relu": max(x, 0)
        case "Erf": erff(x)
        case "Sqrt": x.squareRoot()
        case "Sigmoid": 1 / (1 + expf(-x))
        case "Tanh": tanhf(x)
        case "Neg": -x
        case "Exp": expf(x)
        case "Log": logf(x)
        case "Abs": abs(x)
        default: 1 / x   // Reciprocal
        }
    }

    static func transpose2D(_ t: Tensor) -> Tensor {
        let (data, shape) = Permutation.apply(t.data, shape: t.shape, perm: [1, 0])
        return Tensor(shape: shape, data: data)
    }

    /// NumPy matmul for ranks ≥ 2 (a 2-D right operand is shared by every row of the left one).
    static func matmul(_ a: Tensor, _ b: Tensor, fail: (String) -> GraphError) throws -> Tensor {
        guard a.rank >= 2, b.rank >= 2 else { throw fail("MatMul needs inputs of rank ≥ 2, got \(a.shape) and \(b.shape)") }
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        guard b.shape[b.rank - 2] == k else { throw fail("inner dimensions differ: \(a.shape) × \(b.shape)") }
        if b.rank == 2 {
            let rows = a.count / max(k, 1)
            var y = Tensor(zeros: Array(a.shape.dropLast()) + [n])
            a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in y.data.withUnsafeMutableBufferPointer { yp in
                BLAS.sgemm(transA: false, transB: false, m: rows, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, c: yp.baseAddress!, ldc: n)
            } } }
            return y
        }
        guard let batch = Broadcasting.shape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))) else {
            throw fail("batch dimensions do not broadcast: \(a.shape) × \(b.shape)")
        }
        let sa = Broadcasting.strides(of: Array(a.shape.dropLast(2)), broadcastTo: batch)
        let sb = Broadcasting.strides(of: Array(b.shape.dropLast(2)), broadcastTo: batch)
        var y = Tensor(zeros: batch + [m, n])
        a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in y.data.withUnsafeMutableBufferPointer { yp in
            Broadcasting.forEach(batch, sa, sb) { o, i, j in
                BLAS.sgemm(transA: false, transB: false, m: m, n: n, k: k, a: ap.baseAddress! + i * m * k, lda: k,
                           b: bp.baseAddress! + j * k * n, ldb: n, c: yp.baseAddress! + o * m * n, ldc: n)
            }
        } } }
        return y
    }

    func convolutionGeometry(_ node: GraphNode, _ x: [Int], _ w: [Int], fail: (String) -> GraphError) throws -> ConvolutionGeometry {
        guard x.count == 4 || x.count == 3, w.count == x.count else { throw fail("Conv needs 3-D or 4-D input and weight, got \(x) and \(w)") }
        let oneD = x.count == 3
        let kernel = node.ints("kernel_shape") ?? Array(w.dropFirst(2))
        let kh = oneD ? 1 : kernel[0], kw = kernel[kernel.count - 1]
        let strides = node.ints("strides") ?? [1, 1], dilations = node.ints("dilations") ?? [1, 1]
        var pads = node.ints("pads") ?? [Int](repeating: 0, count: oneD ? 2 : 4)
        let h = oneD ? 1 : x[2], width = x[x.count - 1]
        let sh = oneD ? 1 : strides[0], sw = strides[strides.count - 1]
        let dh = oneD ? 1 : dilations[0], dw = dilations[dilations.count - 1]
        let autoPad = node.string("auto_pad", "NOTSET")
        if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            func same(_ size: Int, _ s: Int, _ d: Int, _ k: Int) -> (Int, Int) {
                let out = (size + s - 1) / s
                let total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
                return autoPad == "SAME_UPPER" ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
            }
            let (t, b) = same(h, sh, dh, kh), (l, r) = same(width, sw, dw, kw)
            pads = oneD ? [l, r] : [t, l, b, r]
        } else if autoPad == "VALID" {
            pads = [Int](repeating: 0, count: oneD ? 2 : 4)
        }
        let groups = node.int("group", 1)
        guard x[1] == w[1] * groups, w[0] % groups == 0 else { throw fail("input channels \(x[1]) do not match weight \(w) with \(groups) group(s)") }
        return ConvolutionGeometry(batch: x[0], channels: x[1], height: h, width: width, outChannels: w[0], kernelH: kh, kernelW: kw,
                                   strideH: sh, strideW: sw, dilationH: dh, dilationW: dw,
                                   padTop: oneD ? 0 : pads[0], padLeft: oneD ? pads[0] : pads[1],
                                   padBottom: oneD ? 0 : pads[2], padRight: oneD ? pads[1] : pads[3], groups: groups)
    }

    func poolGeometry(_ node: GraphNode, _ x: [Int], fail: (String) -> GraphError) throws -> PoolGeometry {
        guard x.count == 4 || x.count == 3 else { throw fail("pooling needs 3-D or 4-D input, got \(x)") }
        let oneD = x.count == 3
        guard let kernel = node.ints("kernel_shape") else { throw fail("no kernel_shape") }
        let strides = node.ints("strides") ?? [Int](repeating: 1, count: kernel.count)
        let pads = node.ints("pads") ?? [Int](repeating: 0, count: kernel.count * 2)
        let dilations = node.ints("dilations") ?? [Int](repeating: 1, count: kernel.count)
        return PoolGeometry(batch: x[0], channels: x[1], height: oneD ? 1 : x[2], width: x[x.count - 1],
                            kernelH: oneD ? 1 : kernel[0], kernelW: kernel[kernel.count - 1],
                            strideH: oneD ? 1 : strides[0], strideW: strides[strides.count - 1],
                            padTop: oneD ? 0 : pads[0], padLeft: oneD ? pads[0] : pads[1],
                            padBottom: oneD ? 0 : pads[2], padRight: oneD ? pads[1] : pads[3],
                            dilationH: oneD ? 1 : dilations[0], dilationW: dilations[dilations.count - 1],
                            ceilMode: node.int("ceil_mode", 0) == 1)
    }
}

/// Scalar activation functions and their derivatives.
public enum Activations {
    /// GELU: `x Φ(x) = ½ x (1 + erf(x/√2))`, or the tanh approximation
    /// `½ x (1 + tanh(√(2/π)(x + 0.044715 x³)))`.
    public static func gelu(_ x: Float, tanh tanhForm: Bool) -> Float {
        if tanhForm { return 0.5 * x * (1 + tanhf(0.7978845608 * (x + 0.044715 * x * x * x))) }
        return 0.5 * x * (1 + erff(x * 0.70710678118))
    }

    public static func geluDerivative(_ x: Float, tanh tanhForm: Bool) -> Float {
        if tanhForm {
            let u = 0.7978845608 * (x + 0.044715 * x * x * x)
            let t = tanhf(u)
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.7978845608 * (1 + 3 * 0.044715 * x * x)
        }
        return 0.5 * (1 + erff(x * 0.70710678118)) + x * expf(-0.5 * x * x) * 0.3989422804
    }
}
