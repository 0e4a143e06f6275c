import TensorCore

/// A vision transformer as the three ViT layouts read it (torchvision, timm incl. DeiT, and
/// transformers), in library-neutral terms: which tensors play which part, and the numbers the
/// tensors do not show.
///
/// The network (pre-norm ViT, Dosovitskiy et al. 2021):
/// ```
/// t   = patches(x) Wₚᵀ + bₚ                       patch × patch convolution, [N, L, E] tokens
/// t   = [prefix tokens; t] + pos                  (timm's no_embed_class: pos added before the prefix)
/// per block:  t = t + γ₁ · Attn(LN₁(t))           multi-head self-attention, h heads
///             t = t + γ₂ · W₂ act(W₁ LN₂(t))      γ: layer scale where the checkpoint has one
/// z   = pool(LN(t))                               a token (class token) or the mean of the patch tokens
/// y   = mean over heads of (z_k Hₖᵀ + cₖ)          one head, or DeiT's head on the class and head_dist on the distillation token
/// ```
struct ViTPlan {
    /// The in-projection of one attention block.
    enum Projection {
        /// One `[3E, E]` weight, rows q; k; v (torchvision `in_proj_weight`, timm `qkv.weight`).
        case fused(weight: String, bias: String?)
        /// Separate `[E, E]` Linears (transformers' `query`, `key`, `value`).
        case separate(query: String, key: String, value: String, bias: Bool)
    }

    struct Block {
        var norm1: String
        /// The attention node's name (the module holding the projections).
        var attention: String
        var projection: Projection
        /// The out-projection Linear's prefix.
        var out: String
        var outBias: Bool
        var scale1: String?
        var norm2: String
        var fc1: String
        var fc1Bias: Bool
        var fc2: String
        var fc2Bias: Bool
        var scale2: String?
    }

    enum Pool {
        /// The token at the head's index.
        case token
        /// The mean of the tokens after the prefix tokens.
        case average
    }

    /// The patch embedding convolution's prefix, its output width E and patch size.
    var patchEmbedding: String
    var patchBias: Bool
    var embed: Int
    var patch: Int
    /// `[1, k, E]` parameters put before the patch tokens, in order.
    var prefixTokens: [String]
    /// The number of prefix tokens (Σ k).
    var prefixCount: Int
    var position: String?
    /// Whether the position embedding covers the prefix tokens (added after they are put in front).
    var positionCoversPrefix: Bool
    var preNorm: String?
    var blocks: [Block]
    var finalNorm: String?
    var pool: Pool
    var fcNorm: String?
    /// Linear heads and the token each reads (with ``Pool/token``); their logits are averaged.
    var heads: [(prefix: String, bias: Bool, token: Int)]
    /// torchvision's `heads.pre_logits` (Linear + Tanh before the head), when present.
    var preLogits: (prefix: String, bias: Bool)?
    var epsilon: Float
    var activation: Activation
    /// The attention heads, or `nil` when neither the checkpoint nor a config fixes them.
    var attentionHeads: Int?

    /// The graph; `heads` overrides ``attentionHeads`` (tensor names do not depend on it).
    func build(_ b: inout GraphBuilder, heads override: Int? = nil, missingHeads: @autoclosure () -> ModelError) throws -> String {
        guard let h = override ?? attentionHeads else { throw missingHeads() }
        var t = b.patchTokens("x", prefix: patchEmbedding, bias: patchBias, embed: embed, patch: patch)
        if let position, !positionCoversPrefix { t = b.residual(t, position) }
        t = b.prependTokens(t, prefixTokens)
        if let position, positionCoversPrefix { t = b.residual(t, position) }
        if let preNorm { t = b.layerNorm(t, prefix: preNorm, epsilon: epsilon) }
        for block in blocks {
            let normed = b.layerNorm(t, prefix: block.norm1, epsilon: epsilon)
            var a: String
            switch block.projection {
            case .fused(let weight, let bias):
                a = b.attention(normed, inWeight: weight, inBias: bias, outPrefix: block.out, outBias: block.outBias, heads: h, name: block.attention)
            case .separate(let query, let key, let value, let bias):
                a = b.attention(normed, query: query, key: key, value: value, qkvBias: bias, outPrefix: block.out, outBias: block.outBias,
                                heads: h, name: block.attention)
            }
            if let scale = block.scale1 { a = b.scaled(a, by: scale) }
            t = b.residual(t, a)
            var m = b.layerNorm(t, prefix: block.norm2, epsilon: epsilon)
            m = b.activation(b.tokenLinear(m, prefix: block.fc1, bias: block.fc1Bias), activation)
            m = b.tokenLinear(m, prefix: block.fc2, bias: block.fc2Bias)
            if let scale = block.scale2 { m = b.scaled(m, by: scale) }
            t = b.residual(t, m)
        }
        if let finalNorm { t = b.layerNorm(t, prefix: finalNorm, epsilon: epsilon) }
        var logits: [String] = []
        for head in heads {
            var z = pool == .token ? b.token(t, head.token) : b.meanOfTokens(t, from: prefixCount)
            if let fcNorm { z = b.layerNorm(z, prefix: fcNorm, epsilon: epsilon) }
            if let preLogits {
                z = b.add("Tanh", [b.linear(z, weight: "\(preLogits.prefix).weight", bias: preLogits.bias ? "\(preLogits.prefix).bias" : nil,
                                            name: preLogits.prefix)])
            }
            logits.append(b.linear(z, weight: "\(head.prefix).weight", bias: head.bias ? "\(head.prefix).bias" : nil, name: head.prefix))
        }
        guard logits.count > 1 else { return logits[0] }
        var sum = logits[0]
        for other in logits.dropFirst() { sum = b.residual(sum, other) }
        let share = b.fresh("share")
        b.constants[share] = .float(Tensor(scalar: 1 / Float(logits.count)))
        return b.scaled(sum, by: share)
    }

    /// The head count E fixes in a library's registered configurations (`known`: hidden size →
    /// heads), with the fact saying so.
    static func heads(embed: Int, known: [Int: Int], configurations: String) -> (Int, LayoutFact)? {
        guard let heads = known[embed] else { return nil }
        return (heads, LayoutFact("num_heads", String(heads), from: "\(configurations) (hidden size \(embed))"))
    }
}
