import Safeguards

public enum StatisticsError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAStatisticsFile
    case unsupportedVersion(String)
    case malformedTensor(String)
    case malformedMetadata(String)
    case differentModels
    /// A part collected on another model file than `reference` (SHA-256s; `nil`: not recorded).
    case otherModel(found: String?, expected: String?, reference: String)
    /// A part collected on other data than `reference` (fingerprints; `nil`: not recorded).
    case otherData(found: String?, expected: String?, reference: String)
    /// A part collected with another setting than `reference`.
    case otherSetting(String, found: String, expected: String, reference: String)
    /// A part of a data set cut into another number of parts than `reference`.
    case otherShardCount(found: ShardSet, expected: ShardSet, reference: String)
    /// Part `i` of `count` is also in `other`.
    case duplicateShard(Int, count: Int, other: String)
    case missingShards([Int], count: Int)
    /// Parts collected before provenance was recorded cannot be checked against the others.
    case noProvenance
    /// A complete set of parts whose sample counts do not add up to the data set's.
    case sampleCount(parts: Int, data: Int)

    public var description: String {
        func short(_ hash: String?) -> String { hash.map { Escaping.printable(String($0.prefix(12))) + "…" } ?? "not recorded" }
        func text(_ s: String) -> String { Escaping.printable(s) }
        return switch self {
        case .notAStatisticsFile: "not a statistics file (its metadata lacks format: modelforget-stats); make one with modelforget stats collect"
        case .unsupportedVersion(let v): "statistics file version '\(text(v))' is not supported (expected 1)"
        case .malformedTensor(let name): "malformed statistics tensor '\(text(name))'"
        case .malformedMetadata(let name): "malformed statistics metadata '\(text(name))'"
        case .differentModels: "the statistics were collected on a model with other weight layers; collect them on this model"
        case .otherModel(let found, let expected, let reference):
            "collected on another model (SHA-256 \(short(found)), \(text(reference)): \(short(expected))); collect every part on the same model file"
        case .otherData(let found, let expected, let reference):
            "collected on other data (fingerprint \(short(found)), \(text(reference)): \(short(expected))); collect every part on the same data set"
        case .otherSetting(let name, let found, let expected, let reference):
            "collected with \(name) \(text(found)), \(text(reference)) with \(text(expected)); collect every part with the same settings"
        case .otherShardCount(let found, let expected, let reference):
            "holds parts \(found), \(text(reference)) parts \(expected); merge the parts of one --shard i/n cut"
        case .duplicateShard(let part, let count, let other): "holds part \(part)/\(count), as does \(text(other)); give each part once"
        case .missingShards(let parts, let count):
            "part\(parts.count == 1 ? "" : "s") \(ShardSet.ranges(parts)) of \(count) missing"
        case .noProvenance: "has no provenance (written by an older modelforget) while the other parts have; collect it again"
        case .sampleCount(let parts, let data): "the parts hold \(parts) samples, the data set \(data)"
        }
    }
}
