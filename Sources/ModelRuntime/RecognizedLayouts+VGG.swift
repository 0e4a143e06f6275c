/// torchvision VGG and VGG-BN: `features.N.weight` 4-D convolutions (3×3, padding 1), each
/// followed by ReLU (and BatchNorm at `N+1` for VGG-BN), a 2×2 max-pool wherever the indices skip
/// one, and `classifier.N.weight` Linear layers with ReLU between them.
///
/// Only flat names are VGG's (`features.N.<parameter>`): MobileNet, EfficientNet and ConvNeXt also
/// use `features`/`classifier`, always with nested module names (`features.1.conv.0.0.weight`).
enum VGGLayout: ModelLayout {
    static let description = "a torchvision VGG"

    static let parameters: Set<Substring> = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]

    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading? {
        let names = checkpoint.names, shapes = checkpoint.shapes
        guard names.contains(where: { $0.hasPrefix("features.") }), names.contains(where: { $0.hasPrefix("classifier.") }) else { return nil }
        for name in names {
            let parts = name.split(separator: ".")
            guard parts.count == 3, parts[0] == "features" || parts[0] == "classifier", Int(parts[1]) != nil, parameters.contains(parts[2]) else {
                return nil
            }
        }
        let features = checkpoint.indices(after: "features.").filter { shapes["features.\($0).weight"]?.count == 4 }
        let classifier = checkpoint.indices(after: "classifier.").filter { shapes["classifier.\($0).weight"]?.count == 2 }
        guard !features.isEmpty, let first = classifier.first, let inFeatures = shapes["classifier.\(first).weight"]?[1] else { return nil }
        guard let sample = checkpoint.sampleShape, sample.count == 3 else {
            // Recognised; only building needs the input shape.
            return LayoutReading(family: "VGG", naming: "torchvision", facts: [
                LayoutFact("convolutions", String(features.count), from: "tensor names"),
                LayoutFact("input shape", "needed to place the last max-pool; comes from the data", from: "-"),
            ]) { _ in throw ModelError.unrecognizedLayout(reason: "a VGG needs the input shape, which comes from the data") }
        }
        // The plan: per conv its index and whether a pool precedes it and a BatchNorm follows.
        var plan: [(index: Int, poolBefore: Bool, batchNorm: Bool)] = []
        var spatial = Array(sample.dropFirst()), channels = 0, position = 0
        for index in features {
            let pool = position > 0 && index > position
            if pool { spatial = spatial.map { $0 / 2 } }
            let batchNorm = names.contains("features.\(index + 1).running_mean")
            plan.append((index, pool, batchNorm))
            channels = try checkpoint.shape("features.\(index).weight")[0]
            position = index + (batchNorm ? 3 : 2)
        }
        // torchvision VGG ends its features with a max-pool; find where the flattened size matches.
        let finalPool: Bool
        if channels * (spatial[0] / 2) * (spatial[1] / 2) == inFeatures {
            finalPool = true
        } else if channels * spatial[0] * spatial[1] == inFeatures {
            finalPool = false
        } else if channels * 49 == inFeatures {
            throw ModelError.unrecognizedLayout(reason: "a VGG with adaptive 7×7 average pooling")
        } else {
            throw ModelError.unrecognizedLayout(reason: "VGG features give \(channels)×\(spatial[0])×\(spatial[1]) values but classifier.\(first) takes \(inFeatures)")
        }
        let batchNorms = plan.filter(\.batchNorm).count
        return LayoutReading(family: batchNorms > 0 ? "VGG-BN" : "VGG", naming: "torchvision", sampleShape: sample, facts: [
            LayoutFact("convolutions", String(plan.count), from: "tensor names"),
            LayoutFact("max-pools", String(plan.filter(\.poolBefore).count + (finalPool ? 1 : 0)), from: "gaps in the feature indices and classifier.\(first)'s input width"),
            LayoutFact("batchnorm_eps", batchNorms > 0 ? "1e-05" : "-", from: "torchvision default"),
        ]) { b in
            var x = "x"
            for step in plan {
                if step.poolBefore { x = b.maxPool(x, kernel: 2, stride: 2, padding: 0) }
                let prefix = "features.\(step.index)"
                let kernel = try checkpoint.shape("\(prefix).weight")[2]
                x = b.conv(x, weight: "\(prefix).weight", bias: names.contains("\(prefix).bias") ? "\(prefix).bias" : nil,
                           name: prefix, stride: 1, padding: kernel / 2)
                if step.batchNorm { x = b.batchNorm(x, prefix: "features.\(step.index + 1)") }
                x = b.relu(x)
            }
            if finalPool { x = b.maxPool(x, kernel: 2, stride: 2, padding: 0) }
            x = b.flatten(x)
            for (k, index) in classifier.enumerated() {
                let prefix = "classifier.\(index)"
                x = b.linear(x, weight: "\(prefix).weight", bias: names.contains("\(prefix).bias") ? "\(prefix).bias" : nil, name: prefix)
                if k < classifier.count - 1 { x = b.relu(x) }
            }
            return x
        }
    }
}
