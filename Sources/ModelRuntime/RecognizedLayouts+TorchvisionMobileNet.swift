import Foundation
import Safeguards

/// torchvision MobileNetV2: `features.0` stem (3×3/2 conv, BatchNorm, ReLU6), 17
/// InvertedResidual blocks `features.i.conv` (`[conv.0 1×1 expand + BN + ReLU6,] k×k depthwise +
/// BN + ReLU6, 1×1 conv + BatchNorm`), `features.18` 1×1 head conv (BatchNorm, ReLU6), global
/// average pooling, `classifier.1`.
///
/// Strides come from torchvision's table (t, c, n, s: 1,16,1,1 · 6,24,2,2 · 6,32,3,2 · 6,64,4,2 ·
/// 6,96,3,1 · 6,160,3,2 · 6,320,1,1), which `width_mult` leaves alone: blocks 2, 4, 7 and 14 (of
/// 1…17) have stride 2. A checkpoint with another block count or an expansion in block 1 is a
/// custom `inverted_residual_setting` whose strides are unknown, and is refused. A block adds its
/// input when its stride is 1 and its widths agree. BatchNorm ε 1e-5 (PyTorch's default).
enum TorchvisionMobileNetV2Layout: ModelLayout {
    static let description = "a torchvision MobileNetV2"

    static let strides = [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]

    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading? {
        let names = checkpoint.names
        guard names.contains("features.0.0.weight"), names.contains("features.1.conv.0.0.weight") else { return nil }
        for name in names where !name.hasPrefix("features.") && !name.hasPrefix("classifier.1.") {
            throw ModelError.unusableLayout(layout: description, reason: "tensor '\(Escaping.printable(name))' has no place in it; only features.* and classifier.1 are read")
        }
        let features = checkpoint.indices(after: "features.")
        guard let head = features.last, features == Array(0...head) else { return nil }
        guard head == strides.count + 1 else {
            throw ModelError.unusableLayout(layout: description, reason: "it has \(head - 1) inverted-residual blocks; torchvision's mobilenet_v2 has 17, "
                + "and the strides of another inverted_residual_setting are unknown")
        }
        let inputChannels = try checkpoint.shape("features.0.0.weight").dropFirst().first ?? 3
        let stem = try checkpoint.convolution("features.0.0", input: inputChannels)
        try checkpoint.require("features.0.0.weight", [stem.out, inputChannels, 3, 3])
        try checkpoint.requireBatchNorm("features.0.1", channels: stem.out)
        var channels = stem.out
        var blocks: [CNNBlock] = [], widths: [Int] = []
        for index in 1..<head {
            let p = "features.\(index).conv"
            let modules = checkpoint.indices(after: "\(p).")
            var steps: [CNNStep] = []
            var width = channels, kernels: [Int] = []
            var module = 0
            while module < modules.count {
                let m = "\(p).\(module)"
                if names.contains("\(m).0.weight") {
                    let c = try checkpoint.convolution("\(m).0", input: width)
                    guard c.groups == 1 || c.groups == width else {
                        throw ModelError.unusableLayout(layout: description, reason: "\(m).0 is a grouped conv that is not depthwise")
                    }
                    try checkpoint.requireBatchNorm("\(m).1", channels: c.out)
                    steps.append(.conv(conv: "\(m).0", norm: "\(m).1", stride: c.groups > 1 ? strides[index - 1] : 1, groups: c.groups,
                                       padding: .symmetric((c.kernel - 1) / 2), activation: .relu6))
                    kernels.append(c.kernel)
                    width = c.out
                    module += 1
                } else {
                    let c = try checkpoint.convolution(m, input: width)
                    try checkpoint.require("\(m).weight", [c.out, width, 1, 1])
                    try checkpoint.requireBatchNorm("\(p).\(module + 1)", channels: c.out)
                    steps.append(.conv(conv: m, norm: "\(p).\(module + 1)", stride: 1, groups: 1, padding: .symmetric(0), activation: .identity))
                    width = c.out
                    module += 2
                    guard module == modules.count else {
                        throw ModelError.unusableLayout(layout: description, reason: "\(p) has modules after its 1×1 projection")
                    }
                }
            }
            let expands = kernels.count == 2
            guard kernels.count == (index == 1 ? 1 : 2), kernels.last == 3, case .conv(_, _, _, _, _, _, .identity, _)? = steps.last else {
                throw ModelError.unusableLayout(layout: description, reason: "\(p) is not torchvision's inverted residual for block \(index) "
                    + "(\(index == 1 ? "no expansion" : "1×1 expansion"), 3×3 depthwise, 1×1 projection)\(expands && index == 1 ? "; another inverted_residual_setting" : "")")
            }
            blocks.append(CNNBlock(steps: steps, residual: strides[index - 1] == 1 && width == channels))
            widths.append(width)
            channels = width
        }
        let headConv = try checkpoint.convolution("features.\(head).0", input: channels)
        try checkpoint.require("features.\(head).0.weight", [headConv.out, channels, 1, 1])
        try checkpoint.requireBatchNorm("features.\(head).1", channels: headConv.out)
        let classes = try checkpoint.linear("classifier.1", input: headConv.out)
        let facts = [
            LayoutFact("blocks", "17 inverted residuals, widths \(listed(widths))", from: "tensor names and shapes"),
            LayoutFact("block strides", listed(strides), from: "torchvision mobilenet_v2 table"),
            LayoutFact("head width", String(headConv.out), from: "tensor shapes"),
            LayoutFact("activation", "ReLU6", from: "torchvision default"),
            LayoutFact("batchnorm_eps", "1e-05", from: "torchvision default"),
            try checkpoint.checkClassCount(classes, head: "classifier.1.weight", layout: description),
        ]
        let build: (inout GraphBuilder) throws -> String = { b in
            var x = b.apply([.conv(conv: "features.0.0", norm: "features.0.1", stride: 2, groups: 1, padding: .symmetric(1), activation: .relu6)], to: "x", epsilon: 1e-5)
            for block in blocks { x = b.apply(block, to: x, epsilon: 1e-5) }
            x = b.apply([.conv(conv: "features.\(head).0", norm: "features.\(head).1", stride: 1, groups: 1, padding: .symmetric(0), activation: .relu6)], to: x, epsilon: 1e-5)
            return b.linear(b.globalAveragePoolFlat(x), weight: "classifier.1.weight", bias: names.contains("classifier.1.bias") ? "classifier.1.bias" : nil,
                            name: "classifier.1")
        }
        try checkpoint.requireAllUsed(by: build, layout: description, hint: "only torchvision's MobileNetV2 modules are read")
        return LayoutReading(family: "MobileNetV2", naming: "torchvision", facts: facts, build: build)
    }
}

/// torchvision MobileNetV3 Large and Small: `features.0` stem (3×3/2 conv, BatchNorm, Hardswish),
/// InvertedResidual blocks `features.i.block` (`[1×1 expand,] k×k depthwise, [SE fc1/fc2,] 1×1
/// project`), the last `features.N` 1×1 conv (BatchNorm, Hardswish), global average pooling, then
/// `classifier.0` Linear, Hardswish, `classifier.3` Linear.
///
/// Strides and activations come from torchvision's `_mobilenet_v3_conf` tables, which
/// `width_mult` leaves alone; the tensors tell Large (15 blocks) from Small (11) and must show the
/// table's kernel sizes and SE placement:
/// - Large: strides 1,2,1,2,1,1,2,1,1,1,1,1,2,1,1; ReLU in blocks 1–6, Hardswish after;
/// - Small: strides 2,2,1,2,1,1,1,1,2,1,1; ReLU in blocks 1–3, Hardswish after.
/// The stride is on the depthwise conv; a block adds its input when its stride is 1 and its widths
/// agree. SE: average pool, `fc1`, ReLU, `fc2`, Hardsigmoid gate. BatchNorm ε 1e-3 (the
/// builders' `norm_layer`).
enum TorchvisionMobileNetV3Layout: ModelLayout {
    static let description = "a torchvision MobileNetV3"

    struct Table {
        var name: String
        var kernels: [Int]
        var squeeze: [Bool]
        var strides: [Int]
        var reluBlocks: Int
    }

    static let tables = [
        Table(name: "MobileNetV3-Large", kernels: [3, 3, 3, 5, 5, 5, 3, 3, 3, 3, 3, 3, 5, 5, 5],
              squeeze: [false, false, false, true, true, true, false, false, false, false, true, true, true, true, true],
              strides: [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1], reluBlocks: 6),
        Table(name: "MobileNetV3-Small", kernels: [3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5],
              squeeze: [true, false, false, true, true, true, true, true, true, true, true],
              strides: [2, 2, 1, 2, 1, 1, 1, 1, 2, 1, 1], reluBlocks: 3),
    ]

    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading? {
        let names = checkpoint.names
        guard names.contains("features.0.0.weight"), names.contains("features.1.block.0.0.weight") else { return nil }
        for name in names where !name.hasPrefix("features.") && !name.hasPrefix("classifier.0.") && !name.hasPrefix("classifier.3.") {
            throw ModelError.unusableLayout(layout: description, reason: "tensor '\(Escaping.printable(name))' has no place in it; "
                + "only features.*, classifier.0 and classifier.3 are read")
        }
        let features = checkpoint.indices(after: "features.")
        guard let head = features.last, features == Array(0...head) else { return nil }
        let inputChannels = try checkpoint.shape("features.0.0.weight").dropFirst().first ?? 3
        let stem = try checkpoint.convolution("features.0.0", input: inputChannels)
        try checkpoint.require("features.0.0.weight", [stem.out, inputChannels, 3, 3])
        try checkpoint.requireBatchNorm("features.0.1", channels: stem.out)
        var channels = stem.out
        var parsed: [TorchvisionEfficientNetLayout.ParsedBlock] = []
        for index in 1..<head {
            let block = try checkpoint.torchvisionBlock("features.\(index).block", input: channels, layout: description)
            guard block.depthwise else {
                throw ModelError.unusableLayout(layout: description, reason: "features.\(index).block has no depthwise conv")
            }
            parsed.append(block)
            channels = block.output
        }
        let kernels = parsed.map { $0.convs.first { $0.groups > 1 }?.kernel ?? 1 }
        let squeeze = parsed.map { $0.squeeze != nil }
        guard let table = tables.first(where: { $0.kernels == kernels && $0.squeeze == squeeze }) else {
            throw ModelError.unusableLayout(layout: description, reason: "its \(parsed.count) blocks (kernels \(listed(kernels))) are not those of "
                + "mobilenet_v3_large or mobilenet_v3_small, so their strides are unknown")
        }
        let headConv = try checkpoint.convolution("features.\(head).0", input: channels)
        try checkpoint.require("features.\(head).0.weight", [headConv.out, channels, 1, 1])
        try checkpoint.requireBatchNorm("features.\(head).1", channels: headConv.out)
        let hidden = try checkpoint.linear("classifier.0", input: headConv.out)
        let classes = try checkpoint.linear("classifier.3", input: hidden)
        let blocks = parsed.enumerated().map { index, block in
            block.plan(stride: table.strides[index], activation: index < table.reluBlocks ? .relu : .hardSwish, squeeze: (.relu, .hardSigmoid))
        }
        let epsilon: Float = 1e-3
        let facts = [
            LayoutFact("variant", table.name, from: "tensor shapes (\(parsed.count) blocks, kernels, SE placement)"),
            LayoutFact("block widths", listed(parsed.map(\.output)), from: "tensor shapes"),
            LayoutFact("block strides", listed(table.strides), from: "torchvision \(table.name) table"),
            LayoutFact("activations", "stem Hardswish; blocks 1–\(table.reluBlocks) ReLU, \(table.reluBlocks + 1)–\(parsed.count) Hardswish; SE: ReLU, Hardsigmoid gate; "
                + "head and classifier Hardswish", from: "torchvision \(table.name) table"),
            LayoutFact("batchnorm_eps", "0.001", from: "torchvision mobilenet_v3 builders"),
            try checkpoint.checkClassCount(classes, head: "classifier.3.weight", layout: description),
        ]
        let build: (inout GraphBuilder) throws -> String = { b in
            var x = b.apply([.conv(conv: "features.0.0", norm: "features.0.1", stride: 2, groups: 1, padding: .symmetric(1), activation: .hardSwish)], to: "x", epsilon: epsilon)
            for block in blocks { x = b.apply(block, to: x, epsilon: epsilon) }
            x = b.apply([.conv(conv: "features.\(head).0", norm: "features.\(head).1", stride: 1, groups: 1, padding: .symmetric(0), activation: .hardSwish)], to: x,
                        epsilon: epsilon)
            x = b.linear(b.globalAveragePoolFlat(x), weight: "classifier.0.weight", bias: names.contains("classifier.0.bias") ? "classifier.0.bias" : nil, name: "classifier.0")
            x = b.activation(x, .hardSwish)
            return b.linear(x, weight: "classifier.3.weight", bias: names.contains("classifier.3.bias") ? "classifier.3.bias" : nil, name: "classifier.3")
        }
        try checkpoint.requireAllUsed(by: build, layout: description, hint: "only torchvision's MobileNetV3 modules are read")
        return LayoutReading(family: "MobileNetV3", naming: "torchvision", facts: facts, build: build)
    }
}
