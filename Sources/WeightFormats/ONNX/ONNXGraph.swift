/// The main graph of an ONNX model as plain values: nodes, inputs, outputs.
///
/// A description only: nothing here evaluates the graph. Tensors inside attributes (the
/// `value` of a `Constant` node) are ``ONNXTensor`` spans whose bytes ``ONNXModel`` decodes.
public struct ONNXGraph: Sendable {
    public var name: String
    public var nodes: [ONNXNode]
    /// Graph inputs (for IR < 4 models they include the initializers).
    public var inputs: [ONNXValueInfo]
    public var outputs: [ONNXValueInfo]

    /// The tensors held by node attributes (`Constant` values and other `TENSOR` attributes), in
    /// node order.
    public var attributeTensors: [ONNXTensor] {
        nodes.flatMap { node in
            node.attributes.keys.sorted().compactMap { key -> ONNXTensor? in
                if case .tensor(let tensor) = node.attributes[key] { return tensor }
                return nil
            }
        }
    }
}

/// One node of a graph: operator, connections and attributes.
public struct ONNXNode: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: ONNXAttribute]
    /// The node's `metadata_props` (exporters record provenance here, e.g. torch's dynamo
    /// exporter: `pkg.torch.onnx.name_scopes`, the module path of the code that wrote the node).
    public var metadata: [String: String] = [:]
}

/// The value of a node attribute.
public enum ONNXAttribute: Sendable {
    case float(Float)
    case int(Int)
    /// The attribute's bytes read as UTF-8 (invalid sequences become U+FFFD).
    case string(String)
    case tensor(ONNXTensor)
    case floats([Float])
    case ints([Int])
    case strings([String])
    /// Graphs (type 5), lists of tensors or graphs, sparse tensors and type protos: present but
    /// not interpreted; `type` is the `AttributeProto.AttributeType` code.
    case unsupported(type: Int)

    public var intValue: Int? { if case .int(let v) = self { v } else { nil } }
    public var floatValue: Float? { if case .float(let v) = self { v } else { nil } }
    public var intsValue: [Int]? { if case .ints(let v) = self { v } else { nil } }
    public var stringValue: String? { if case .string(let v) = self { v } else { nil } }
    public var tensorValue: ONNXTensor? { if case .tensor(let v) = self { v } else { nil } }
}

/// A graph input or output: name, element type and shape.
public struct ONNXValueInfo: Sendable {
    public enum Dimension: Sendable, Equatable {
        case value(Int)
        case parameter(String)
        case unknown
    }

    public var name: String
    /// ONNX data type code of the elements (1 = float; 0 when the type is not a tensor type).
    public var elementType: Int
    /// The dimensions, or `nil` when the shape is not given (unknown rank).
    public var shape: [Dimension]?
}

extension ONNXGraph {
    static func parse(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(ONNXError)
        -> (ONNXGraph, initializers: [ONNXTensor])
    {
        var reader = ProtobufReader(bytes, range: range)
        var graph = ONNXGraph(name: "", nodes: [], inputs: [], outputs: [])
        var initializers: [ONNXTensor] = []
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, 2): graph.nodes.append(try ONNXNode.parse(bytes, range: try reader.lengthDelimited()))
            case (2, 2): graph.name = try reader.string()
            case (5, 2): initializers.append(try ONNXTensor.parse(bytes, range: try reader.lengthDelimited()))
            case (11, 2): graph.inputs.append(try ONNXValueInfo.parse(bytes, range: try reader.lengthDelimited()))
            case (12, 2): graph.outputs.append(try ONNXValueInfo.parse(bytes, range: try reader.lengthDelimited()))
            default: try reader.skip(wireType: field.wireType)
            }
        }
        return (graph, initializers)
    }
}

extension ONNXNode {
    static func parse(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(ONNXError) -> ONNXNode {
        var reader = ProtobufReader(bytes, range: range)
        var node = ONNXNode(name: "", opType: "", domain: "", inputs: [], outputs: [], attributes: [:])
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, 2): node.inputs.append(try reader.string())
            case (2, 2): node.outputs.append(try reader.string())
            case (3, 2): node.name = try reader.string()
            case (4, 2): node.opType = try reader.string()
            case (7, 2): node.domain = try reader.string()
            case (5, 2):
                let (name, value) = try parseAttribute(bytes, range: try reader.lengthDelimited())
                node.attributes[name] = value
            case (9, 2):
                let (key, value) = try ProtobufReader.stringEntry(bytes, range: try reader.lengthDelimited())
                node.metadata[key] = value
            default: try reader.skip(wireType: field.wireType)
            }
        }
        return node
    }

    static func parseAttribute(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(ONNXError)
        -> (String, ONNXAttribute)
    {
        var reader = ProtobufReader(bytes, range: range)
        var name = ""
        var type = 0
        var f: Float?, i: Int?, s: String?, t: ONNXTensor?
        var floats: [UInt32] = [], ints: [UInt64] = [], strings: [String] = []
        var other: Int?
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, 2): name = try reader.string()
            case (2, 5): f = Float(bitPattern: try reader.fixed32())
            case (3, 0): i = Int(truncatingIfNeeded: try reader.varint())
            case (4, 2): s = try reader.string()
            case (5, 2):
                let span = try reader.lengthDelimited()
                do {
                    t = try ONNXTensor.parse(bytes, range: span)
                } catch .unsupportedDataType, .segmentedTensor {
                    other = 4   // e.g. a STRING constant: kept in the file, not interpreted
                }
            case (7, _): try reader.appendFixed32(wireType: field.wireType, fieldStart: field.start, to: &floats)
            case (8, _): try reader.appendVarints(wireType: field.wireType, fieldStart: field.start, to: &ints)
            case (9, 2): strings.append(try reader.string())
            case (20, 0): type = Int(truncatingIfNeeded: try reader.varint())
            case (6, _), (10, _), (11, _), (14, _), (15, _), (22, _), (23, _):
                // graph, tensors, graphs, type protos, sparse tensors: recorded by type only
                other = other ?? [6: 5, 10: 9, 11: 10, 14: 13, 15: 14, 22: 11, 23: 12][field.number]
                try reader.skip(wireType: field.wireType)
            default: try reader.skip(wireType: field.wireType)
            }
        }
        if type == 0 {
            // Models from before IR version 0.0.2 leave `type` out: infer it from the field that is set.
            type = f != nil ? 1 : i != nil ? 2 : s != nil ? 3 : t != nil ? 4 : !floats.isEmpty ? 6
                : !ints.isEmpty ? 7 : !strings.isEmpty ? 8 : other ?? 0
        }
        let value: ONNXAttribute
        switch type {
        case 1: value = .float(f ?? 0)
        case 2: value = .int(i ?? 0)
        case 3: value = .string(s ?? "")
        case 4: value = t.map { .tensor($0) } ?? .unsupported(type: 4)
        case 6: value = .floats(floats.map { Float(bitPattern: $0) })
        case 7: value = .ints(ints.map { Int(truncatingIfNeeded: $0) })
        case 8: value = .strings(strings)
        default: value = .unsupported(type: type)
        }
        return (name, value)
    }
}

extension ONNXValueInfo {
    static func parse(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(ONNXError) -> ONNXValueInfo {
        var reader = ProtobufReader(bytes, range: range)
        var info = ONNXValueInfo(name: "", elementType: 0, shape: nil)
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, 2): info.name = try reader.string()
            case (2, 2):
                var typeReader = ProtobufReader(bytes, range: try reader.lengthDelimited())
                while let typeField = try typeReader.nextField() {
                    guard typeField.number == 1, typeField.wireType == 2 else {
                        try typeReader.skip(wireType: typeField.wireType)
                        continue
                    }
                    var tensorType = ProtobufReader(bytes, range: try typeReader.lengthDelimited())
                    while let tensorField = try tensorType.nextField() {
                        switch (tensorField.number, tensorField.wireType) {
                        case (1, 0): info.elementType = Int(truncatingIfNeeded: try tensorType.varint())
                        case (2, 2): info.shape = try parseShape(bytes, range: try tensorType.lengthDelimited())
                        default: try tensorType.skip(wireType: tensorField.wireType)
                        }
                    }
                }
            default: try reader.skip(wireType: field.wireType)
            }
        }
        return info
    }

    private static func parseShape(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(ONNXError) -> [Dimension] {
        var reader = ProtobufReader(bytes, range: range)
        var dims: [Dimension] = []
        while let field = try reader.nextField() {
            guard field.number == 1, field.wireType == 2 else {
                try reader.skip(wireType: field.wireType)
                continue
            }
            var dimReader = ProtobufReader(bytes, range: try reader.lengthDelimited())
            var dim = Dimension.unknown
            while let dimField = try dimReader.nextField() {
                switch (dimField.number, dimField.wireType) {
                case (1, 0): dim = .value(Int(truncatingIfNeeded: try dimReader.varint()))
                case (2, 2): dim = .parameter(try dimReader.string())
                default: try dimReader.skip(wireType: dimField.wireType)
                }
            }
            dims.append(dim)
        }
        return dims
    }
}
