/// A dataflow graph of ``GraphOperation``s over named values, run forward and backward on the CPU.
///
/// Values are float tensors or small integer tensors (shape arithmetic, indices). Float
/// parameters are the weights; integer initializers are constants. Nodes run in the given order
/// (each input must be a graph input, a parameter, a constant or an earlier node's output).
/// ``forward(_:recording:capture:)`` evaluates the graph; with `recording`, its ``Record`` keeps
/// what ``backward(_:outputGradients:)`` needs for reverse-mode gradients of every float graph
/// input and parameter. The graph itself holds no run state: one graph may run on several threads
/// at once as long as nobody mutates it.
///
/// Integer support is limited to what shape arithmetic inside a graph needs (Shape, Gather,
/// Concat, Slice, Unsqueeze, Add/Sub/Mul/Div on integers, …): a loader that folds constant shape
/// arithmetic before building the graph may ignore it.
public final class ComputeGraph: @unchecked Sendable {
    public private(set) var nodes: [GraphNode]
    /// Float initializers: the weights (mutable: engines write edited weights back).
    public var parameters: [String: Tensor]
    /// Non-float initializers (integer constants).
    public let constants: [String: Value]
    public let inputNames: [String]
    public let outputNames: [String]
    /// The weight layers, in node order (see ``WeightLayer``).
    public private(set) var weightLayers: [WeightLayer] = []

    public init(nodes: [GraphNode], parameters: [String: Tensor], constants: [String: Value] = [:],
                inputNames: [String], outputNames: [String]) {
        self.nodes = nodes
        self.parameters = parameters
        self.constants = constants
        self.inputNames = inputNames
        self.outputNames = outputNames
        weightLayers = findWeightLayers()
    }

    /// The first node whose operator is not supported, if any.
    public var firstUnsupportedNode: GraphNode? {
        nodes.first { if case .unsupported = $0.operation { true } else { false } }
    }
}
