extension ComputeGraph {
    /// Reverse-mode gradients of a scalar loss, given its gradient with respect to graph outputs
    /// (for cross-entropy: `Normalization.crossEntropy(...).gradient`).
    ///
    /// - Parameter record: the record of a `forward(_:parameters:recording: true)` pass of this
    ///   graph; the gradients are taken at the values that pass used (its parameter overrides
    ///   included), which the record holds.
    /// - Parameter inputGradients: whether gradients of the graph inputs are wanted; without them,
    ///   a convolution reading a graph input skips its input gradient (the costliest part of the
    ///   first layer's backward).
    /// - Returns: gradients for every float parameter and graph input that influences the given
    ///   outputs (others are absent). Integer values carry no gradient; a parameter used by several
    ///   nodes gets the sum of their contributions.
    public func backward(_ record: Record, outputGradients: [String: Tensor], inputGradients: Bool = true) throws -> Gradients {
        var grads: [String: Tensor] = [:]
        for (name, g) in outputGradients {
            guard outputNames.contains(name) else { throw GraphError.missingValue(node: "output gradient", name: name) }
            grads[name] = g
        }
        for step in record.steps.reversed() {
            let node = nodes[step.node]
            let outputGrads = node.outputs.map { $0.isEmpty ? nil : grads[$0] }
            guard outputGrads.contains(where: { $0 != nil }) else { continue }
            for (output, g) in zip(step.outputs, outputGrads) where g != nil && g!.shape != output.shape {
                throw GraphError.invalidInput(node: node.name, opType: node.operation.name,
                                              reason: "gradient shape \(g!.shape) differs from the output shape \(output.shape)")
            }
            let inputGrads = try gradients(node, step, outputGrads,
                                           skipInput: !inputGradients && inputNames.contains(node.inputs.first ?? ""))
            for (i, g) in inputGrads.enumerated() {
                guard let g, i < node.inputs.count, !node.inputs[i].isEmpty, case .float? = step.inputs[i] else { continue }
                let name = node.inputs[i]
                if var existing = grads[name] {
                    Elementwise.addInPlace(&existing, g)
                    grads[name] = existing
                } else {
                    grads[name] = g
                }
            }
        }
        var result = Gradients(parameters: [:], inputs: [:])
        for name in parameters.keys { if let g = grads[name] { result.parameters[name] = g } }
        for name in inputNames { if let g = grads[name] { result.inputs[name] = g } }
        return result
    }

    /// Gradients of one node's inputs (nil where none) from its outputs' gradients.
    /// `skipInput`: the gradient of input 0 is not needed (honoured where it saves work).
    func gradients(_ node: GraphNode, _ step: Step, _ outputGrads: [Tensor?], skipInput: Bool = false) throws -> [Tensor?] {
        let operands = Operands(node: node, values: step.inputs)
        var result = [Tensor?](repeating: nil, count: step.inputs.count)
        func float(_ i: Int) -> Tensor? {
            guard i < step.inputs.count, case .float(let t)? = step.inputs[i] else { return nil }
            return t
        }
        func output(_ i: Int) -> Tensor? {
            guard case .float(let t) = step.outputs[i] else { return nil }
            return t
        }
        // Split may leave some outputs without gradient: they contribute zeros.
        let dy = outputGrads[0] ?? Tensor(zeros: step.outputs[0].shape)

        switch node.operation {
        case .identity, .dropout:
            result[0] = dy
        case .cast(let toFloat):
            if toFloat { result[0] = dy }
        case .constant, .shape, .constantOfShape, .compare, .isNaN:
            break
        case .pad(let arguments):
            guard let x = float(0) else { break }
            let g = Padding.backward(dy, try padPlan(arguments, x.shape, operands), into: x.shape)
            result[0] = g.input
            if let value = float(2) { result[2] = Tensor(repeating: g.constant, shape: value.shape) }
        case .reshape, .flatten, .squeeze, .unsqueeze:
            if let x = float(0) { result[0] = dy.reshaped(x.shape) }
        case .transpose(let perm):
            guard let x = float(0) else { break }
            let order = perm ?? Array((0..<x.rank).reversed())
            let (data, shape) = Permutation.apply(dy.data, shape: dy.shape, perm: Permutation.inverse(order))
            result[0] = Tensor(shape: shape, data: data)
        case .gather(let rawAxis):
            guard let x = float(0) else { break }
            let axis = try operands.axis(rawAxis, rank: x.rank)
            result[0] = Shapes.gatherBackward(dy, shape: x.shape, indices: try operands.ints(1), axis: axis)
        case .slice(let staticArguments):
            guard let x = float(0) else { break }
            if let (indices, _) = Shapes.sliceIndices(x.shape, try staticArguments ?? operands.sliceArguments()) {
                result[0] = Shapes.scatterAdd(dy, indices, into: x.shape)
            }
        case .concat(let rawAxis):
            let axis = try operands.axis(rawAxis, rank: dy.rank)
            let present = step.inputs.indices.filter { step.inputs[$0] != nil }
            let parts = Shapes.split(dy, axis: axis, sizes: present.map { step.inputs[$0]!.shape[axis] })
            for (k, i) in present.enumerated() { result[i] = parts[k] }
        case .split(let rawAxis, _):
            guard let x = float(0) else { break }
            let axis = try operands.axis(rawAxis, rank: x.rank)
            let parts = zip(step.outputs, outputGrads).map { output, g in g ?? Tensor(zeros: output.shape) }
            let (data, shape) = Shapes.concat(parts.map { ($0.data, $0.shape) }, axis: axis)
            result[0] = Tensor(shape: shape, data: data)
        case .expand:
            if let x = float(0) { result[0] = Broadcasting.reduce(dy, to: x.shape) }
        case .select:
            let condition = try operands.ints(0)
            let mask = Broadcasting.expand(condition.data, shape: condition.shape, to: dy.shape)
            var gx = dy, gy = dy
            for (o, m) in mask.enumerated() { if m != 0 { gy.data[o] = 0 } else { gx.data[o] = 0 } }
            if let x = float(1) { result[1] = Broadcasting.reduce(gx, to: x.shape) }
            if let y = float(2) { result[2] = Broadcasting.reduce(gy, to: y.shape) }
        case .binary(let op):
            guard float(0) != nil || float(1) != nil else { break }
            let (ga, gb) = Elementwise.binaryBackward(op, try operands.float(0), try operands.float(1), outputGradient: dy)
            result[0] = ga
            result[1] = gb
        case .unary(let op):
            guard let x = float(0), let y = output(0) else { break }
            result[0] = Elementwise.unaryBackward(op, input: x, output: y, outputGradient: dy)
        case .gelu(let approximation):
            if let x = float(0) { result[0] = Elementwise.geluBackward(x, approximation, output: output(0), outputGradient: dy) }
        case .clip(let lower, let upper):
            guard let x = float(0) else { break }
            let (low, high) = try clipBounds(lower, upper, operands)
            let g = Elementwise.clipBackward(x, lower: low, upper: high, outputGradient: dy)
            result[0] = g.input
            if let t = float(1) { result[1] = Tensor(repeating: g.lower, shape: t.shape) }
            if let t = float(2) { result[2] = Tensor(repeating: g.upper, shape: t.shape) }
        case .hardSigmoid(let alpha, let beta):
            if let x = float(0) { result[0] = Elementwise.hardSigmoidBackward(x, alpha: alpha, beta: beta, outputGradient: dy) }
        case .softmax(let rawAxis):
            guard let y = output(0) else { break }
            result[0] = Normalization.softmaxBackward(y, axis: try operands.axis(rawAxis, rank: y.rank), outputGradient: dy)
        case .layerNormalization(let rawAxis, _):
            guard let x = float(0), case .layerNorm(let mean, let invStd) = step.saved else { break }
            let scale = float(1)
            let g = Normalization.layerNormBackward(x, scale: scale, axis: try operands.axis(rawAxis, rank: x.rank), mean: mean,
                                                    invStd: invStd, outputGradient: dy)
            result[0] = g.input
            if let scale { result[1] = g.scale.reshaped(scale.shape) }
            if let bias = float(2) { result[2] = g.bias.reshaped(bias.shape) }
        case .batchNormalization(let epsilon):
            guard let x = float(0) else { break }
            let g = Normalization.batchNormBackward(x, scale: try operands.float(1), mean: try operands.float(3), variance: try operands.float(4),
                                                    epsilon: epsilon, outputGradient: dy)
            result[0] = g.input; result[1] = g.scale; result[2] = g.bias; result[3] = g.mean; result[4] = g.variance
        case .reduce(let reduction, let staticAxes, _, let noopWithEmptyAxes):
            guard let x = float(0) else { break }
            guard let axes = try reductionAxes(staticAxes, x.rank, operands, noopWithEmptyAxes: noopWithEmptyAxes) else {
                result[0] = dy
                break
            }
            var kept = x.shape
            for a in axes { kept[a] = 1 }
            var expanded = Tensor(shape: x.shape, data: Broadcasting.expand(dy.data, shape: kept, to: x.shape))
            if reduction == .mean { expanded = Elementwise.scaled(expanded, 1 / Float(max(axes.reduce(1) { $0 * x.shape[$1] }, 1))) }
            result[0] = expanded
        case .globalAveragePool:
            if let x = float(0) { result[0] = Pooling.globalAverageBackward(inputShape: x.shape, outputGradient: dy) }
        case .gemm(let attributes):
            let c = try operands.optionalFloat(2)
            let g = Dense.gemmBackward(try operands.float(0), try operands.float(1), c, attributes, outputGradient: dy)
            result[0] = g.a; result[1] = g.b
            if c != nil { result[2] = g.c }
        case .linear(let layout):
            let g = Dense.linearBackward(try operands.float(0), weight: try operands.float(1), layout: layout, outputGradient: dy)
            result[0] = g.input; result[1] = g.weight
            if let bias = float(2) { result[2] = g.bias.reshaped(bias.shape) }
        case .matMul:
            let (da, db) = Dense.matmulBackward(try operands.float(0), try operands.float(1), outputGradient: dy)
            result[0] = da; result[1] = db
        case .convolution:
            guard case .convolution(let geometry) = step.saved else { break }
            let x = try operands.float(0), w = try operands.float(1)
            let g = Convolution.backward(x, weight: w, geometry: geometry, outputGradient: dy, inputGradient: !skipInput)
            result[0] = skipInput ? nil : g.input; result[1] = g.weight
            if let bias = float(2) { result[2] = g.bias.reshaped(bias.shape) }
        case .maxPool:
            guard let x = float(0), case .indices(let argmax) = step.saved else { break }
            result[0] = Pooling.maxBackward(inputShape: x.shape, argmax: argmax, outputGradient: dy)
        case .averagePool(_, let countIncludePad):
            guard let x = float(0), case .pool(let geometry) = step.saved else { break }
            result[0] = Pooling.averageBackward(inputShape: x.shape, geometry, countIncludePad: countIncludePad, outputGradient: dy)
        case .multiHeadAttention(_, let batchFirst):
            guard case .attention(let saved) = step.saved else { break }
            // Weights at inputs 1 (fused) or 1, 3, 5 (query, key, value), each followed by its bias; then the out-projection.
            let inputs = GraphOperation.separateAttentionProjections(node) ? [1, 3, 5] : [1]
            let out = inputs.last! + 2
            let g = Attention.backward(saved, inWeights: try inputs.map { try operands.float($0) }, outWeight: try operands.float(out),
                                       batchFirst: batchFirst, outputGradient: dy)
            result[0] = g.input
            for (k, input) in inputs.enumerated() {
                result[input] = g.inWeights[k]
                if let bias = float(input + 1) { result[input + 1] = g.inBiases[k].reshaped(bias.shape) }
            }
            result[out] = g.outWeight
            if let bias = float(out + 1) { result[out + 1] = g.outBias.reshaped(bias.shape) }
        case .unsupported(let opType):
            throw GraphError.unsupportedOperator(node: node.name, opType: opType)
        case .invalid(_, let reason):
            throw operands.fail(reason)
        }
        return result
    }
}
