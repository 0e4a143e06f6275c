import Foundation
import Safeguards

/// torchvision EfficientNet B0–B7 and V2-S/M/L: `features.0` stem (3×3/2 conv, BatchNorm, SiLU),
/// `features.S.B.block` stages of MBConv blocks (`[expand 1×1,] depthwise k×k, SE fc1/fc2,
/// project 1×1`) or, in V2's first stages, FusedMBConv blocks (`k×k[, project 1×1]`), the last
/// `features.N` 1×1 head conv (BatchNorm, SiLU), global average pooling, `classifier.1`.
///
/// Strides are not in the tensors. They come from the stage table of the torchvision builders,
/// which width and depth scaling leave alone: B0–B7 (7 stages, kernels 3,3,5,3,5,5,3, no expansion
/// in stage 1) have strides 1,2,2,2,1,2,1; V2-S (6 stages, FusedMBConv in the first three) has
/// 1,2,2,2,1,2; V2-M/L (7 stages) 1,2,2,2,1,2,1. A stage's stride is on its first block (on the
/// depthwise conv of an MBConv, on the first conv of a FusedMBConv); the other blocks have stride 1.
/// The checkpoint's kernel sizes and block kinds must be the table's (a custom
/// `inverted_residual_setting` whose strides cannot be known is refused). A block adds its input
/// when its stride is 1 and its input and output widths agree (stochastic depth is the identity
/// in eval mode). SE: average pool, `fc1`, SiLU, `fc2`, sigmoid gate.
///
/// BatchNorm ε: the builders' — 1e-5 for efficientnet_b0…b4, 1e-3 for b5…b7 and v2_s/m/l. The
/// variant is the builder whose width and depth multipliers give the checkpoint's stem width,
/// blocks per stage and head width; a checkpoint that matches none (a model built from the class with other
/// multipliers) gets the class default 1e-5, and the facts say so.
enum TorchvisionEfficientNetLayout: ModelLayout {
    static let description = "a torchvision EfficientNet"

    /// A torchvision builder's stage table.
    struct Table {
        var name: String
        var kernels: [Int]
        /// Whether the stage's blocks have a 1×1 expansion (expand ratio ≠ 1).
        var expands: [Bool]
        var fused: [Bool]
        var strides: [Int]
        /// The builders of this table: name, stem width, blocks per stage, head width, BatchNorm ε.
        var builders: [(name: String, stem: Int, depths: [Int], head: Int, epsilon: Float)]
    }

    static let tables: [Table] = {
        let bDepths = [1, 2, 2, 3, 3, 4, 1]
        let scaling: [(String, Double, Double, Float)] = [
            ("efficientnet_b0", 1.0, 1.0, 1e-5), ("efficientnet_b1", 1.0, 1.1, 1e-5), ("efficientnet_b2", 1.1, 1.2, 1e-5),
            ("efficientnet_b3", 1.2, 1.4, 1e-5), ("efficientnet_b4", 1.4, 1.8, 1e-5), ("efficientnet_b5", 1.6, 2.2, 1e-3),
            ("efficientnet_b6", 1.8, 2.6, 1e-3), ("efficientnet_b7", 2.0, 3.1, 1e-3),
        ]
        let b = Table(name: "EfficientNet B0–B7", kernels: [3, 3, 5, 3, 5, 5, 3], expands: [false] + Array(repeating: true, count: 6),
                      fused: Array(repeating: false, count: 7), strides: [1, 2, 2, 2, 1, 2, 1],
                      builders: scaling.map { name, width, depth, epsilon in
                          (name, makeDivisible(32 * width), bDepths.map { Int((Double($0) * depth).rounded(.up)) }, 4 * makeDivisible(320 * width), epsilon)
                      })
        let s = Table(name: "EfficientNetV2-S", kernels: Array(repeating: 3, count: 6), expands: [false, true, true, true, true, true],
                      fused: [true, true, true, false, false, false], strides: [1, 2, 2, 2, 1, 2],
                      builders: [("efficientnet_v2_s", 24, [2, 4, 4, 6, 9, 15], 1280, 1e-3)])
        let ml = Table(name: "EfficientNetV2-M/L", kernels: Array(repeating: 3, count: 7), expands: [false, true, true, true, true, true, true],
                       fused: [true, true, true, false, false, false, false], strides: [1, 2, 2, 2, 1, 2, 1],
                       builders: [("efficientnet_v2_m", 24, [3, 5, 5, 7, 14, 18, 5], 1280, 1e-3), ("efficientnet_v2_l", 32, [4, 7, 7, 10, 19, 25, 7], 1280, 1e-3)])
        return [b, s, ml]
    }()

    /// torchvision's `_make_divisible(v, 8)`.
    static func makeDivisible(_ value: Double, divisor: Int = 8) -> Int {
        var rounded = max(divisor, Int(value + Double(divisor) / 2) / divisor * divisor)
        if Double(rounded) < 0.9 * value { rounded += divisor }
        return rounded
    }

    /// One block as read from the tensors, before the table gives its stride.
    struct ParsedBlock {
        var prefix: String
        var convs: [(module: String, out: Int, groups: Int, kernel: Int)]
        var squeeze: String?
        var order: [Int]
        var input: Int
        var output: Int
        var depthwise: Bool { convs.contains { $0.groups > 1 && $0.groups == $0.out } }
    }

    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading? {
        let names = checkpoint.names
        guard names.contains("features.0.0.weight"), names.contains("features.1.0.block.0.0.weight") else { return nil }
        for name in names where !name.hasPrefix("features.") && !name.hasPrefix("classifier.1.") {
            throw ModelError.unusableLayout(layout: description, reason: "tensor '\(Escaping.printable(name))' has no place in it; only features.* and classifier.1 are read")
        }
        let featureIndices = checkpoint.indices(after: "features.")
        guard let head = featureIndices.last, head >= 2, featureIndices == Array(0...head) else { return nil }
        let inputChannels = try checkpoint.shape("features.0.0.weight").dropFirst().first ?? 3
        let stem = try checkpoint.convolution("features.0.0", input: inputChannels)
        try checkpoint.require("features.0.0.weight", [stem.out, inputChannels, 3, 3])
        try checkpoint.requireBatchNorm("features.0.1", channels: stem.out)

        // Stages, as the tensors have them.
        var channels = stem.out
        var stages: [[ParsedBlock]] = []
        for stage in 1..<head {
            var blocks: [ParsedBlock] = []
            let count = checkpoint.indices(after: "features.\(stage).").count
            for index in 0..<count {
                let block = try checkpoint.torchvisionBlock("features.\(stage).\(index).block", input: channels, layout: description)
                blocks.append(block)
                channels = block.output
            }
            guard !blocks.isEmpty else { throw ModelError.missingTensor(name: "features.\(stage).0.block.0.0.weight", expectedShape: []) }
            stages.append(blocks)
        }
        let headConv = try checkpoint.convolution("features.\(head).0", input: channels)
        try checkpoint.require("features.\(head).0.weight", [headConv.out, channels, 1, 1])
        try checkpoint.requireBatchNorm("features.\(head).1", channels: headConv.out)
        let classes = try checkpoint.linear("classifier.1", input: headConv.out)

        // The stage table these tensors are built from.
        let kernels = stages.map { $0[0].convs.first { $0.kernel > 1 }?.kernel ?? 1 }
        let fused = stages.map { !$0[0].depthwise }
        let expands = stages.map { $0[0].depthwise ? $0[0].convs.count == 3 : $0[0].convs.count == 2 }
        guard let table = tables.first(where: { $0.kernels == kernels && $0.fused == fused && $0.expands == expands }) else {
            throw ModelError.unusableLayout(layout: description, reason: "its stages (kernels \(listed(kernels)), \(fused.filter { $0 }.count) fused) are not those of "
                + "efficientnet_b0…b7 or efficientnet_v2_s/m/l, so their strides are unknown")
        }
        let depths = stages.map(\.count)
        let builder = table.builders.first { $0.stem == stem.out && $0.depths == depths && $0.head == headConv.out }
        let epsilon = builder?.epsilon ?? 1e-5

        var blocks: [CNNBlock] = []
        for (stage, parsed) in stages.enumerated() {
            for (index, block) in parsed.enumerated() {
                let stride = index == 0 ? table.strides[stage] : 1
                blocks.append(block.plan(stride: stride, activation: .silu, squeeze: (.silu, .sigmoid)))
            }
        }
        let facts = [
            LayoutFact("stage table", table.name, from: "tensor shapes (kernels \(listed(kernels)); "
                + "\(fused.contains(true) ? "FusedMBConv in stages \(listed(fused.indices.filter { fused[$0] }.map { $0 + 1 }))" : "all MBConv"))"),
            LayoutFact("variant", builder?.name ?? "custom width/depth (no torchvision builder has stem \(stem.out), blocks \(listed(depths)), head \(headConv.out))",
                       from: "tensor shapes"),
            LayoutFact("blocks per stage", listed(depths), from: "tensor names"),
            LayoutFact("stage widths", listed(stages.map { $0.last!.output }), from: "tensor shapes"),
            LayoutFact("stage strides", listed(table.strides), from: "torchvision stage table"),
            LayoutFact("activation", "SiLU; SE: SiLU, sigmoid gate", from: "torchvision default"),
            LayoutFact("batchnorm_eps", String(format: "%g", epsilon), from: builder.map { "torchvision \($0.name) builder" } ?? "torchvision EfficientNet class default"),
            try checkpoint.checkClassCount(classes, head: "classifier.1.weight", layout: description),
        ]
        let build: (inout GraphBuilder) throws -> String = { b in
            var x = b.apply([.conv(conv: "features.0.0", norm: "features.0.1", stride: 2, groups: 1, padding: .symmetric(1), activation: .silu)], to: "x", epsilon: epsilon)
            for block in blocks { x = b.apply(block, to: x, epsilon: epsilon) }
            x = b.apply([.conv(conv: "features.\(head).0", norm: "features.\(head).1", stride: 1, groups: 1, padding: .symmetric(0), activation: .silu)], to: x, epsilon: epsilon)
            return b.linear(b.globalAveragePoolFlat(x), weight: "classifier.1.weight", bias: names.contains("classifier.1.bias") ? "classifier.1.bias" : nil,
                            name: "classifier.1")
        }
        try checkpoint.requireAllUsed(by: build, layout: description, hint: "only torchvision's EfficientNet modules are read")
        return LayoutReading(family: table.name.hasPrefix("EfficientNetV2") ? "EfficientNetV2" : "EfficientNet", naming: "torchvision", facts: facts, build: build)
    }
}

extension TorchvisionEfficientNetLayout.ParsedBlock {
    /// The block's steps: every conv but the last is followed by `activation` (a block of one
    /// conv, FusedMBConv without expansion, has it too); the stride goes on the depthwise conv,
    /// else on the first; SE as given; residual when the stride is 1 and the widths agree.
    func plan(stride: Int, activation: Activation, squeeze: (Activation, Activation)) -> CNNBlock {
        let strideAt = convs.firstIndex { $0.groups > 1 && $0.groups == $0.out } ?? 0
        var steps: [CNNStep] = []
        var convIndex = 0
        for item in order {
            if item < 0 {
                let se = self.squeeze ?? ""
                steps.append(.squeezeExcite(reduce: "\(se).fc1", expand: "\(se).fc2", activation: squeeze.0, gate: squeeze.1))
                continue
            }
            let conv = convs[convIndex]
            let last = convIndex == convs.count - 1
            steps.append(.conv(conv: "\(conv.module).0", norm: "\(conv.module).1", stride: convIndex == strideAt ? stride : 1, groups: conv.groups,
                               padding: .symmetric((conv.kernel - 1) / 2), activation: last && convs.count > 1 ? .identity : activation))
            convIndex += 1
        }
        return CNNBlock(steps: steps, residual: stride == 1 && input == output)
    }
}

extension LayoutContext {
    /// A torchvision `block` Sequential (EfficientNet's MBConv/FusedMBConv, MobileNetV3's
    /// InvertedResidual): Conv2dNormActivation modules `<prefix>.i.0` (conv) + `<prefix>.i.1`
    /// (BatchNorm) and at most one SqueezeExcitation `<prefix>.i.fc1/fc2`, the widths chained.
    func torchvisionBlock(_ prefix: String, input: Int, layout: String) throws -> TorchvisionEfficientNetLayout.ParsedBlock {
        let modules = indices(after: "\(prefix).")
        guard !modules.isEmpty, modules == Array(0..<modules.count) else {
            throw ModelError.missingTensor(name: "\(prefix).0.0.weight", expectedShape: [-1, input, -1, -1])
        }
        var block = TorchvisionEfficientNetLayout.ParsedBlock(prefix: prefix, convs: [], squeeze: nil, order: [], input: input, output: input)
        var channels = input
        for module in modules {
            let m = "\(prefix).\(module)"
            if has("\(m).fc1.weight") {
                guard block.squeeze == nil else { throw ModelError.unusableLayout(layout: layout, reason: "\(prefix) has two squeeze-excitation modules") }
                let reduced = try require("\(m).fc1.weight", [nil, channels, 1, 1])[0]
                try require("\(m).fc1.bias", [reduced])
                try require("\(m).fc2.weight", [channels, reduced, 1, 1])
                try require("\(m).fc2.bias", [channels])
                block.squeeze = m
                block.order.append(-1)
            } else {
                let conv = try convolution("\(m).0", input: channels)
                guard conv.groups == 1 || (conv.groups == channels && conv.out == channels) else {
                    throw ModelError.unusableLayout(layout: layout, reason: "\(m).0 is a grouped conv (\(conv.groups) groups) that is not depthwise")
                }
                try requireBatchNorm("\(m).1", channels: conv.out)
                block.convs.append((m, conv.out, conv.groups, conv.kernel))
                block.order.append(block.convs.count - 1)
                channels = conv.out
            }
        }
        guard let last = block.convs.last else { throw ModelError.missingTensor(name: "\(prefix).0.0.weight", expectedShape: [-1, input, -1, -1]) }
        guard block.convs.count == 1 || last.kernel == 1 else {
            throw ModelError.unusableLayout(layout: layout, reason: "\(last.module).0 is \(last.kernel)×\(last.kernel); a block's last conv projects 1×1")
        }
        block.output = channels
        return block
    }
}
