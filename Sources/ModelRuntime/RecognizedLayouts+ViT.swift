import Safeguards
import TensorCore

/// torchvision `VisionTransformer` (`vit_b_16` and kin): `conv_proj`, `class_token`,
/// `encoder.pos_embedding`, `encoder.layers.encoder_layer_N.{ln_1, self_attention.in_proj_weight/
/// in_proj_bias/out_proj, ln_2, mlp.0, mlp.3}`, `encoder.ln`, `heads.head` (after `heads.pre_logits`
/// + Tanh when the model has a representation size). See ``ViTPlan`` for the network.
///
/// LayerNorm ε 1e-6, exact GELU and class-token pooling are torchvision's fixed choices. The head
/// count is stored nowhere: it is taken from a config (`num_heads` or `num_attention_heads`,
/// e.g. one given with `--arch`), else from torchvision's own ViT-B/L/H configurations where the
/// hidden size fixes it (768 → 12, 1024 → 16, 1280 → 16); otherwise the model is recognised but not
/// built, and the error lists the head counts the hidden size allows.
enum TorchvisionViTLayout: ModelLayout {
    static let description = "a torchvision ViT"

    /// torchvision's `vit_b_*`, `vit_l_*`, `vit_h_*`: hidden size → heads.
    static let registered = [768: 12, 1024: 16, 1280: 16]

    static func read(_ c: LayoutContext) throws -> LayoutReading? {
        let layerPrefix = "encoder.layers.encoder_layer_"
        guard c.has("class_token"), c.has("encoder.pos_embedding"), c.names.contains(where: { $0.hasPrefix(layerPrefix) }) else { return nil }
        guard c.has("conv_proj.weight") else {
            if c.names.contains(where: { $0.hasPrefix("conv_proj.") }) {
                throw ModelError.unusableLayout(layout: description, reason: "a convolutional stem (conv_stem_configs) is not supported")
            }
            throw ModelError.missingTensor(name: "conv_proj.weight", expectedShape: [-1, -1, -1, -1])
        }
        let stem = try ViTStem.read(c, prefix: "conv_proj", layout: description)
        let e = stem.embed
        try c.tensor("class_token", [1, 1, e])
        let positions = try c.tensor("encoder.pos_embedding", [1, nil, e])[1]
        guard let side = exactSquareRoot(positions - 1), side > 0 else {
            throw ModelError.unusableLayout(layout: description, reason: "encoder.pos_embedding has \(positions) positions: not a class token and a square grid of patches")
        }
        let layers = try ViTStem.blockIndices(c, prefix: layerPrefix, first: "ln_1.weight")
        var blocks: [ViTPlan.Block] = []
        var mlp: Int?
        for index in layers {
            let p = "\(layerPrefix)\(index)"
            try c.norm("\(p).ln_1", channels: e)
            try c.tensor("\(p).self_attention.in_proj_weight", [3 * e, e])
            let inBias = try c.optionalTensor("\(p).self_attention.in_proj_bias", [3 * e])
            let out = try c.linearLayer("\(p).self_attention.out_proj", input: e, output: e)
            try c.norm("\(p).ln_2", channels: e)
            let fc1 = try c.linearLayer("\(p).mlp.0", input: e, output: mlp)
            mlp = fc1.out
            let fc2 = try c.linearLayer("\(p).mlp.3", input: fc1.out, output: e)
            blocks.append(ViTPlan.Block(norm1: "\(p).ln_1", attention: "\(p).self_attention",
                                        projection: .fused(weight: "\(p).self_attention.in_proj_weight",
                                                           bias: inBias ? "\(p).self_attention.in_proj_bias" : nil),
                                        out: "\(p).self_attention.out_proj", outBias: out.bias, scale1: nil, norm2: "\(p).ln_2",
                                        fc1: "\(p).mlp.0", fc1Bias: fc1.bias, fc2: "\(p).mlp.3", fc2Bias: fc2.bias, scale2: nil))
        }
        try c.norm("encoder.ln", channels: e)
        var width = e
        var preLogits: (prefix: String, bias: Bool)?
        if c.has("heads.pre_logits.weight") {
            let layer = try c.linearLayer("heads.pre_logits", input: e)
            preLogits = ("heads.pre_logits", layer.bias)
            width = layer.out
        }
        let head = try c.linearLayer("heads.head", input: width)

        var facts = [
            LayoutFact("layers", String(layers.count), from: "tensor names"),
            LayoutFact("hidden size", String(e), from: "tensor shapes"),
        ]
        let heads = try ViTStem.attentionHeads(c, embed: e, keys: ["num_heads", "num_attention_heads"], layout: description,
                                               registered: registered, configurations: "torchvision's ViT-B/L/H", facts: &facts)
        facts += [
            LayoutFact("mlp size", String(mlp ?? 0), from: "tensor shapes"),
            LayoutFact("patch size", String(stem.patch), from: "conv_proj.weight shape"),
            LayoutFact("image size", "\(stem.patch * side)×\(stem.patch * side)", from: "encoder.pos_embedding shape (\(side)×\(side) patches + class token)"),
            LayoutFact("pooling", "class token", from: "torchvision default"),
            LayoutFact("layer_norm_eps", "1e-06", from: "torchvision default"),
            LayoutFact("activation", Activation.gelu.description, from: "torchvision default"),
        ]
        if let preLogits { facts.append(LayoutFact("pre-logits", "\(preLogits.prefix) + Tanh (representation size \(width))", from: "tensor names")) }
        facts.append(try c.classesFact(head.out, head: "heads.head.weight", layout: description))

        let plan = ViTPlan(patchEmbedding: "conv_proj", patchBias: stem.bias, embed: e, patch: stem.patch, prefixTokens: ["class_token"],
                           prefixCount: 1, position: "encoder.pos_embedding", positionCoversPrefix: true, preNorm: nil, blocks: blocks,
                           finalNorm: "encoder.ln", pool: .token, fcNorm: nil, heads: [("heads.head", head.bias, 0)], preLogits: preLogits,
                           epsilon: 1e-6, activation: .gelu, attentionHeads: heads)
        let missing = ViTStem.missingHeads(layout: description, embed: e, keys: ["num_heads", "num_attention_heads"],
                                           registered: "torchvision's own ViTs with hidden size 768, 1024 or 1280 have 12, 16 or 16")
        try c.refuseUnread(by: { try plan.build(&$0, heads: 1, missingHeads: missing) }, layout: description)
        return LayoutReading(family: "ViT", naming: "torchvision", sampleShape: [stem.channels, stem.patch * side, stem.patch * side],
                             facts: facts) { b in try plan.build(&b, missingHeads: missing) }
    }
}

/// timm `VisionTransformer` and `VisionTransformerDistilled` (DeiT): `patch_embed.proj`,
/// `cls_token` (and `dist_token`, or `reg_token` registers), `pos_embed`, optional `norm_pre`,
/// `blocks.N.{norm1, attn.qkv (fused [3E, E]), attn.proj, ls1.gamma?, norm2, mlp.fc1, mlp.fc2,
/// ls2.gamma?}`, `norm` or `fc_norm`, `head` (and `head_dist`). See ``ViTPlan`` for the network.
///
/// From `config.json` (`model_args`, `pretrained_cfg`, top level): `num_heads`, `global_pool`
/// (`token` or `avg`), `img_size`/`input_size`, `no_embed_class`, `act_layer`; the sizes it
/// also states (`embed_dim`, `depth`, `patch_size`, `in_chans`, `class_token`, `reg_tokens`,
/// `mlp_ratio`, `qkv_bias`, `num_classes`) must agree with the tensors. Without `num_heads` the head
/// count comes from timm's registered sizes (192 → 3 … 1280 → 16). LayerNorm ε 1e-6 and exact
/// GELU are timm's defaults. DeiT's eval logits are `(head(class) + head_dist(distillation)) / 2`.
enum TimmViTLayout: ModelLayout {
    static let description = "a timm ViT"

    /// timm's registered ViT/DeiT widths: tiny, small, medium, base, large, huge.
    static let registered = [192: 3, 384: 6, 512: 8, 768: 12, 1024: 16, 1280: 16]

    static func read(_ c: LayoutContext) throws -> LayoutReading? {
        guard c.has("patch_embed.proj.weight"), c.has("blocks.0.attn.qkv.weight") else { return nil }
        if let config = c.config, config.library == .transformers {
            throw ModelError.unusableLayout(layout: description, reason: "config.json is a transformers config (model_type '\(Escaping.printable(config.architecture ?? "?"))') "
                + "but the names are timm's")
        }
        let stem = try ViTStem.read(c, prefix: "patch_embed.proj", layout: description)
        let e = stem.embed
        var facts: [LayoutFact] = []
        if let architecture = c.config?.architecture { facts.append(LayoutFact("architecture", architecture, from: "config.json")) }

        // Prefix tokens: [cls, dist] (DeiT) or [cls, registers].
        let cls = try c.optionalTensor("cls_token", [1, 1, e])
        let distilled = try c.optionalTensor("dist_token", [1, 1, e])
        let registers = c.has("reg_token") ? try c.tensor("reg_token", [1, nil, e])[1] : 0
        guard !(distilled && registers > 0) else {
            throw ModelError.unusableLayout(layout: description, reason: "both dist_token and reg_token: no timm model has both")
        }
        if distilled && !cls { throw ModelError.missingTensor(name: "cls_token", expectedShape: [1, 1, e]) }
        let prefixTokens = (cls ? ["cls_token"] : []) + (distilled ? ["dist_token"] : []) + (registers > 0 ? ["reg_token"] : [])
        let prefixCount = (cls ? 1 : 0) + (distilled ? 1 : 0) + registers
        if let declared = try c.config?.bool("class_token"), declared != cls {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says class_token \(declared) but the checkpoint \(cls ? "has" : "has no") cls_token")
        }
        try c.agree("reg_tokens", try c.config?.int("reg_tokens"), registers, layout: description, in: "the number of register tokens")

        // Image size and position embedding (timm's no_embed_class: added to the patches only).
        var grid: [Int]?
        var gridSource = "pos_embed shape"
        let declaredSize = try c.config?.ints("img_size")
        if let size = try declaredSize ?? c.config?.ints("input_size").map({ Array($0.suffix(2)) }) {
            let hw = size.count == 1 ? [size[0], size[0]] : Array(size.suffix(2))
            guard hw.allSatisfy({ $0 > 0 && $0 % stem.patch == 0 }) else {
                throw ModelError.unusableLayout(layout: description, reason: "config.json's image size \(hw[0])×\(hw[1]) is not a multiple of the patch size \(stem.patch)")
            }
            grid = hw.map { $0 / stem.patch }
            gridSource = "config.json (\(declaredSize != nil ? "img_size" : "input_size"))"
        }
        let noEmbedClass = try c.config?.bool("no_embed_class")
        var position: String?
        var covers = true
        if c.has("pos_embed") {
            let length = try c.tensor("pos_embed", [1, nil, e])[1]
            position = "pos_embed"
            // (covers the prefix tokens, grid side) readings the length allows.
            var readings: [(covers: Bool, patches: Int)] = []
            if noEmbedClass != true { readings.append((true, length - prefixCount)) }
            if noEmbedClass != false, prefixCount > 0 { readings.append((false, length)) }
            if let grid {
                let patches = grid[0] * grid[1]
                guard let reading = readings.first(where: { $0.patches == patches }) else {
                    throw ModelError.shapeMismatch(name: "pos_embed", expected: [1, patches + (noEmbedClass == true ? 0 : prefixCount), e], actual: [1, length, e])
                }
                covers = reading.covers
            } else {
                let square = readings.compactMap { reading in exactSquareRoot(reading.patches).map { (reading.covers, $0) } }.filter { $0.1 > 0 }
                guard let first = square.first else {
                    throw ModelError.unusableLayout(layout: description, reason: "pos_embed has \(length) positions: not \(prefixCount) prefix tokens and a square grid of patches")
                }
                guard square.count == 1 else {
                    let sizes = square.map { "\($0.1 * stem.patch)×\($0.1 * stem.patch) \($0.0 ? "with" : "without") the prefix tokens" }
                    throw ModelError.settingNotInCheckpoint(layout: description, setting: "image size",
                                                            choices: "pos_embed's \(length) positions fit " + sizes.joined(separator: " or "),
                                                            configKeys: ["img_size", "no_embed_class"])
                }
                covers = first.0
                grid = [first.1, first.1]
            }
        }
        guard let grid else {
            throw ModelError.settingNotInCheckpoint(layout: description, setting: "image size", choices: "the checkpoint has no pos_embed",
                                                    configKeys: ["img_size", "input_size"])
        }
        let preNorm = try c.optionalTensor("norm_pre.weight", [e]) ? "norm_pre" : nil
        if preNorm != nil { try c.norm("norm_pre", channels: e) }

        // Blocks.
        let indices = try ViTStem.blockIndices(c, prefix: "blocks.", first: "norm1.weight")
        var blocks: [ViTPlan.Block] = []
        var mlp: Int?
        var qkvBias: Bool?
        for index in indices {
            let p = "blocks.\(index)"
            try c.norm("\(p).norm1", channels: e)
            try c.tensor("\(p).attn.qkv.weight", [3 * e, e])
            let bias = try c.optionalTensor("\(p).attn.qkv.bias", [3 * e])
            if let qkvBias, qkvBias != bias { throw ModelError.missingTensor(name: "\(qkvBias ? p : "blocks.0").attn.qkv.bias", expectedShape: [3 * e]) }
            qkvBias = bias
            let out = try c.linearLayer("\(p).attn.proj", input: e, output: e)
            let scale1 = try c.optionalTensor("\(p).ls1.gamma", [e]) ? "\(p).ls1.gamma" : nil
            try c.norm("\(p).norm2", channels: e)
            let fc1 = try c.linearLayer("\(p).mlp.fc1", input: e, output: mlp)
            mlp = fc1.out
            let fc2 = try c.linearLayer("\(p).mlp.fc2", input: fc1.out, output: e)
            let scale2 = try c.optionalTensor("\(p).ls2.gamma", [e]) ? "\(p).ls2.gamma" : nil
            blocks.append(ViTPlan.Block(norm1: "\(p).norm1", attention: "\(p).attn",
                                        projection: .fused(weight: "\(p).attn.qkv.weight", bias: bias ? "\(p).attn.qkv.bias" : nil),
                                        out: "\(p).attn.proj", outBias: out.bias, scale1: scale1, norm2: "\(p).norm2",
                                        fc1: "\(p).mlp.fc1", fc1Bias: fc1.bias, fc2: "\(p).mlp.fc2", fc2Bias: fc2.bias, scale2: scale2))
        }
        let finalNorm = c.has("norm.weight") ? "norm" : nil
        if finalNorm != nil { try c.norm("norm", channels: e) }
        let fcNorm = c.has("fc_norm.weight") ? "fc_norm" : nil
        if fcNorm != nil { try c.norm("fc_norm", channels: e) }

        // Pooling and heads.
        let pool: ViTPlan.Pool
        if let declared = try c.config?.string("global_pool") {
            switch declared {
            case "token": pool = .token
            case "avg": pool = .average
            default:
                throw ModelError.unusableLayout(layout: description, reason: "global_pool '\(Escaping.printable(declared))' is not supported (only 'token' and 'avg')")
            }
            facts.append(LayoutFact("global_pool", declared, from: "config.json"))
        } else {
            pool = cls && fcNorm == nil ? .token : .average
            facts.append(LayoutFact("global_pool", pool == .token ? "token" : "avg", from: "timm default (\(cls ? "" : "no ")cls_token, \(fcNorm == nil ? "no " : "")fc_norm)"))
        }
        if pool == .token && !cls {
            throw ModelError.unusableLayout(layout: description, reason: "global_pool 'token' needs a cls_token, which the checkpoint does not have")
        }
        if distilled && pool != .token {
            throw ModelError.unusableLayout(layout: description, reason: "a distilled DeiT pools its class and distillation tokens; global_pool must be 'token'")
        }
        let head = try c.linearLayer("head", input: e)
        var heads: [(prefix: String, bias: Bool, token: Int)] = [("head", head.bias, 0)]
        if distilled {
            let dist = try c.linearLayer("head_dist", input: e, output: head.out)
            heads.append(("head_dist", dist.bias, 1))
        }

        // Settings and what the config also states.
        let config = c.config
        try c.agree("embed_dim", try config?.int("embed_dim"), e, layout: description, in: "the embedding width")
        try c.agree("depth", try config?.int("depth"), blocks.count, layout: description, in: "the number of blocks")
        try c.agree("patch_size", try config?.int("patch_size"), stem.patch, layout: description, in: "patch_embed.proj's kernel")
        try c.agree("in_chans", try config?.int("in_chans"), stem.channels, layout: description, in: "the input channels")
        if let ratio = try config?.double("mlp_ratio"), let mlp, Int((ratio * Double(e)).rounded(.down)) != mlp {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says mlp_ratio \(ratio) but the MLP is \(mlp) wide for \(e) channels")
        }
        if let declared = try config?.bool("qkv_bias"), let qkvBias, declared != qkvBias {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says qkv_bias \(declared) but the checkpoint \(qkvBias ? "has" : "has no") attn.qkv.bias")
        }
        var activation = Activation.gelu
        if let name = try config?.string("act_layer") {
            switch name {
            case "gelu": activation = .gelu
            case "gelu_tanh": activation = .geluTanh
            case "relu": activation = .relu
            default: throw ModelError.unusableLayout(layout: description, reason: "act_layer '\(Escaping.printable(name))' is not supported (gelu, gelu_tanh, relu)")
            }
        }
        facts += [
            LayoutFact("blocks", String(blocks.count), from: "tensor names"),
            LayoutFact("embed_dim", String(e), from: "tensor shapes"),
        ]
        let heads_ = try ViTStem.attentionHeads(c, embed: e, keys: ["num_heads"], layout: description, registered: registered,
                                                configurations: "timm's registered ViT sizes", facts: &facts)
        facts += [
            LayoutFact("mlp size", String(mlp ?? 0), from: "tensor shapes"),
            LayoutFact("patch_size", String(stem.patch), from: "patch_embed.proj.weight shape"),
            LayoutFact("image size", "\(grid[0] * stem.patch)×\(grid[1] * stem.patch)", from: gridSource),
            LayoutFact("prefix tokens", prefixTokens.isEmpty ? "none" : prefixTokens.joined(separator: ", ") + (registers > 0 ? " (\(registers) registers)" : ""),
                       from: "tensor names"),
            LayoutFact("position embedding", position == nil ? "none" : covers ? "covers the prefix tokens" : "patches only (no_embed_class)",
                       from: noEmbedClass != nil ? "config.json" : "pos_embed shape"),
            LayoutFact("layer_norm_eps", "1e-06", from: "timm default"),
            LayoutFact("activation", activation.description, from: config?.value("act_layer") != nil ? "config.json" : "timm default"),
        ]
        if blocks.contains(where: { $0.scale1 != nil }) { facts.append(LayoutFact("layer scale", "ls1.gamma, ls2.gamma", from: "tensor names")) }
        if distilled { facts.append(LayoutFact("logits", "(head(class token) + head_dist(distillation token)) / 2", from: "timm (eval mode)")) }
        facts.append(try c.classesFact(head.out, head: "head.weight", layout: description))

        let plan = ViTPlan(patchEmbedding: "patch_embed.proj", patchBias: stem.bias, embed: e, patch: stem.patch, prefixTokens: prefixTokens,
                           prefixCount: prefixCount, position: position, positionCoversPrefix: covers, preNorm: preNorm, blocks: blocks,
                           finalNorm: finalNorm, pool: pool, fcNorm: fcNorm, heads: heads, preLogits: nil, epsilon: 1e-6,
                           activation: activation, attentionHeads: heads_)
        let missing = ViTStem.missingHeads(layout: description, embed: e, keys: ["num_heads"],
                                           registered: "timm's registered widths 192, 384, 512, 768, 1024, 1280 have 3, 6, 8, 12, 16, 16")
        try c.refuseUnread(by: { try plan.build(&$0, heads: 1, missingHeads: missing) }, layout: description)
        return LayoutReading(family: distilled ? "DeiT (distilled)" : "ViT", naming: "timm",
                             sampleShape: [stem.channels, grid[0] * stem.patch, grid[1] * stem.patch],
                             facts: facts) { b in try plan.build(&b, missingHeads: missing) }
    }
}

/// transformers `ViTForImageClassification`: `vit.embeddings.{cls_token, position_embeddings,
/// patch_embeddings.projection}`, `vit.encoder.layer.N.{layernorm_before, attention.attention.
/// {query, key, value}, attention.output.dense, layernorm_after, intermediate.dense, output.dense}`,
/// `vit.layernorm`, `classifier` on the class token. See ``ViTPlan`` for the network; the
/// separate query/key/value Linears stay three weight layers of one attention node.
///
/// From `config.json`: `num_attention_heads`, `layer_norm_eps` (default 1e-12), `hidden_act`
/// (default `gelu`), `image_size`, `qkv_bias`; `hidden_size`, `num_hidden_layers`,
/// `intermediate_size`, `patch_size`, `num_channels` and the labels must agree with the tensors.
enum TransformersViTLayout: ModelLayout {
    static let description = "a transformers ViT"

    /// Google's ViT-B/L/H (transformers' `google/vit-*`): hidden size → heads.
    static let registered = [768: 12, 1024: 16, 1280: 16]

    static func read(_ c: LayoutContext) throws -> LayoutReading? {
        guard c.has("vit.embeddings.patch_embeddings.projection.weight"), c.has("vit.embeddings.cls_token") else { return nil }
        let config = c.config
        var facts = try c.transformersModelType("vit", className: "ViTForImageClassification", layout: description)
        let stem = try ViTStem.read(c, prefix: "vit.embeddings.patch_embeddings.projection", layout: description)
        let e = stem.embed
        try c.tensor("vit.embeddings.cls_token", [1, 1, e])
        let positions = try c.tensor("vit.embeddings.position_embeddings", [1, nil, e])[1]
        try c.agree("hidden_size", try config?.int("hidden_size"), e, layout: description, in: "the embedding width")
        try c.agree("patch_size", try config?.ints("patch_size")?.first, stem.patch, layout: description, in: "the patch projection's kernel")
        try c.agree("num_channels", try config?.int("num_channels"), stem.channels, layout: description, in: "the input channels")
        var grid: [Int]
        if let size = try config?.ints("image_size") {
            let hw = size.count == 1 ? [size[0], size[0]] : Array(size.suffix(2))
            grid = hw.map { $0 / stem.patch }
            guard grid[0] * grid[1] + 1 == positions else {
                throw ModelError.unusableLayout(layout: description, reason: "config.json says image_size \(hw.map(String.init).joined(separator: "×")) "
                    + "(\(grid[0] * grid[1]) patches + class token) but vit.embeddings.position_embeddings has \(positions) positions")
            }
        } else {
            guard let side = exactSquareRoot(positions - 1), side > 0 else {
                throw ModelError.settingNotInCheckpoint(layout: description, setting: "image size",
                                                        choices: "\(positions - 1) patches are no square grid", configKeys: ["image_size"])
            }
            grid = [side, side]
        }

        let indices = try ViTStem.blockIndices(c, prefix: "vit.encoder.layer.", first: "layernorm_before.weight")
        try c.agree("num_hidden_layers", try config?.int("num_hidden_layers"), indices.count, layout: description, in: "the number of layers")
        var blocks: [ViTPlan.Block] = []
        var mlp: Int?
        var qkvBias: Bool?
        for index in indices {
            let p = "vit.encoder.layer.\(index)"
            let a = "\(p).attention.attention"
            try c.norm("\(p).layernorm_before", channels: e)
            var biases: [Bool] = []
            for part in ["query", "key", "value"] { biases.append(try c.linearLayer("\(a).\(part)", input: e, output: e).bias) }
            guard biases.allSatisfy({ $0 == biases[0] }), qkvBias == nil || qkvBias == biases[0] else {
                throw ModelError.missingTensor(name: "\(a).\(["query", "key", "value"][biases.firstIndex(of: false) ?? 0]).bias", expectedShape: [e])
            }
            qkvBias = biases[0]
            let out = try c.linearLayer("\(p).attention.output.dense", input: e, output: e)
            try c.norm("\(p).layernorm_after", channels: e)
            let fc1 = try c.linearLayer("\(p).intermediate.dense", input: e, output: mlp)
            mlp = fc1.out
            let fc2 = try c.linearLayer("\(p).output.dense", input: fc1.out, output: e)
            blocks.append(ViTPlan.Block(norm1: "\(p).layernorm_before", attention: "\(p).attention",
                                        projection: .separate(query: "\(a).query", key: "\(a).key", value: "\(a).value", bias: biases[0]),
                                        out: "\(p).attention.output.dense", outBias: out.bias, scale1: nil, norm2: "\(p).layernorm_after",
                                        fc1: "\(p).intermediate.dense", fc1Bias: fc1.bias, fc2: "\(p).output.dense", fc2Bias: fc2.bias, scale2: nil))
        }
        if let mlp { try c.agree("intermediate_size", try config?.int("intermediate_size"), mlp, layout: description, in: "the MLP width") }
        if let declared = try config?.bool("qkv_bias"), let qkvBias, declared != qkvBias {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says qkv_bias \(declared) "
                + "but the checkpoint \(qkvBias ? "has" : "has no") query/key/value biases")
        }
        try c.norm("vit.layernorm", channels: e)
        let head = try c.linearLayer("classifier", input: e)

        let epsilon = try config?.double("layer_norm_eps") ?? 1e-12
        let act = try config?.string("hidden_act") ?? "gelu"
        guard let activation = Activation(transformersName: act) else {
            throw ModelError.unusableLayout(layout: description, reason: "hidden_act '\(Escaping.printable(act))' is not supported "
                + "(gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)")
        }
        let source = config == nil ? "transformers default" : c.configSource
        facts += [
            LayoutFact("num_hidden_layers", String(blocks.count), from: "tensor names"),
            LayoutFact("hidden_size", String(e), from: "tensor shapes"),
        ]
        let heads = try ViTStem.attentionHeads(c, embed: e, keys: ["num_attention_heads", "num_heads"], layout: description,
                                               registered: registered, configurations: "Google's ViT-B/L/H", facts: &facts)
        facts += [
            LayoutFact("intermediate_size", String(mlp ?? 0), from: "tensor shapes"),
            LayoutFact("patch_size", String(stem.patch), from: "patch projection shape"),
            LayoutFact("image_size", "\(grid[0] * stem.patch)×\(grid[1] * stem.patch)",
                       from: (try config?.ints("image_size")) != nil ? c.configSource : "position_embeddings shape"),
            LayoutFact("qkv_bias", String(qkvBias ?? true), from: "tensor names"),
            LayoutFact("layer_norm_eps", String(Float(epsilon)), from: (try config?.double("layer_norm_eps")) != nil ? source : "transformers default"),
            LayoutFact("hidden_act", "\(act): \(activation.description)", from: (try config?.string("hidden_act")) != nil ? source : "transformers default"),
            LayoutFact("pooling", "class token (no pooler)", from: "ViTForImageClassification"),
            try c.classesFact(head.out, head: "classifier.weight", layout: description),
        ]
        let plan = ViTPlan(patchEmbedding: "vit.embeddings.patch_embeddings.projection", patchBias: stem.bias, embed: e, patch: stem.patch,
                           prefixTokens: ["vit.embeddings.cls_token"], prefixCount: 1, position: "vit.embeddings.position_embeddings",
                           positionCoversPrefix: true, preNorm: nil, blocks: blocks, finalNorm: "vit.layernorm", pool: .token, fcNorm: nil,
                           heads: [("classifier", head.bias, 0)], preLogits: nil, epsilon: Float(epsilon), activation: activation,
                           attentionHeads: heads)
        let missing = ViTStem.missingHeads(layout: description, embed: e, keys: ["num_attention_heads"],
                                           registered: "Google's ViT-B/L/H with hidden size 768, 1024 or 1280 have 12, 16 or 16")
        // The pooler (ViTModel's, unused by the classifier) and the masked-image-modelling token are expected extras.
        try c.refuseUnread(by: { try plan.build(&$0, heads: 1, missingHeads: missing) }, layout: description,
                           expectedUnused: { $0.hasPrefix("vit.pooler.") || $0 == "vit.embeddings.mask_token" })
        return LayoutReading(family: "ViT", naming: "transformers", sampleShape: [stem.channels, grid[0] * stem.patch, grid[1] * stem.patch],
                             facts: facts) { b in try plan.build(&b, missingHeads: missing) }
    }
}

/// What the three ViT readers share: the patch embedding, block numbering and the head count.
enum ViTStem {
    /// The patch embedding `<prefix>.weight` `[E, C, p, p]` and its optional bias `[E]`.
    static func read(_ c: LayoutContext, prefix: String, layout: String) throws -> (embed: Int, channels: Int, patch: Int, bias: Bool) {
        let shape = try c.tensor("\(prefix).weight", [nil, nil, nil, nil])
        guard shape[2] == shape[3], shape[2] > 0 else {
            throw ModelError.unusableLayout(layout: layout, reason: "\(prefix).weight is \(shape[2])×\(shape[3]): only square patches are supported")
        }
        return (shape[0], shape[1], shape[2], try c.optionalTensor("\(prefix).bias", [shape[0]]))
    }

    /// The block indices `0..<n` after `prefix` (each must have `<prefix><i>.<first>`).
    static func blockIndices(_ c: LayoutContext, prefix: String, first: String) throws -> [Int] {
        let indices = c.indices(after: prefix)
        for (expected, index) in indices.enumerated() where expected != index || !c.has("\(prefix)\(index).\(first)") {
            throw ModelError.missingTensor(name: "\(prefix)\(expected).\(first)", expectedShape: [-1])
        }
        return indices
    }

    /// The attention head count: from the config under the first of `keys` it has, else from the
    /// library's registered sizes, else `nil` (recorded as a fact saying how to give it).
    static func attentionHeads(_ c: LayoutContext, embed: Int, keys: [String], layout: String, registered: [Int: Int], configurations: String,
                               facts: inout [LayoutFact]) throws -> Int? {
        if let (key, heads) = try c.configInt(keys) {
            guard heads > 0, embed % heads == 0 else {
                throw ModelError.unusableLayout(layout: layout, reason: "\(c.configSource == "given config" ? "the config" : "config.json") says \(key) \(heads), "
                    + "which does not divide the hidden size \(embed)")
            }
            facts.append(LayoutFact("num_heads", String(heads), from: "\(c.configSource) (\(key))"))
            return heads
        }
        if let (heads, fact) = ViTPlan.heads(embed: embed, known: registered, configurations: configurations) {
            facts.append(fact)
            return heads
        }
        facts.append(LayoutFact("num_heads", "not in the checkpoint (\(divisorList(embed))); set \(keys[0]) in a config", from: "-"))
        return nil
    }

    /// The error of building without a head count.
    static func missingHeads(layout: String, embed: Int, keys: [String], registered: String) -> ModelError {
        .settingNotInCheckpoint(layout: layout, setting: "number of attention heads",
                                choices: "hidden size \(embed) allows \(divisorList(embed)) heads; \(registered)", configKeys: keys)
    }
}
