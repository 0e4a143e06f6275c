import TensorCore
import WeightFormats

extension Model {
    /// Loads the model stored at `path`.
    ///
    /// The architecture comes from, in order: the file itself when it is ONNX; `architecture`,
    /// an ONNX file of the same architecture (exported by either of torch's exporters: the
    /// checkpoint's tensors are matched to its initializers by ``CheckpointBinding``), an architecture
    /// spec (`Formats/arch.md`: a JSON object with `input` and `layers`) or a model config (any
    /// other JSON object: a transformers/timm `config.json` or one written by hand, such as
    /// `{"num_heads": 4}`), which is used in place of the `config.json` beside the checkpoint;
    /// otherwise the checkpoint's names and the `config.json` beside it (``RecognizedLayouts``).
    /// `path` may be a model folder (`model.safetensors` or a sharded index, with `config.json`).
    /// `sampleShape` (one input's shape, from the data) helps layouts that need it. Class names
    /// come from the `config.json` beside `path` where there is one.
    public static func load(_ path: String, architecture: String? = nil, sampleShape: [Int]? = nil) throws -> Model {
        var model = try loadArchitecture(path, architecture: architecture, sampleShape: sampleShape)
        if model.labelNames == nil, let config = try? ModelConfig.find(besides: path) {
            model.labelNames = try? config.labelNames()
        }
        return model
    }

    static func loadArchitecture(_ path: String, architecture: String?, sampleShape: [Int]?) throws -> Model {
        let checkpoint = try Checkpoint.open(path)
        if let architecture {
            do {
                let archFormat = try? Checkpoint.detectFormat(architecture)
                if archFormat == .onnx {
                    return try fromONNX(try ONNXModel(path: architecture), checkpoint: checkpoint)
                }
                if !ArchitectureSpec.isSpec(architecture) {
                    let config = try ModelConfig.load(architecture, plain: true)
                    return try RecognizedLayouts.model(from: checkpoint, config: config, sampleShape: sampleShape)
                }
                var model = try ArchitectureSpec.load(architecture).model(checkpoint: checkpoint)
                model.source = .architectureSpec(path: architecture)
                return model
            } catch let error as WeightFileError {
                throw error
            } catch let error as ModelError {
                throw WeightFileError(path: path, underlying: error)
            } catch let error as CheckpointBindingError {
                throw WeightFileError(path: path, underlying: error)
            } catch {
                throw WeightFileError(path: architecture, underlying: error)
            }
        }
        do {
            if let onnx = checkpoint as? ONNXModel { return try fromONNX(onnx) }
            return try RecognizedLayouts.model(from: checkpoint, config: try ModelConfig.find(besides: path), sampleShape: sampleShape)
        } catch let error as WeightFileError {
            throw error
        } catch {
            throw WeightFileError(path: path, underlying: error)
        }
    }
}

extension Model {
    /// A model from an ONNX file's own graph.
    public static func fromONNXFile(_ path: String) throws -> Model {
        try fromONNX(try ONNXModel(path: path))
    }
}
