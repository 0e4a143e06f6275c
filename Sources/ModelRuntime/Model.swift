import TensorCore
import WeightFormats

/// A classifier ready to run: its graph, where its architecture came from, and the names and
/// shapes of its input and output.
public struct Model {
    public enum Source: Sendable, Equatable {
        case onnxGraph(path: String)
        case recognizedLayout(String)
        case architectureSpec(path: String)
    }

    public var graph: ComputeGraph
    public var source: Source
    public var inputName: String
    public var outputName: String
    /// The shape of one input sample, where the architecture states it (ONNX inputs do).
    public var sampleShape: [Int]?
    /// Non-fatal findings while loading, e.g. tensors the architecture does not use.
    public var warnings: [String]
    /// For a recognised layout: the family, naming and what was read from where.
    public var layout: LayoutReading?
    /// Class names by logit index, from the model's config (`id2label`, `label_names`).
    public var labelNames: [String]?

    public init(graph: ComputeGraph, source: Source, inputName: String, outputName: String, sampleShape: [Int]?, warnings: [String] = []) {
        self.graph = graph
        self.source = source
        self.inputName = inputName
        self.outputName = outputName
        self.sampleShape = sampleShape
        self.warnings = warnings
    }

    /// "N tensors not used by the architecture: …", or `nil` when every unused tensor is a
    /// BatchNorm step counter (`num_batches_tracked`: training state every PyTorch BatchNorm
    /// saves, never needed for inference).
    static func unusedTensorsWarning(_ names: [String]) -> String? {
        let others = names.filter { !$0.hasSuffix("num_batches_tracked") }
        guard !others.isEmpty else { return nil }
        return "\(others.count) tensor(s) not used by the architecture: " + others.joined(separator: ", ")
    }

    /// The name of class `index`: its label from the config, or the index.
    public func className(_ index: Int) -> String {
        guard let labelNames, index >= 0, index < labelNames.count, !labelNames[index].isEmpty else { return String(index) }
        return labelNames[index]
    }

    /// Logits `[N, classes]` for a batch `[N, sample shape...]`, with `parameters` in place of the
    /// graph's stored parameters of those names (edited weights; see
    /// ``ComputeGraph/forward(_:parameters:recording:capture:)``).
    /// - Throws: ``GraphError`` from the pass; ``ModelError/outputNotLogits(name:shape:batch:)``
    ///   when the output is not `[N, classes]` (axes of size 1 between the two are dropped).
    public func logits(_ batch: Tensor, parameters: [String: Tensor] = [:]) throws -> Tensor {
        try logits(batch, outputs: try graph.forward([inputName: batch], parameters: parameters).outputs)
    }

    /// ``logits(_:parameters:)`` that takes the values of nodes not depending on `parameters` from
    /// `reusing` (``ComputeGraph/forward(_:parameters:reusing:)``): the same logits, computing
    /// only what the edited weights change.
    public func logits(_ batch: Tensor, parameters: [String: Tensor], reusing: [String: Tensor]) throws -> Tensor {
        try logits(batch, outputs: try graph.forward([inputName: batch], parameters: parameters, reusing: reusing))
    }

    /// ``logits(_:parameters:)`` with the stored parameters, and the values named in `keeping`.
    public func logits(_ batch: Tensor, keeping: Set<String>) throws -> (logits: Tensor, kept: [String: Tensor]) {
        let (outputs, kept) = try graph.forward([inputName: batch], keeping: keeping)
        return (try logits(batch, outputs: outputs), kept)
    }

    /// The logits among a pass's `outputs` for `batch`, checked and shaped `[N, classes]`.
    private func logits(_ batch: Tensor, outputs: [String: Tensor]) throws -> Tensor {
        guard let output = outputs[outputName] else { throw GraphError.missingValue(node: "graph output", name: outputName) }
        let samples = batch.shape.first ?? 0
        guard output.rank >= 2, output.shape[0] == samples, output.shape.dropFirst().dropLast().allSatisfy({ $0 == 1 }) else {
            throw ModelError.outputNotLogits(name: outputName, shape: output.shape, batch: samples)
        }
        return output.rank == 2 ? output : output.reshaped([samples, output.shape[output.rank - 1]])
    }
}
