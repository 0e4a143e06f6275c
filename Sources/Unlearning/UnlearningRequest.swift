import Dispatch
import ModelRuntime
import TensorCore
import WeightFormats

/// One request to remove classes from a classifier by editing its weights: the library's entry
/// point for what `modelforget apply` does.
///
/// ```swift
/// let data = try Dataset.load("Samples/digits-train.npz")
/// var request = try UnlearningRequest(model: "Samples/cnn.safetensors", classes: [5, 7], data: data)
/// request.method = .svd(SVDUnlearning.Settings(search: true))
/// let result = try request.perform()
/// let record = try result.write(to: "cnn.forget-5-7.safetensors")
/// print(record.summary.text)
/// ```
///
/// ``perform()`` never writes: it selects samples, runs the engine, and (with
/// ``evaluationData``) evaluates the model before and after. ``UnlearningResult/write(to:)``
/// writes the edited checkpoint in the format of ``weights`` and returns the audit record.
public struct UnlearningRequest {
    /// The unlearning method and its own settings.
    public enum Method: Sendable, Equatable {
        /// SVD projection (gradient-free), `docs/methods.md` §2.
        case svd(SVDUnlearning.Settings)
        /// Projected-gradient unlearning, `docs/methods.md` §3.
        case pgu(PGUUnlearning.Settings)
        /// The cheapest method that meets the contract on the validation split: SVD projection with
        /// the contract search first, then SVD followed by a retain repair, or, from statistics and
        /// forget samples alone, statistics-only PGU (``UnlearningRequest/performAuto(_:)``).
        case auto(UnlearningContract)

        /// The name the audit record and the provenance metadata use.
        public var name: String {
            switch self {
            case .svd: "svd"
            case .pgu: "pgu"
            case .auto: "auto"
            }
        }
    }

    /// A value read from a file, and the name (a path) the audit record gives it.
    public struct Named<Value> {
        public var value: Value
        public var name: String

        public init(_ value: Value, name: String) {
            self.value = value
            self.name = name
        }
    }

    /// The model to run (its graph and parameters).
    public var model: Model
    /// The checkpoint the model's weights come from; the result is written in its format, with
    /// every tensor the engine does not edit copied byte for byte.
    public var weights: any CheckpointReader
    /// Labelled samples: retain and forget samples (and a validation split) come from here.
    public var data: Dataset
    /// The forget classes and which samples the engine may use.
    public var selection: SampleSelection.Configuration
    public var method: Method = .auto(UnlearningContract())
    /// `auto`: what the retain repair after the projection fits the retain samples to.
    public var repairTarget = RepairTarget.standard
    /// Per-class statistics collected earlier (`stats collect`), replacing the statistics pass
    /// over ``data`` (SVD) or giving the retain spaces (PGU).
    public var statistics: Named<StatisticsFile>?
    /// Labelled test samples: accuracies before and after go into the result and the record.
    public var evaluationData: Named<Dataset>?
    /// Seconds since some origin, for the timings of the record.
    public var clock: () -> Double = UnlearningRequest.uptime
    /// Progress of long phases: (phase, done, total).
    public var progress: ((String, Int, Int) -> Void)?

    /// A request for `model` whose weights are in `weights`.
    public init(model: Model, weights: any CheckpointReader, classes: [Int], data: Dataset) {
        self.model = model
        self.weights = weights
        self.data = data
        selection = SampleSelection.Configuration(forgetClasses: classes)
    }

    /// A request for the model stored at `path` (the architecture from the file, `architecture`,
    /// or the checkpoint's names; see ``Model/load(_:architecture:sampleShape:)``).
    public init(model path: String, architecture: String? = nil, classes: [Int], data: Dataset) throws {
        let model = try Model.load(path, architecture: architecture, sampleShape: data.sampleShape)
        self.init(model: model, weights: try Checkpoint.open(path), classes: classes, data: data)
    }

    /// The forget classes.
    public var classes: [Int] { selection.forgetClasses }

    /// The contract the method checks, if any.
    public var contract: UnlearningContract? {
        switch method {
        case .auto(let contract): contract
        case .svd(let settings): settings.contract
        case .pgu: nil
        }
    }

    /// Seconds since boot (monotonic).
    public static func uptime() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
