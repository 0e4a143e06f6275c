import Safeguards
import WeightFormats

/// Errors turning weight files into runnable models; each says which tensor or option to fix.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    case missingTensor(name: String, expectedShape: [Int])
    case shapeMismatch(name: String, expected: [Int], actual: [Int])
    case unsupportedDType(name: String, dtype: DType)
    case unrecognizedLayout(reason: String)
    case noGraphInput
    case invalidArchitecture(reason: String)
    case dataKeyMissing(key: String, available: [String])
    case invalidData(reason: String)
    case inputShapeMismatch(expected: [Int], actual: [Int])
    /// The graph output is not `[N, classes]` (or `[N, 1, …, classes]`) for a batch of N samples.
    case outputNotLogits(name: String, shape: [Int], batch: Int)

    public var description: String {
        switch self {
        case .missingTensor(let name, let shape): "missing tensor '\(Escaping.printable(name))' (expected shape \(shape))"
        case .shapeMismatch(let name, let expected, let actual): "tensor '\(Escaping.printable(name))' has shape \(actual), the architecture needs \(expected)"
        case .unsupportedDType(let name, let dtype): "tensor '\(Escaping.printable(name))' has dtype \(dtype), which cannot be computed on; convert it to F32"
        case .unrecognizedLayout(let reason): "cannot tell the architecture from the tensor names (\(Escaping.printable(reason))); give --arch with an ONNX file or an architecture spec"
        case .noGraphInput: "the ONNX graph has no input that is not an initializer"
        case .invalidArchitecture(let reason): "invalid architecture: \(Escaping.printable(reason))"
        case .dataKeyMissing(let key, let available): "no tensor '\(Escaping.printable(key))' (the file has: \(Escaping.printable(available.joined(separator: ", ")))); choose one with --x-key/--y-key"
        case .invalidData(let reason): "invalid data: \(Escaping.printable(reason))"
        case .inputShapeMismatch(let expected, let actual): "inputs have shape \(actual) per sample, the model expects \(expected)"
        case .outputNotLogits(let name, let shape, let batch):
            "the graph output '\(Escaping.printable(name))' has shape \(shape) for a batch of \(batch) samples; a classifier must output [\(batch), classes]"
        }
    }
}
