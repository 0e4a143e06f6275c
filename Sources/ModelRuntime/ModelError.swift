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

    public var description: String {
        switch self {
        case .missingTensor(let name, let shape): "missing tensor '\(name)' (expected shape \(shape))"
        case .shapeMismatch(let name, let expected, let actual): "tensor '\(name)' has shape \(actual), the architecture needs \(expected)"
        case .unsupportedDType(let name, let dtype): "tensor '\(name)' has dtype \(dtype), which cannot be computed on; convert it to F32"
        case .unrecognizedLayout(let reason): "cannot tell the architecture from the tensor names (\(reason))"
        case .ambiguousLayout(let readings):
            "the tensor names fit \(readings.count) architectures: \(readings.joined(separator: "; ")); the checkpoint is ambiguous"
        case .settingNotInCheckpoint(let layout, let setting, let choices, let keys):
            "\(layout): the checkpoint does not fix the \(setting) (\(choices)); a config must set \(keys.map { "'\($0)'" }.joined(separator: " or "))"
        case .noGraphInput: "the ONNX graph has no input that is not an initializer"
        case .invalidArchitecture(let reason): "invalid architecture: \(reason)"
        case .dataKeyMissing(let key, let available): "no tensor '\(key)' (the file has: \(available.joined(separator: ", ")))"
        case .invalidData(let reason): "invalid data: \(reason)"
        case .inputShapeMismatch(let expected, let actual): "inputs have shape \(actual) per sample, the model expects \(expected)"
        case .unusableLayout(let layout, let reason): "\(layout): \(reason)"
        case .unknownClass(let name, let available):
            available.isEmpty
                ? "no class named '\(escapedForMessage(name))': the model has no class names (no id2label or label_names in its config); give class indices"
                : "no class named '\(escapedForMessage(name))' (the model's classes: \(available.prefix(20).map(escapedForMessage).joined(separator: ", "))\(available.count > 20 ? ", …" : ""))"
        }
    }
}
