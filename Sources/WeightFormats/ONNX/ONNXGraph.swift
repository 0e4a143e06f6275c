/// The main graph of an ONNX model as plain values: nodes, inputs, outputs.
///
/// A description only: nothing here evaluates the graph. Tensors inside attributes (the
/// `value` of a `Constant` node) are ``ONNXTensor`` spans whose bytes ``ONNXModel`` decodes.
public struct ONNXGraph: Sendable {
    public var name: String
    public var nodes: [ONNXNode]
    public var inputs: [ONNXValueInfo]
    public var outputs: [ONNXValueInfo]
}

public struct ONNXNode: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: ONNXAttribute]
}

public enum ONNXAttribute: Sendable {
    case float(Float)
    case int(Int)
    case string(String)
    case tensor(ONNXTensor)
    case floats([Float])
    case ints([Int])
    case strings([String])
    /// Graphs, sparse tensors and type protos: present but not interpreted.
    case unsupported(type: Int)

    public var intValue: Int? { if case .int(let v) = self { v } else { nil } }
    public var floatValue: Float? { if case .float(let v) = self { v } else { nil } }
    public var intsValue: [Int]? { if case .ints(let v) = self { v } else { nil } }
    public var stringValue: String? { if case .string(let v) = self { v } else { nil } }
}

/// A graph input or output: name, element type and shape.
public struct ONNXValueInfo: Sendable {
    public enum Dimension: Sendable, Equatable {
        case value(Int)
        case parameter(String)
        case unknown
    }

    public var name: String
    /// ONNX data type code of the elements (1 = float).
    public var elementType: Int
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
        var f: Float = 0, i = 0, s = "", t: ONNXTensor?
        var floats: [Float] = [], ints: [UInt64] = [], strings: [String] = []
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, 2): name = try reader.string()
            case (2, 5): f = Float(bitPattern: try reader.fixed32())
            case (3, 0): i = Int(truncatingIfNeeded: try reader.varint())
            case (4, 2): s = try reader.string()
            case (5, 2): t = try ONNXTensor.parse(bytes, range: try reader.lengthDelimited())
            case (7, 5): floats.append(Float(bitPattern: try reader.fixed32()))
            case (7, 2):
                var inner = ProtobufReader(bytes, range: try reader.lengthDelimited())
                while !inner.atEnd { floats.append(Float(bitPattern: try inner.fixed32())) }
            case (8, _): try reader.appendVarints(wireType: field.wireType, to: &ints)
            case (9, 2): strings.append(try reader.string())
            case (20, 0): type = Int(truncatingIfNeeded: try reader.varint())
            default: try reader.skip(wireType: field.wireType)
            }
        }
        let value: ONNXAttribute
        switch type {
        case 1: value = .float(f)
        case 2: value = .int(i)
        case 3: value = .string(s)
        case 4: value = t.map { .tensor($0) } ?? .unsupported(type: 4)
        case 6: value = .floats(floats)
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
