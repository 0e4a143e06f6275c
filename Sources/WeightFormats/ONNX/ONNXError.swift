/// Every way an ONNX file can be malformed or unsupported for modelforget.
public enum ONNXError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(offset: Int)
    case overlongVarint(offset: Int)
    case unsupportedWireType(Int, offset: Int)
    case invalidFieldNumber(offset: Int)
    case fieldOverrunsMessage(offset: Int)
    case wrongWireType(expected: String, offset: Int)
    case noGraph
    case unsupportedDataType(tensor: String, dataType: Int)
    case segmentedTensor(tensor: String)
    case dataSizeMismatch(tensor: String, expected: Int, actual: Int)
    case noData(tensor: String)
    case externalDataMissing(tensor: String, location: String)
    case externalDataOutOfRange(tensor: String, location: String)
    case externalPathNotAllowed(tensor: String, location: String)
    case invalidExternalDataEntry(tensor: String, key: String)
    case notAnInitializer(String)
    case duplicateInitializer(String)

    public var description: String {
        switch self {
        case .truncated(let offset): "truncated protobuf at byte \(offset)"
        case .overlongVarint(let offset): "varint longer than 10 bytes at byte \(offset)"
        case .unsupportedWireType(let type, let offset): "unsupported protobuf wire type \(type) at byte \(offset) (not an ONNX model?)"
        case .invalidFieldNumber(let offset): "invalid protobuf field number at byte \(offset)"
        case .fieldOverrunsMessage(let offset): "a field at byte \(offset) runs past the end of its message (truncated file?)"
        case .wrongWireType(let expected, let offset): "expected a \(expected) field at byte \(offset)"
        case .noGraph: "the model has no graph"
        case .unsupportedDataType(let tensor, let type): "tensor '\(tensor)' has data type \(type), which modelforget does not support"
        case .segmentedTensor(let tensor): "tensor '\(tensor)' is segmented, which modelforget does not support"
        case .dataSizeMismatch(let tensor, let expected, let actual): "tensor '\(tensor)' holds \(actual) bytes of data, its dims and data type need \(expected)"
        case .noData(let tensor): "tensor '\(tensor)' has no data"
        case .externalDataMissing(let tensor, let location): "external data file '\(location)' of tensor '\(tensor)' cannot be opened"
        case .externalDataOutOfRange(let tensor, let location): "external data of tensor '\(tensor)' lies beyond the end of '\(location)'"
        case .externalPathNotAllowed(let tensor, let location): "external data location '\(location)' of tensor '\(tensor)' leaves the model's folder"
        case .invalidExternalDataEntry(let tensor, let key): "invalid external data '\(key)' for tensor '\(tensor)'"
        case .notAnInitializer(let name): "'\(name)' is not an initializer of the model"
        case .duplicateInitializer(let name): "two initializers are named '\(name)'"
        }
    }
}
