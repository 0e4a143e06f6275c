import ArgumentParser
import Foundation
import ImageData
import ModelRuntime

extension DataCommand {
    struct InspectImages: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inspect",
            abstract: "Count the samples per class of an image source and show how they will be preprocessed.",
            discussion: """
                SOURCE is an image folder (ROOT/CLASS/*.jpg|png|webp, classes by sorted name as \
                torchvision's ImageFolder, or by the model's label names), a manifest (CSV or JSON \
                Lines with path and label) or WebDataset tar shards (shard-{000000..000009}.tar). \
                Every image header is read; no image is decoded.

                Examples:
                  $ modelforget data inspect Samples/digits-test-images
                  $ modelforget data inspect photos/ --model vit-folder/ --json
                """)

        @Argument(help: "The image folder, manifest or shard pattern.")
        var source: String

        @Option(help: ArgumentHelp("A model (file or folder): its preprocessing configuration and label names apply.", valueName: "path"))
        var model: String?

        @OptionGroup var architecture: ArchitectureOption

        @OptionGroup var images: ImageOptions

        @OptionGroup var normalization: NormalizationOptions

        @Flag(help: "Print JSON with the keys source, inspection.")
        var json = false

        func run() throws {
            guard ImageCollection.recognizes(source) else {
                throw CommandFailure("\(source): not an image source (a folder, a .csv/.jsonl manifest, or .tar shards)")
            }
            let modelOptions = try model.map { try ModelOptions.forFile($0, architecture: architecture, batch: BatchSizeOption(), verbosity: .silent) }
            let loading = try images.loading(for: [source], model: modelOptions, mean: normalization.mean, std: normalization.std)
            let collection: ImageCollection
            do { collection = try ImageCollection.open(source, labelNames: loading.labelNames) } catch let error as ImageSourceError {
                throw CommandFailure(error.description)
            }
            let inspection = collection.inspect(decoder: loading.decoder)
            let samples: ImageSamples
            do {
                samples = try ImageSamples(collection, loading: ImageLoading(preprocessing: loading.preprocessing, decoder: loading.decoder,
                                                                             skipBadImages: false, labelNames: loading.labelNames))
            } catch let error as ImageFileError {
                throw CommandFailure(error.description)
            } catch let error as ImageSourceError {
                throw CommandFailure(error.description)
            }
            let summary = samples.summary
            if json {
                Terminal.print(try jsonText(Report(source: summary, inspection: inspection)))
            } else {
                Terminal.print(text(summary, inspection))
            }
        }

        struct Report: Encodable {
            let source: ImageSourceSummary
            let inspection: ImageInspection
        }

        func text(_ s: ImageSourceSummary, _ i: ImageInspection) -> String {
            let kinds: [ImageCollection.Kind: String] = [.imageFolder: "image folder", .manifest: "manifest", .webDataset: "WebDataset shards"]
            var lines = ["source: \(s.path) (\(kinds[s.kind]!), \(s.samples) images)"]
            lines.append("classes: \(s.samplesPerClass.count) (\(s.labelRuleText))")
            let rows = s.samplesPerClass.keys.sorted { Int($0)! < Int($1)! }.map { [$0, s.classNames[$0] ?? "-", String(s.samplesPerClass[$0]!)] }
            lines += alignedTable(header: ["CLASS", "NAME", "IMAGES"], rows: rows, rightAligned: [2]).map { "  " + $0 }
            func counts(_ d: [String: Int]) -> String { d.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
            lines.append("formats: \(counts(i.formats))")
            lines.append("colour: \(counts(i.colorModels))")
            if let w = i.widths, let h = i.heights {
                let common = i.commonSizes.prefix(3).map { "\($0.width)×\($0.height) (\($0.images))" }.joined(separator: ", ")
                lines.append("sizes: width \(w.lowerBound)–\(w.upperBound), height \(h.lowerBound)–\(h.upperBound); \(i.distinctSizes) distinct, most common \(common)")
            }
            if i.unreadable > 0 { lines.append("unreadable: \(i.unreadable), e.g. \(i.unreadableExamples[0])") }
            lines.append("preprocessing (from \(s.preprocessingFrom)): \(s.pipeline)")
            lines.append("samples: \(s.sampleShape.map(String.init).joined(separator: "×")) each")
            for note in s.notes { lines.append("note: \(note)") }
            return lines.joined(separator: "\n")
        }
    }
}
