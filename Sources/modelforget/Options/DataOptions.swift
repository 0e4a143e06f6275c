import ArgumentParser
import ImageData
import ModelRuntime

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

/// Class lists such as `5,7`.
struct ClassList: ExpressibleByArgument {
    let classes: [Int]

    init?(argument: String) {
        let parts = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        classes = parts.map { $0! }
    }
}

/// Comma-separated numbers, e.g. `1,-0.5`; `nil` when any part is not a number.
func numberList(_ text: String) -> [Double]? {
    let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    return values.isEmpty || values.contains(where: { $0 == nil }) ? nil : values.map { $0! }
}

/// `--classes`, `--data` and its keys: what to forget, and the labelled samples to do it with.
struct ForgetRequestOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Classes to forget, e.g. 5,7.", valueName: "list"))
    var classes: ClassList

    @Option(help: ArgumentHelp("Labelled samples (npz or safetensors with x and y): retain and forget samples come from here.", valueName: "file"))
    var data: String

    @OptionGroup var keys: DataKeys

    /// The forget classes.
    var forgetClasses: [Int] { classes.classes }
}
