/// An ONNX model read with modelforget's own protobuf reader: initializers as tensors, the main
/// graph as values, and a writer that replaces initializers and keeps every other byte
/// (``write(to:replacing:addingMetadata:bytes:)``).
///
/// Opening maps the file and walks the message structure, skipping tensor data by length, so it
/// does not grow with the size of the weights. External data files are mapped when the model is
/// opened (their ranges are checked then). See `Formats/onnx.md`.
public final class ONNXModel: CheckpointReader, @unchecked Sendable {
    /// How deeply graphs may nest inside node attributes (If/Loop bodies) before the file is refused.
    public static let maximumNesting = 64

    public let path: String
    public var format: WeightFormat { .onnx }
    /// `metadata_props` of the model (a repeated key: the last value).
    public let metadata: [String: String]
    /// The initializers of the main graph, in file order.
    public let tensors: [TensorInfo]
    public let irVersion: Int
    public let producerName: String
    public let producerVersion: String
    public let opsetImports: [(domain: String, version: Int)]
    /// The main graph: nodes, inputs, outputs.
    public let graph: ONNXGraph
    /// The initializers with their storage, in file order.
    public let initializers: [ONNXTensor]

    let file: MappedFile
    /// The span of the graph message's payload, and of its whole field (tag + length + payload).
    let graphPayload: Range<Int>
    let graphField: Range<Int>
    private let initializerIndex: [String: Int]
    /// The mapped external data files of the main graph's tensors, by location.
    let externalFiles: [String: MappedFile]

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        let bytes = file.bytes
        var reader = ProtobufReader(bytes)
        var irVersion = 0, producerName = "", producerVersion = ""
        var opsets: [(String, Int)] = []
        var metadata: [String: String] = [:]
        var graphSpans: (payload: Range<Int>, field: Range<Int>)?
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, 0): irVersion = Int(truncatingIfNeeded: try reader.varint())
            case (2, 2): producerName = try reader.string()
            case (3, 2): producerVersion = try reader.string()
            case (7, 2):
                // A repeated singular message would be merged by protobuf; modelforget refuses it.
                guard graphSpans == nil else { throw ONNXError.repeatedGraph }
                let payload = try reader.lengthDelimited()
                graphSpans = (payload, field.start..<payload.upperBound)
            case (8, 2):
                var opset = ProtobufReader(bytes, range: try reader.lengthDelimited())
                var domain = "", version = 0
                while let inner = try opset.nextField() {
                    switch (inner.number, inner.wireType) {
                    case (1, 2): domain = try opset.string()
                    case (2, 0): version = Int(truncatingIfNeeded: try opset.varint())
                    default: try opset.skip(wireType: inner.wireType)
                    }
                }
                opsets.append((domain, version))
            case (14, 2):
                let (key, value) = try ProtobufReader.stringEntry(bytes, range: try reader.lengthDelimited())
                                metadata[key] = value   // a repeated key: the last one wins
            default: try reader.skip(wireType: field.wireType)
            }
        }
        guard let graphSpans else { throw ONNXError.noGraph }
        let (graph, initializers) = try ONNXGraph.parse(bytes, range: graphSpans.payload)
        var index: [String: Int] = [:]
        for (position, tensor) in initializers.enumerated() {
            guard index[tensor.info.name] == nil else { throw ONNXError.duplicateInitializer(tensor.info.name) }
            index[tensor.info.name] = position
        }
        // Map every external file of the main graph's tensors and check each tensor's range.
        let directory = ONNXModel.directory(of: path)
        var externalFiles: [String: MappedFile] = [:]
        for tensor in initializers + graph.attributeTensors {
            guard let location = tensor.externalLocation, let range = tensor.externalRange else { continue }
            if externalFiles[location] == nil {
                externalFiles[location] = try ONNXModel.openExternal(location, inFolder: directory, tensor: tensor.info.name)
            }
            guard range.upperBound <= externalFiles[location]!.bytes.count else {
                throw ONNXError.externalDataOutOfRange(tensor: tensor.info.name, location: location)
            }
        }
        self.irVersion = irVersion
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.opsetImports = opsets
        self.metadata = metadata
        self.graph = graph
        self.initializers = initializers
        self.graphPayload = graphSpans.payload
        self.graphField = graphSpans.field
        self.externalFiles = externalFiles
        initializerIndex = index
        tensors = initializers.map(\.info)
    }

    /// The folder holding the model (external data locations are relative to it).
    public var directory: String { ONNXModel.directory(of: path) }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The external data files the main graph's tensors refer to, relative to ``directory``, sorted.
    public var externalDataLocations: [String] { externalFiles.keys.sorted() }

    /// The initializer named `name`, with its storage.
    public func initializer(named name: String) -> ONNXTensor? {
        initializerIndex[name].map { initializers[$0] }
    }

    public func releasePages(_ view: UnsafeRawBufferPointer) {
        file.release(view: view)
        for external in externalFiles.values { external.release(view: view) }
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let tensor = initializer(named: name) else { throw CheckpointError.tensorNotFound(name: name) }
        return try withBytes(of: tensor, body)
    }

    /// Calls `body` with the little-endian element bytes of a tensor of this model (an initializer
    /// or a node attribute's tensor, such as a `Constant` node's value): a view into the mapped
    /// file for `raw_data` and external data, a decoded buffer for the typed fields.
    /// A tensor from another model is not valid here (one lying past the end of this file throws
    /// ``CheckpointError/tensorNotFound(name:)``; others read this file's bytes at the tensor's offsets).
    public func withBytes<R>(of tensor: ONNXTensor, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard tensor.messageRange.upperBound <= file.bytes.count else {
            throw CheckpointError.tensorNotFound(name: tensor.info.name)   // a tensor of a larger model
        }
        switch tensor.storage {
        case .raw(let range):
            defer { file.release(range) }
            return try body(UnsafeRawBufferPointer(rebasing: file.bytes[range]))
        case .typed:
            return try tensor.decodeTyped(file.bytes).withUnsafeBytes(body)
        case .external(let location, _, _):
            guard let external = externalFiles[location], let range = tensor.externalRange,
                  range.upperBound <= external.bytes.count
            else { throw ONNXError.externalDataMissing(tensor: tensor.info.name, location: location) }
            defer { external.release(range) }
            return try body(UnsafeRawBufferPointer(rebasing: external.bytes[range]))
        case .empty:
            return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }
}
