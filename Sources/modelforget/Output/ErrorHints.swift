import ModelRuntime
import Unlearning
import WeightFormats

/// What to change on the command line for a library error: the library's messages say what is
/// wrong without naming flags; the CLI adds the flag that fixes it.
enum ErrorHints {
    /// The flag hint for `error`, or `nil`.
    static func hint(for error: any Error) -> String? {
        switch error {
        case let error as WeightFileError: hint(for: error.underlying)
        case UnlearningError.noLabels: "give a file with y (or --y-key)"
        case UnlearningError.noEpochWithinRetainLimit: "lower --lr-start or raise --max-retain-drop"
        case UnlearningError.noEpochWithinRetainDamage: "lower --lr-start, or add retained-class samples to --data so retain accuracy can be measured"
        case ForgetVectorError.modelMismatch: "pass --force to use it anyway"
        case ModelError.unrecognizedLayout: "give --arch with an ONNX file, an architecture spec or a model config"
        case ModelError.settingNotInCheckpoint(_, _, _, let keys): "give --arch with a JSON config setting it, e.g. {\"\(keys.first ?? "num_heads")\": N}"
        case ModelError.dataKeyMissing: "choose one with --x-key/--y-key"
        case NPYError.unwritableDType: "use --dtype F32"
        case StatisticsError.missingShards: "collect the missing parts, or pass --allow-partial to merge these"
        default: nil
        }
    }

    /// `error`'s message followed by its hint.
    static func text(of error: any Error) -> String {
        hint(for: error).map { "\(error); \($0)" } ?? "\(error)"
    }

    /// The one-line message of a file error: `FILE: what is wrong; hint`.
    static func line(for error: WeightFileError) -> String {
        hint(for: error.underlying).map { "\(error.description); \($0)" } ?? error.description
    }
}
