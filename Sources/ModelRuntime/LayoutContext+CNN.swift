import Safeguards
import TensorCore

/// Shape checks and bookkeeping shared by the CNN layouts (ResNet, EfficientNet, MobileNet).
extension LayoutContext {
    /// The shape of `name`, which must be `expected` (`nil` entries match any size).
    /// - Throws: ``ModelError/missingTensor(name:expectedShape:)`` or ``ModelError/shapeMismatch(name:expected:actual:)``.
    @discardableResult
    func require(_ name: String, _ expected: [Int?]) throws -> [Int] {
        guard let shape = shapes[name] else { throw ModelError.missingTensor(name: name, expectedShape: expected.map { $0 ?? -1 }) }
        guard shape.count == expected.count, zip(shape, expected).allSatisfy({ $1 == nil || $0 == $1 }) else {
            let wanted = expected.enumerated().map { axis, size in size ?? (axis < shape.count ? shape[axis] : -1) }
            throw ModelError.shapeMismatch(name: name, expected: wanted, actual: shape)
        }
        return shape
    }

    /// The 4-D convolution weight `<prefix>.weight` `[out, in/groups, k, k]` with `in` input
    /// channels; returns (out, groups, k).
    func convolution(_ prefix: String, input: Int) throws -> (out: Int, groups: Int, kernel: Int) {
        let name = "\(prefix).weight"
        guard let shape = shapes[name] else { throw ModelError.missingTensor(name: name, expectedShape: [-1, input, -1, -1]) }
        guard shape.count == 4, shape[1] > 0, input % shape[1] == 0, shape[2] == shape[3], shape[0] % (input / shape[1]) == 0 else {
            throw ModelError.shapeMismatch(name: name, expected: [shape.first ?? -1, input, shape.count > 2 ? shape[2] : -1, shape.count > 2 ? shape[2] : -1],
                                           actual: shape)
        }
        return (shape[0], input / shape[1], shape[2])
    }

    /// BatchNorm `<prefix>.weight/bias/running_mean/running_var`, each `[channels]`.
    func requireBatchNorm(_ prefix: String, channels: Int) throws {
        for parameter in ["weight", "bias", "running_mean", "running_var"] { try require("\(prefix).\(parameter)", [channels]) }
    }

    /// A Linear layer `<prefix>.weight` `[out, input]` with optional bias `[out]`; returns `out`.
    func linear(_ prefix: String, input: Int) throws -> Int {
        let shape = try require("\(prefix).weight", [nil, input])
        if has("\(prefix).bias") { try require("\(prefix).bias", [shape[0]]) }
        return shape[0]
    }

    /// The checkpoint's tensors that `build` does not read (BatchNorm step counters aside): a
    /// layout that recognises the names refuses a checkpoint with tensors it would silently drop.
    /// - Throws: ``ModelError/unusableLayout(layout:reason:)`` naming the first such tensor, or
    ///   whatever `build` throws.
    func requireAllUsed(by build: (inout GraphBuilder) throws -> String, layout: String, hint: String) throws {
        var builder = GraphBuilder()
        _ = try build(&builder)
        var used = Set<String>()
        for node in builder.nodes { used.formUnion(node.inputs) }
        let unused = names.filter { !used.contains($0) && !$0.hasSuffix("num_batches_tracked") }.sorted()
        if let first = unused.first {
            throw ModelError.unusableLayout(layout: layout, reason: "tensor '\(Escaping.printable(first))'" +
                (unused.count > 1 ? " (and \(unused.count - 1) more)" : "") + " has no place in it; \(hint)")
        }
    }

    /// The class count of the config (when it says), which must be the head's `rows`.
    func checkClassCount(_ rows: Int, head: String, layout: String) throws -> LayoutFact {
        if let declared = try config?.classCount() {
            guard declared == rows else {
                throw ModelError.unusableLayout(layout: layout, reason: "config.json declares \(declared) classes but '\(head)' has \(rows) rows")
            }
            return LayoutFact("classes", String(rows), from: "config.json and \(head)")
        }
        return LayoutFact("classes", String(rows), from: "tensor shapes")
    }

    /// A fact for the input size a timm config declares (`pretrained_cfg.input_size`). The CNNs
    /// pool globally and run at any size, so it is reported, not imposed on the data.
    func timmInputSizeFact() throws -> [LayoutFact] {
        guard let config, config.library == .timm, let size = try config.ints("input_size") else { return [] }
        return [LayoutFact("input size (trained at)", size.map(String.init).joined(separator: "×"), from: "config.json")]
    }
}

/// Joins integers for a fact: `1,1,1,1`.
func listed(_ values: [Int]) -> String { values.map(String.init).joined(separator: ",") }
