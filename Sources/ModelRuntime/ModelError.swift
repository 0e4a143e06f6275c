import Safeguards
import WeightFormats

/// Errors turning weight files into runnable models; each says which tensor to fix.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    case missingTensor(name: String, expectedShape: [Int])
    case shapeMismatch(name: String, expected: [Int], actual: [Int])
    case unsupportedDType(name: String, dtype: DType)
    case unrecognizedLayout(reason: String)
    case ambiguousLayout(readings: [String])
    /// A recognised layout needs a setting its checkpoint does not fix (`choices`: the readings
    /// the tensors allow) and no config gave it under any of `configKeys`.
    case settingNotInCheckpoint(layout: String, setting: String, choices: String, configKeys: [String])
    case noGraphInput
    case invalidArchitecture(reason: String)
    case dataKeyMissing(key: String, available: [String])
    case invalidData(reason: String)
    case inputShapeMismatch(expected: [Int], actual: [Int])
    /// A checkpoint whose names are a known layout's but which it cannot run as it is (a config
    /// value contradicting the tensors, a variant or extra module the layout does not support).
    case unusableLayout(layout: String, reason: String)
    case unknownClass(String, available: [String])
    /// The graph output is not `[N, classes]` (or `[N, 1, …, classes]`) for a batch of N samples.
    case outputNotLogits(name: String, shape: [Int], batch: Int)

    public var description: String {
        switch self {
        case .missingTensor(let name, let shape): "missing tensor '\(Escaping.printable(name))' (expected shape \(shape))"
        case .shapeMismatch(let name, let expected, let actual): "tensor '\(Escaping.printable(name))' has shape \(actual), the architecture needs \(expected)"
        case .unsupportedDType(let name, let dtype): "tensor '\(Escaping.printable(name))' has dtype \(dtype), which cannot be computed on; convert it to F32"
        case .unrecognizedLayout(let reason): "cannot tell the architecture from the tensor names (\(Escaping.printable(reason)))"
        case .ambiguousLayout(let readings):
            "the tensor names fit \(readings.count) architectures: \(readings.map(Escaping.printable).joined(separator: "; ")); the checkpoint is ambiguous"
        case .settingNotInCheckpoint(let layout, let setting, let choices, let keys):
            "\(layout): the checkpoint does not fix the \(setting) (\(choices)); a config must set \(keys.map { "'\($0)'" }.joined(separator: " or "))"
        case .noGraphInput: "the ONNX graph has no input that is not an initializer"
        case .invalidArchitecture(let reason): "invalid architecture: \(Escaping.printable(reason))"
        case .dataKeyMissing(let key, let available):
            "no tensor '\(Escaping.printable(key))' (the file has: \(Escaping.printable(available.joined(separator: ", "))))"
        case .invalidData(let reason): "invalid data: \(Escaping.printable(reason))"
        case .inputShapeMismatch(let expected, let actual): "inputs have shape \(actual) per sample, the model expects \(expected)"
        case .unusableLayout(let layout, let reason): "\(layout): \(reason)"
        case .unknownClass(let name, let available):
            available.isEmpty
                ? "no class named '\(Escaping.printable(name))': the model has no class names (no id2label or label_names in its config); give class indices"
                : "no class named '\(Escaping.printable(name))' "
                    + "(the model's classes: \(available.prefix(20).map(Escaping.printable).joined(separator: ", "))\(available.count > 20 ? ", …" : ""))"
        case .outputNotLogits(let name, let shape, let batch):
            "the graph output '\(Escaping.printable(name))' has shape \(shape) for a batch of \(batch) samples; a classifier must output [\(batch), classes]"
        }
    }
}
