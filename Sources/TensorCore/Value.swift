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
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) needs \(shape.reduce(1, *)) elements, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    public init(_ values: [Int]) { self.init(shape: [values.count], data: values) }
    public init(scalar: Int) { self.init(shape: [], data: [scalar]) }
}

/// Errors running a graph: each names the node and what to change.
public enum GraphError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsupportedOperator(node: String, opType: String)
    case missingValue(node: String, name: String)
    case invalidInput(node: String, opType: String, reason: String)
    case missingGraphInput(String)

    public var description: String {
        switch self {
        case .unsupportedOperator(let node, let op): "node '\(node)': operator \(op) is not supported"
        case .missingValue(let node, let name): "node '\(node)': input '\(name)' is not computed by any earlier node"
        case .invalidInput(let node, let op, let reason): "node '\(node)' (\(op)): \(reason)"
        case .missingGraphInput(let name): "no value given for graph input '\(name)'"
        }
    }
}
