import TensorCore
import WeightFormats

/// Writes a checkpoint with some tensors replaced, in the format of the original.
///
/// Guarantees: safetensors stays safetensors (sharded stays sharded, with the same grouping of
/// tensors into shards), npz stays npz, npy stays npy, ONNX stays ONNX; every tensor keeps its dtype and shape
/// (edited values are cast back from float32, rounding to nearest even); tensors not edited are
/// copied byte for byte; safetensors metadata is kept and `provenance` added to it.
public enum EditedCheckpoint {
    /// `NAME.forget-5-7.EXT` beside the input (for a sharded set: beside its index).
    public static func defaultOutputPath(for input: String, classes: [Int]) -> String {
        let tag = "forget-" + classes.map(String.init).joined(separator: "-")
        if input.hasSuffix(".safetensors.index.json") {
            return String(input.dropLast(".safetensors.index.json".count)) + ".\(tag).safetensors"
        }
        let slash = input.lastIndex(of: "/").map { input.index(after: $0) } ?? input.startIndex
        if let dot = input[slash...].lastIndex(of: "."), dot != slash {
            return String(input[..<dot]) + ".\(tag)" + String(input[dot...])
        }
        return input + ".\(tag)"
    }

    /// The default output folder for a model folder input: `NAME.forget-5-7` beside `NAME`.
    public static func defaultOutputFolder(for folder: String, classes: [Int]) -> String {
        var trimmed = folder
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed + ".forget-" + classes.map(String.init).joined(separator: "-")
    }

    /// Every file a checkpoint consists of: a sharded set's index and shards, an ONNX model and its
    /// external data files, else the one file.
    public static func files(of reader: any CheckpointReader) -> [String] {
        if let sharded = reader as? ShardedSafeTensors { return [sharded.path] + sharded.shardFiles }
        if let onnx = reader as? ONNXModel { return [onnx.path] + onnx.externalDataLocations.map { onnx.directory + "/" + $0 } }
        return [reader.path]
    }

    /// The bytes of `tensor` in `dtype`.
    public static func bytes(of tensor: Tensor, as dtype: DType) -> [UInt8] {
        let f32 = tensor.data.withUnsafeBytes { Array($0) }
        if dtype == .F32 { return f32 }
        return f32.withUnsafeBytes { DTypeConversion.convert($0, from: .F32, to: dtype) }
    }

    /// Writes `source` with `edits` to `path`; returns the files written.
    @discardableResult
    public static func write(_ source: any CheckpointReader, edits: [String: Tensor], to path: String,
                             provenance: [String: String]) throws -> [String] {
        let provider: TensorBytesProvider = { info, consume in
            if let edited = edits[info.name] {
                try bytes(of: edited, as: info.dtype).withUnsafeBytes { try consume($0) }
            } else {
                try source.withInputBytes(of: info.name) { try consume($0) }
            }
        }
        for name in edits.keys {
            guard let info = source.info(named: name), info.dtype.isConvertibleFloat else {
                throw CheckpointError.tensorNotFound(name: name)
            }
        }
        let metadata = source.metadata.merging(provenance) { $1 }
        switch source {
        case let onnx as ONNXModel:
            try onnx.write(to: path, replacing: onnx.tensors.filter { edits[$0.name] != nil }, addingMetadata: provenance, bytes: provider)
            return [path]
        case let sharded as ShardedSafeTensors:
            var groups: [[TensorInfo]] = []
            var groupOf: [String: Int] = [:]
            for info in sharded.tensors {
                let shard = sharded.shardPath(of: info.name)!
                if groupOf[shard] == nil { groupOf[shard] = groups.count; groups.append([]) }
                groups[groupOf[shard]!].append(info)
            }
            return try SafeTensorsWriter.writeSharded(to: path, groups: groups, metadata: metadata, bytes: provider)
        case let npy as NPYFile:
            // One array, named after its file: the output is a .npy file too, whatever its name.
            try NPYWriter.write(to: path, info: npy.tensors[0], bytes: provider)
            return [path]
        default:
            let container: CheckpointWriteOptions.Container = source.format == .npz ? .npz(.stored) : .safetensors
            return try Checkpoint.write(to: path, tensors: source.tensors, options: CheckpointWriteOptions(container: container, metadata: metadata), bytes: provider)
        }
    }
}
