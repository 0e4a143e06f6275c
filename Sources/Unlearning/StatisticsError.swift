public enum StatisticsError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAStatisticsFile
    case unsupportedVersion(String)
    case malformedTensor(String)
    case differentModels

    public var description: String {
        switch self {
        case .notAStatisticsFile: "not a statistics file (its metadata lacks format: modelforget-stats); make one with modelforget stats collect"
        case .unsupportedVersion(let v): "statistics file version '\(v)' is not supported (expected 1)"
        case .malformedTensor(let name): "malformed statistics tensor '\(name)'"
        case .differentModels: "the statistics were collected on a model with other weight layers; collect them on this model"
        }
    }
}
