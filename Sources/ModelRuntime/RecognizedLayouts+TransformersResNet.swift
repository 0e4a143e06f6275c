import Safeguards

/// transformers `ResNetForImageClassification` (`save_pretrained`): `resnet.embedder.embedder`
/// stem, `resnet.encoder.stages.S.layers.B` blocks of `layer.N.convolution/normalization` conv
/// layers and an optional `shortcut.convolution/normalization` projection, `classifier.1` Linear.
///
/// The network (transformers' `modeling_resnet.py`):
/// - stem: 7×7/2 conv (padding 3), BatchNorm, `hidden_act`, 3×3/2 max-pool (padding 1).
/// - blocks: `out = hidden_act(layer(x) + shortcut(x))`; a basic layer is two 3×3 convs, a
///   bottleneck layer 1×1, 3×3, 1×1 (`layer_type`); every conv layer but the last of a block is
///   followed by ReLU (transformers passes no activation to them, and ReLU is their default,
///   whatever `hidden_act` says); padding is `kernel // 2`.
/// - stride 2 on the first block of every stage but the first (the first too when
///   `downsample_in_first_stage`), on the bottleneck's 3×3 conv, or its first 1×1 conv when
///   `downsample_in_bottleneck`; the shortcut (1×1 conv with the block's stride + BatchNorm)
///   exists where the shape changes.
/// - BatchNorm ε 1e-5 (PyTorch's default; transformers sets none); adaptive average pooling,
///   flatten, `classifier.1`.
enum TransformersResNetLayout: ModelLayout {
    static let description = "a transformers ResNet"

    static let stem = "resnet.embedder.embedder"

    struct Block {
        var prefix: String
        var convs: Int
        var strideOn: Int?
        var stride: Int
        var shortcut: Bool
    }

    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading? {
        let names = checkpoint.names
        guard names.contains("\(stem).convolution.weight"), names.contains(where: { $0.hasPrefix("resnet.encoder.stages.") }) else { return nil }
        let config = checkpoint.config
        var facts: [LayoutFact] = []
        if let config, let architecture = config.architecture {
            guard config.library == .transformers, architecture == "resnet" else {
                throw ModelError.unusableLayout(layout: description, reason: "config.json describes '\(Escaping.printable(architecture))', not a transformers ResNet")
            }
        }
        func setting<T>(_ key: String, _ read: (String) throws -> T?, default value: T) throws -> (T, String) {
            if let found = try read(key) { return (found, "config.json") }
            return (value, "transformers default")
        }
        let (hiddenActName, actSource) = try setting("hidden_act", { try config?.string($0) }, default: "relu")
        guard let hiddenAct = Activation(transformersName: hiddenActName) else {
            throw ModelError.unusableLayout(layout: description, reason: "hidden_act '\(Escaping.printable(hiddenActName))' is not an activation this tool computes")
        }
        let (firstStageDown, firstSource) = try setting("downsample_in_first_stage", { try config?.bool($0) }, default: false)
        let (inBottleneck, bottleneckSource) = try setting("downsample_in_bottleneck", { try config?.bool($0) }, default: false)

        // Stem.
        let inputChannels = try checkpoint.shape("\(stem).convolution.weight").dropFirst().first ?? 3
        let stemConv = try checkpoint.convolution("\(stem).convolution", input: inputChannels)
        try checkpoint.require("\(stem).convolution.weight", [stemConv.out, inputChannels, 7, 7])
        try checkpoint.requireBatchNorm("\(stem).normalization", channels: stemConv.out)
        if let embedding = try config?.int("embedding_size"), embedding != stemConv.out {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says embedding_size \(embedding), '\(stem).convolution.weight' has \(stemConv.out) channels")
        }
        if let declared = try config?.int("num_channels"), declared != inputChannels {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says num_channels \(declared), the stem takes \(inputChannels)")
        }

        // Stages.
        var channels = stemConv.out
        var blocks: [Block] = [], depths: [Int] = [], widths: [Int] = []
        let stageCount = checkpoint.indices(after: "resnet.encoder.stages.").count
        var bottleneck: Bool?
        for stage in 0..<stageCount {
            let stagePrefix = "resnet.encoder.stages.\(stage).layers."
            let count = checkpoint.indices(after: stagePrefix).count
            guard count > 0 else { throw ModelError.missingTensor(name: "\(stagePrefix)0.layer.0.convolution.weight", expectedShape: []) }
            for index in 0..<count {
                let p = "\(stagePrefix)\(index)"
                let convs = checkpoint.indices(after: "\(p).layer.").count
                guard convs == 2 || convs == 3, bottleneck == nil || bottleneck == (convs == 3) else {
                    throw ModelError.unusableLayout(layout: description, reason: "\(p) has \(convs) conv layers; every block must have 2 (basic) or 3 (bottleneck)")
                }
                bottleneck = convs == 3
                let stride = index == 0 && (stage > 0 || firstStageDown) ? 2 : 1
                var input = channels
                for n in 0..<convs {
                    let kernel = convs == 3 && n != 1 ? 1 : 3
                    let c = try checkpoint.convolution("\(p).layer.\(n).convolution", input: input)
                    try checkpoint.require("\(p).layer.\(n).convolution.weight", [c.out, input, kernel, kernel])
                    try checkpoint.requireBatchNorm("\(p).layer.\(n).normalization", channels: c.out)
                    input = c.out
                }
                let shortcut = names.contains("\(p).shortcut.convolution.weight")
                if shortcut {
                    try checkpoint.require("\(p).shortcut.convolution.weight", [input, channels, 1, 1])
                    try checkpoint.requireBatchNorm("\(p).shortcut.normalization", channels: input)
                } else if input != channels || stride != 1 {
                    throw ModelError.missingTensor(name: "\(p).shortcut.convolution.weight", expectedShape: [input, channels, 1, 1])
                }
                let strideOn = stride == 1 ? nil : (convs == 3 ? (inBottleneck ? 0 : 1) : 0)
                blocks.append(Block(prefix: p, convs: convs, strideOn: strideOn, stride: stride, shortcut: shortcut))
                channels = input
            }
            depths.append(count)
            widths.append(channels)
        }
        guard let isBottleneck = bottleneck else { return nil }
        let classes = try checkpoint.linear("classifier.1", input: channels)

        // The config must describe these tensors.
        if let layerType = try config?.string("layer_type"), layerType != (isBottleneck ? "bottleneck" : "basic") {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says layer_type '\(Escaping.printable(layerType))', "
                + "the blocks have \(isBottleneck ? 3 : 2) conv layers")
        }
        if let declared = try config?.ints("depths"), declared != depths {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says depths [\(listed(declared))], the checkpoint has [\(listed(depths))]")
        }
        if let declared = try config?.ints("hidden_sizes"), declared != widths {
            throw ModelError.unusableLayout(layout: description, reason: "config.json says hidden_sizes [\(listed(declared))], the stages output [\(listed(widths))]")
        }
        let fromConfig = { (key: String) -> String in (try? config?.ints(key)) != nil ? "tensor names and config.json" : "tensor names" }
        facts += [
            LayoutFact("layer_type", isBottleneck ? "bottleneck" : "basic", from: (try? config?.string("layer_type")) != nil ? "tensor names and config.json" : "tensor names"),
            LayoutFact("depths", listed(depths), from: fromConfig("depths")),
            LayoutFact("hidden_sizes", listed(widths), from: (try? config?.ints("hidden_sizes")) != nil ? "tensor shapes and config.json" : "tensor shapes"),
            LayoutFact("embedding_size", String(stemConv.out), from: (try? config?.int("embedding_size")) != nil ? "tensor shapes and config.json" : "tensor shapes"),
            LayoutFact("downsample_in_first_stage", String(firstStageDown), from: firstSource),
        ]
        if isBottleneck { facts.append(LayoutFact("downsample_in_bottleneck", String(inBottleneck), from: bottleneckSource)) }
        facts += [
            LayoutFact("hidden_act", "\(hiddenActName) (stem and block outputs; ReLU inside blocks)", from: actSource),
            LayoutFact("batchnorm_eps", "1e-05", from: "transformers default"),
            try checkpoint.checkClassCount(classes, head: "classifier.1.weight", layout: description),
        ]

        let build: (inout GraphBuilder) throws -> String = { b in
            var x = b.convNormActivation("x", conv: "\(stem).convolution", norm: "\(stem).normalization", stride: 2, padding: .symmetric(3),
                                         epsilon: 1e-5, activation: hiddenAct)
            x = b.maxPool(x, kernel: 3, stride: 2, padding: 1)
            for block in blocks {
                var out = x
                for n in 0..<block.convs {
                    let kernel = block.convs == 3 && n != 1 ? 1 : 3
                    let l = "\(block.prefix).layer.\(n)"
                    out = b.convNormActivation(out, conv: "\(l).convolution", norm: "\(l).normalization", stride: block.strideOn == n ? block.stride : 1,
                                               padding: .symmetric(kernel / 2), epsilon: 1e-5, activation: n == block.convs - 1 ? .identity : .relu)
                }
                var residual = x
                if block.shortcut {
                    let s = "\(block.prefix).shortcut"
                    residual = b.convNormActivation(x, conv: "\(s).convolution", norm: "\(s).normalization", stride: block.stride, padding: .symmetric(0),
                                                    epsilon: 1e-5, activation: .identity)
                }
                x = b.activation(b.add("Add", [out, residual]), hiddenAct)
            }
            return b.linear(b.globalAveragePoolFlat(x), weight: "classifier.1.weight", bias: names.contains("classifier.1.bias") ? "classifier.1.bias" : nil,
                            name: "classifier.1")
        }
        try checkpoint.requireAllUsed(by: build, layout: description, hint: "only ResNetForImageClassification's modules are read")
        return LayoutReading(family: isBottleneck ? "ResNet (Bottleneck)" : "ResNet (BasicBlock)", naming: "transformers", facts: facts, build: build)
    }
}
