import Safeguards
import TensorCore

/// torchvision `ConvNeXt` (`convnext_tiny` and kin): stem `features.0.{0 conv p×p/p, 1 LayerNorm2d}`,
/// stages `features.{1,3,5,7}.B.{block.0 depthwise conv, block.2 LayerNorm, block.3 Linear,
/// block.5 Linear, layer_scale [C,1,1]}`, downsampling `features.{2,4,6}.{0 LayerNorm2d, 1 conv 2×2/2}`,
/// head `classifier.{0 LayerNorm2d, 2 Linear}` after global average pooling. See ``ConvNeXtPlan``.
/// LayerNorm ε 1e-6 and exact GELU are torchvision's fixed choices.
enum TorchvisionConvNeXtLayout: ModelLayout {
    static let description = "a torchvision ConvNeXt"

    static func read(_ c: LayoutContext) throws -> LayoutReading? {
        guard c.has("features.0.0.weight"), c.has("features.1.0.layer_scale"), c.has("features.1.0.block.0.weight") else { return nil }
        var channels = try ConvNeXtReading.stem(c, conv: "features.0.0", layout: description)
        try c.norm("features.0.1", channels: channels.width)
        var stages: [ConvNeXtPlan.Stage] = []
        var pendingDownsample: (norm: String, conv: String, kernel: Int)?
        let indices = c.indices(after: "features.")
        for (expected, index) in indices.enumerated() where expected != index {
            throw ModelError.missingTensor(name: "features.\(expected).0.weight", expectedShape: [-1])
        }
        for index in indices.dropFirst() {
            let p = "features.\(index)"
            if index % 2 == 1 {
                var blocks: [ConvNeXtPlan.Block] = []
                for b in try ConvNeXtReading.indices(c, prefix: "\(p).", first: "block.0.weight") {
                    let q = "\(p).\(b)"
                    blocks.append(try ConvNeXtReading.block(c, depthwise: "\(q).block.0", norm: "\(q).block.2", fc1: "\(q).block.3", fc2: "\(q).block.5",
                                                            channels: channels.width, layout: description))
                    try c.tensor("\(q).layer_scale", [channels.width, 1, 1])
                    blocks[blocks.count - 1].scale = .channelsFirst("\(q).layer_scale")
                }
                stages.append(ConvNeXtPlan.Stage(downsample: pendingDownsample, blocks: blocks))
                pendingDownsample = nil
            } else {
                try c.norm("\(p).0", channels: channels.width)
                let out = try ConvNeXtReading.downsample(c, conv: "\(p).1", input: channels.width, layout: description)
                pendingDownsample = ("\(p).0", "\(p).1", out.kernel)
                channels.width = out.width
            }
        }
        if pendingDownsample != nil {
            // torchvision ends with a stage: a downsampling layer must be followed by blocks.
            throw ModelError.missingTensor(name: "features.\(indices.count).0.block.0.weight", expectedShape: [channels.width, 1, -1, -1])
        }
        try c.norm("classifier.0", channels: channels.width)
        let head = try c.linearLayer("classifier.2", input: channels.width)
        let plan = ConvNeXtPlan(stem: ("features.0.0", channels.patch, "features.0.1"), stages: stages, headNorm: .afterPool("classifier.0"),
                                preLogits: nil, head: "classifier.2", headBias: head.bias, epsilon: 1e-6, headEpsilon: 1e-6, activation: .gelu)
        var facts = ConvNeXtReading.facts(plan, c, inputChannels: channels.input, source: "tensor names")
        facts += [
            LayoutFact("layer_norm_eps", "1e-06", from: "torchvision default"),
            LayoutFact("activation", Activation.gelu.description, from: "torchvision default"),
            try c.classesFact(head.out, head: "classifier.2.weight", layout: description),
        ]
        try c.refuseUnread(by: { plan.build(&$0) }, layout: description)
        return LayoutReading(family: "ConvNeXt", naming: "torchvision", facts: facts) { b in plan.build(&b) }
    }
}

/// timm `ConvNeXt` (`convnext_atto` … `convnext_xxlarge`): stem `stem.{0 conv p×p/p, 1 LayerNorm2d}`,
/// `stages.S.{downsample.{0 LayerNorm2d, 1 conv}, blocks.B.{conv_dw, norm, mlp.fc1, mlp.fc2, gamma}}`
/// (MLP as Linears, or as 1×1 convolutions with `conv_mlp`), head `head.{norm, pre_logits.fc?, fc}`
/// after global average pooling, or `norm_pre` before it (`head_norm_first`). See ``ConvNeXtPlan``.
///
/// From `config.json` (`model_args`, top level): `norm_eps` (default 1e-6), `act_layer` (default
/// GELU), `global_pool` (`avg` only); `dims`, `depths`, `patch_size`, `in_chans`, `conv_mlp` and
/// the class count must agree with the tensors. ConvNeXt V2's GRN and the overlapping stems are
/// refused.
enum TimmConvNeXtLayout: ModelLayout {
    static let description = "a timm ConvNeXt"

    static func read(_ c: LayoutContext) throws -> LayoutReading? {
        guard c.has("stem.0.weight"), c.has("stages.0.blocks.0.conv_dw.weight") else { return nil }
        let config = c.config
        if let config, config.library == .transformers {
            throw ModelError.unusableLayout(layout: description, reason: "config.json is a transformers config but the names are timm's")
        }
        var facts: [LayoutFact] = []
        if let architecture = config?.architecture { facts.append(LayoutFact("architecture", architecture, from: "config.json")) }
        if c.shapes["stem.1.weight"]?.count == 4 || c.has("stem.2.weight") {
            throw ModelError.unusableLayout(layout: description, reason: "an overlapping convolution stem (stem_type 'overlap*') is not supported")
        }
        var channels = try ConvNeXtReading.stem(c, conv: "stem.0", layout: description)
        try c.norm("stem.1", channels: channels.width)
        var stages: [ConvNeXtPlan.Stage] = []
        var convolutionMLP: Bool?
        for stage in try ConvNeXtReading.indices(c, prefix: "stages.", first: "blocks.0.conv_dw.weight") {
            let p = "stages.\(stage)"
            var downsample: (norm: String, conv: String, kernel: Int)?
            if c.has("\(p).downsample.0.weight") {
                try c.norm("\(p).downsample.0", channels: channels.width)
                let out = try ConvNeXtReading.downsample(c, conv: "\(p).downsample.1", input: channels.width, layout: description)
                downsample = ("\(p).downsample.0", "\(p).downsample.1", out.kernel)
                channels.width = out.width
            }
            var blocks: [ConvNeXtPlan.Block] = []
            for b in try ConvNeXtReading.indices(c, prefix: "\(p).blocks.", first: "conv_dw.weight") {
                let q = "\(p).blocks.\(b)"
                var block = try ConvNeXtReading.block(c, depthwise: "\(q).conv_dw", norm: "\(q).norm", fc1: "\(q).mlp.fc1", fc2: "\(q).mlp.fc2",
                                                      channels: channels.width, layout: description)
                if let convolutionMLP, convolutionMLP != block.convolutionMLP {
                    throw ModelError.unusableLayout(layout: description, reason: "\(q).mlp is \(block.convolutionMLP ? "1×1 convolutions" : "Linears"), "
                        + "stages.0.blocks.0.mlp is not")
                }
                convolutionMLP = block.convolutionMLP
                if try c.optionalTensor("\(q).gamma", [channels.width]) { block.scale = .vector("\(q).gamma") }
                blocks.append(block)
            }
            stages.append(ConvNeXtPlan.Stage(downsample: downsample, blocks: blocks))
        }
        let headNorm: ConvNeXtPlan.HeadNorm
        var preLogits: String?
        var width = channels.width
        if c.has("norm_pre.weight") {
            try c.norm("norm_pre", channels: width)
            headNorm = .beforePool("norm_pre")
        } else {
            try c.norm("head.norm", channels: width)
            headNorm = .afterPool("head.norm")
            if c.has("head.pre_logits.fc.weight") {
                width = try c.linearLayer("head.pre_logits.fc", input: width).out
                try c.tensor("head.pre_logits.fc.bias", [width])
                preLogits = "head.pre_logits.fc"
            }
        }
        let head = try c.linearLayer("head.fc", input: width)

        // The config's settings, and what it states that the tensors also show.
        if let pool = try config?.string("global_pool"), pool != "avg" {
            throw ModelError.unusableLayout(layout: description, reason: "global_pool '\(Escaping.printable(pool))' is not supported (only 'avg')")
        }
        if try config?.bool("use_grn") == true {
            throw ModelError.unusableLayout(layout: description, reason: "GlobalResponseNorm (use_grn, ConvNeXt V2) is not supported")
        }
        let plan0 = ConvNeXtPlan(stem: ("stem.0", channels.patch, "stem.1"), stages: stages, headNorm: headNorm, preLogits: preLogits,
                                 head: "head.fc", headBias: head.bias, epsilon: 1e-6, headEpsilon: 1e-6, activation: .gelu)
        let widths = ConvNeXtReading.widths(plan0, c)
        if let dims = try config?.ints("dims"), dims != widths {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says dims [\(dims.map(String.init).joined(separator: ", "))] "
                + "but the stages are [\(widths.map(String.init).joined(separator: ", "))] wide")
        }
        let depths = stages.map(\.blocks.count)
        if let declared = try config?.ints("depths"), declared != depths {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says depths [\(declared.map(String.init).joined(separator: ", "))] "
                + "but the stages have [\(depths.map(String.init).joined(separator: ", "))] blocks")
        }
        try c.agree("patch_size", try config?.int("patch_size"), channels.patch, layout: description, in: "stem.0's kernel")
        try c.agree("in_chans", try config?.int("in_chans"), channels.input, layout: description, in: "the input channels")
        if let declared = try config?.bool("conv_mlp"), let convolutionMLP, declared != convolutionMLP {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says conv_mlp \(declared) "
                + "but the MLPs are \(convolutionMLP ? "1×1 convolutions" : "Linears")")
        }
        let epsilon = try config?.double("norm_eps")
        var activation = Activation.gelu
        if let name = try config?.string("act_layer") {
            switch name {
            case "gelu": activation = .gelu
            case "gelu_tanh": activation = .geluTanh
            case "relu": activation = .relu
            default: throw ModelError.unusableLayout(layout: description, reason: "act_layer '\(Escaping.printable(name))' is not supported (gelu, gelu_tanh, relu)")
            }
        }
        var plan = plan0
        plan.activation = activation
        if let epsilon { plan.epsilon = Float(epsilon); plan.headEpsilon = Float(epsilon) }
        facts += ConvNeXtReading.facts(plan, c, inputChannels: channels.input, source: "tensor names")
        facts += [
            LayoutFact("mlp", convolutionMLP == true ? "1×1 convolutions (conv_mlp)" : "Linears", from: "mlp.fc1.weight shape"),
            LayoutFact("head", { if case .beforePool = headNorm { "norm_pre, pool, fc (head_norm_first)" }
                                 else { "pool, head.norm\(preLogits == nil ? "" : ", pre_logits (GELU)"), fc" } }(),
                       from: "tensor names"),
            LayoutFact("norm_eps", String(plan.epsilon), from: epsilon == nil ? "timm default" : "config.json"),
            LayoutFact("act_layer", activation.description, from: (try config?.string("act_layer")) == nil ? "timm default" : "config.json"),
            try c.classesFact(head.out, head: "head.fc.weight", layout: description),
        ]
        if let size = try config?.ints("input_size") {
            facts.append(LayoutFact("input size (trained at)", size.map(String.init).joined(separator: "×"), from: "config.json"))
        }
        try c.refuseUnread(by: { plan.build(&$0) }, layout: description)
        return LayoutReading(family: "ConvNeXt", naming: "timm", facts: facts) { b in plan.build(&b) }
    }
}

/// transformers `ConvNextForImageClassification`: `convnext.embeddings.{patch_embeddings,
/// layernorm}`, `convnext.encoder.stages.S.{downsampling_layer.{0 LayerNorm2d, 1 conv 2×2/2},
/// layers.B.{dwconv, layernorm, pwconv1, pwconv2, layer_scale_parameter}}`, `convnext.layernorm`
/// on the pooled features, `classifier`. See ``ConvNeXtPlan``.
///
/// LayerNorm ε 1e-6 in the embeddings, downsampling and layers (hard-coded by transformers);
/// `config.layer_norm_eps` (default 1e-12) for `convnext.layernorm`; `hidden_act` (default
/// `gelu`). `hidden_sizes`, `depths`, `num_stages`, `patch_size`, `num_channels` and the labels
/// must agree with the tensors.
enum TransformersConvNeXtLayout: ModelLayout {
    static let description = "a transformers ConvNeXt"

    static func read(_ c: LayoutContext) throws -> LayoutReading? {
        guard c.has("convnext.embeddings.patch_embeddings.weight") else { return nil }
        let config = c.config
        var facts = try c.transformersModelType("convnext", className: "ConvNextForImageClassification", layout: description)
        var channels = try ConvNeXtReading.stem(c, conv: "convnext.embeddings.patch_embeddings", layout: description)
        try c.norm("convnext.embeddings.layernorm", channels: channels.width)
        var stages: [ConvNeXtPlan.Stage] = []
        for stage in try ConvNeXtReading.indices(c, prefix: "convnext.encoder.stages.", first: "layers.0.dwconv.weight") {
            let p = "convnext.encoder.stages.\(stage)"
            var downsample: (norm: String, conv: String, kernel: Int)?
            if c.has("\(p).downsampling_layer.0.weight") {
                try c.norm("\(p).downsampling_layer.0", channels: channels.width)
                let out = try ConvNeXtReading.downsample(c, conv: "\(p).downsampling_layer.1", input: channels.width, layout: description)
                downsample = ("\(p).downsampling_layer.0", "\(p).downsampling_layer.1", out.kernel)
                channels.width = out.width
            }
            var blocks: [ConvNeXtPlan.Block] = []
            for b in try ConvNeXtReading.indices(c, prefix: "\(p).layers.", first: "dwconv.weight") {
                let q = "\(p).layers.\(b)"
                var block = try ConvNeXtReading.block(c, depthwise: "\(q).dwconv", norm: "\(q).layernorm", fc1: "\(q).pwconv1", fc2: "\(q).pwconv2",
                                                      channels: channels.width, layout: description)
                guard !block.convolutionMLP else {
                    throw ModelError.shapeMismatch(name: "\(q).pwconv1.weight", expected: [-1, channels.width], actual: try c.shape("\(q).pwconv1.weight"))
                }
                if try c.optionalTensor("\(q).layer_scale_parameter", [channels.width]) { block.scale = .vector("\(q).layer_scale_parameter") }
                blocks.append(block)
            }
            stages.append(ConvNeXtPlan.Stage(downsample: downsample, blocks: blocks))
        }
        try c.norm("convnext.layernorm", channels: channels.width)
        let head = try c.linearLayer("classifier", input: channels.width)
        let headEpsilon = try config?.double("layer_norm_eps") ?? 1e-12
        let act = try config?.string("hidden_act") ?? "gelu"
        guard let activation = Activation(transformersName: act) else {
            throw ModelError.unusableLayout(layout: description, reason: "hidden_act '\(Escaping.printable(act))' is not supported "
                + "(gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)")
        }
        let plan = ConvNeXtPlan(stem: ("convnext.embeddings.patch_embeddings", channels.patch, "convnext.embeddings.layernorm"), stages: stages,
                                headNorm: .afterPool("convnext.layernorm"), preLogits: nil, head: "classifier", headBias: head.bias,
                                epsilon: 1e-6, headEpsilon: Float(headEpsilon), activation: activation)
        let widths = ConvNeXtReading.widths(plan, c)
        if let sizes = try config?.ints("hidden_sizes"), sizes != widths {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says hidden_sizes [\(sizes.map(String.init).joined(separator: ", "))] "
                + "but the stages are [\(widths.map(String.init).joined(separator: ", "))] wide")
        }
        let depths = stages.map(\.blocks.count)
        if let declared = try config?.ints("depths"), declared != depths {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says depths [\(declared.map(String.init).joined(separator: ", "))] "
                + "but the stages have [\(depths.map(String.init).joined(separator: ", "))] layers")
        }
        try c.agree("num_stages", try config?.int("num_stages"), stages.count, layout: description, in: "the number of stages")
        try c.agree("patch_size", try config?.int("patch_size"), channels.patch, layout: description, in: "the patch embedding's kernel")
        try c.agree("num_channels", try config?.int("num_channels"), channels.input, layout: description, in: "the input channels")
        let source = config == nil ? "transformers default" : c.configSource
        facts += ConvNeXtReading.facts(plan, c, inputChannels: channels.input, source: "tensor names")
        facts += [
            LayoutFact("layer_norm_eps (blocks)", "1e-06", from: "transformers (fixed)"),
            LayoutFact("layer_norm_eps (convnext.layernorm)", String(Float(headEpsilon)), from: (try config?.double("layer_norm_eps")) == nil ? "transformers default" : source),
            LayoutFact("hidden_act", "\(act): \(activation.description)", from: (try config?.string("hidden_act")) == nil ? "transformers default" : source),
            try c.classesFact(head.out, head: "classifier.weight", layout: description),
        ]
        if let size = try config?.ints("image_size") {
            facts.append(LayoutFact("image_size (trained at)", size.map(String.init).joined(separator: "×"), from: source))
        }
        try c.refuseUnread(by: { plan.build(&$0) }, layout: description)
        return LayoutReading(family: "ConvNeXt", naming: "transformers", facts: facts) { b in plan.build(&b) }
    }
}

/// What the three ConvNeXt readers share.
enum ConvNeXtReading {
    /// The stem's patchify convolution `<conv>.weight` `[C, Cin, p, p]` with bias `[C]`.
    static func stem(_ c: LayoutContext, conv: String, layout: String) throws -> (input: Int, width: Int, patch: Int) {
        let shape = try c.tensor("\(conv).weight", [nil, nil, nil, nil])
        guard shape[2] == shape[3], shape[2] > 0 else {
            throw ModelError.unusableLayout(layout: layout, reason: "\(conv).weight is \(shape[2])×\(shape[3]): the stem must patchify with a square kernel")
        }
        try c.tensor("\(conv).bias", [shape[0]])
        return (shape[1], shape[0], shape[2])
    }

    /// A downsampling convolution `<conv>.weight` `[out, input, k, k]` (stride k) with bias.
    static func downsample(_ c: LayoutContext, conv: String, input: Int, layout: String) throws -> (width: Int, kernel: Int) {
        let shape = try c.tensor("\(conv).weight", [nil, input, nil, nil])
        guard shape[2] == shape[3], shape[2] > 0 else {
            throw ModelError.unusableLayout(layout: layout, reason: "\(conv).weight is \(shape[2])×\(shape[3]): only square downsampling kernels are supported")
        }
        try c.tensor("\(conv).bias", [shape[0]])
        return (shape[0], shape[2])
    }

    /// One block's depthwise convolution, norm and MLP (Linears `[M, C]`, `[C, M]`, or 1×1
    /// convolutions `[M, C, 1, 1]`, `[C, M, 1, 1]`), all with biases.
    static func block(_ c: LayoutContext, depthwise: String, norm: String, fc1: String, fc2: String, channels: Int, layout: String) throws
        -> ConvNeXtPlan.Block
    {
        let kernel = try c.tensor("\(depthwise).weight", [channels, 1, nil, nil])
        guard kernel[2] == kernel[3], kernel[2] % 2 == 1 else {
            throw ModelError.unusableLayout(layout: layout, reason: "\(depthwise).weight is \(kernel[2])×\(kernel[3]): only odd square kernels are supported")
        }
        try c.tensor("\(depthwise).bias", [channels])
        try c.norm(norm, channels: channels)
        let convolutionMLP = c.shapes["\(fc1).weight"]?.count == 4
        let hidden = try c.tensor("\(fc1).weight", convolutionMLP ? [nil, channels, 1, 1] : [nil, channels])[0]
        try c.tensor("\(fc1).bias", [hidden])
        try c.tensor("\(fc2).weight", convolutionMLP ? [channels, hidden, 1, 1] : [channels, hidden])
        try c.tensor("\(fc2).bias", [channels])
        return ConvNeXtPlan.Block(depthwise: depthwise, channels: channels, kernel: kernel[2], norm: norm, fc1: fc1, fc2: fc2,
                                  convolutionMLP: convolutionMLP, scale: nil)
    }

    /// The indices `0..<n` after `prefix`, each with `<prefix><i>.<first>`.
    static func indices(_ c: LayoutContext, prefix: String, first: String) throws -> [Int] {
        let indices = c.indices(after: prefix)
        for (expected, index) in indices.enumerated() where expected != index || !c.has("\(prefix)\(index).\(first)") {
            throw ModelError.missingTensor(name: "\(prefix)\(expected).\(first)", expectedShape: [-1])
        }
        return indices
    }

    /// Each stage's width (its blocks' channels).
    static func widths(_ plan: ConvNeXtPlan, _ c: LayoutContext) -> [Int] {
        plan.stages.map { $0.blocks.first?.channels ?? 0 }
    }

    /// Facts every ConvNeXt reading reports.
    static func facts(_ plan: ConvNeXtPlan, _ c: LayoutContext, inputChannels: Int, source: String) -> [LayoutFact] {
        let kernels = Set(plan.stages.flatMap { $0.blocks.map(\.kernel) }).sorted().map { "\($0)×\($0)" }
        var facts = [
            LayoutFact("stages", String(plan.stages.count), from: source),
            LayoutFact("blocks per stage", plan.stages.map { String($0.blocks.count) }.joined(separator: ","), from: source),
            LayoutFact("stage widths", widths(plan, c).map(String.init).joined(separator: ","), from: "tensor shapes"),
            LayoutFact("stem", "\(plan.stem.patch)×\(plan.stem.patch)/\(plan.stem.patch) conv from \(inputChannels) channels + LayerNorm2d", from: "tensor shapes"),
            LayoutFact("depthwise kernel", kernels.joined(separator: ", "), from: "tensor shapes"),
        ]
        let scaled = plan.stages.flatMap(\.blocks).filter { $0.scale != nil }.count
        facts.append(LayoutFact("layer scale", scaled == 0 ? "none" : scaled == plan.stages.flatMap(\.blocks).count ? "every block" : "\(scaled) blocks",
                                from: "tensor names"))
        return facts
    }
}
