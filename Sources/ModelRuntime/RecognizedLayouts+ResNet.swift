import Safeguards

/// torchvision and timm ResNet (the two share the state-dict names): a `conv1`/`bn1` stem, stages
/// `layerL.B` of BasicBlocks (`conv1`, `conv2`) or Bottlenecks (`conv1` 1×1, `conv2` 3×3, `conv3`
/// 1×1), projection shortcuts `downsample`, global average pooling and `fc`.
///
/// The network, read from names and shapes:
/// - stem: `conv1` 7×7 stride 2, BatchNorm, ReLU, 3×3/2 max-pool; or timm's deep stem (`conv1.0`,
///   `conv1.3`, `conv1.6`: three 3×3 convolutions, the first stride 2, with BatchNorm+ReLU
///   between, then `bn1`, ReLU and the max-pool; `resnet50d` and kin); or a 3×3 stride-1
///   `conv1` without max-pool (the CIFAR variant).
/// - blocks: `out = ReLU(body(x) + shortcut(x))`; the first block of every stage after the first
///   has stride 2, on `conv1` in a BasicBlock and on `conv2` (the 3×3) in a Bottleneck, where
///   torchvision (ResNet v1.5) and timm put it. `conv2`'s groups come from its shape (ResNeXt).
/// - shortcut: identity, or `downsample.0` 1×1 conv with the block's stride + `downsample.1`
///   BatchNorm, or timm's `avg_down` (`downsample.1` conv + `downsample.2` BatchNorm after a 2×2
///   average pool with the stride, `ceil_mode`, padding not counted).
/// - BatchNorm ε 1e-5, ReLU everywhere (the libraries' defaults; a timm config whose
///   `model_args` say otherwise is refused).
enum ResNetLayout: ModelLayout {
    static let description = "a torchvision/timm ResNet"

    /// `model_args` a timm config may hold that do not change the computation or are checked
    /// against the tensors.
    static let harmlessTimmArguments: Set<String> = [
        "layers", "channels", "num_classes", "in_chans", "global_pool", "cardinality", "base_width", "stem_width", "stem_type",
        "avg_down", "block_reduce_first", "down_kernel_size", "drop_rate", "drop_path_rate", "drop_block_rate", "zero_init_last",
        "output_stride", "act_layer", "pretrained_cfg", "pretrained_cfg_overlay",
    ]

    enum Stem { case imagenet, deep, cifar }
    enum Shortcut { case identity, projection, averageDown }

    struct Block {
        var prefix: String
        var bottleneck: Bool
        var stride: Int
        var groups: Int
        var shortcut: Shortcut
    }

    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading? {
        let names = checkpoint.names
        guard names.contains("fc.weight"), names.contains("bn1.weight"), names.contains("layer1.0.conv1.weight"),
              names.contains("conv1.weight") || names.contains("conv1.0.weight") else { return nil }
        var facts: [LayoutFact] = []
        let config = checkpoint.config
        if let config, let architecture = config.architecture { facts.append(LayoutFact("architecture", architecture, from: "config.json")) }
        if let config, config.library == .timm { try checkTimmArguments(config) }

        // Stem.
        let stem: Stem
        var channels: Int
        if names.contains("conv1.0.weight") {
            stem = .deep
            var c = try checkpoint.convolution("conv1.0", input: checkpoint.shapes["conv1.0.weight"]?.dropFirst().first ?? 3)
            try checkpoint.requireBatchNorm("conv1.1", channels: c.out)
            c = try checkpoint.convolution("conv1.3", input: c.out)
            try checkpoint.requireBatchNorm("conv1.4", channels: c.out)
            c = try checkpoint.convolution("conv1.6", input: c.out)
            channels = c.out
            facts.append(LayoutFact("stem", "deep: three 3×3 convs (stride 2, 1, 1), 3×3/2 max-pool", from: "tensor names"))
        } else {
            let c = try checkpoint.convolution("conv1", input: checkpoint.shapes["conv1.weight"]?.dropFirst().first ?? 3)
            guard c.groups == 1, c.kernel == 7 || c.kernel == 3 else {
                throw ModelError.unusableLayout(layout: description, reason: "conv1 is \(c.kernel)×\(c.kernel); a ResNet stem is 7×7 (or 3×3 for CIFAR)")
            }
            stem = c.kernel == 7 ? .imagenet : .cifar
            channels = c.out
            facts.append(LayoutFact("stem", stem == .imagenet ? "7×7/2 conv, 3×3/2 max-pool" : "3×3/1 conv (CIFAR), no max-pool", from: "conv1.weight shape"))
        }
        try checkpoint.requireBatchNorm("bn1", channels: channels)

        // Stages.
        var blocks: [Block] = []
        var depths: [Int] = [], widths: [Int] = []
        var stage = 1
        while names.contains("layer\(stage).0.conv1.weight") {
            let count = checkpoint.indices(after: "layer\(stage).").count
            for index in 0..<count {
                let p = "layer\(stage).\(index)"
                let stride = stage > 1 && index == 0 ? 2 : 1
                let bottleneck = names.contains("\(p).conv3.weight")
                guard bottleneck == names.contains("layer1.0.conv3.weight") else {
                    throw ModelError.unusableLayout(layout: description, reason: "\(p) and layer1.0 are different block types")
                }
                let c1 = try checkpoint.convolution("\(p).conv1", input: channels)
                try checkpoint.requireBatchNorm("\(p).bn1", channels: c1.out)
                let c2 = try checkpoint.convolution("\(p).conv2", input: c1.out)
                try checkpoint.requireBatchNorm("\(p).bn2", channels: c2.out)
                var out = c2.out, groups = 1
                if bottleneck {
                    guard c1.kernel == 1, c2.kernel == 3, c1.groups == 1 else {
                        throw ModelError.shapeMismatch(name: "\(p).conv2.weight", expected: [c1.out, c1.out / max(c2.groups, 1), 3, 3],
                                                       actual: try checkpoint.shape("\(p).conv2.weight"))
                    }
                    groups = c2.groups
                    let c3 = try checkpoint.convolution("\(p).conv3", input: c2.out)
                    try checkpoint.require("\(p).conv3.weight", [nil, c2.out, 1, 1])
                    try checkpoint.requireBatchNorm("\(p).bn3", channels: c3.out)
                    out = c3.out
                } else {
                    try checkpoint.require("\(p).conv1.weight", [nil, channels, 3, 3])
                    try checkpoint.require("\(p).conv2.weight", [nil, c1.out, 3, 3])
                }
                var shortcut = Shortcut.identity
                if names.contains("\(p).downsample.0.weight") {
                    try checkpoint.require("\(p).downsample.0.weight", [out, channels, 1, 1])
                    try checkpoint.requireBatchNorm("\(p).downsample.1", channels: out)
                    shortcut = .projection
                } else if names.contains("\(p).downsample.1.weight") {
                    try checkpoint.require("\(p).downsample.1.weight", [out, channels, 1, 1])
                    try checkpoint.requireBatchNorm("\(p).downsample.2", channels: out)
                    shortcut = .averageDown
                } else if out != channels || stride != 1 {
                    throw ModelError.missingTensor(name: "\(p).downsample.0.weight", expectedShape: [out, channels, 1, 1])
                }
                blocks.append(Block(prefix: p, bottleneck: bottleneck, stride: stride, groups: groups, shortcut: shortcut))
                channels = out
            }
            depths.append(count)
            widths.append(channels)
            stage += 1
        }
        let classes = try checkpoint.linear("fc", input: channels)
        let bottleneck = blocks.first?.bottleneck == true

        // What the config says must be what the tensors hold.
        if let config, config.library == .timm {
            if let layers = try config.ints("layers"), layers != depths {
                throw ModelError.unusableLayout(layout: description, reason: "config.json says layers [\(listed(layers))], the checkpoint has [\(listed(depths))] blocks per stage")
            }
            if let planes = try config.ints("channels"), planes.map({ $0 * (bottleneck ? 4 : 1) }) != widths {
                throw ModelError.unusableLayout(layout: description, reason: "config.json says channels [\(listed(planes))], the checkpoint's stages output [\(listed(widths))]")
            }
        }
        facts += [
            LayoutFact("block", bottleneck ? "Bottleneck (1×1, 3×3, 1×1)" : "BasicBlock (3×3, 3×3)", from: "tensor names"),
            LayoutFact("blocks per stage", listed(depths), from: "tensor names"),
            LayoutFact("stage widths", listed(widths), from: "tensor shapes"),
        ]
        if let groups = blocks.first(where: { $0.groups > 1 })?.groups { facts.append(LayoutFact("groups (3×3 conv)", String(groups), from: "tensor shapes")) }
        if blocks.contains(where: { $0.shortcut == .averageDown }) {
            facts.append(LayoutFact("shortcut", "2×2 average pool + 1×1 conv + BatchNorm (avg_down)", from: "tensor names"))
        }
        facts += [
            LayoutFact("stride 2", bottleneck ? "first block of stages 2–\(depths.count), on conv2 (3×3)" : "first block of stages 2–\(depths.count), on conv1",
                       from: "torchvision/timm default"),
            LayoutFact("activation", "ReLU", from: "torchvision/timm default"),
            LayoutFact("batchnorm_eps", "1e-05", from: "torchvision/timm default"),
            try checkpoint.checkClassCount(classes, head: "fc.weight", layout: description),
        ] + (try checkpoint.timmInputSizeFact())
        let build: (inout GraphBuilder) throws -> String = { b in
            var x: String
            switch stem {
            case .deep:
                x = b.convNormActivation("x", conv: "conv1.0", norm: "conv1.1", stride: 2, padding: .symmetric(1), epsilon: 1e-5, activation: .relu)
                x = b.convNormActivation(x, conv: "conv1.3", norm: "conv1.4", padding: .symmetric(1), epsilon: 1e-5, activation: .relu)
                x = b.convNormActivation(x, conv: "conv1.6", norm: "bn1", padding: .symmetric(1), epsilon: 1e-5, activation: .relu)
                x = b.maxPool(x, kernel: 3, stride: 2, padding: 1)
            case .imagenet:
                x = b.convNormActivation("x", conv: "conv1", norm: "bn1", stride: 2, padding: .symmetric(3), epsilon: 1e-5, activation: .relu)
                x = b.maxPool(x, kernel: 3, stride: 2, padding: 1)
            case .cifar:
                x = b.convNormActivation("x", conv: "conv1", norm: "bn1", padding: .symmetric(1), epsilon: 1e-5, activation: .relu)
            }
            for block in blocks {
                let p = block.prefix
                var out: String
                if block.bottleneck {
                    out = b.convNormActivation(x, conv: "\(p).conv1", norm: "\(p).bn1", padding: .symmetric(0), epsilon: 1e-5, activation: .relu)
                    out = b.convNormActivation(out, conv: "\(p).conv2", norm: "\(p).bn2", stride: block.stride, padding: .symmetric(1), groups: block.groups,
                                               epsilon: 1e-5, activation: .relu)
                    out = b.convNormActivation(out, conv: "\(p).conv3", norm: "\(p).bn3", padding: .symmetric(0), epsilon: 1e-5, activation: .identity)
                } else {
                    out = b.convNormActivation(x, conv: "\(p).conv1", norm: "\(p).bn1", stride: block.stride, padding: .symmetric(1), epsilon: 1e-5, activation: .relu)
                    out = b.convNormActivation(out, conv: "\(p).conv2", norm: "\(p).bn2", padding: .symmetric(1), epsilon: 1e-5, activation: .identity)
                }
                var identity = x
                switch block.shortcut {
                case .identity: break
                case .projection:
                    identity = b.convNormActivation(x, conv: "\(p).downsample.0", norm: "\(p).downsample.1", stride: block.stride, padding: .symmetric(0),
                                                    epsilon: 1e-5, activation: .identity)
                case .averageDown:
                    if block.stride > 1 {
                        identity = b.add("AveragePool", [x], name: "\(p).downsample.0", attributes: [
                            "kernel_shape": .ints([2, 2]), "strides": .ints([block.stride, block.stride]), "pads": .ints([0, 0, 0, 0]),
                            "ceil_mode": .int(1), "count_include_pad": .int(0),
                        ])
                    }
                    identity = b.convNormActivation(identity, conv: "\(p).downsample.1", norm: "\(p).downsample.2", padding: .symmetric(0),
                                                    epsilon: 1e-5, activation: .identity)
                }
                x = b.relu(b.add("Add", [out, identity]))
            }
            return b.linear(b.globalAveragePoolFlat(x), weight: "fc.weight", bias: names.contains("fc.bias") ? "fc.bias" : nil, name: "fc")
        }
        try checkpoint.requireAllUsed(by: build, layout: description,
                                      hint: "squeeze-excitation, attention and other additions to the ResNet blocks are not supported")
        return LayoutReading(family: bottleneck ? "ResNet (Bottleneck)" : "ResNet (BasicBlock)", naming: "torchvision/timm", facts: facts, build: build)
    }

    /// A timm config's `model_args` must not ask for what this layout does not compute.
    static func checkTimmArguments(_ config: ModelConfig) throws {
        if let stride = try config.int("output_stride"), stride != 32 {
            throw ModelError.unusableLayout(layout: description, reason: "config.json sets output_stride \(stride) (dilated stages); only 32 is supported")
        }
        if let activation = try? config.string("act_layer"), activation != "relu" {
            throw ModelError.unusableLayout(layout: description, reason: "config.json sets act_layer '\(Escaping.printable(activation))'; only ReLU is supported")
        }
        if let pool = try config.string("global_pool"), pool != "avg" {
            throw ModelError.unusableLayout(layout: description, reason: "config.json sets global_pool '\(Escaping.printable(pool))'; only 'avg' is supported")
        }
        let arguments = (config.object["model_args"] as? [String: Any])?.keys.sorted() ?? []
        if let other = arguments.first(where: { !harmlessTimmArguments.contains($0) }) {
            throw ModelError.unusableLayout(layout: description, reason: "config.json's model_args set '\(Escaping.printable(other))', which this layout does not read")
        }
    }
}
