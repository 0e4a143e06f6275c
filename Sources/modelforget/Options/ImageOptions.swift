import ArgumentParser
import Foundation
import ImageData
import ModelRuntime

/// A size argument: `N` or `HxW`.
struct SizeArgument: ExpressibleByArgument {
    let height: Int
    let width: Int
    let square: Bool

    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard (parts.count == 1 || parts.count == 2), parts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        height = parts[0]!
        width = parts.count == 2 ? parts[1]! : parts[0]!
        square = parts.count == 1
    }

    var size: Preprocessing.Size { .init(height: height, width: width) }
}

/// How image sources (`--data images/`, a manifest, WebDataset shards) become model inputs.
///
/// The pipeline comes from, in order: these flags; the model folder's `preprocessor_config.json`
/// (transformers) or `config.json` `pretrained_cfg` (timm); defaults (RGB, or the model's declared
/// input channels; no resize; ToTensor; no normalisation).
struct ImageOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Images: the model's input size N or HxW; resize the shorter side to N and centre-crop (unless --resize/--crop say otherwise).", valueName: "size"))
    var imageSize: SizeArgument?

    @Option(help: ArgumentHelp("Images: resize the shorter side to N, or to exactly HxW.", valueName: "size"))
    var resize: SizeArgument?

    @Option(help: ArgumentHelp("Images: centre-crop to N×N or HxW after resizing.", valueName: "size"))
    var crop: SizeArgument?

    @Option(help: ArgumentHelp("Images: resampling filter of the resize, as PIL does it.", valueName: "bilinear|bicubic|lanczos|box|hamming|nearest"))
    var interpolation: String?

    @Option(help: ArgumentHelp("Images: 1 (grayscale, PIL's convert(\"L\")) or 3 (RGB); default: the model's input channels, else 3.", valueName: "n"))
    var channels: Int?

    @Flag(help: "Images: leave out images that cannot be decoded (counted and reported) instead of stopping.")
    var skipBadImages = false

    @Option(help: ArgumentHelp("Images: refuse images with more pixels than this (checked on the header).", valueName: "n"))
    var maxImagePixels = 100_000_000

    func validate() throws {
        if let interpolation, Interpolation(name: interpolation) == nil {
            throw ValidationError("--interpolation must be one of bilinear, bicubic, lanczos, box, hamming, nearest")
        }
        if let channels, channels != 1 && channels != 3 { throw ValidationError("--channels must be 1 or 3") }
        guard maxImagePixels > 0 else { throw ValidationError("--max-image-pixels must be positive") }
    }

    /// The image loading for `data` when it is an image source (defaults otherwise, unused):
    /// configuration of the model at `model.model`, overridden by these flags and `mean`/`std`
    /// (comma-separated lists).
    func loading(for data: [String?], model: ModelOptions?, mean: String?, std: String?) throws -> ImageLoading {
        guard data.contains(where: { $0.map(ImageCollection.recognizes) ?? false }) else { return ImageLoading() }
        var config = ModelImageConfig()
        if let path = model?.model {
            do { config = try ModelImageConfig.load(model: path) } catch let error as ImageSourceError {
                throw CommandFailure(error.description)
            }
        }
        var p = config.preprocessing ?? Preprocessing()
        var flags: [String] = []
        if let channels {
            p.channels = channels
            flags.append("--channels")
        } else if config.preprocessing == nil, let model, let declared = try? Model.load(model.model, architecture: model.architecture.arch).sampleShape,
                  declared.count == 3, declared[0] == 1 || declared[0] == 3 {
            p.channels = declared[0]
            p.origin = "the model's input shape \(declared.map(String.init).joined(separator: "×"))"
        }
        if let imageSize {
            p.resize = imageSize.square ? .shorterSide(imageSize.height) : .exact(imageSize.size)
            p.crop = imageSize.size
            flags.append("--image-size")
        }
        if let resize {
            p.resize = resize.square ? .shorterSide(resize.height) : .exact(resize.size)
            flags.append("--resize")
        }
        if let crop {
            p.crop = crop.size
            flags.append("--crop")
        }
        if let interpolation {
            p.interpolation = Interpolation(name: interpolation)!
            flags.append("--interpolation")
        }
        if let mean, let std {
            p.mean = try Self.numbers(mean, "--mean")
            p.std = try Self.numbers(std, "--std")
            flags.append("--mean/--std")
        }
        if !flags.isEmpty {
            p.origin = (config.preprocessing == nil ? "" : p.origin + " with ") + flags.joined(separator: ", ")
        }
        if let problem = p.problem { throw ValidationError(problem) }
        return ImageLoading(preprocessing: p, decoder: ImageDecoder(maxPixels: maxImagePixels), skipBadImages: skipBadImages,
                            labelNames: config.labelNames)
    }

    static func numbers(_ text: String, _ flag: String) throws -> [Double] {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw ValidationError("\(flag) must be comma-separated numbers") }
        return values.map { $0! }
    }

    /// On stderr (unless `quiet`): what an image data set holds and how it was prepared.
    static func describe(_ dataset: Dataset, path: String, quiet: Bool) {
        guard !quiet, let images = dataset.imageSamples else { return }
        let summary = images.summary
        Terminal.note("\(path): \(summary.samples) images, \(summary.samplesPerClass.count) classes (\(summary.labelRuleText)); "
            + "\(summary.pipeline) (from \(summary.preprocessingFrom))")
        if summary.skipped > 0 {
            Terminal.note("\(path): skipped \(summary.skipped) image\(summary.skipped == 1 ? "" : "s") that cannot be decoded, e.g. \(summary.skippedExamples[0])")
        }
        for note in summary.notes { Terminal.note("\(path): \(note)") }
    }
}

/// `--mean` and `--std` of the image pipeline, for commands that have no normalisation options of their own.
struct NormalizationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Images: per-channel means to subtract after ToTensor (with --std).", valueName: "list"))
    var mean: String?

    @Option(help: ArgumentHelp("Images: per-channel standard deviations to divide by (with --mean).", valueName: "list"))
    var std: String?

    func validate() throws {
        guard (mean == nil) == (std == nil) else { throw ValidationError("give --mean and --std together") }
    }
}
