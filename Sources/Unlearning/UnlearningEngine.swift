import ModelRuntime
import TensorCore

/// One engine's own settings; the samples it may use are shared by every engine
/// (``SampleSelection/Configuration``).
public protocol EngineSettings: Sendable, Equatable {
    /// The defaults.
    init()
}

/// Settings that the audit record states, together with the samples, as one flat `configuration`
/// object (`Formats/report.md`).
public protocol AuditedSettings: EngineSettings {
    func encode(with selection: SampleSelection.Configuration, to encoder: any Encoder) throws
}

/// The samples (shared by every engine) and one engine's settings: what a run is configured by.
public struct EngineConfiguration<Settings: EngineSettings>: Sendable, Equatable {
    public var selection: SampleSelection.Configuration
    public var settings: Settings

    public init(selection: SampleSelection.Configuration, settings: Settings = Settings()) {
        self.selection = selection
        self.settings = settings
    }

    /// The default settings and samples for forgetting `forgetClasses`.
    public init(forgetClasses: [Int]) { self.init(selection: .init(forgetClasses: forgetClasses)) }
}

extension EngineConfiguration: Encodable where Settings: AuditedSettings {
    public func encode(to encoder: any Encoder) throws { try settings.encode(with: selection, to: encoder) }
}

/// An engine that removes classes by editing weights: what an ``UnlearningRequest`` dispatches on.
public protocol WeightEditingEngine {
    associatedtype Settings: AuditedSettings
    associatedtype Result: EngineResult

    /// Runs the engine on `model` with the labelled `data` (and stored `statistics`, if given).
    /// - Parameter clock: seconds since some origin, for the timings of the audit record.
    static func run(_ model: Model, data: Dataset, statistics: StatisticsFile?, configuration: EngineConfiguration<Settings>,
                    clock: () -> Double, progress: ((String, Int, Int) -> Void)?) throws -> Result
}

/// What an engine's run hands to the written checkpoint and the audit record.
public protocol EngineResult {
    /// The new values of the edited weights, by parameter name.
    var editedWeights: [String: Tensor] { get }
    /// Which samples the engine used.
    var selection: SampleSelection { get }
    /// Seconds per phase.
    var timings: [String: Double] { get }
    /// `modelforget.*` metadata keys the engine adds to the written checkpoint.
    var provenance: [String: String] { get }
    /// The engine's settings and figures, as the audit record states them.
    var details: AuditRecord.Details { get }
    /// How the kept edit fares against the contract on the validation split, for engines that
    /// check one.
    var contractVerdict: UnlearningContract.Verdict? { get }
}

extension EngineResult {
    public var contractVerdict: UnlearningContract.Verdict? { nil }
}
