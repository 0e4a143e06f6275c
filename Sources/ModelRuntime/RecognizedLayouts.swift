import TensorCore
import WeightFormats

/// Architectures recognised from PyTorch state-dict names, so that a bare checkpoint runs
/// without `--arch`: a plain MLP, torchvision VGG(-BN) and torchvision ResNet.
public enum RecognizedLayouts {
    /// Builds the model a checkpoint's names describe.
    /// - Parameter sampleShape: the shape of one input (from the data), which VGG needs to place
    ///   its last pooling layer.
    public static func model(from checkpoint: any CheckpointReader, sampleShape: [Int]?) throws -> Model {
        let names = Set(checkpoint.tensors.map(\.name))
        let shapes = Dictionary(checkpoint.tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        var builder: GraphBuilder
        var output: String
        var layoutName: String
        if names.contains("conv1.weight") && names.contains("fc.weight") && names.contains(where: { $0.hasPrefix("layer1.") }) {
            (builder, output) = try resnet(names: names, shapes: shapes)
            layoutName = "torchvision ResNet"
        } else if names.contains(where: { $0.hasPrefix("features.") }) && names.contains(where: { $0.hasPrefix("classifier.") }) {
            (builder, output) = try vgg(names: names, shapes: shapes, sampleShape: sampleShape)
            layoutName = "torchvision VGG"
        } else if let chain = mlpChain(names: names, shapes: shapes) {
            (builder, output) = mlp(chain)
            layoutName = "MLP"
        } else {
            throw ModelError.unrecognizedLayout(reason: "neither an MLP chain of N.weight/N.bias, a torchvision ResNet nor a VGG")
        }
        // Load the parameters the graph uses; report what it does not.
        var used = Set<String>()
        for node in builder.nodes { for input in node.inputs where names.contains(input) { used.insert(input) } }
        for name in used.sorted() {
            guard let info = checkpoint.info(named: name) else { throw ModelError.missingTensor(name: name, expectedShape: []) }
            builder.parameters[name] = try TensorLoading.floatTensor(checkpoint, info)
        }
        let unused = names.subtracting(used).sorted()
        var warnings: [String] = []
        if !unused.isEmpty { warnings.append(Model.unusedTensorsWarning(unused)) }
        return Model(graph: builder.graph(input: "x", output: output), source: .recognizedLayout(layoutName),
                     inputName: "x", outputName: output, sampleShape: sampleShape, warnings: warnings)
    }

    // MARK: MLP

    /// `[prefix]N.weight` (2-D) and optional `.bias` for increasing N, each layer's input the
    /// previous layer's output.
    static func mlpChain(names: Set<String>, shapes: [String: [Int]]) -> [(weight: String, bias: String?)]? {
        var layers: [(Int, String, String?)] = []
        for name in names where name.hasSuffix(".weight") {
            let stem = String(name.dropLast(".weight".count))
            let last = stem.split(separator: ".").last.map(String.init) ?? stem
            guard let index = Int(last), shapes[name]?.count == 2 else { return nil }
            let bias = names.contains(stem + ".bias") ? stem + ".bias" : nil
            layers.append((index, name, bias))
        }
        let accounted = Set(layers.flatMap { [$0.1] + ($0.2.map { [$0] } ?? []) })
        guard !layers.isEmpty, accounted == names else { return nil }
        layers.sort { $0.0 < $1.0 }
        for (previous, next) in zip(layers, layers.dropFirst()) where shapes[previous.1]![0] != shapes[next.1]![1] { return nil }
        return layers.map { ($0.1, $0.2) }
    }

    static func mlp(_ chain: [(weight: String, bias: String?)]) -> (GraphBuilder, String) {
        var b = GraphBuilder()
        var x = b.flatten("x")
        for (index, layer) in chain.enumerated() {
            x = b.linear(x, weight: layer.weight, bias: layer.bias, name: String(layer.weight.dropLast(".weight".count)))
            if index < chain.count - 1 { x = b.relu(x) }
        }
        return (b, x)
    }

    // MARK: VGG

    static func vgg(names: Set<String>, shapes: [String: [Int]], sampleShape: [Int]?) throws -> (GraphBuilder, String) {
        func indices(_ prefix: String) -> [Int] {
            Array(Set(names.compactMap { name -> Int? in
                guard name.hasPrefix(prefix) else { return nil }
                return Int(name.dropFirst(prefix.count).split(separator: ".").first ?? "")
            })).sorted()
        }
        let features = indices("features.")
        var b = GraphBuilder()
        var x = "x"
        var spatial = sampleShape.map { Array($0.dropFirst()) }
        var channels = 0
        var position = 0
        for index in features {
            let prefix = "features.\(index)"
            guard let shape = shapes["\(prefix).weight"] else { continue }
            if shape.count == 4 {
                // Any gap since the previous layer's ReLU is a max-pool.
                if position > 0 && index > position {
                    x = b.maxPool(x, kernel: 2, stride: 2, padding: 0)
                    spatial = spatial?.map { $0 / 2 }
                }
                x = b.conv(x, weight: "\(prefix).weight", bias: names.contains("\(prefix).bias") ? "\(prefix).bias" : nil,
                           name: prefix, stride: 1, padding: shape[2] / 2)
                channels = shape[0]
                if names.contains("features.\(index + 1).running_mean") {
                    x = b.batchNorm(x, prefix: "features.\(index + 1)")
                    position = index + 3
                } else {
                    position = index + 2
                }
                x = b.relu(x)
            }
        }
        let classifier = indices("classifier.").filter { shapes["classifier.\($0).weight"]?.count == 2 }
        guard let first = classifier.first, let inFeatures = shapes["classifier.\(first).weight"]?[1] else {
            throw ModelError.unrecognizedLayout(reason: "a VGG without classifier weights")
        }
        // torchvision VGG ends its features with a max-pool; find where the flattened size matches.
        if let hw = spatial, hw.count == 2 {
            if channels * (hw[0] / 2) * (hw[1] / 2) == inFeatures {
                x = b.maxPool(x, kernel: 2, stride: 2, padding: 0)
            } else if channels * hw[0] * hw[1] != inFeatures {
                if channels * 49 == inFeatures {
                    throw ModelError.unrecognizedLayout(reason: "a VGG with adaptive 7×7 average pooling")
                }
                throw ModelError.unrecognizedLayout(reason: "VGG features give \(channels)×\(hw[0])×\(hw[1]) values but classifier.\(first) takes \(inFeatures)")
            }
        } else {
            throw ModelError.unrecognizedLayout(reason: "a VGG needs the input shape, which comes from the data")
        }
        x = b.flatten(x)
        for (k, index) in classifier.enumerated() {
            let prefix = "classifier.\(index)"
            x = b.linear(x, weight: "\(prefix).weight", bias: names.contains("\(prefix).bias") ? "\(prefix).bias" : nil, name: prefix)
            if k < classifier.count - 1 { x = b.relu(x) }
        }
        return (b, x)
    }

    // MARK: ResNet

    static func resnet(names: Set<String>, shapes: [String: [Int]]) throws -> (GraphBuilder, String) {
        var b = GraphBuilder()
        guard let stem = shapes["conv1.weight"] else { throw ModelError.missingTensor(name: "conv1.weight", expectedShape: []) }
        let imagenetStem = stem[2] == 7
        var x = b.conv("x", weight: "conv1.weight", bias: nil, name: "conv1", stride: imagenetStem ? 2 : 1, padding: stem[2] / 2)
        x = b.relu(b.batchNorm(x, prefix: "bn1"))
        if imagenetStem { x = b.maxPool(x, kernel: 3, stride: 2, padding: 1) }
        var layer = 1
        while names.contains("layer\(layer).0.conv1.weight") {
            var block = 0
            while names.contains("layer\(layer).\(block).conv1.weight") {
                let p = "layer\(layer).\(block)"
                let stride = layer > 1 && block == 0 ? 2 : 1
                let bottleneck = names.contains("\(p).conv3.weight")
                var out: String
                if bottleneck {
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
                block += 1
            }
            layer += 1
        }
        x = b.flatten(b.add("GlobalAveragePool", [x]))
        x = b.linear(x, weight: "fc.weight", bias: names.contains("fc.bias") ? "fc.bias" : nil, name: "fc")
        return (b, x)
    }
}
