import Foundation
import Safeguards

/// timm's EfficientNet and MobileNetV3 classes (`efficientnet_b0`…`b8`, `efficientnet_lite*`,
/// `mobilenetv2_*`, `mobilenetv3_large_*`/`small_*`, their `tf_` ports, `test_efficientnet`):
/// `conv_stem` + `bn1`, stages `blocks.S.B`, then either `conv_head` + `bn2` and global pooling
/// (EfficientNet class) or global pooling then `conv_head` with a bias and no BatchNorm
/// (MobileNetV3 class), then `classifier`.
///
/// Block kinds (timm's `_efficientnet_blocks.py`), told apart by their tensor names:
/// - `ds` DepthwiseSeparable: `conv_dw` k×k depthwise (stride) + `bn1` + act, [`se`], `conv_pw` 1×1 + `bn2`;
/// - `ir` InvertedResidual: `conv_pw` 1×1 + `bn1` + act, `conv_dw` (stride) + `bn2` + act, [`se`], `conv_pwl` + `bn3`;
/// - `er` EdgeResidual: `conv_exp` k×k full conv (stride) + `bn1` + act, [`se`], `conv_pwl` + `bn2`;
/// - `cn` ConvBnAct: `conv` + `bn1` + act.
/// A block adds its input when its stride is 1 and its widths agree (`cn` only where the table
/// says `skip`). SE (`se.conv_reduce`, `se.conv_expand`): mean over H×W, 1×1, act, 1×1, gate.
///
/// Strides, activations and the SE gate are not in the tensors: they come from the stage table
/// of the timm generator the architecture belongs to (`config.json`'s `architecture`, else the
/// one whose block kinds, kernels and SE placement the tensors show). Width and depth multipliers
/// change widths and block counts, never the per-stage strides; a stage's stride is on its first
/// block. `tf_` ports use TensorFlow "SAME" padding and BatchNorm ε 1e-3; the others symmetric
/// padding `k // 2` and ε 1e-5 (`model_args` `bn_eps`/`pad_type` override both).
enum TimmEfficientNetLayout: ModelLayout {
    static let description = "a timm EfficientNet/MobileNet"

    /// A timm generator's stage table.
    struct Table {
        var name: String
        var family: String
        /// Registered architectures built from it (without the `tf_` prefix).
        var architectures: Set<String>
        var kinds: [String]
        var kernels: [Int]
        var squeeze: [Bool]
        var strides: [Int]
        var activations: [Activation]
        var stemActivation: Activation
        /// MobileNetV3 class: pool, `conv_head` (bias), activation; else `conv_head`, `bn2`, activation, pool.
        var poolBeforeHead: Bool
        /// SE activation (`nil`: the block's) and gate.
        var squeezeActivation: Activation?
        var squeezeGate: Activation
        var cnSkip: Bool = false
    }

    static let tables: [Table] = {
        let sevenStrides = [1, 2, 2, 2, 1, 2, 1]
        let efficientNet = Table(name: "EfficientNet B0–B8/L2", family: "EfficientNet",
                                 architectures: Set((0...8).map { "efficientnet_b\($0)" } + ["efficientnet_l2"]),
                                 kinds: ["ds"] + Array(repeating: "ir", count: 6), kernels: [3, 3, 5, 3, 5, 5, 3], squeeze: Array(repeating: true, count: 7),
                                 strides: sevenStrides, activations: Array(repeating: .silu, count: 7), stemActivation: .silu, poolBeforeHead: false,
                                 squeezeActivation: nil, squeezeGate: .sigmoid)
        var lite = efficientNet
        lite.name = "EfficientNet-Lite0–4"
        lite.architectures = Set((0...4).map { "efficientnet_lite\($0)" })
        lite.squeeze = Array(repeating: false, count: 7)
        lite.activations = Array(repeating: .relu6, count: 7)
        lite.stemActivation = .relu6
        var mobileNetV2 = lite
        mobileNetV2.name = "MobileNetV2"
        mobileNetV2.family = "MobileNetV2"
        mobileNetV2.architectures = ["mobilenetv2_035", "mobilenetv2_050", "mobilenetv2_075", "mobilenetv2_100", "mobilenetv2_140", "mobilenetv2_110d", "mobilenetv2_120d"]
        mobileNetV2.kernels = Array(repeating: 3, count: 7)
        let test = Table(name: "test_efficientnet", family: "EfficientNet", architectures: ["test_efficientnet"],
                         kinds: ["cn", "er", "er", "ir", "ir"], kernels: [3, 3, 3, 3, 3], squeeze: [false, false, false, true, true],
                         strides: [1, 2, 2, 2, 2], activations: Array(repeating: .silu, count: 5), stemActivation: .silu, poolBeforeHead: false,
                         squeezeActivation: nil, squeezeGate: .sigmoid, cnSkip: true)
        let large = Table(name: "MobileNetV3-Large", family: "MobileNetV3", architectures: ["mobilenetv3_large_075", "mobilenetv3_large_100", "mobilenetv3_large_150d"],
                          kinds: ["ds", "ir", "ir", "ir", "ir", "ir", "cn"], kernels: [3, 3, 5, 3, 3, 5, 1], squeeze: [false, false, true, false, true, true, false],
                          strides: sevenStrides, activations: [.relu, .relu, .relu, .hardSwish, .hardSwish, .hardSwish, .hardSwish],
                          stemActivation: .hardSwish, poolBeforeHead: true, squeezeActivation: .relu, squeezeGate: .hardSigmoid)
        let small = Table(name: "MobileNetV3-Small", family: "MobileNetV3", architectures: ["mobilenetv3_small_050", "mobilenetv3_small_075", "mobilenetv3_small_100"],
                          kinds: ["ds", "ir", "ir", "ir", "ir", "cn"], kernels: [3, 3, 5, 5, 5, 1], squeeze: [true, false, true, true, true, false],
                          strides: [2, 2, 2, 1, 2, 1], activations: [.relu, .relu, .hardSwish, .hardSwish, .hardSwish, .hardSwish],
                          stemActivation: .hardSwish, poolBeforeHead: true, squeezeActivation: .relu, squeezeGate: .hardSigmoid)
        var largeMinimal = large
        largeMinimal.name = "MobileNetV3-Large minimal"
        largeMinimal.architectures = ["mobilenetv3_large_minimal_100"]
        largeMinimal.kernels = [3, 3, 3, 3, 3, 3, 1]
        largeMinimal.squeeze = Array(repeating: false, count: 7)
        largeMinimal.activations = Array(repeating: .relu, count: 7)
        largeMinimal.stemActivation = .relu
        var smallMinimal = small
        smallMinimal.name = "MobileNetV3-Small minimal"
        smallMinimal.architectures = ["mobilenetv3_small_minimal_100"]
        smallMinimal.kernels = [3, 3, 3, 3, 3, 1]
        smallMinimal.squeeze = Array(repeating: false, count: 6)
        smallMinimal.activations = Array(repeating: .relu, count: 6)
        smallMinimal.stemActivation = .relu
        return [efficientNet, lite, mobileNetV2, test, large, small, largeMinimal, smallMinimal]
    }()

    static let topLevel: Set<String> = ["conv_stem", "bn1", "blocks", "conv_head", "bn2", "classifier"]

    /// One block as the tensors show it.
    struct ParsedBlock {
        var prefix: String
        var kind: String
        var kernel: Int
        var squeeze: Bool
        var input: Int
        var output: Int
        /// The width of the depthwise conv (`ds`, `ir`).
        var depthwise: Int
    }

    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading? {
        let names = checkpoint.names
        guard names.contains("conv_stem.weight"), names.contains("classifier.weight"), names.contains(where: { $0.hasPrefix("blocks.0.0.") }) else { return nil }
        for name in names where !topLevel.contains(String(name.prefix { $0 != "." })) {
            throw ModelError.unusableLayout(layout: description, reason: "tensor '\(Escaping.printable(name))' has no place in it")
        }
        let config = checkpoint.config
        let mobileNetV3Class = names.contains("conv_head.bias") && !names.contains("bn2.weight")

        // Stem and blocks, from the tensors.
        let inputChannels = try checkpoint.shape("conv_stem.weight").dropFirst().first ?? 3
        let stem = try checkpoint.convolution("conv_stem", input: inputChannels)
        try checkpoint.require("conv_stem.weight", [stem.out, inputChannels, 3, 3])
        try checkpoint.requireBatchNorm("bn1", channels: stem.out)
        var channels = stem.out
        var stages: [[ParsedBlock]] = []
        for stage in checkpoint.indices(after: "blocks.") {
            guard stage == stages.count else { throw ModelError.missingTensor(name: "blocks.\(stages.count).0.bn1.weight", expectedShape: []) }
            var blocks: [ParsedBlock] = []
            for index in checkpoint.indices(after: "blocks.\(stage).") {
                guard index == blocks.count else { throw ModelError.missingTensor(name: "blocks.\(stage).\(blocks.count).bn1.weight", expectedShape: []) }
                let block = try parseBlock(checkpoint, "blocks.\(stage).\(index)", input: channels)
                blocks.append(block)
                channels = block.output
            }
            stages.append(blocks)
        }
        var features = channels
        if names.contains("conv_head.weight") {
            let head = try checkpoint.convolution("conv_head", input: channels)
            try checkpoint.require("conv_head.weight", [head.out, channels, 1, 1])
            if mobileNetV3Class { try checkpoint.require("conv_head.bias", [head.out]) } else { try checkpoint.requireBatchNorm("bn2", channels: head.out) }
            features = head.out
        }
        let classes = try checkpoint.linear("classifier", input: features)

        // The generator's table: the config's architecture, else the one the tensors fit.
        let kinds = stages.map { $0[0].kind }, kernels = stages.map { $0[0].kernel }, squeeze = stages.map { $0.contains(where: \.squeeze) }
        func fits(_ table: Table) -> Bool {
            table.kinds == kinds && table.kernels == kernels && table.squeeze == squeeze && table.poolBeforeHead == mobileNetV3Class
        }
        let table: Table
        let tableSource: String
        let architecture = try config.flatMap { $0.library == .timm ? $0.architecture : nil }
        let tfPort = architecture?.hasPrefix("tf_") == true
        if let architecture {
            let base = tfPort ? String(architecture.dropFirst(3)) : architecture
            guard let known = tables.first(where: { $0.architectures.contains(base) }) else {
                throw ModelError.unusableLayout(layout: description, reason: "config.json's architecture '\(Escaping.printable(architecture))' is not one whose stage table "
                    + "(strides, activations) this tool knows; "
                    + "known: efficientnet_b0…b8/l2, efficientnet_lite0…4, mobilenetv2_*, mobilenetv3_large/small_*, test_efficientnet and their tf_ ports")
            }
            guard fits(known) else {
                throw ModelError.unusableLayout(layout: description, reason: "config.json says '\(Escaping.printable(architecture))' "
                    + "but the blocks (kinds \(kinds.joined(separator: ",")), "
                    + "kernels \(listed(kernels))) are not its stages (\(known.kinds.joined(separator: ",")), kernels \(listed(known.kernels)))")
            }
            table = known
            tableSource = "config.json architecture"
        } else {
            let candidates = tables.filter(fits)
            guard let first = candidates.first else {
                throw ModelError.unusableLayout(layout: description, reason: "the blocks (kinds \(kinds.joined(separator: ",")), kernels \(listed(kernels))) "
                    + "fit no timm stage table this tool knows, so their strides are unknown; put timm's config.json beside the weights")
            }
            // Lite and MobileNetV2 differ only in kernels, which the tensors show; candidates left are equivalent.
            table = first
            tableSource = "tensor shapes (no config.json)"
        }

        // Padding and BatchNorm ε: tf_ ports are TensorFlow's, unless model_args say otherwise.
        var epsilon: Float = tfPort ? 1e-3 : 1e-5
        var epsilonSource = tfPort ? "timm tf_ port default" : (config == nil ? "timm default (no config.json)" : "timm default")
        if let value = try config?.double("bn_eps") { epsilon = Float(value); epsilonSource = "config.json" }
        var padding: ConvPadding? = tfPort ? .same : nil
        var paddingSource = tfPort ? "timm tf_ port default" : epsilonSource
        if let value = try config?.string("pad_type") {
            guard value == "same" || value == "" else {
                throw ModelError.unusableLayout(layout: description, reason: "config.json sets pad_type '\(Escaping.printable(value))'; only '' and 'same' are supported")
            }
            padding = value == "same" ? .same : nil
            paddingSource = "config.json"
        }
        if let stride = try config?.int("output_stride"), stride != 32 {
            throw ModelError.unusableLayout(layout: description, reason: "config.json sets output_stride \(stride) (dilated stages); only 32 is supported")
        }
        func pad(_ kernel: Int) -> ConvPadding { padding ?? .symmetric((kernel - 1) / 2) }

        var blocks: [CNNBlock] = []
        for (stage, parsed) in stages.enumerated() {
            let act = table.activations[stage]
            for (index, block) in parsed.enumerated() {
                let stride = index == 0 ? table.strides[stage] : 1
                blocks.append(plan(block, stride: stride, activation: act, squeeze: (table.squeezeActivation ?? act, table.squeezeGate), pad: pad,
                                   cnSkip: table.cnSkip))
            }
        }
        let headActivation = table.activations.last ?? .silu
        var facts: [LayoutFact] = []
        if let architecture { facts.append(LayoutFact("architecture", architecture, from: "config.json")) }
        facts += [
            LayoutFact("stage table", table.name, from: tableSource),
            LayoutFact("block kinds", kinds.joined(separator: ","), from: "tensor names"),
            LayoutFact("blocks per stage", listed(stages.map(\.count)), from: "tensor names"),
            LayoutFact("stage widths", listed(stages.map { $0.last!.output }), from: "tensor shapes"),
            LayoutFact("stage strides", listed(table.strides), from: "timm \(table.name) stage table"),
            LayoutFact("activations", stageActivations(table), from: "timm \(table.name) stage table"),
            squeeze.contains(true)
                ? LayoutFact("squeeze-excitation", "\(table.squeezeActivation.map(\.description) ?? "the block's activation"), \(table.squeezeGate) gate, in stages "
                    + listed(squeeze.indices.filter { squeeze[$0] }), from: "tensor names and the stage table")
                : LayoutFact("squeeze-excitation", "none", from: "tensor names"),
            LayoutFact("head", mobileNetV3Class ? "global pool, conv_head (bias) + \(headActivation)" : "conv_head + bn2 + \(headActivation), global pool",
                       from: "tensor names"),
            LayoutFact("padding", padding == .same ? "TensorFlow SAME" : "symmetric, k // 2", from: paddingSource),
            LayoutFact("batchnorm_eps", String(format: "%g", epsilon), from: epsilonSource),
            try checkpoint.checkClassCount(classes, head: "classifier.weight", layout: description),
        ]
        facts += try checkpoint.timmInputSizeFact()
        let hasHead = names.contains("conv_head.weight")
        let build: (inout GraphBuilder) throws -> String = { b in
            var x = b.apply([.conv(conv: "conv_stem", norm: "bn1", stride: 2, groups: 1, padding: pad(3), activation: table.stemActivation)], to: "x", epsilon: epsilon)
            for block in blocks { x = b.apply(block, to: x, epsilon: epsilon) }
            if mobileNetV3Class {
                x = b.add("GlobalAveragePool", [x])
                if hasHead {
                    x = b.apply([.conv(conv: "conv_head", norm: nil, bias: true, stride: 1, groups: 1, padding: .symmetric(0), activation: headActivation)],
                                to: x, epsilon: epsilon)
                }
                x = b.flatten(x)
            } else {
                if hasHead {
                    x = b.apply([.conv(conv: "conv_head", norm: "bn2", stride: 1, groups: 1, padding: .symmetric(0), activation: headActivation)], to: x, epsilon: epsilon)
                }
                x = b.globalAveragePoolFlat(x)
            }
            return b.linear(x, weight: "classifier.weight", bias: names.contains("classifier.bias") ? "classifier.bias" : nil, name: "classifier")
        }
        try checkpoint.requireAllUsed(by: build, layout: description, hint: "the block has modules this layout does not read (ds, ir, er and cn blocks with SE are supported)")
        return LayoutReading(family: table.family, naming: "timm", facts: facts, build: build)
    }

    /// The kind, kernel, SE and widths of the block at `p`, its shapes checked.
    static func parseBlock(_ checkpoint: LayoutContext, _ p: String, input: Int) throws -> ParsedBlock {
        let names = checkpoint.names
        var channels = input
        func conv(_ module: String, norm: String, kernel: Int?, depthwise: Bool = false) throws -> Int {
            let c = try checkpoint.convolution("\(p).\(module)", input: channels)
            let expected: [Int?] = [depthwise ? channels : nil, depthwise ? 1 : channels, kernel, kernel]
            try checkpoint.require("\(p).\(module).weight", expected)
            try checkpoint.requireBatchNorm("\(p).\(norm)", channels: c.out)
            channels = c.out
            return c.kernel
        }
        func squeezeExcite() throws -> Bool {
            guard names.contains("\(p).se.conv_reduce.weight") else { return false }
            let reduced = try checkpoint.require("\(p).se.conv_reduce.weight", [nil, channels, 1, 1])[0]
            try checkpoint.require("\(p).se.conv_reduce.bias", [reduced])
            try checkpoint.require("\(p).se.conv_expand.weight", [channels, reduced, 1, 1])
            try checkpoint.require("\(p).se.conv_expand.bias", [channels])
            return true
        }
        let kind: String, kernel: Int, squeeze: Bool
        var depthwise = 0
        if names.contains("\(p).conv_pwl.weight") && names.contains("\(p).conv_dw.weight") {
            kind = "ir"
            _ = try conv("conv_pw", norm: "bn1", kernel: 1)
            depthwise = channels
            kernel = try conv("conv_dw", norm: "bn2", kernel: nil, depthwise: true)
            squeeze = try squeezeExcite()
            _ = try conv("conv_pwl", norm: "bn3", kernel: 1)
        } else if names.contains("\(p).conv_dw.weight") {
            kind = "ds"
            depthwise = channels
            kernel = try conv("conv_dw", norm: "bn1", kernel: nil, depthwise: true)
            squeeze = try squeezeExcite()
            _ = try conv("conv_pw", norm: "bn2", kernel: 1)
        } else if names.contains("\(p).conv_exp.weight") {
            kind = "er"
            kernel = try conv("conv_exp", norm: "bn1", kernel: nil)
            squeeze = try squeezeExcite()
            _ = try conv("conv_pwl", norm: "bn2", kernel: 1)
        } else if names.contains("\(p).conv.weight") {
            kind = "cn"
            kernel = try conv("conv", norm: "bn1", kernel: nil)
            squeeze = false
        } else {
            throw ModelError.unusableLayout(layout: description, reason: "\(p) is none of the block kinds ds (conv_dw, conv_pw), ir (conv_pw, conv_dw, conv_pwl), "
                + "er (conv_exp, conv_pwl), cn (conv)")
        }
        return ParsedBlock(prefix: p, kind: kind, kernel: kernel, squeeze: squeeze, input: input, output: channels, depthwise: depthwise)
    }

    /// The block's steps (see the type's documentation).
    static func plan(_ block: ParsedBlock, stride: Int, activation act: Activation, squeeze: (Activation, Activation),
                     pad: (Int) -> ConvPadding, cnSkip: Bool) -> CNNBlock {
        let p = block.prefix
        let se: [CNNStep] = block.squeeze ? [.squeezeExcite(reduce: "\(p).se.conv_reduce", expand: "\(p).se.conv_expand", activation: squeeze.0, gate: squeeze.1)] : []
        let k = block.kernel
        let steps: [CNNStep]
        switch block.kind {
        case "ir":
            steps = [.conv(conv: "\(p).conv_pw", norm: "\(p).bn1", stride: 1, groups: 1, padding: .symmetric(0), activation: act),
                     .conv(conv: "\(p).conv_dw", norm: "\(p).bn2", stride: stride, groups: block.depthwise, padding: pad(k), activation: act)]
                + se + [.conv(conv: "\(p).conv_pwl", norm: "\(p).bn3", stride: 1, groups: 1, padding: .symmetric(0), activation: .identity)]
        case "ds":
            steps = [.conv(conv: "\(p).conv_dw", norm: "\(p).bn1", stride: stride, groups: block.depthwise, padding: pad(k), activation: act)]
                + se + [.conv(conv: "\(p).conv_pw", norm: "\(p).bn2", stride: 1, groups: 1, padding: .symmetric(0), activation: .identity)]
        case "er":
            steps = [.conv(conv: "\(p).conv_exp", norm: "\(p).bn1", stride: stride, groups: 1, padding: pad(k), activation: act)]
                + se + [.conv(conv: "\(p).conv_pwl", norm: "\(p).bn2", stride: 1, groups: 1, padding: .symmetric(0), activation: .identity)]
        default:
            steps = [.conv(conv: "\(p).conv", norm: "\(p).bn1", stride: stride, groups: 1, padding: pad(k), activation: act)]
        }
        let residual = stride == 1 && block.input == block.output && (block.kind != "cn" || cnSkip)
        return CNNBlock(steps: steps, residual: residual)
    }

    /// `ReLU ×3, Hardswish ×4`.
    static func stageActivations(_ table: Table) -> String {
        var runs: [(Activation, Int)] = []
        for act in table.activations {
            if let last = runs.last, last.0 == act { runs[runs.count - 1].1 += 1 } else { runs.append((act, 1)) }
        }
        return "stem \(table.stemActivation); stages " + runs.map { "\($0.0) ×\($0.1)" }.joined(separator: ", ")
    }
}
