import TensorCore
import WeightFormats

/// Architectures recognised from a checkpoint's tensor names and shapes, and the `config.json`
/// beside it, so that a bare checkpoint (or a Hub-style model folder) runs without `--arch`.
///
/// Every known layout reads the checkpoint (``ModelLayout/read(_:)``); exactly one must recognise
/// it. None is an error listing what was tried; two are an error naming both readings, never a
/// guess. Reading looks at names, shapes and the config only; tensors are loaded when the graph
/// is built.
public enum RecognizedLayouts {
    /// The layouts tried, most specific first (the order only matters for the error messages).
    static let layouts: [any ModelLayout.Type] = [
        ResNetLayout.self, TransformersResNetLayout.self, TorchvisionEfficientNetLayout.self, TimmEfficientNetLayout.self,
        TorchvisionMobileNetV2Layout.self, TorchvisionMobileNetV3Layout.self, TransformersMobileNetV2Layout.self,
        TorchvisionViTLayout.self, TimmViTLayout.self, TransformersViTLayout.self,
        TorchvisionConvNeXtLayout.self, TimmConvNeXtLayout.self, TransformersConvNeXtLayout.self, VGGLayout.self, MLPLayout.self,
    ]

    /// What the checkpoint's names (and config) say the architecture is.
    /// - Throws: ``ModelError/unrecognizedLayout(reason:)``, ``ModelError/ambiguousLayout(readings:)``,
    ///   or a layout's own error for a checkpoint it recognises but cannot use.
    public static func recognize(_ checkpoint: any CheckpointReader, config: ModelConfig?, sampleShape: [Int]?) throws -> LayoutReading {
        let context = LayoutContext(checkpoint: checkpoint, config: config, sampleShape: sampleShape)
        var readings: [LayoutReading] = []
        for layout in layouts {
            if let reading = try layout.read(context) { readings.append(reading) }
        }
        guard let reading = readings.first else {
            throw ModelError.unrecognizedLayout(reason: "not " + layouts.map { $0.description }.joined(separator: ", "))
        }
        guard readings.count == 1 else {
            throw ModelError.ambiguousLayout(readings: readings.map { "\($0.family) (\($0.naming))" })
        }
        return reading
    }

    /// Builds the model a checkpoint's names describe (``recognize(_:config:sampleShape:)``) and
    /// loads the tensors its graph uses; tensors it does not use are reported in the warnings
    /// (BatchNorm step counters are expected and not reported).
    public static func model(from checkpoint: any CheckpointReader, config: ModelConfig? = nil, sampleShape: [Int]?) throws -> Model {
        let reading = try recognize(checkpoint, config: config, sampleShape: sampleShape)
        var builder = GraphBuilder()
        let output = try reading.build(&builder)
        let names = Set(checkpoint.tensors.map(\.name))
        var used = Set<String>()
        for node in builder.nodes { for input in node.inputs where names.contains(input) { used.insert(input) } }
        for name in used.sorted() {
            guard let info = checkpoint.info(named: name) else { throw ModelError.missingTensor(name: name, expectedShape: []) }
            builder.parameters[name] = try TensorLoading.floatTensor(checkpoint, info)
        }
        let unused = names.subtracting(used).sorted()
        var warnings: [String] = []
        if let warning = Model.unusedTensorsWarning(unused) { warnings.append(warning) }
        var model = Model(graph: builder.graph(input: "x", output: output), source: .recognizedLayout(reading.family),
                          inputName: "x", outputName: output, sampleShape: reading.sampleShape ?? sampleShape, warnings: warnings)
        model.layout = reading
        model.labelNames = try config?.labelNames()
        return model
    }
}

/// One architecture family in one library's naming, read from a checkpoint.
protocol ModelLayout: Sendable {
    /// How error messages name what this layout recognises, e.g. "a torchvision/timm ResNet".
    static var description: String { get }

    /// The reading of `checkpoint`, or `nil` when its names are not in this layout's scheme.
    /// - Throws: when the names are this layout's but the checkpoint cannot be used (a missing or
    ///   mis-shaped tensor, a config value that contradicts the tensors).
    static func read(_ checkpoint: LayoutContext) throws -> LayoutReading?
}

/// What a layout reads from: the checkpoint's names and shapes, its config, the data's sample shape.
struct LayoutContext {
    let names: Set<String>
    let shapes: [String: [Int]]
    let config: ModelConfig?
    /// One input's shape, from the data (VGG needs it to place its last pooling layer).
    let sampleShape: [Int]?

    init(checkpoint: any CheckpointReader, config: ModelConfig?, sampleShape: [Int]?) {
        names = Set(checkpoint.tensors.map(\.name))
        shapes = Dictionary(checkpoint.tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        self.config = config
        self.sampleShape = sampleShape
    }

    init(names: Set<String>, shapes: [String: [Int]], config: ModelConfig? = nil, sampleShape: [Int]? = nil) {
        self.names = names
        self.shapes = shapes
        self.config = config
        self.sampleShape = sampleShape
    }

    func has(_ name: String) -> Bool { names.contains(name) }

    /// The shape of `name`, or an error naming the tensor a layout needs.
    func shape(_ name: String) throws -> [Int] {
        guard let shape = shapes[name] else { throw ModelError.missingTensor(name: name, expectedShape: []) }
        return shape
    }

    /// The indices `i` of names starting `prefix` + `i` + `.`, ascending.
    func indices(after prefix: String) -> [Int] {
        Array(Set(names.compactMap { name -> Int? in
            guard name.hasPrefix(prefix) else { return nil }
            return Int(name.dropFirst(prefix.count).prefix { $0 != "." })
        })).sorted()
    }
}

/// A recognised architecture: its family and naming, the facts it read and where from, and how
/// to build its graph.
public struct LayoutReading: @unchecked Sendable {
    /// The family, e.g. "ResNet (Bottleneck)", "ViT", "MobileNetV3".
    public var family: String
    /// The naming scheme (which library's state-dict names), e.g. "torchvision/timm".
    public var naming: String
    /// One input's shape when the checkpoint or config states it.
    public var sampleShape: [Int]?
    /// What was read and where from, for `inspect` and the audit record.
    public var facts: [LayoutFact]
    /// Adds the graph's nodes; returns the name of the logits.
    var build: (inout GraphBuilder) throws -> String

    init(family: String, naming: String, sampleShape: [Int]? = nil, facts: [LayoutFact] = [],
         build: @escaping (inout GraphBuilder) throws -> String) {
        self.family = family
        self.naming = naming
        self.sampleShape = sampleShape
        self.facts = facts
        self.build = build
    }
}

/// One thing a layout read: a setting, its value, and where it came from (`config.json`, the
/// tensor shapes, or the library's default).
public struct LayoutFact: Codable, Sendable, Equatable {
    public var key: String
    public var value: String
    public var source: String

    public init(_ key: String, _ value: String, from source: String) {
        self.key = key
        self.value = value
        self.source = source
    }
}
