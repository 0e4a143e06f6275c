import Safeguards

/// A value flowing through a ``ComputeGraph``: a float tensor, or a small integer tensor (shapes,
/// indices, masks), which only shape arithmetic produces and which never carries a gradient.
public enum Value: Sendable, Equatable {
    case float(Tensor)
    case int(IntTensor)

    public var shape: [Int] {
        switch self {
        case .float(let t): t.shape
        case .int(let t): t.shape
        }
    }
}

/// Integer elements (64-bit, 32-bit or boolean values widened to `Int`) in row-major order.
public struct IntTensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Int]

    public init(shape: [Int], data: [Int]) {
        let count = Checked.product(shape)
        precondition(count == data.count, "shape \(shape) needs \(count.map(String.init) ?? "more than Int.max") elements, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    public init(_ values: [Int]) { self.init(shape: [values.count], data: values) }
    public init(scalar: Int) { self.init(shape: [], data: [scalar]) }
}

/// Errors running a graph: each names the node and what to change. Node, operator and value
/// names come from model files and are escaped (``Escaping/printable(_:)``) in the message.
public enum GraphError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsupportedOperator(node: String, opType: String)
    case missingValue(node: String, name: String)
    case invalidInput(node: String, opType: String, reason: String)
    case missingGraphInput(String)
    /// A node whose outputs and work buffers (`what`, e.g. "its output [100000, 100000]") would
    /// take `bytes` (`nil`: more than `Int` can count) where the allocation budget
    /// (``AllocationBudget``) allows less; nothing was allocated.
    case exceedsMemoryLimit(node: String, opType: String, what: String, bytes: Int?)

    public var description: String {
        switch self {
        case .unsupportedOperator(let node, let op):
            "node '\(Escaping.printable(node))': operator \(Escaping.printable(op)) is not supported"
        case .missingValue(let node, let name):
            "node '\(Escaping.printable(node))': input '\(Escaping.printable(name))' is not computed by any earlier node"
        case .invalidInput(let node, let op, let reason):
            "node '\(Escaping.printable(node))' (\(Escaping.printable(op))): \(Escaping.printable(reason))"
        case .missingGraphInput(let name): "no value given for graph input '\(Escaping.printable(name))'"
        case .exceedsMemoryLimit(let node, let op, let what, let bytes):
            "node '\(Escaping.printable(node))' (\(Escaping.printable(op))): \(Escaping.printable(what)) \(AllocationBudget.exceeded(bytes))"
        }
    }
}
