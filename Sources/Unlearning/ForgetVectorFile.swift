import Safeguards
import TensorCore
import WeightFormats

/// The forget-vector sidecar (`Formats/forget-vector.md`): a safetensors file with one F32 tensor
/// `delta` of the input shape and metadata saying what it is for and how to apply it.
public struct ForgetVectorFile: Sendable, Equatable {
    public static let format = "modelforget-forget-vector"

    public var delta: Tensor
    public var classes: [Int]
    public var placement: ForgetVector.Placement
    /// SHA-256 of the model file the vector was made for.
    public var modelSHA256: String
    /// For combined vectors: the source files and their coefficients.
    public var sources: [String]
    public var coefficients: [Double]
    /// Loss and optimiser settings, the selected epoch (strings, as written).
    public var settings: [String: String]

    public init(delta: Tensor, classes: [Int], placement: ForgetVector.Placement, modelSHA256: String,
                sources: [String] = [], coefficients: [Double] = [], settings: [String: String] = [:]) {
        self.delta = delta; self.classes = classes; self.placement = placement; self.modelSHA256 = modelSHA256
        self.sources = sources; self.coefficients = coefficients; self.settings = settings
    }

    static func list<T: LosslessStringConvertible>(_ values: [T]) -> String { values.map { String($0) }.joined(separator: ",") }
    static func parse<T: LosslessStringConvertible>(_ text: String?) -> [T]? {
        guard let text else { return [] }
        if text.isEmpty { return [] }
        let values = text.split(separator: ",").map { T(String($0)) }
        return values.contains { $0 == nil } ? nil : values.map { $0! }
    }

    public func write(to path: String) throws {
        var metadata = settings.reduce(into: [String: String]()) { $0["setting." + $1.key] = $1.value }
        metadata["format"] = Self.format
        metadata["version"] = "1"
        metadata["classes"] = Self.list(classes)
        metadata["space"] = placement.space.rawValue
        metadata["mean"] = Self.list(placement.mean)
        metadata["std"] = Self.list(placement.std)
        metadata["model_sha256"] = modelSHA256
        if !sources.isEmpty {
            metadata["sources"] = sources.joined(separator: "\n")
            metadata["coefficients"] = Self.list(coefficients)
        }
        let bytes = delta.data.withUnsafeBytes { Array($0) }
        try Checkpoint.write(to: path, tensors: [TensorInfo(name: "delta", dtype: .F32, shape: delta.shape)],
                             options: CheckpointWriteOptions(container: .safetensors, metadata: metadata)) { _, consume in
            try bytes.withUnsafeBytes { try consume($0) }
        }
    }

    public static func read(_ path: String) throws -> ForgetVectorFile {
        func fail(_ defect: ForgetVectorError) -> WeightFileError { WeightFileError(path: path, underlying: defect) }
        let file = try Checkpoint.open(path)
        guard file.metadata["format"] == format else { throw fail(.notAVectorFile) }
        guard file.metadata["version"] == "1" else { throw fail(.unsupportedVersion(file.metadata["version"] ?? "")) }
        guard let info = file.info(named: "delta"), info.dtype == .F32 else { throw fail(.missingDelta) }
        let values = try file.withBytes(of: "delta") { ElementCoding.decodeFloats($0, .F32) }
        guard let space = ForgetVector.Space(rawValue: file.metadata["space"] ?? ""),
              let classes: [Int] = parse(file.metadata["classes"]), let mean: [Double] = parse(file.metadata["mean"]),
              let std: [Double] = parse(file.metadata["std"]), let coefficients: [Double] = parse(file.metadata["coefficients"]),
              std.allSatisfy({ $0 > 0 }), mean.count == std.count else { throw fail(.malformedMetadata) }
        var settings: [String: String] = [:]
        for (key, value) in file.metadata where key.hasPrefix("setting.") { settings[String(key.dropFirst("setting.".count))] = value }
        return ForgetVectorFile(delta: Tensor(shape: info.shape, data: values), classes: classes,
                                placement: ForgetVector.Placement(space: space, mean: mean, std: std),
                                modelSHA256: file.metadata["model_sha256"] ?? "",
                                sources: file.metadata["sources"].map { $0.split(separator: "\n").map(String.init) } ?? [],
                                coefficients: coefficients, settings: settings)
    }

    /// `Σ_k w_k δ_k`: the vectors must share shape, space, normalisation and (unless `force`) model.
    public static func combine(_ parts: [(path: String, file: ForgetVectorFile)], weights: [Double], force: Bool) throws -> ForgetVectorFile {
        guard let first = parts.first?.file, parts.count == weights.count else { throw ForgetVectorError.weightCount(parts.count, weights.count) }
        var delta = Tensor(zeros: first.delta.shape)
        for ((path, file), weight) in zip(parts, weights) {
            guard file.delta.shape == first.delta.shape else {
                throw WeightFileError(path: path, underlying: ForgetVectorError.shapeMismatch(expected: first.delta.shape, found: file.delta.shape))
            }
            guard file.placement == first.placement else { throw WeightFileError(path: path, underlying: ForgetVectorError.spaceMismatch) }
            guard force || file.modelSHA256 == first.modelSHA256 else {
                throw WeightFileError(path: path, underlying: ForgetVectorError.modelMismatch(expected: first.modelSHA256, found: file.modelSHA256))
            }
            for i in 0..<delta.count { delta.data[i] += Float(weight * Double(file.delta.data[i])) }
        }
        let classes = Set(zip(parts, weights).filter { $0.1 != 0 }.flatMap { $0.0.file.classes }).sorted()
        return ForgetVectorFile(delta: delta, classes: classes, placement: first.placement, modelSHA256: first.modelSHA256,
                                sources: parts.map(\.path), coefficients: weights)
    }

    /// Checks that the vector fits samples of `sampleShape` and (unless `force`) the model whose
    /// SHA-256 is `modelSHA256`.
    public func check(sampleShape: [Int], modelSHA256 sha: String?, force: Bool) throws {
        guard delta.shape == sampleShape else { throw ForgetVectorError.shapeMismatch(expected: sampleShape, found: delta.shape) }
        if let sha, !force, sha != modelSHA256 { throw ForgetVectorError.modelMismatch(expected: sha, found: modelSHA256) }
    }
}
