/// A dataflow graph of ``GraphOperation``s over named values, run forward and backward on the CPU.
///
/// Values are float tensors or small integer tensors (shape arithmetic, indices). Float
/// parameters are the weights; integer initializers are constants. Nodes run in the given order
/// (each input must be a graph input, a parameter, a constant or an earlier node's output).
/// ``forward(_:parameters:recording:capture:)`` evaluates the graph, optionally with some
/// parameters replaced for that call (edited weights); with `recording`, its ``Record`` keeps what
/// ``backward(_:outputGradients:inputGradients:)`` needs for reverse-mode gradients of every float
/// graph input and parameter. The graph is immutable and holds no run state: one graph may run on
/// several threads at once, each pass with its own parameter overrides.
///
/// Integer support is limited to what shape arithmetic inside a graph needs (Shape, Gather,
/// Concat, Slice, Unsqueeze, Add/Sub/Mul/Div on integers, …): a loader that folds constant shape
/// arithmetic before building the graph may ignore it.
public final class ComputeGraph: @unchecked Sendable {
    public private(set) var nodes: [GraphNode]
    /// Float initializers: the weights as loaded. Edited weights are not written back: a forward
    /// pass takes them as overrides (``forward(_:parameters:recording:capture:)``).
    public let parameters: [String: Tensor]
    /// Non-float initializers (integer constants).
    public let constants: [String: Value]
    public let inputNames: [String]
    public let outputNames: [String]
    /// The weight layers, in node order (see ``WeightLayer``).
    public internal(set) var weightLayers: [WeightLayer] = []
    /// Weights that inference passes derive from the stored parameters (BatchNorm folded into a
    /// convolution, Winograd kernels), computed on first use and kept: ``parameters`` never change.
    let derived = DerivedWeights()

    public init(nodes: [GraphNode], parameters: [String: Tensor], constants: [String: Value] = [:],
                inputNames: [String], outputNames: [String]) {
        self.nodes = nodes
        self.parameters = parameters
        self.constants = constants
        self.inputNames = inputNames
        self.outputNames = outputNames
        weightLayers = findWeightLayers()
    }

    /// Whether the graph computes attention: a multi-head attention node, or a softmax whose
    /// result feeds further computation (not a graph output, as a classifier's final softmax is).
    public var containsAttention: Bool {
        nodes.contains { node in
            switch node.operation {
            case .multiHeadAttention: true
            case .softmax: !node.outputs.allSatisfy(outputNames.contains)
            default: false
            }
        }
    }

    /// The first node whose operator is not supported, if any.
    public var firstUnsupportedNode: GraphNode? {
        nodes.first { if case .unsupported = $0.operation { true } else { false } }
    }
}

/// A store of values derived from a graph's stored parameters, by a key naming those parameters;
/// safe to use from several passes at once (the first computes a value, the others wait for it).
final class DerivedWeights: @unchecked Sendable {
    private let lock = Parallel.Lock()
    private var pairs: [String: (weight: Tensor, bias: Tensor)] = [:]
    private var arrays: [String: [Float]] = [:]

    func pair(_ key: String, _ make: () throws -> (weight: Tensor, bias: Tensor)) rethrows -> (weight: Tensor, bias: Tensor) {
        try lock.withLock { try Self.value(of: key, in: &pairs, make) }
    }

    func floats(_ key: String, _ make: () -> [Float]) -> [Float] {
        lock.withLock { Self.value(of: key, in: &arrays, make) }
    }

    /// The value stored under `key`, made and stored first if missing (call with the lock held).
    private static func value<T>(of key: String, in table: inout [String: T], _ make: () throws -> T) rethrows -> T {
        if let stored = table[key] { return stored }
        let made = try make()
        table[key] = made
        return made
    }
}
