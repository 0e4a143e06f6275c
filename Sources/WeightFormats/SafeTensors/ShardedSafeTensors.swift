// PLACEHOLDER: replaced by the real reader.
public final class ShardedSafeTensors: CheckpointReader {
    public let path: String
    public let format: WeightFormat = .shardedSafetensors
    public let metadata: [String: String] = [:]
    public let tensors: [TensorInfo] = []
    public init(indexPath: String) throws {
        self.path = indexPath
        throw CheckpointError.unrecognizedFormat(reason: "not implemented")
    }
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        throw CheckpointError.tensorNotFound(name: name)
    }
}
