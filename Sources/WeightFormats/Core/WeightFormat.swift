/// The container formats modelforget reads and writes.
public enum WeightFormat: String, Sendable, CaseIterable, Codable {
    /// A single `.safetensors` file.
    case safetensors
    /// A `*.safetensors.index.json` set of safetensors shards, read as one checkpoint.
    case shardedSafetensors = "safetensors-sharded"
    /// A single NumPy `.npy` array.
    case npy
    /// A NumPy `.npz` archive (a ZIP of `.npy` members).
    case npz
    /// An ONNX model; its initializers are the tensors.
    case onnx
}
