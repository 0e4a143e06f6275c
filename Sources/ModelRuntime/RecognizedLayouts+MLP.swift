/// A plain MLP: `[prefix]N.weight` (2-D) and optional `.bias` for increasing N and nothing else,
/// each layer's input the previous layer's output, ReLU between layers (`nn.Sequential` of
/// Linear and ReLU, as saved by PyTorch).
enum MLPLayout: ModelLayout {
    static let description = "an MLP chain of N.weight/N.bias"

    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading? {
        guard let chain = chain(checkpoint) else { return nil }
        return LayoutReading(family: "MLP", naming: "nn.Sequential", facts: [
            LayoutFact("layers", String(chain.count), from: "tensor names"),
            LayoutFact("activation", "ReLU between layers", from: "the layout's rule"),
        ]) { b in
            var x = b.flatten("x")
            for (index, layer) in chain.enumerated() {
                x = b.linear(x, weight: layer.weight, bias: layer.bias, name: String(layer.weight.dropLast(".weight".count)))
                if index < chain.count - 1 { x = b.relu(x) }
            }
            return x
        }
    }

    /// The layers in order, or `nil` when the names are not exactly such a chain.
    static func chain(_ checkpoint: LayoutContext) -> [(weight: String, bias: String?)]? {
        let names = checkpoint.names, shapes = checkpoint.shapes
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
}
