import Safeguards

public enum ForgetVectorError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAVectorFile
    case unsupportedVersion(String)
    case missingDelta
    case malformedMetadata
    case shapeMismatch(expected: [Int], found: [Int])
    case spaceMismatch
    case modelMismatch(expected: String, found: String)
    case weightCount(Int, Int)

    public var description: String {
        switch self {
        case .notAVectorFile: "not a forget vector (metadata format is not \(ForgetVectorFile.format)); make one with modelforget vector make"
        case .unsupportedVersion(let v): "forget vector version '\(Escaping.printable(v))' is not supported (expected 1)"
        case .missingDelta: "the file has no F32 tensor 'delta'"
        case .malformedMetadata: "malformed forget-vector metadata (space, classes, mean, std or coefficients)"
        case .shapeMismatch(let expected, let found): "the vector has shape \(found) but the inputs are \(expected)"
        case .spaceMismatch: "the vectors live in different spaces or normalisations; combine only vectors made alike"
        case .modelMismatch(let expected, let found):
            "the vector was made for the model with SHA-256 \(Escaping.printable(String(found.prefix(12))))…, not \(Escaping.printable(String(expected.prefix(12))))…"
        case .weightCount(let files, let weights): "\(files) vector(s) but \(weights) weight(s); give one weight per vector"
        }
    }
}
