import ArgumentParser
import ImageData
import ModelRuntime
import WeightFormats

/// `--x-key`: which tensor of a data file holds the inputs.
struct InputKeyOption: ParsableArguments {
    @Option(help: "Name of the input tensor in the data file.")
    var xKey = "x"

    /// Reads unlabelled inputs from `path` (a data file, or an image source prepared by `images`,
    /// described on stderr unless `quiet`).
    func load(_ path: String, images: ImageLoading = ImageLoading(), quiet: Bool = true) throws -> Dataset {
        let dataset = try Dataset.load(path, xKey: xKey, yKey: nil, images: images)
        ImageOptions.describe(dataset, path: path, quiet: quiet)
        return dataset
    }
}

/// `--x-key` and `--y-key`: which tensors of a data file hold inputs and labels.
struct DataKeys: ParsableArguments {
    @OptionGroup var input: InputKeyOption

    @Option(help: "Name of the label tensor in the data file.")
    var yKey = "y"

    /// Reads labelled samples from `path` (a data file, or an image source prepared by `images`,
    /// described on stderr unless `quiet`).
    func load(_ path: String, images: ImageLoading = ImageLoading(), quiet: Bool = true) throws -> Dataset {
        let dataset = try Dataset.load(path, xKey: input.xKey, yKey: yKey, images: images)
        ImageOptions.describe(dataset, path: path, quiet: quiet)
        return dataset
    }
}

/// Class lists such as `5,7` or `cat,dog`: whole numbers are class indices, other words class
/// names from the model's config (`id2label`, `label_names`), resolved once the model is loaded.
struct ClassList: ExpressibleByArgument {
    let tokens: [String]

    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && (Int($0).map { $0 >= 0 } ?? true) }) else { return nil }
        tokens = parts
    }

    /// The class indices for `model` (loaded from `path`, which errors name).
    func indices(for model: Model, path: String) throws -> [Int] {
        do { return try model.classIndices(tokens) } catch { throw WeightFileError(path: path, underlying: error) }
    }
}

/// Comma-separated numbers, e.g. `1,-0.5`; `nil` when any part is not a number.
func numberList(_ text: String) -> [Double]? {
    let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    return values.isEmpty || values.contains(where: { $0 == nil }) ? nil : values.map { $0! }
}

/// `--classes`, `--data` and its keys: what to forget, and the labelled samples to do it with.
struct ForgetRequestOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Classes to forget: indices (5,7) or names from the model's config (cat,dog).", valueName: "list"))
    var classes: ClassList

    @Option(help: ArgumentHelp("Labelled samples (npz or safetensors with x and y): retain and forget samples come from here.", valueName: "file"))
    var data: String

    @OptionGroup var keys: DataKeys
}
