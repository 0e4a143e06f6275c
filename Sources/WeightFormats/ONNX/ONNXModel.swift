// PLACEHOLDER: replaced by the real reader.
public final class ONNXModel: CheckpointReader {
    public let path: String
    public let format: WeightFormat = .onnx
    public let metadata: [String: String] = [:]
    public let tensors: [TensorInfo] = []
    public init(path: String) throws {
        self.path = path
        throw CheckpointError.unrecognizedFormat(reason: "not implemented")
    }
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        throw CheckpointError.tensorNotFound(name: name)
    }
}
