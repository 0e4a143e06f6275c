import Safeguards

/// Every way an ONNX file can be malformed or unsupported for modelforget, and every way a write
/// request can be refused. Offsets are byte positions in the model file.
public enum ONNXError: Error, Equatable, Sendable, CustomStringConvertible {
    // Protobuf wire format
    case truncated(offset: Int)
    case overlongVarint(offset: Int)
    case unsupportedWireType(Int, offset: Int)
    case invalidFieldNumber(offset: Int)
    case fieldOverrunsMessage(offset: Int)
    case wrongWireType(expected: String, offset: Int)
    case nestingTooDeep(offset: Int)
    // Model structure
    case noGraph
    case repeatedGraph
    case duplicateInitializer(String)
    // Tensors
    case unsupportedDataType(tensor: String, dataType: Int)
    case invalidDims(tensor: String)
    case segmentedTensor(tensor: String)
    case dataSizeMismatch(tensor: String, expected: Int, actual: Int)
    case noData(tensor: String)
    // External data
    case externalDataMissing(tensor: String, location: String)
    /// The external data file exists but cannot be read (a FIFO, a folder, no permission).
    case externalDataUnreadable(tensor: String, location: String, reason: String)
    case externalDataOutOfRange(tensor: String, location: String)
    case externalPathNotAllowed(tensor: String, location: String)
    case invalidExternalDataEntry(tensor: String, key: String)
    // Writing
    case notAnInitializer(String)
    case unsupportedDType(tensor: String, dtype: DType)

    public var description: String {
        switch self {
        case .truncated(let offset): "truncated protobuf at byte \(offset)"
        case .overlongVarint(let offset): "varint longer than 10 bytes at byte \(offset)"
        case .unsupportedWireType(let type, let offset):
            "unsupported protobuf wire type \(type) at byte \(offset) (not an ONNX model?)"
        case .invalidFieldNumber(let offset): "invalid protobuf field number at byte \(offset)"
        case .fieldOverrunsMessage(let offset):
            "a field at byte \(offset) runs past the end of its message (truncated file?)"
        case .wrongWireType(let expected, let offset): "expected a \(expected) field at byte \(offset)"
        case .nestingTooDeep(let offset): "graphs nested more than \(ONNXModel.maximumNesting) deep at byte \(offset)"
        case .noGraph: "the model has no graph"
        case .repeatedGraph: "the model has more than one graph field"
        case .duplicateInitializer(let name): "two initializers are named '\(Escaping.printable(name))'"
        case .unsupportedDataType(let tensor, let type):
            "tensor '\(Escaping.printable(tensor))' has data type \(ONNXTensor.dataTypeName(type)), which modelforget does not support"
        case .invalidDims(let tensor):
            "tensor '\(Escaping.printable(tensor))' has negative, overflowing or (for 4-bit types) odd-sized dims"
        case .segmentedTensor(let tensor): "tensor '\(Escaping.printable(tensor))' is segmented, which modelforget does not support"
        case .dataSizeMismatch(let tensor, let expected, let actual):
            "tensor '\(Escaping.printable(tensor))' holds \(actual) bytes of data, its dims and data type need \(expected)"
        case .noData(let tensor): "tensor '\(Escaping.printable(tensor))' has no data in the field its data type uses"
        case .externalDataMissing(let tensor, let location):
            "external data file '\(Escaping.printable(location))' of tensor '\(Escaping.printable(tensor))' does not exist"
        case .externalDataUnreadable(let tensor, let location, let reason):
            "external data file '\(Escaping.printable(location))' of tensor '\(Escaping.printable(tensor))': \(reason)"
        case .externalDataOutOfRange(let tensor, let location):
            "external data of tensor '\(Escaping.printable(tensor))' lies beyond the end of '\(Escaping.printable(location))'"
        case .externalPathNotAllowed(let tensor, let location):
            "external data location '\(Escaping.printable(location))' of tensor '\(Escaping.printable(tensor))' must be a relative path inside the model's folder"
        case .invalidExternalDataEntry(let tensor, let key):
            "invalid or missing external data '\(key)' for tensor '\(Escaping.printable(tensor))'"
        case .notAnInitializer(let name): "'\(Escaping.printable(name))' is not an initializer of the model"
        case .unsupportedDType(let tensor, let dtype):
            "tensor '\(Escaping.printable(tensor))' cannot be stored as \(dtype.rawValue) in ONNX; convert it to another dtype"
        }
    }
}
