/// An ONNX model read with modelforget's own protobuf reader: initializers as tensors, the graph
/// as values, and a writer that replaces initializers and keeps every other byte.
///
/// Opening walks the message structure of the memory-mapped file and skips tensor data by
/// length, so it does not grow with the size of the weights. See `Formats/onnx.md`.
public final class ONNXModel: CheckpointReader, @unchecked Sendable {
    public let path: String
    public var format: WeightFormat { .onnx }
    /// `metadata_props` of the model.
    public let metadata: [String: String]
    /// The initializers, in file order.
    public let tensors: [TensorInfo]
    public let irVersion: Int
    public let producerName: String
    public let producerVersion: String
    public let opsetImports: [(domain: String, version: Int)]
    public let graph: ONNXGraph
    public let initializers: [ONNXTensor]

    let file: MappedFile
    /// The span of the graph message's payload, and of its whole field (tag + length + payload).
    let graphPayload: Range<Int>
    let graphField: Range<Int>
    private let initializerIndex: [String: Int]
    private var externalFiles: [String: MappedFile] = [:]

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
                var entry = ProtobufReader(bytes, range: try reader.lengthDelimited())
                var key = "", value = ""
                while let inner = try entry.nextField() {
                    switch (inner.number, inner.wireType) {
                    case (1, 2): key = try entry.string()
                    case (2, 2): value = try entry.string()
                    default: try entry.skip(wireType: inner.wireType)
                    }
                }
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
        self.irVersion = irVersion
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.opsetImports = opsets
        self.metadata = metadata
        self.graph = graph
        self.initializers = initializers
        self.graphPayload = graphSpans.payload
        self.graphField = graphSpans.field
        initializerIndex = index
        tensors = initializers.map(\.info)
        for tensor in initializers {
            if case .external(let location, let offset, let length) = tensor.storage {
                let external = try openExternal(location, tensor: tensor.info.name)
                guard offset + (length ?? tensor.info.byteCount!) <= external.bytes.count else {
                    throw ONNXError.externalDataOutOfRange(tensor: tensor.info.name, location: location)
                }
            }
        }
    }

    /// The folder holding the model (external data locations are relative to it).
    public var directory: String {
        path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
    }

    /// The external data files the initializers refer to.
    public var externalDataLocations: [String] {
        Array(Set(initializers.compactMap { tensor -> String? in
            if case .external(let location, _, _) = tensor.storage { return location }
            return nil
        })).sorted()
    }

    private func openExternal(_ location: String, tensor: String) throws -> MappedFile {
        if let open = externalFiles[location] { return open }
        do {
            let opened = try MappedFile(path: directory + "/" + location)
            externalFiles[location] = opened
            return opened
        } catch {
            throw ONNXError.externalDataMissing(tensor: tensor, location: location)
        }
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let position = initializerIndex[name] else { throw CheckpointError.tensorNotFound(name: name) }
        return try withBytes(of: initializers[position], body)
    }

    /// The little-endian element bytes of any tensor of this file (an initializer or a
    /// `Constant` node's value).
    public func withBytes<R>(of tensor: ONNXTensor, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch tensor.storage {
        case .raw(let range):
            defer { file.release(range) }
            return try body(UnsafeRawBufferPointer(rebasing: file.bytes[range]))
        case .typed:
            return try tensor.decodeTyped(file.bytes).withUnsafeBytes(body)
        case .external(let location, let offset, let length):
            let external = try openExternal(location, tensor: tensor.info.name)
            let count = length ?? tensor.info.byteCount!
            defer { external.release(offset..<(offset + count)) }
            return try body(UnsafeRawBufferPointer(rebasing: external.bytes[offset..<(offset + count)]))
        case .empty:
            return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }
}
