import Safeguards

extension ComputeGraph {
    /// Runs the graph on `inputs` (float tensors by graph input name) and returns every graph
    /// output.
    ///
    /// - Parameters:
    ///   - overrides: replacements for stored ``parameters``, by name, for this call only (edited
    ///     weights): the pass, its captures and its record see them in place of the stored
    ///     values, so ``backward(_:outputGradients:inputGradients:)`` on the record gives gradients
    ///     at the overridden values. The graph is not changed.
    ///   - recording: keep what ``backward(_:outputGradients:inputGradients:)`` needs (every
    ///     node's inputs, outputs and saved state). Without it, intermediate values are dropped
    ///     after their last use and the returned record is empty.
    ///   - capture: called during the pass for every weight layer (and every group of a grouped
    ///     convolution) with the input vectors its weight multiplies; see ``LayerInput``.
    /// - Precondition: every override names a stored parameter and has its shape.
    /// - Throws: ``GraphError`` naming the node whose inputs do not fit.
    public func forward(_ inputs: [String: Tensor], parameters overrides: [String: Tensor] = [:], recording: Bool = false,
                        capture: ((LayerInput) -> Void)? = nil) throws -> (outputs: [String: Tensor], record: Record) {
        let (outputs, record, _, _) = try run(inputs, overrides: overrides, recording: recording, capture: capture, keeping: [])
        return (outputs, record)
    }

    /// The bytes of the largest value a pass on `inputs` computes (parameters, constants and the
    /// inputs not counted): with one sample's input, the per-sample size that bounds how many
    /// samples a batch may hold before its values outgrow a reusable memory block.
    public func largestComputedValueBytes(for inputs: [String: Tensor]) throws -> Int {
        try run(inputs, recording: false, capture: nil, keeping: []).largest
    }

    /// ``forward(_:parameters:recording:capture:)`` that also returns the float values named in
    /// `keeping` and the bytes of the largest value computed. With `reusing` given, nodes that do
    /// not depend on `overrides` are skipped and their values taken from it
    /// (``forward(_:parameters:reusing:)``).
    func run(_ inputs: [String: Tensor], overrides: [String: Tensor] = [:], recording: Bool, capture: ((LayerInput) -> Void)?,
             keeping: Set<String>, reusing: [String: Tensor]? = nil) throws -> (outputs: [String: Tensor], record: Record, kept: [String: Tensor], largest: Int)
    {
        var values: [String: Value] = [:]
        for (name, tensor) in parameters { values[name] = .float(tensor) }
        for (name, tensor) in overrides {
            guard let stored = parameters[name] else { preconditionFailure("override '\(name)' is not a parameter of the graph") }
            precondition(tensor.shape == stored.shape, "override '\(name)' has shape \(tensor.shape), the parameter \(stored.shape)")
            values[name] = .float(tensor)
        }
        for (name, value) in constants { values[name] = value }
        for name in inputNames {
            guard let tensor = inputs[name] else {
                if parameters[name] != nil || constants[name] != nil { continue }
                throw GraphError.missingGraphInput(name)
            }
            values[name] = .float(tensor)
        }
        var layersOfNode: [Int: [Int]] = [:]
        for (layer, info) in weightLayers.enumerated() { layersOfNode[info.nodeIndex, default: []].append(layer) }
        // A pass that keeps nothing for backward folds each batch normalization into the
        // convolution that alone feeds it: the convolution's node then writes the normalization's output.
        let folds = recording ? [:] : batchNormFolds(keeping: keeping, weightLayerNodes: Set(layersOfNode.keys))
        // Nodes whose values come from `reusing` instead.
        var skipped = [Bool](repeating: false, count: nodes.count)
        if let reusing {
            precondition(!recording && capture == nil, "a pass reusing values records and captures nothing")
            skipped = nodesDepending(on: Set(overrides.keys), folds: folds).map { !$0 }
            for (name, tensor) in reusing { values[name] = .float(tensor) }
        }
        // Drop intermediates after their last use when not recording.
        var lastUse: [String: Int] = [:]
        if !recording {
            for (index, node) in nodes.enumerated() where !skipped[index] { for input in node.inputs { lastUse[input] = index } }
            for name in outputNames { lastUse[name] = Int.max }
            for name in keeping { lastUse[name] = Int.max }
        }
        // The batch size: a linear layer's rows are this many samples' vectors, in the layer's row order.
        let batchSize = inputNames.first.flatMap { inputs[$0]?.shape.first }
        var record = Record()
        // Bytes of the values alive in this pass, for the allocation budget (ComputeGraph+Budget).
        var live = values.values.reduce(0) { $0 &+ Self.bytes(of: $1) }
        var largest = 0
        var folded: Set<Int> = []
        for (index, node) in nodes.enumerated() where !folded.contains(index) && !skipped[index] {
            var nodeInputs: [Value?] = []
            nodeInputs.reserveCapacity(node.inputs.count)
            for name in node.inputs {
                if name.isEmpty { nodeInputs.append(nil); continue }
                guard let value = values[name] else { throw GraphError.missingValue(node: node.name, name: name) }
                nodeInputs.append(value)
            }
            // The node's capture: `slot` is the layer's position among the node's weight layers.
            var layerCapture: ((Int, Int, LayerInput.Source) -> Void)?
            if let capture, let layers = layersOfNode[index] {
                let infos = weightLayers
                layerCapture = { slot, group, source in
                    guard slot < layers.count else { return }
                    let layer = layers[slot]
                    var source = source
                    if case .rows(let t, _, _) = source, let batchSize, batchSize > 0 {
                        // Rows that are not a whole number of vectors per sample count as one sample's.
                        source = t.shape[0] % batchSize == 0 ? .rows(t, samples: batchSize, order: infos[layer].rowOrder) : .rows(t, samples: 1)
                    }
                    capture(LayerInput(layer: layer, group: group, name: infos[layer].nodeName, weight: infos[layer].weight, source: source))
                }
            }
            var outputNames = node.outputs
            // Weights derived from stored (not overridden) parameters are computed once per graph,
            // under a key made of the names they come from.
            var weightNames = Array(node.inputs.dropFirst()), derivedName = node.name
            func stored(_ names: [String]) -> Bool {
                names.allSatisfy { $0.isEmpty || (overrides[$0] == nil && (parameters[$0] != nil || constants[$0] != nil)) }
            }
            if let normalization = folds[index] {
                let batchNorm = nodes[normalization]
                weightNames += batchNorm.inputs.dropFirst()
                derivedName += "\u{0}" + batchNorm.name
                let fold = { try Self.foldingBatchNorm(batchNorm, into: nodeInputs, values: values) }
                let (weight, bias) = try stored(weightNames) ? derived.pair("fold\u{0}" + ([derivedName] + weightNames).joined(separator: "\u{0}"), fold) : fold()
                nodeInputs = [nodeInputs[0], .float(weight), .float(bias)]
                outputNames = batchNorm.outputs
                folded.insert(normalization)
            }
            var derivedKey: String? = nil
            if case .convolution = node.operation, !recording, stored(weightNames) {
                derivedKey = ([derivedName] + weightNames).joined(separator: "\u{0}")
            }
            let (outputs, saved) = try evaluate(node, nodeInputs, capture: layerCapture, recording: recording,
                                                available: AllocationBudget.limit - live, derivedKey: derivedKey)
            for (name, value) in zip(outputNames, outputs) where !name.isEmpty {
                if let old = values.updateValue(value, forKey: name) { live -= Self.bytes(of: old) }
                let bytes = Self.bytes(of: value)
                live += bytes
                largest = max(largest, bytes)
            }
            if recording {
                record.steps.append(Step(node: index, inputs: nodeInputs, outputs: outputs, saved: saved))
            } else {
                for name in node.inputs where lastUse[name] == index && parameters[name] == nil && constants[name] == nil {
                    if let old = values.removeValue(forKey: name) { live -= Self.bytes(of: old) }
                }
            }
        }
        var outputs: [String: Tensor] = [:]
        for name in outputNames {
            guard case .float(let tensor) = values[name] else { throw GraphError.missingValue(node: "graph output", name: name) }
            outputs[name] = tensor
        }
        var kept: [String: Tensor] = [:]
        for name in keeping { if case .float(let tensor) = values[name] { kept[name] = tensor } }
        return (outputs, record, kept, largest)
    }

    /// Convolution node → the batch-normalization node it alone feeds, for the pairs a pass may fold:
    /// the convolution's output is read by that one node (as its input 0) and is neither a graph
    /// output nor `keeping`; the normalization's scale, bias, mean and variance are stored
    /// parameters or constants; and neither node's output is captured for a weight layer.
    public func batchNormFolds(keeping: Set<String> = [], weightLayerNodes: Set<Int> = []) -> [Int: Int] {
        var producer: [String: Int] = [:], readers: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for name in node.outputs where !name.isEmpty { producer[name] = index }
            for name in node.inputs where !name.isEmpty { readers[name, default: 0] += 1 }
        }
        var folds: [Int: Int] = [:]
        for (index, node) in nodes.enumerated() {
            guard case .batchNormalization = node.operation, node.inputs.count == 5, !weightLayerNodes.contains(index),
                  let convolution = producer[node.inputs[0]], case .convolution = nodes[convolution].operation,
                  nodes[convolution].outputs.count == 1, readers[node.inputs[0]] == 1,
                  !outputNames.contains(node.inputs[0]), !keeping.contains(node.inputs[0]),
                  node.inputs.dropFirst().allSatisfy({ parameters[$0] != nil || constants[$0] != nil }) else { continue }
            folds[convolution] = index
        }
        return folds
    }

    /// The convolution's weight and bias with `normalization` (inference batch normalization of
    /// the convolution's output, `inputs` the convolution's) folded in: with `f = scale / √(variance + ε)` per output channel,
    /// `w' = f · w` and `b' = f · (b − mean) + bias` (b = 0 without a bias), so that the convolution
    /// by `w', b'` equals the normalized convolution up to float rounding.
    static func foldingBatchNorm(_ normalization: GraphNode, into inputs: [Value?], values: [String: Value]) throws -> (weight: Tensor, bias: Tensor) {
        func fail(_ reason: String) -> GraphError { .invalidInput(node: normalization.name, opType: "BatchNormalization", reason: reason) }
        guard case .batchNormalization(let epsilon) = normalization.operation, inputs.count >= 2, case .float(let weight)? = inputs[1] else {
            throw fail("the convolution before it has no float weight to fold into")
        }
        let statistics: [Tensor] = try normalization.inputs[1...4].map {
            guard case .float(let tensor)? = values[$0] else { throw GraphError.missingValue(node: normalization.name, name: $0) }
            return tensor
        }
        let channels = weight.shape.first ?? 0
        guard statistics.allSatisfy({ $0.count == channels }) else {
            throw fail("scale, bias, mean and variance must have \(channels) elements, got \(statistics.map(\.shape))")
        }
        var bias: Tensor? = nil
        if inputs.count > 2, case .float(let b)? = inputs[2] { bias = b }
        let perChannel = weight.count / max(channels, 1)
        var foldedWeight = weight, foldedBias = [Float](repeating: 0, count: channels)
        foldedWeight.data.withUnsafeMutableBufferPointer { wp in
            for m in 0..<channels {
                let factor = statistics[0].data[m] / (statistics[3].data[m] + epsilon).squareRoot()
                let row = wp.baseAddress! + m * perChannel
                for i in 0..<perChannel { row[i] *= factor }
                foldedBias[m] = factor * ((bias?.data[m] ?? 0) - statistics[2].data[m]) + statistics[1].data[m]
            }
        }
        return (foldedWeight, Tensor(shape: [channels], data: foldedBias))
    }

    /// The float values named `names` (graph inputs or node outputs) when the graph runs on
    /// `inputs`, with parameter `overrides` as in ``forward(_:parameters:recording:capture:)``:
    /// what an import-time rewrite checks itself against.
    public func intermediates(_ names: Set<String>, for inputs: [String: Tensor], parameters overrides: [String: Tensor] = [:]) throws
        -> [String: Tensor] {
        try run(inputs, overrides: overrides, recording: false, capture: nil, keeping: names).kept
    }

    /// The graph outputs for `inputs` (a forward pass that keeps nothing for backward), with
    /// parameter `overrides` as in ``forward(_:parameters:recording:capture:)``.
    public func outputs(for inputs: [String: Tensor], parameters overrides: [String: Tensor] = [:]) throws -> [String: Tensor] {
        try forward(inputs, parameters: overrides).outputs
    }

    // MARK: - Operator dispatch

    /// One node's outputs; `recording` says whether its `Saved` will be used by a backward pass
    /// (without it, work done only for backward, such as max-pool argmax indices, is skipped).
    /// `available` is what the pass may still allocate (``checkBudget(_:_:available:)``).
    /// `derivedKey` names the convolution's weights when they come from stored parameters, so that
    /// weights derived from them (Winograd kernels) are kept in ``derived`` for later passes.
    func evaluate(_ node: GraphNode, _ inputs: [Value?], capture: ((Int, Int, LayerInput.Source) -> Void)?,
                  recording: Bool = true, available: Int = AllocationBudget.limit, derivedKey: String? = nil) throws -> ([Value], Saved) {
        let operands = Operands(node: node, values: inputs)
        try checkBudget(node, operands, available: available)
        func fail(_ reason: String) -> GraphError { operands.fail(reason) }
        func unwrap(_ result: Result<Tensor, ShapeMismatch>) throws -> Tensor {
            switch result {
            case .success(let t): return t
            case .failure(let mismatch): throw fail(mismatch.description)
            }
        }

        switch node.operation {
        case .constant(let value):
            return ([value], .none)
        case .identity, .dropout:
            return ([try operands.value(0)], .none)
        case .cast(let toFloat):
            return (toFloat ? [.float(try operands.float(0))] : [.int(try operands.ints(0))], .none)
        case .shape(let start, let end):
            let shape = try operands.value(0).shape
            let rank = shape.count
            func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
            let s = clamp(start), e = clamp(end ?? rank)
            return ([.int(IntTensor(s < e ? Array(shape[s..<e]) : []))], .none)
        case .constantOfShape(let fill):
            let shape = try operands.ints(0).data
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("negative dimension in \(shape)") }
            switch fill {
            case .int(let t)?: return ([.int(IntTensor(shape: shape, data: Array(repeating: t.data.first ?? 0, count: shape.reduce(1, *))))], .none)
            case .float(let t)?: return ([.float(Tensor(repeating: t.data.first ?? 0, shape: shape))], .none)
            case nil: return ([.float(Tensor(zeros: shape))], .none)
            }
        case .reshape, .flatten, .squeeze, .unsqueeze:
            let value = try operands.value(0)
            return ([reshape(value, try reshapeTarget(node.operation, value.shape, operands))], .none)
        case .transpose(let perm):
            let value = try operands.value(0)
            let order = perm ?? Array((0..<value.shape.count).reversed())
            guard order.sorted() == Array(0..<value.shape.count) else { throw fail("perm \(order) is not a permutation of the \(value.shape.count) axes") }
            switch value {
            case .float(let t):
                let (data, shape) = Permutation.apply(t.data, shape: t.shape, perm: order)
                return ([.float(Tensor(shape: shape, data: data))], .none)
            case .int(let t):
                let (data, shape) = Permutation.apply(t.data, shape: t.shape, perm: order)
                return ([.int(IntTensor(shape: shape, data: data))], .none)
            }
        case .gather(let rawAxis):
            let data = try operands.value(0)
            let axis = try operands.axis(rawAxis, rank: data.shape.count)
            let indices = try operands.ints(1)
            let gathered: Value? = switch data {
            case .float(let t): Shapes.gather(t.data, shape: t.shape, indices: indices, axis: axis).map { .float(Tensor(shape: $0.shape, data: $0.data)) }
            case .int(let t): Shapes.gather(t.data, shape: t.shape, indices: indices, axis: axis).map { .int(IntTensor(shape: $0.shape, data: $0.data)) }
            }
            guard let gathered else { throw fail("an index is out of range for axis \(axis) of size \(data.shape[axis])") }
            return ([gathered], .none)
        case .concat(let rawAxis):
            let present = inputs.compactMap { $0 }
            guard let first = present.first else { throw fail("no inputs") }
            let axis = try operands.axis(rawAxis, rank: first.shape.count)
            for part in present {
                guard part.shape.count == first.shape.count,
                      part.shape.enumerated().allSatisfy({ $0.offset == axis || $0.element == first.shape[$0.offset] }) else {
                    throw fail("shapes \(present.map(\.shape)) differ outside axis \(axis)")
                }
            }
            if present.allSatisfy({ if case .int = $0 { true } else { false } }) {
                let parts = present.compactMap { v -> IntTensor? in if case .int(let t) = v { t } else { nil } }
                let (data, shape) = Shapes.concat(parts.map { ($0.data, $0.shape) }, axis: axis)
                return ([.int(IntTensor(shape: shape, data: data))], .none)
            }
            let parts = try inputs.indices.filter { inputs[$0] != nil }.map { try operands.float($0) }
            let (data, shape) = Shapes.concat(parts.map { ($0.data, $0.shape) }, axis: axis)
            return ([.float(Tensor(shape: shape, data: data))], .none)
        case .split(let rawAxis, let staticSizes):
            let x = try operands.float(0)
            let axis = try operands.axis(rawAxis, rank: x.rank)
            let sizes = try splitSizes(staticSizes, x.shape[axis], operands)
            return (Shapes.split(x, axis: axis, sizes: sizes).map { .float($0) }, .none)
        case .slice(let staticArguments):
            let data = try operands.value(0)
            let arguments = try staticArguments ?? operands.sliceArguments()
            guard let (indices, shape) = Shapes.sliceIndices(data.shape, arguments) else {
                throw fail("invalid slice (zero step, repeated or out-of-range axis, or mismatched lists) of \(data.shape)")
            }
            switch data {
            case .float(let t): return ([.float(Tensor(shape: shape, data: Shapes.take(t.data, indices)))], .none)
            case .int(let t): return ([.int(IntTensor(shape: shape, data: Shapes.take(t.data, indices)))], .none)
            }
        case .expand(let staticShape):
            let data = try operands.value(0)
            let requested = try staticShape ?? operands.ints(1).data
            guard let target = Broadcasting.shape(data.shape, requested) else { throw fail("cannot expand \(data.shape) to \(requested)") }
            switch data {
            case .float(let t): return ([.float(Tensor(shape: target, data: Broadcasting.expand(t.data, shape: t.shape, to: target)))], .none)
            case .int(let t): return ([.int(IntTensor(shape: target, data: Broadcasting.expand(t.data, shape: t.shape, to: target)))], .none)
            }
        case .compare(let comparison):
            let a = try operands.float(0), b = try operands.float(1)
            guard let target = Broadcasting.shape(a.shape, b.shape) else { throw fail("shapes \(a.shape) and \(b.shape) do not broadcast") }
            var out = [Int](repeating: 0, count: target.reduce(1, *))
            Broadcasting.forEach(target, Broadcasting.strides(of: a.shape, broadcastTo: target), Broadcasting.strides(of: b.shape, broadcastTo: target)) { o, i, j in
                let x = a.data[i], y = b.data[j]
                let truth = switch comparison {
                case .equal: x == y
                case .less: x < y
                case .greater: x > y
                }
                out[o] = truth ? 1 : 0
            }
            return ([.int(IntTensor(shape: target, data: out))], .none)
        case .select:
            let condition = try operands.ints(0)
            let x = try operands.value(1), y = try operands.value(2)
            guard let t1 = Broadcasting.shape(condition.shape, x.shape), let target = Broadcasting.shape(t1, y.shape) else {
                throw fail("shapes \(condition.shape), \(x.shape) and \(y.shape) do not broadcast")
            }
            let mask = Broadcasting.expand(condition.data, shape: condition.shape, to: target)
            if case .int(let xi) = x, case .int(let yi) = y {
                let xe = Broadcasting.expand(xi.data, shape: xi.shape, to: target), ye = Broadcasting.expand(yi.data, shape: yi.shape, to: target)
                return ([.int(IntTensor(shape: target, data: mask.indices.map { mask[$0] != 0 ? xe[$0] : ye[$0] }))], .none)
            }
            let xf = try operands.float(1), yf = try operands.float(2)
            let xe = Broadcasting.expand(xf.data, shape: xf.shape, to: target), ye = Broadcasting.expand(yf.data, shape: yf.shape, to: target)
            return ([.float(Tensor(shape: target, data: mask.indices.map { mask[$0] != 0 ? xe[$0] : ye[$0] }))], .none)
        case .isNaN:
            let x = try operands.float(0)
            return ([.int(IntTensor(shape: x.shape, data: x.data.map { $0.isNaN ? 1 : 0 }))], .none)
        case .pad(let arguments):
            let data = try operands.value(0)
            let plan = try padPlan(arguments, data.shape, operands)
            switch data {
            case .float(let t):
                let value = try operands.optionalFloat(2).map { t in
                    guard t.count == 1 else { throw fail("the constant value must have one element, got \(t.shape)") }
                    return t.data[0]
                } ?? arguments.value
                return ([.float(Tensor(shape: plan.shape, data: Padding.apply(t.data, plan, fill: value)))], .none)
            case .int(let t):
                let value = try operands.optionalInts(2)?.first ?? Int(arguments.value)
                return ([.int(IntTensor(shape: plan.shape, data: Padding.apply(t.data, plan, fill: value)))], .none)
            }
        case .binary(let op):
            if operands.isInt(0) && operands.isInt(1) {
                return ([.int(try integerBinary(op, try operands.ints(0), try operands.ints(1), fail: fail))], .none)
            }
            let a = try operands.float(0), b = try operands.float(1)
            guard let y = Elementwise.binary(op, a, b) else { throw fail("shapes \(a.shape) and \(b.shape) do not broadcast") }
            return ([.float(y)], .none)
        case .unary(let op):
            return ([.float(Elementwise.unary(op, try operands.float(0)))], .none)
        case .gelu(let approximation):
            return ([.float(Elementwise.gelu(try operands.float(0), approximation))], .none)
        case .clip(let lower, let upper):
            let (low, high) = try clipBounds(lower, upper, operands)
            return ([.float(Elementwise.clip(try operands.float(0), lower: low, upper: high))], .none)
        case .hardSigmoid(let alpha, let beta):
            return ([.float(Elementwise.hardSigmoid(try operands.float(0), alpha: alpha, beta: beta))], .none)
        case .softmax(let rawAxis):
            let x = try operands.float(0)
            return ([.float(Normalization.softmax(x, axis: try operands.axis(rawAxis, rank: x.rank)))], .none)
        case .layerNormalization(let rawAxis, let epsilon):
            let x = try operands.float(0)
            let axis = try operands.axis(rawAxis, rank: x.rank)
            let trailing = Array(x.shape[axis...])
            let scale = try operands.optionalFloat(1), bias = try operands.optionalFloat(2)
            for (label, t) in [("scale", scale), ("bias", bias)] {
                if let t, t.count != trailing.reduce(1, *) { throw fail("\(label) \(t.shape) does not match the normalised shape \(trailing)") }
            }
            let (y, mean, invStd) = Normalization.layerNorm(x, scale: scale, bias: bias, axis: axis, epsilon: epsilon)
            return ([.float(y)], .layerNorm(mean: mean, invStd: invStd))
        case .batchNormalization(let epsilon):
            let x = try operands.float(0)
            guard x.rank >= 2 else { throw fail("BatchNormalization needs an input of rank ≥ 2, got \(x.shape)") }
            let statistics = try (1...4).map { try operands.float($0) }
            guard statistics.allSatisfy({ $0.count == x.shape[1] }) else {
                throw fail("scale, bias, mean and variance must have \(x.shape[1]) elements, got \(statistics.map(\.shape))")
            }
            return ([.float(Normalization.batchNorm(x, scale: statistics[0], bias: statistics[1], mean: statistics[2],
                                                    variance: statistics[3], epsilon: epsilon))], .none)
        case .reduce(let reduction, let staticAxes, let keepDims, let noopWithEmptyAxes):
            let x = try operands.float(0)
            guard let axes = try reductionAxes(staticAxes, x.rank, operands, noopWithEmptyAxes: noopWithEmptyAxes) else {
                return ([.float(x)], .none)
            }
            return ([.float(Self.reduce(x, reduction, axes: axes, keepDims: keepDims))], .none)
        case .globalAveragePool:
            let x = try operands.float(0)
            guard x.rank >= 3 else { throw fail("GlobalAveragePool needs [N, C, …], got \(x.shape)") }
            return ([.float(Pooling.globalAverage(x))], .none)
        case .gemm(let attributes):
            let a = try operands.float(0), b = try operands.float(1)
            if let capture, a.rank == 2 { capture(0, 0, .rows(attributes.transA ? Self.transpose2D(a) : a, samples: attributes.transA ? a.shape[1] : a.shape[0])) }
            return ([.float(try unwrap(Dense.gemm(a, b, try operands.optionalFloat(2), attributes)))], .none)
        case .linear(let layout):
            let x = try operands.float(0), w = try operands.float(1)
            if let capture, let d = x.shape.last, w.rank == 2 { capture(0, 0, .rows(x.reshaped([x.count / max(d, 1), d]), samples: x.rank > 1 ? x.shape[0] : 1)) }
            return ([.float(try unwrap(Dense.linear(x, weight: w, bias: try operands.optionalFloat(2), layout: layout)))], .none)
        case .matMul:
            let a = try operands.float(0), b = try operands.float(1)
            if let capture, b.rank == 2, let d = a.shape.last { capture(0, 0, .rows(a.reshaped([a.count / max(d, 1), d]), samples: a.rank > 1 ? a.shape[0] : 1)) }
            return ([.float(try unwrap(Dense.matmul(a, b)))], .none)
        case .convolution(let attributes):
            let x = try operands.float(0), w = try operands.float(1)
            let bias = try operands.optionalFloat(2)
            let geometry = try ConvolutionGeometry.resolve(input: x.shape, weight: w.shape, attributes).get(orThrow: fail)
            if let bias, bias.count != geometry.outChannels { throw fail("bias \(bias.shape) does not have \(geometry.outChannels) elements") }
            if let capture { for group in 0..<geometry.groups { capture(0, group, .patches(x, geometry)) } }
            let kernels = derivedKey.map { key in { self.derived.floats("winograd\u{0}" + key) { Convolution.winogradKernels(w) } } }
            let y = Convolution.forward(x, weight: w, bias: bias, geometry: geometry, winogradKernels: kernels)
            return ([.float(y.reshaped(geometry.outputShape(rank: x.rank)))], .convolution(geometry))
        case .maxPool(let attributes):
            let x = try operands.float(0)
            let geometry = try PoolGeometry.resolve(input: x.shape, attributes).get(orThrow: fail)
            let (y, argmax) = Pooling.maxForward(x, geometry, argmax: recording)
            return ([.float(y.reshaped(geometry.outputShape(rank: x.rank)))], .indices(argmax))
        case .averagePool(let attributes, let countIncludePad):
            let x = try operands.float(0)
            guard (attributes.dilations ?? []).allSatisfy({ $0 == 1 }) else { throw fail("AveragePool with dilations is not supported") }
            let geometry = try PoolGeometry.resolve(input: x.shape, attributes).get(orThrow: fail)
            let y = Pooling.averageForward(x, geometry, countIncludePad: countIncludePad)
            return ([.float(y.reshaped(geometry.outputShape(rank: x.rank)))], .pool(geometry))
        case .multiHeadAttention(let heads, let batchFirst):
            let x = try operands.float(0)
            let projection: Attention.InProjection
            let out: Int
            if GraphOperation.separateAttentionProjections(node) {
                projection = .separate(weights: [try operands.float(1), try operands.float(3), try operands.float(5)],
                                       biases: [try operands.optionalFloat(2), try operands.optionalFloat(4), try operands.optionalFloat(6)])
                out = 7
            } else {
                projection = .fused(weight: try operands.float(1), bias: try operands.optionalFloat(2))
                out = 3
            }
            let result = Attention.forward(x, inProjection: projection, outWeight: try operands.float(out), outBias: try operands.optionalFloat(out + 1),
                                           heads: heads, batchFirst: batchFirst,
                                           capture: capture.map { hook in { slot, rows, samples in hook(slot, 0, .rows(rows, samples: samples)) } })
            switch result {
            case .success(let (y, saved)): return ([.float(y)], .attention(saved))
            case .failure(let mismatch): throw fail(mismatch.description)
            }
        case .unsupported(let opType):
            throw GraphError.unsupportedOperator(node: node.name, opType: opType)
        case .invalid(_, let reason):
            throw fail(reason)
        }
    }

    // MARK: - Helpers shared with backward

    func reshapeTarget(_ operation: GraphOperation, _ shape: [Int], _ operands: Operands) throws -> [Int] {
        let target: [Int]?
        switch operation {
        case .flatten(let axis): target = Shapes.flattenTarget(shape, axis: axis)
        case .squeeze(let axes): target = Shapes.squeezeTarget(shape, axes: try axes ?? operands.optionalInts(1))
        case .unsqueeze(let axes):
            guard let axes = try axes ?? operands.optionalInts(1) else { throw operands.fail("no axes") }
            target = Shapes.unsqueezeTarget(shape, axes: axes)
        case .reshape(let requested, let allowZero):
            target = Shapes.reshapeTarget(shape, try requested ?? operands.ints(1).data, allowZero: allowZero)
        default: target = shape
        }
        guard let target else { throw operands.fail("cannot reshape \(shape) this way") }
        return target
    }

    func reshape(_ value: Value, _ shape: [Int]) -> Value {
        switch value {
        case .float(let t): .float(t.reshaped(shape))
        case .int(let t): .int(IntTensor(shape: shape, data: t.data))
        }
    }

    func splitSizes(_ staticSizes: [Int]?, _ length: Int, _ operands: Operands) throws -> [Int] {
        var sizes = try staticSizes ?? operands.optionalInts(1) ?? []
        if sizes.isEmpty {
            let parts = max(operands.node.outputs.count, 1)
            let each = (length + parts - 1) / parts
            sizes = (0..<parts).map { max(0, min(each, length - $0 * each)) }
        }
        guard sizes.allSatisfy({ $0 >= 0 }), Checked.sum(sizes) == length else { throw operands.fail("split sizes \(sizes) do not add up to \(length)") }
        guard sizes.count == operands.node.outputs.count else { throw operands.fail("\(sizes.count) split sizes for \(operands.node.outputs.count) outputs") }
        return sizes
    }

    /// The reduced axes (non-negative, each once), or `nil` when the reduction is the identity
    /// (no axes given and `noopWithEmptyAxes`). No axes, or an empty list, means every axis.
    func reductionAxes(_ staticAxes: [Int]?, _ rank: Int, _ operands: Operands, noopWithEmptyAxes: Bool) throws -> [Int]? {
        let raw = try staticAxes ?? operands.optionalInts(1) ?? []
        if raw.isEmpty { return noopWithEmptyAxes ? nil : Array(0..<rank) }
        let axes = try raw.map { try operands.axis($0, rank: rank) }
        guard Set(axes).count == axes.count else { throw operands.fail("axes \(raw) repeat an axis") }
        return axes
    }

    /// The bounds of a clip: inputs 1 and 2 where present (one element each), else the case's.
    func clipBounds(_ lower: Float?, _ upper: Float?, _ operands: Operands) throws -> (Float?, Float?) {
        func bound(_ i: Int, _ fallback: Float?) throws -> Float? {
            guard let t = try operands.optionalFloat(i) else { return fallback }
            guard t.count == 1 else { throw operands.fail("the \(i == 1 ? "min" : "max") bound must have one element, got \(t.shape)") }
            return t.data[0]
        }
        return (try bound(1, lower), try bound(2, upper))
    }

    /// Where every output element of a pad reads from (see ``Padding/Plan``).
    func padPlan(_ arguments: PadArguments, _ shape: [Int], _ operands: Operands) throws -> Padding.Plan {
        let pads = try arguments.pads ?? operands.ints(1).data
        let rank = shape.count
        let axes = try (operands.optionalInts(3) ?? Array(0..<rank)).map { try operands.axis($0, rank: rank) }
        guard Set(axes).count == axes.count else { throw operands.fail("axes repeat an axis") }
        guard pads.count == 2 * axes.count else {
            throw operands.fail("\(pads.count) pad amounts for \(axes.count) axes (need a begin and an end per axis)")
        }
        var begins = [Int](repeating: 0, count: rank), ends = [Int](repeating: 0, count: rank)
        for (k, axis) in axes.enumerated() { begins[axis] = pads[k]; ends[axis] = pads[k + axes.count] }
        switch Padding.plan(shape, begins: begins, ends: ends, mode: arguments.mode) {
        case .success(let result): return result
        case .failure(let mismatch): throw operands.fail(mismatch.description)
        }
    }

    static func reduce(_ x: Tensor, _ reduction: Reduction, axes: [Int], keepDims: Bool) -> Tensor {
        var reducedShape = x.shape
        for a in axes { reducedShape[a] = 1 }
        var y = Broadcasting.reduce(x, to: reducedShape)
        if reduction == .mean {
            let n = axes.reduce(1) { $0 * x.shape[$1] }
            y = Elementwise.scaled(y, 1 / Float(max(n, 1)))
        }
        if !keepDims { y = y.reshaped(reducedShape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)) }
        return y
    }

    func integerBinary(_ op: BinaryOperator, _ a: IntTensor, _ b: IntTensor, fail: (String) -> GraphError) throws -> IntTensor {
        guard let target = Broadcasting.shape(a.shape, b.shape) else { throw fail("shapes \(a.shape) and \(b.shape) do not broadcast") }
        var out = [Int](repeating: 0, count: target.reduce(1, *))
        Broadcasting.forEach(target, Broadcasting.strides(of: a.shape, broadcastTo: target), Broadcasting.strides(of: b.shape, broadcastTo: target)) { o, i, j in
            let x = a.data[i], y = b.data[j]
            switch op {
            case .add: out[o] = x &+ y
            case .sub: out[o] = x &- y
            case .mul: out[o] = x &* y
            case .div: out[o] = y == 0 ? 0 : x.dividedReportingOverflow(by: y).partialValue   // truncation, as C and ONNX Runtime; Int.min / −1 wraps
            case .mod: out[o] = y == 0 ? 0 : Self.floorRemainder(x, y)
            case .pow: out[o] = Self.wrappingPower(x, y)
            }
        }
        return IntTensor(shape: target, data: out)
    }

    /// `x mod y` with the sign of `y` (ONNX Mod with `fmod = 0`, Python's `%`), for `y ≠ 0`;
    /// `Int.min mod −1` is 0 instead of a trap.
    static func floorRemainder(_ x: Int, _ y: Int) -> Int {
        var r = x.remainderReportingOverflow(dividingBy: y).partialValue
        if r != 0 && (r < 0) != (y < 0) { r += y }   // opposite signs: cannot overflow
        return r
    }

    /// `xʸ` in wrapping 64-bit arithmetic by repeated squaring (log₂ y steps, so an exponent of
    /// 2⁶² is as quick as 2); 1 for `y ≤ 0`, as before.
    static func wrappingPower(_ x: Int, _ y: Int) -> Int {
        var result = 1, base = x, exponent = y
        while exponent > 0 {
            if exponent & 1 == 1 { result = result &* base }
            base = base &* base
            exponent >>= 1
        }
        return result
    }

    static func transpose2D(_ t: Tensor) -> Tensor {
        let (data, shape) = Permutation.apply(t.data, shape: t.shape, perm: [1, 0])
        return Tensor(shape: shape, data: data)
    }
}

/// Typed access to one node's input values, with errors that name the node.
struct Operands {
    let node: GraphNode
    let values: [Value?]

    func fail(_ reason: String) -> GraphError { .invalidInput(node: node.name, opType: node.operation.name, reason: reason) }

    func value(_ i: Int) throws -> Value {
        guard i < values.count, let value = values[i] else { throw fail("input \(i) is missing") }
        return value
    }

    func isInt(_ i: Int) -> Bool { if i < values.count, case .int? = values[i] { true } else { false } }

    /// A float input (integer inputs are converted).
    func float(_ i: Int) throws -> Tensor {
        switch try value(i) {
        case .float(let t): return t
        case .int(let t): return Tensor(shape: t.shape, data: t.data.map(Float.init))
        }
    }

    func optionalFloat(_ i: Int) throws -> Tensor? { i < values.count && values[i] != nil ? try float(i) : nil }

    /// An integer input (float inputs are truncated toward zero).
    func ints(_ i: Int) throws -> IntTensor {
        switch try value(i) {
        case .int(let t): return t
        case .float(let t):
            // Finite and inside Int's range (±2⁶³ is exactly representable as a Float).
            guard t.data.allSatisfy({ $0 >= -0x1p63 && $0 < 0x1p63 }) else {
                throw fail("input \(i) must hold integers that fit in 64 bits")
            }
            return IntTensor(shape: t.shape, data: t.data.map { Int($0) })
        }
    }

    func optionalInts(_ i: Int) throws -> [Int]? { i < values.count && values[i] != nil ? try ints(i).data : nil }

    /// Slice bounds from integer inputs 1–4.
    func sliceArguments() throws -> SliceArguments {
        SliceArguments(starts: try ints(1).data, ends: try ints(2).data, axes: try optionalInts(3), steps: try optionalInts(4))
    }

    /// `axis` in `0..<rank` from a possibly negative value (a 0-d tensor has no axis).
    func axis(_ axis: Int, rank: Int) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < rank else { throw fail("axis \(axis) is out of range for rank \(rank)") }
        return a
    }
}

extension Result where Failure == ShapeMismatch {
    func get(orThrow fail: (String) -> GraphError) throws -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let mismatch): throw fail(mismatch.description)
        }
    }
}
