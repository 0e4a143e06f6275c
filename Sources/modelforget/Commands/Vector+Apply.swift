import ArgumentParser
import ImageData
import ModelRuntime
import Unlearning
import WeightFormats

extension Vector {
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write inputs with a forget vector added, for runtimes that do not add it themselves.")

        @Argument(help: "The forget vector.")
        var vector: String

        @Option(help: ArgumentHelp("Samples: npz or safetensors, or images (a folder per class, a manifest, WebDataset shards).", valueName: "path"))
        var inputs: String

        @OptionGroup var input: InputKeyOption

        @Option(help: ArgumentHelp("With images: the model (folder) whose preprocessing config prepares them.", valueName: "model"))
        var model: String?

        @OptionGroup var images: ImageOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("The .npz file to write (x plus δ in the model's input space; y copied if present).", valueName: "file"))
        var output: String

        func validate() throws {
            guard output.hasSuffix(".npz") else { throw ValidationError("-o must name a .npz file: \(output)") }
        }

        func run() throws {
            let file = try ForgetVectorFile.read(vector)
            // Images are prepared as the model expects (its folder's config, these flags); a
            // pixel-space vector's normalisation is the pipeline's when nothing else gives one.
            let options = try model.map { try ModelOptions.forFile($0, architecture: ArchitectureOption.parse([]), batch: BatchSizeOption.parse([]), verbosity: .silent) }
            let normalization = file.placement.std.isEmpty ? nil : file.placement
            let loading = try images.loading(for: [inputs], model: options, mean: normalization.map { $0.mean.map { "\($0)" }.joined(separator: ",") },
                                             std: normalization.map { $0.std.map { "\($0)" }.joined(separator: ",") })
            let dataset = try Dataset.load(inputs, xKey: input.xKey, yKey: "y", images: loading)
            do { try file.check(sampleShape: dataset.sampleShape, modelSHA256: nil, force: true) } catch {
                throw CommandFailure(inputs, error)
            }
            var x = try dataset.batch(0..<dataset.count)
            Evaluation.addToEverySample(&x, file.placement.modelOffset(file.delta))
            let labels = dataset.labels.map { $0.map(Int64.init) }
            var tensors = [TensorInfo(name: "x", dtype: .F32, shape: x.shape)]
            if let labels { tensors.append(TensorInfo(name: "y", dtype: .I64, shape: [labels.count])) }
            do {
                try NPZWriter.write(to: output, tensors: tensors, compression: .stored) { info, consume in
                    if info.name == "x" { try x.data.withUnsafeBytes { try consume($0) } } else { try labels!.withUnsafeBytes { try consume($0) } }
                }
            } catch {
                throw WeightFileError(path: output, underlying: error)
            }
        }
    }
}
