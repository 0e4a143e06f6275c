import Foundation
import Safeguards

/// transformers `MobileNetV2ForImageClassification`: `mobilenet_v2.conv_stem` (`first_conv` 3×3/2,
/// `[expand_1x1]`, `conv_3x3` depthwise, `reduce_1x1`), 16 `mobilenet_v2.layer.i` inverted
/// residuals (`expand_1x1`, `conv_3x3` depthwise, `reduce_1x1`), `mobilenet_v2.conv_1x1`, global
/// average pooling, `classifier`; every conv layer is `convolution` + `normalization`
/// (BatchNorm) + `hidden_act`, except the `reduce_1x1` projections (no activation).
///
/// From `config.json` (transformers' defaults without one): `hidden_act` (relu6), `layer_norm_eps`
/// as the BatchNorm ε (1e-3), `tf_padding` (TensorFlow "SAME" padding, the odd extra row/column at
/// the bottom/right; else `k // 2`), `output_stride` (32; 8 or 16 turn later strides into
/// dilations, as transformers does), `first_layer_is_expansion` (whether the stem has
/// `expand_1x1`), and `depth_multiplier`, `min_depth`, `depth_divisible_by`, `expand_ratio`,
/// `finegrained_output`, whose widths must be the tensors'. The layer strides are transformers'
/// fixed table 2,1,2,1,1,2,1,1,1,1,1,1,2,1,1,1 after the stem's stride 2; a layer adds its input
/// when its stride is 1 and its widths agree.
enum TransformersMobileNetV2Layout: ModelLayout {
    static let description = "a transformers MobileNetV2"

    static let baseChannels = [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320]
    static let strides = [2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]

    /// transformers' `make_divisible`.
    static func makeDivisible(_ value: Double, divisor: Int, minimum: Int?) -> Int {
        var rounded = max(minimum ?? divisor, Int(value + Double(divisor) / 2) / divisor * divisor)
        if Double(rounded) < 0.9 * value { rounded += divisor }
        return rounded
    }

    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading? {
        let names = checkpoint.names
        let stem = "mobilenet_v2.conv_stem"
        guard names.contains("\(stem).first_conv.convolution.weight") else { return nil }
        for name in names where !name.hasPrefix("mobilenet_v2.") && !name.hasPrefix("classifier.") {
            throw ModelError.unusableLayout(layout: description, reason: "tensor '\(Escaping.printable(name))' has no place in it")
        }
        let config = checkpoint.config
        if let config, let architecture = config.architecture {
            guard config.library == .transformers, architecture == "mobilenet_v2" else {
                throw ModelError.unusableLayout(layout: description, reason: "config.json describes '\(Escaping.printable(architecture))', not a transformers MobileNetV2")
            }
        }
        var facts: [LayoutFact] = []
        func setting<T: CustomStringConvertible>(_ key: String, _ read: (String) throws -> T?, default value: T, fact: Bool = true) throws -> T {
            let found = try read(key)
            if fact { facts.append(LayoutFact(key, (found ?? value).description, from: found == nil ? "transformers default" : "config.json")) }
            return found ?? value
        }
        let actName = try setting("hidden_act", { try config?.string($0) }, default: "relu6")
        guard let act = Activation(transformersName: actName) else {
            throw ModelError.unusableLayout(layout: description, reason: "hidden_act '\(Escaping.printable(actName))' is not an activation this tool computes")
        }
        let epsilon = Float(try setting("layer_norm_eps", { try config?.double($0) }, default: 0.001))
        let tfPadding = try setting("tf_padding", { try config?.bool($0) }, default: true)
        let outputStride = try setting("output_stride", { try config?.int($0) }, default: 32)
        let firstIsExpansion = try setting("first_layer_is_expansion", { try config?.bool($0) }, default: true)
        let multiplier = try setting("depth_multiplier", { try config?.double($0) }, default: 1.0, fact: false)
        let minDepth = try setting("min_depth", { try config?.int($0) }, default: 8, fact: false)
        let divisor = try setting("depth_divisible_by", { try config?.int($0) }, default: 8, fact: false)
        let expandRatio = try setting("expand_ratio", { try config?.double($0) }, default: 6.0, fact: false)
        let finegrained = try setting("finegrained_output", { try config?.bool($0) }, default: true, fact: false)
        guard [8, 16, 32].contains(outputStride) else {
            throw ModelError.unusableLayout(layout: description, reason: "output_stride \(outputStride) is not 8, 16 or 32")
        }
        let pad: (Int, Int) -> ConvPadding = { kernel, dilation in tfPadding ? .same : .symmetric((kernel - 1) / 2 * dilation) }

        // Widths from the tensors; what the config's multipliers give must agree.
        let inputChannels = try checkpoint.shape("\(stem).first_conv.convolution.weight").dropFirst().first ?? 3
        func layer(_ p: String, input: Int, kernel: Int, depthwise: Bool = false) throws -> Int {
            let c = try checkpoint.convolution("\(p).convolution", input: input)
            try checkpoint.require("\(p).convolution.weight", [depthwise ? input : nil, depthwise ? 1 : input, kernel, kernel])
            try checkpoint.requireBatchNorm("\(p).normalization", channels: c.out)
            return c.out
        }
        var channels = try layer("\(stem).first_conv", input: inputChannels, kernel: 3)
        let stemWidth = channels
        var steps: [CNNStep] = [.conv(conv: "\(stem).first_conv.convolution", norm: "\(stem).first_conv.normalization", stride: 2, groups: 1,
                                      padding: pad(3, 1), activation: act)]
        let hasExpansion = names.contains("\(stem).expand_1x1.convolution.weight")
        guard hasExpansion != firstIsExpansion else {
            throw ModelError.unusableLayout(layout: description, reason: "first_layer_is_expansion is \(firstIsExpansion) "
                + "but the stem \(hasExpansion ? "has" : "has no") expand_1x1")
        }
        if hasExpansion {
            channels = try layer("\(stem).expand_1x1", input: channels, kernel: 1)
            steps.append(.conv(conv: "\(stem).expand_1x1.convolution", norm: "\(stem).expand_1x1.normalization", stride: 1, groups: 1, padding: .symmetric(0), activation: act))
        }
        channels = try layer("\(stem).conv_3x3", input: channels, kernel: 3, depthwise: true)
        steps.append(.conv(conv: "\(stem).conv_3x3.convolution", norm: "\(stem).conv_3x3.normalization", stride: 1, groups: channels, padding: pad(3, 1), activation: act))
        channels = try layer("\(stem).reduce_1x1", input: channels, kernel: 1)
        steps.append(.conv(conv: "\(stem).reduce_1x1.convolution", norm: "\(stem).reduce_1x1.normalization", stride: 1, groups: 1, padding: .symmetric(0), activation: .identity))
        var blocks = [CNNBlock(steps: steps, residual: false)]
        var widths = [channels]

        let layers = checkpoint.indices(after: "mobilenet_v2.layer.")
        guard layers == Array(0..<strides.count) else {
            throw ModelError.unusableLayout(layout: description, reason: "it has \(layers.count) layers; MobileNetV2Model has \(strides.count)")
        }
        var currentStride = 2, dilation = 1, dilated: [Int] = []
        for (index, tableStride) in strides.enumerated() {
            var stride = tableStride, layerDilation = 1
            if currentStride == outputStride {
                stride = 1
                layerDilation = dilation
                dilation *= tableStride
                if layerDilation > 1 { dilated.append(index) }
            } else {
                currentStride *= tableStride
            }
            let p = "mobilenet_v2.layer.\(index)"
            let expanded = try layer("\(p).expand_1x1", input: channels, kernel: 1)
            _ = try layer("\(p).conv_3x3", input: expanded, kernel: 3, depthwise: true)
            let out = try layer("\(p).reduce_1x1", input: expanded, kernel: 1)
            let expectedExpansion = makeDivisible((Double(channels) * expandRatio).rounded(), divisor: divisor, minimum: minDepth)
            guard expanded == expectedExpansion else {
                throw ModelError.unusableLayout(layout: description, reason: "expand_ratio \(expandRatio) gives \(expectedExpansion) channels from \(channels), "
                    + "'\(p).expand_1x1' has \(expanded)")
            }
            var step: [CNNStep] = [
                .conv(conv: "\(p).expand_1x1.convolution", norm: "\(p).expand_1x1.normalization", stride: 1, groups: 1, padding: .symmetric(0), activation: act),
            ]
            // Dilation only on the depthwise conv, as transformers has it.
            step.append(.conv(conv: "\(p).conv_3x3.convolution", norm: "\(p).conv_3x3.normalization", stride: stride, groups: expanded,
                              padding: pad(3, layerDilation), activation: act, dilation: layerDilation))
            step.append(.conv(conv: "\(p).reduce_1x1.convolution", norm: "\(p).reduce_1x1.normalization", stride: 1, groups: 1, padding: .symmetric(0), activation: .identity))
            blocks.append(CNNBlock(steps: step, residual: stride == 1 && out == channels))
            widths.append(out)
            channels = out
        }
        let headWidth = try layer("mobilenet_v2.conv_1x1", input: channels, kernel: 1)
        let classes = try checkpoint.linear("classifier", input: headWidth)

        // The config's width rule (transformers' apply_depth_multiplier) must give these widths.
        let expected = ([32] + baseChannels).map { makeDivisible((Double($0) * multiplier).rounded(), divisor: divisor, minimum: minDepth) }
        let expectedHead = finegrained && multiplier < 1 ? 1280 : makeDivisible((1280 * multiplier).rounded(), divisor: divisor, minimum: minDepth)
        guard expected == [stemWidth] + widths, expectedHead == headWidth else {
            throw ModelError.unusableLayout(layout: description, reason: "depth_multiplier \(multiplier) (min_depth \(minDepth), finegrained_output \(finegrained)) gives widths "
                + "\(listed(expected)), head \(expectedHead); the tensors have \(listed([stemWidth] + widths)), head \(headWidth)")
        }
        let widthSource = config == nil ? "tensor shapes" : "tensor shapes and config.json (depth_multiplier, min_depth, expand_ratio, finegrained_output)"
        facts += [
            LayoutFact("widths", "stem \(stemWidth), layers \(listed(widths)), head \(headWidth)", from: widthSource),
            LayoutFact("layer strides", "2 (stem), " + listed(strides), from: "transformers MobileNetV2Model table"),
        ]
        if !dilated.isEmpty {
            facts.append(LayoutFact("dilated layers", "\(listed(dilated)) (output_stride \(outputStride): later strides become dilations)", from: "config.json"))
        }
        facts += [
            try checkpoint.checkClassCount(classes, head: "classifier.weight", layout: description),
        ]
        let build: (inout GraphBuilder) throws -> String = { b in
            var x = "x"
            for block in blocks { x = b.apply(block, to: x, epsilon: epsilon) }
            x = b.apply([.conv(conv: "mobilenet_v2.conv_1x1.convolution", norm: "mobilenet_v2.conv_1x1.normalization", stride: 1, groups: 1, padding: .symmetric(0),
                               activation: act)], to: x, epsilon: epsilon)
            return b.linear(b.globalAveragePoolFlat(x), weight: "classifier.weight", bias: names.contains("classifier.bias") ? "classifier.bias" : nil, name: "classifier")
        }
        try checkpoint.requireAllUsed(by: build, layout: description, hint: "only MobileNetV2ForImageClassification's modules are read")
        return LayoutReading(family: "MobileNetV2", naming: "transformers", facts: facts, build: build)
    }
}
