/// How to convert a checkpoint: the output container and an optional float dtype.
public struct ConversionOptions: Sendable {
    public var container: CheckpointWriteOptions.Container
    /// Cast every floating-point tensor (F16, BF16, F32, F64) to this dtype; others are copied.
    public var floatDType: DType?

    public init(container: CheckpointWriteOptions.Container, floatDType: DType? = nil) {
        self.container = container
        self.floatDType = floatDType
    }
}

/// Which tensors a conversion writes, and in which dtype.
package struct ConversionPlan: Sendable {
    let inputTensors: [String: TensorInfo]
    /// The tensors as written: the input's names, shapes and order, floats in the target dtype.
    public let outputTensors: [TensorInfo]

    public init(tensors: [TensorInfo], targetDType: DType?) {
        inputTensors = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        outputTensors = tensors.map { info in
            guard let targetDType, DTypeConversion.canConvert(from: info.dtype, to: targetDType) else { return info }
            var converted = info
            converted.dtype = targetDType
            return converted
        }
    }

    /// The input tensor an output tensor comes from.
    public func source(of name: String) -> TensorInfo { inputTensors[name]! }
}

/// What a conversion did beyond writing the tensors.
public struct ConversionOutcome: Sendable, Equatable {
    /// The files written (several for a sharded set).
    public var files: [String]
    /// Metadata keys dropped because the output container has no place for them (npz).
    public var droppedMetadataKeys: Int
}

extension Checkpoint {
    /// Writes every tensor of `reader` to `path` in `options.container`, streaming one tensor at a
    /// time (peak memory: the largest tensor), casting floats to `options.floatDType` (nearest
    /// even) and copying all other bytes unchanged. Safetensors metadata is kept where the output
    /// has a place for it; an ONNX model's properties are not checkpoint metadata and are dropped.
    @discardableResult
    public static func convert(_ reader: any CheckpointReader, to path: String, options: ConversionOptions) throws -> ConversionOutcome {
        let plan = ConversionPlan(tensors: reader.tensors, targetDType: options.floatDType)
        var metadata = reader.metadata
        var dropped = 0
        if case .npz = options.container, !metadata.isEmpty {
            dropped = metadata.count
            metadata = [:]
        }
        if reader.format == .onnx { metadata = [:] }
        let files = try write(
            to: path, tensors: plan.outputTensors, options: CheckpointWriteOptions(container: options.container, metadata: metadata),
            bytes: { info, consume in
                let source = plan.source(of: info.name)
                try reader.withInputBytes(of: source.name) { raw in
                    if source.dtype == info.dtype {
                        try consume(raw)
                    } else {
                        let converted = DTypeConversion.convert(raw, from: source.dtype, to: info.dtype)
                        try converted.withUnsafeBytes { try consume($0) }
                    }
                }
            })
        return ConversionOutcome(files: files, droppedMetadataKeys: dropped)
    }
}
