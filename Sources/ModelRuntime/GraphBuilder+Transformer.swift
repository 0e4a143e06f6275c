import TensorCore

/// Graph pieces of the vision transformers and ConvNeXt: token linears, layer norms (over the
/// last axis and over channels), GELU, multi-head attention, patch embedding and token pooling.
///
/// Every Linear/Conv weight is a direct parameter of its node (``TensorCore/GraphOperation/linear(_:)``
/// with ``TensorCore/WeightLayout/outputsByInputs``, `Conv`, `Gemm`, the attention's projections),
/// so that ``TensorCore/ComputeGraph/weightLayers`` finds it under the checkpoint's name.
extension GraphBuilder {
    /// Appends a node computing `operation` (for operations without an ONNX spelling, such as
    /// ``TensorCore/GraphOperation/linear(_:)`` and ``TensorCore/GraphOperation/multiHeadAttention(heads:batchFirst:)``).
    @discardableResult
    mutating func node(_ operation: GraphOperation, _ inputs: [String], name: String? = nil) -> String {
        let output = fresh(operation.name.lowercased())
        nodes.append(GraphNode(name: name ?? output, operation: operation, inputs: inputs, outputs: [output]))
        return output
    }

    /// `y = x Wᵀ + b` on the last axis of `x` (any leading axes: tokens, or channels-last pixels),
    /// for the PyTorch Linear `<prefix>.weight` `[out, in]` and its optional bias.
    mutating func tokenLinear(_ x: String, prefix: String, bias: Bool) -> String {
        node(.linear(.outputsByInputs), [x, "\(prefix).weight"] + (bias ? ["\(prefix).bias"] : []), name: prefix)
    }

    /// LayerNorm over the last axis with `<prefix>.weight` and `<prefix>.bias`:
    /// `(x − mean) / √(var + ε) · weight + bias`, biased variance as PyTorch.
    mutating func layerNorm(_ x: String, prefix: String, epsilon: Float) -> String {
        add("LayerNormalization", [x, "\(prefix).weight", "\(prefix).bias"], name: prefix,
            attributes: ["axis": .int(-1), "epsilon": .float(epsilon)])
    }

    /// LayerNorm over the channels of `[N, C, H, W]` (timm's `LayerNorm2d`, transformers'
    /// `channels_first`): channels-last, ``layerNorm(_:prefix:epsilon:)``, channels-first again.
    mutating func channelLayerNorm(_ x: String, prefix: String, epsilon: Float) -> String {
        toChannelsFirst(layerNorm(toChannelsLast(x), prefix: prefix, epsilon: epsilon))
    }

    /// `[N, C, H, W]` → `[N, H, W, C]`.
    mutating func toChannelsLast(_ x: String) -> String { add("Transpose", [x], attributes: ["perm": .ints([0, 2, 3, 1])]) }

    /// `[N, H, W, C]` → `[N, C, H, W]`.
    mutating func toChannelsFirst(_ x: String) -> String { add("Transpose", [x], attributes: ["perm": .ints([0, 3, 1, 2])]) }


    /// Self-attention of `[N, L, E]` tokens with the fused in-projection `<weight>` `[3E, E]` (rows
    /// q; k; v) and optional bias, and the out-projection `<outPrefix>.weight`/`.bias`.
    mutating func attention(_ x: String, inWeight: String, inBias: String?, outPrefix: String, outBias: Bool, heads: Int, name: String) -> String {
        node(.multiHeadAttention(heads: heads, batchFirst: true),
             [x, inWeight, inBias ?? "", "\(outPrefix).weight", outBias ? "\(outPrefix).bias" : ""], name: name)
    }

    /// Self-attention with separate query, key and value Linears `<prefix>.weight` `[E, E]`
    /// (optional biases): each projection is a weight layer of its own.
    mutating func attention(_ x: String, query: String, key: String, value: String, qkvBias: Bool, outPrefix: String, outBias: Bool,
                            heads: Int, name: String) -> String {
        var inputs = [x]
        for prefix in [query, key, value] { inputs += ["\(prefix).weight", qkvBias ? "\(prefix).bias" : ""] }
        inputs += ["\(outPrefix).weight", outBias ? "\(outPrefix).bias" : ""]
        return node(.multiHeadAttention(heads: heads, batchFirst: true), inputs, name: name)
    }

    /// Patch embedding: the `patch × patch` stride-`patch` convolution `<prefix>.weight` `[E, C, p, p]`
    /// (optional bias) of `[N, C, H, W]`, its `[N, E, H/p, W/p]` output as `[N, L, E]` tokens in
    /// row-major patch order (PyTorch's `flatten(2).transpose(1, 2)`).
    mutating func patchTokens(_ x: String, prefix: String, bias: Bool, embed: Int, patch: Int) -> String {
        let y = conv(x, weight: "\(prefix).weight", bias: bias ? "\(prefix).bias" : nil, name: prefix, stride: patch, padding: 0)
        let flat = node(.reshape(shape: [0, embed, -1], allowZero: false), [y])
        return add("Transpose", [flat], attributes: ["perm": .ints([0, 2, 1])])
    }

    /// `tokens` `[N, L, E]` with the learnt `[1, k, E]` parameters `prefixes` put in front, in
    /// order, each repeated over the batch: `[N, L + Σk, E]`.
    mutating func prependTokens(_ tokens: String, _ prefixes: [String]) -> String {
        guard !prefixes.isEmpty else { return tokens }
        // [N, 1, 1]: the batch size from the tokens, then broadcast each parameter to it.
        let batch = node(.shape(start: 0, end: 1), [tokens])
        let target = node(.concat(axis: 0), [batch, constant([1, 1])])
        let expanded = prefixes.map { node(.expand(shape: nil), [$0, target]) }
        return node(.concat(axis: 1), expanded + [tokens])
    }

    /// Token `index` of `[N, L, E]`: `[N, E]`.
    mutating func token(_ x: String, _ index: Int) -> String {
        let name = fresh("index")
        constants[name] = .int(IntTensor(scalar: index))
        return node(.gather(axis: 1), [x, name])
    }

    /// The mean of tokens `from...` of `[N, L, E]`: `[N, E]`.
    mutating func meanOfTokens(_ x: String, from start: Int) -> String {
        let kept = start == 0 ? x : node(.slice(SliceArguments(starts: [start], ends: [Int.max], axes: [1])), [x])
        return node(.reduce(.mean, axes: [1], keepDims: false), [kept])
    }

    /// `x · scale` with broadcasting (layer scale).
    mutating func scaled(_ x: String, by scale: String) -> String { add("Mul", [x, scale]) }

    /// `x + residual`.
    mutating func residual(_ x: String, _ residual: String) -> String { add("Add", [x, residual]) }
}
