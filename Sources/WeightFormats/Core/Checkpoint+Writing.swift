/// How to write a checkpoint: the container and its options.
public struct CheckpointWriteOptions: Sendable {
    public enum Container: Sendable, Equatable {
        case safetensors
        /// Shards of at most `maxShardSize` bytes of tensor data plus an index, when more than one.
        case shardedSafetensors(maxShardSize: Int)
        case npz(NPZCompression)
    }

    public var container: Container
    /// Written where the container has a place for it (safetensors `__metadata__`).
    public var metadata: [String: String]

    public init(container: Container, metadata: [String: String] = [:]) {
        self.container = container
        self.metadata = metadata
    }
}

extension Checkpoint {
    /// Writes `tensors` to `path`, asking `bytes` for each tensor once, in the order the container
    /// lays them out; nothing appears at `path` unless the whole write succeeded.
    /// - Returns: the files written (several for a sharded set).
    @discardableResult
    public static func write(
        to path: String, tensors: [TensorInfo], options: CheckpointWriteOptions,
        bytes: TensorBytesProvider
    ) throws -> [String] {
        switch options.container {
        case .safetensors:
            try SafeTensorsWriter.write(
                to: path, tensors: tensors, metadata: options.metadata.isEmpty ? nil : options.metadata,
                bytes: bytes)
            return [path]
        case .shardedSafetensors(let maxShardSize):
            return try SafeTensorsWriter.writeSharded(
                to: path, tensors: tensors, metadata: options.metadata.isEmpty ? nil : options.metadata,
                maxShardSize: maxShardSize, bytes: bytes)
        case .npz(let compression):
            try NPZWriter.write(to: path, tensors: tensors, compression: compression, bytes: bytes)
            return [path]
        }
    }
}
