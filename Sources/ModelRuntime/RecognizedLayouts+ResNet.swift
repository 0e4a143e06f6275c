/// torchvision and timm ResNet: `conv1`/`bn1` stem (7×7/2 with a 3×3/2 max-pool, or a 3×3/1
/// CIFAR stem without), `layerL.B.conv1…conv2` BasicBlocks or `…conv3` Bottlenecks with
/// `downsample.0/1` shortcuts, global average pooling, `fc`.
enum ResNetLayout: ModelLayout {
    static let description = "a torchvision/timm ResNet"

    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading? {
        let names = checkpoint.names
        guard names.contains("conv1.weight"), names.contains("fc.weight"), names.contains(where: { $0.hasPrefix("layer1.") }) else { return nil }
        let stem = try checkpoint.shape("conv1.weight")
        let imagenetStem = stem[2] == 7
        let bottleneck = names.contains("layer1.0.conv3.weight")
        var blocks: [Int] = []
        while names.contains("layer\(blocks.count + 1).0.conv1.weight") {
            blocks.append(checkpoint.indices(after: "layer\(blocks.count + 1).").count)
        }
        return LayoutReading(family: bottleneck ? "ResNet (Bottleneck)" : "ResNet (BasicBlock)", naming: "torchvision/timm", facts: [
            LayoutFact("blocks per stage", blocks.map(String.init).joined(separator: ","), from: "tensor names"),
            LayoutFact("stem", imagenetStem ? "7×7/2 conv, 3×3/2 max-pool" : "3×3/1 conv (CIFAR), no max-pool", from: "conv1.weight shape"),
            LayoutFact("batchnorm_eps", "1e-05", from: "torchvision/timm default"),
        ]) { b in
            var x = b.conv("x", weight: "conv1.weight", bias: nil, name: "conv1", stride: imagenetStem ? 2 : 1, padding: stem[2] / 2)
            x = b.relu(b.batchNorm(x, prefix: "bn1"))
            if imagenetStem { x = b.maxPool(x, kernel: 3, stride: 2, padding: 1) }
            for (stage, count) in blocks.enumerated() {
                let layer = stage + 1
                for block in 0..<count {
                    let p = "layer\(layer).\(block)"
                    let stride = layer > 1 && block == 0 ? 2 : 1
                    var out: String
                    if names.contains("\(p).conv3.weight") {
                        out = b.relu(b.batchNorm(b.conv(x, weight: "\(p).conv1.weight", bias: nil, name: "\(p).conv1", stride: 1, padding: 0), prefix: "\(p).bn1"))
                        out = b.relu(b.batchNorm(b.conv(out, weight: "\(p).conv2.weight", bias: nil, name: "\(p).conv2", stride: stride, padding: 1), prefix: "\(p).bn2"))
                        out = b.batchNorm(b.conv(out, weight: "\(p).conv3.weight", bias: nil, name: "\(p).conv3", stride: 1, padding: 0), prefix: "\(p).bn3")
                    } else {
                        out = b.relu(b.batchNorm(b.conv(x, weight: "\(p).conv1.weight", bias: nil, name: "\(p).conv1", stride: stride, padding: 1), prefix: "\(p).bn1"))
                        out = b.batchNorm(b.conv(out, weight: "\(p).conv2.weight", bias: nil, name: "\(p).conv2", stride: 1, padding: 1), prefix: "\(p).bn2")
                    }
                    var identity = x
                    if names.contains("\(p).downsample.0.weight") {
                        identity = b.batchNorm(b.conv(x, weight: "\(p).downsample.0.weight", bias: nil, name: "\(p).downsample.0", stride: stride, padding: 0),
                                               prefix: "\(p).downsample.1")
                    }
                    x = b.relu(b.add("Add", [out, identity]))
                }
            }
            x = b.flatten(b.add("GlobalAveragePool", [x]))
            return b.linear(x, weight: "fc.weight", bias: names.contains("fc.bias") ? "fc.bias" : nil, name: "fc")
        }
    }
}
