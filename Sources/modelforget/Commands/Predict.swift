import ArgumentParser
import Foundation
import ModelRuntime
import TensorCore
import WeightFormats

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a classifier's logits and predicted labels for every input.",
        discussion: """
            Runs MODEL on every sample of --inputs and writes OUT.npz with `logits` (float32, \
            N × classes) and `labels` (int64, N: the index of the largest logit).

            Example:
              $ modelforget predict Samples/vit.onnx --inputs Samples/digits-test.npz -o /tmp/vit-logits.npz
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: ArgumentHelp("Samples (npz or safetensors).", valueName: "file"))
    var inputs: String

    @OptionGroup var input: InputKeyOption

    @OptionGroup var vectorOptions: VectorOptions

    @OptionGroup var images: ImageOptions

    @OptionGroup var normalization: NormalizationOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("The .npz file to write.", valueName: "out"))
    var output: String

    func validate() throws {
        guard output.hasSuffix(".npz") else { throw ValidationError("-o must name a .npz file: \(output)") }
    }

    func run() throws {
        let loading = try images.loading(for: [inputs], model: options, mean: normalization.mean, std: normalization.std)
        let dataset = try input.load(inputs, images: loading, quiet: options.quiet)
        let model = try options.load(for: dataset, path: inputs)
        let offset = try vectorOptions.offset(sampleShape: dataset.sampleShape, modelPath: options.model)
        let logits: Tensor
        do {
            logits = try Evaluation.logits(model, dataset, batchSize: options.batchSize(for: dataset, model: model), offset: offset, progress: options.progress("predict"))
        } catch {
            throw CommandFailure(options.model, error)
        }
        let labels = Evaluation.predictions(logits).map { Int64($0) }
        do {
            try NPZWriter.write(to: output, tensors: [TensorInfo(name: "logits", dtype: .F32, shape: logits.shape),
                                                      TensorInfo(name: "labels", dtype: .I64, shape: [labels.count])],
                                compression: .stored) { info, consume in
                if info.name == "logits" { try logits.data.withUnsafeBytes { try consume($0) } } else { try labels.withUnsafeBytes { try consume($0) } }
            }
        } catch {
            throw WeightFileError(path: output, underlying: error)
        }
    }
}
