import Safeguards

/// Why a checkpoint cannot supply the weights of an ONNX graph (``CheckpointBinding``); each
/// message names the graph's initializer or module and the checkpoint tensors involved.
public enum CheckpointBindingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No checkpoint tensor fills the graph's initializer `initializer` (`shape`), used as `use`;
    /// `expected` are the names looked for, `sameShape` unused checkpoint tensors that have its
    /// shape (renamed?). When the one name looked for is the initializer's own, the message is
    /// ``ModelError/missingTensor(name:expectedShape:)``'s.
    case unfilled(initializer: String, shape: [Int], use: String, expected: [String], sameShape: [String])
    /// Several checkpoint modules fit the graph module `module` (its tensors `slots`) equally well
    /// and no name decides between them.
    case ambiguous(module: String, slots: String, candidates: [String])
    /// The graph's `Conv` `node` has a bias the checkpoint does not hold (a folded BatchNorm) and
    /// no unused checkpoint BatchNorm of `channels` channels can be paired with it: `reason`.
    case unpairedConvolution(node: String, module: String, channels: Int, reason: String)
    /// The checkpoint's BatchNorm `module` is read by no graph node, the graph folded batch norms
    /// away, and no folded `Conv` pairs with it: `reason`.
    case unpairedBatchNorm(module: String, channels: Int, reason: String)
    /// A checkpoint tensor's name is also the name of a value of the graph that is not that tensor.
    case nameClash(String)

    public var description: String {
        switch self {
        case .unfilled(let initializer, let shape, let use, let expected, let sameShape):
            let looked = expected.isEmpty ? "" : "; looked for " + expected.map(quoted).joined(separator: ", ")
            let unused = sameShape.isEmpty ? "" : "; unused checkpoint tensors of that shape: " + list(sameShape)
            return expected == [initializer]
                ? "missing tensor \(quoted(initializer)) (expected shape \(shape))\(unused)"
                : "no checkpoint tensor fills the graph's \(quoted(initializer)) \(shape), the \(use)\(looked)\(unused)"
        case .ambiguous(let module, let slots, let candidates):
            return "the graph's module \(quoted(module)) (\(slots)) fits \(candidates.count) checkpoint modules equally well: "
                + list(candidates) + "; no name decides which one it is"
        case .unpairedConvolution(let node, let module, let channels, let reason):
            return "Conv \(quoted(node)) (module \(quoted(module))) has a bias the checkpoint does not hold (a BatchNorm the exporter folded into it) "
                + "and no unused checkpoint BatchNorm of \(channels) channels pairs with it: \(reason)"
        case .unpairedBatchNorm(let module, let channels, let reason):
            return "the checkpoint's BatchNorm \(quoted(module)) (\(channels) channels) is used by no node of the graph, which has batch norms folded "
                + "into convolutions, and no folded Conv pairs with it: \(reason)"
        case .nameClash(let name):
            return "the checkpoint tensor \(quoted(name)) has the name of another value of the graph"
        }
    }

    private func quoted(_ name: String) -> String { "'\(Escaping.printable(name))'" }

    private func list(_ names: [String]) -> String {
        names.prefix(8).map(quoted).joined(separator: ", ") + (names.count > 8 ? ", … (\(names.count) in all)" : "")
    }
}
