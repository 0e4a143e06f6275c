import Safeguards
import TensorCore

/// Shape checks and config reads shared by the ViT and ConvNeXt layouts.
extension LayoutContext {
    /// The shape of `name`, which must be `expected` (`nil` entries match any size).
    /// - Throws: ``ModelError/missingTensor(name:expectedShape:)`` (unknown sizes shown as -1) or
    ///   ``ModelError/shapeMismatch(name:expected:actual:)``.
    @discardableResult
    func tensor(_ name: String, _ expected: [Int?]) throws -> [Int] {
        guard let shape = shapes[name] else { throw ModelError.missingTensor(name: name, expectedShape: expected.map { $0 ?? -1 }) }
        guard shape.count == expected.count, zip(shape, expected).allSatisfy({ $1 == nil || $0 == $1 }) else {
            let wanted = expected.enumerated().map { axis, size in size ?? (axis < shape.count ? shape[axis] : -1) }
            throw ModelError.shapeMismatch(name: name, expected: wanted, actual: shape)
        }
        return shape
    }

    /// Whether the optional tensor `name` is present; when it is, it must be `expected`.
    func optionalTensor(_ name: String, _ expected: [Int?]) throws -> Bool {
        guard has(name) else { return false }
        try tensor(name, expected)
        return true
    }

    /// A norm's (LayerNorm's) `<prefix>.weight` and `<prefix>.bias`, each `[channels]`.
    func norm(_ prefix: String, channels: Int) throws {
        try tensor("\(prefix).weight", [channels])
        try tensor("\(prefix).bias", [channels])
    }

    /// A Linear `<prefix>.weight` `[out, input]` (`out` checked when given) and its optional bias;
    /// returns (out, has bias).
    @discardableResult
    func linearLayer(_ prefix: String, input: Int, output: Int? = nil) throws -> (out: Int, bias: Bool) {
        let shape = try tensor("\(prefix).weight", [output, input])
        return (shape[0], try optionalTensor("\(prefix).bias", [shape[0]]))
    }

    /// The checkpoint's tensors that `build` does not read, apart from those `expectedUnused`
    /// accepts: a layout that recognises the names refuses a checkpoint with tensors it would
    /// silently drop (a variant it does not compute).
    /// - Throws: ``ModelError/unusableLayout(layout:reason:)`` naming the first such tensor.
    func refuseUnread(by build: (inout GraphBuilder) throws -> String, layout: String,
                      expectedUnused: (String) -> Bool = { _ in false }) throws {
        var builder = GraphBuilder()
        _ = try build(&builder)
        let read = Set(builder.nodes.flatMap(\.inputs))
        let unread = names.filter { !read.contains($0) && !expectedUnused($0) }.sorted()
        guard let first = unread.first else { return }
        throw ModelError.unusableLayout(layout: layout, reason: "tensor '\(Escaping.printable(first))'"
            + (unread.count > 1 ? " (and \(unread.count - 1) more)" : "") + " has no place in it: a variant this layout does not compute")
    }

    /// The class count the config declares (when it does), which must be `rows` of `head`.
    func classesFact(_ rows: Int, head: String, layout: String) throws -> LayoutFact {
        guard let declared = try config?.classCount() else { return LayoutFact("classes", String(rows), from: "tensor shapes") }
        guard declared == rows else {
            throw ModelError.unusableLayout(layout: layout, reason: "config.json declares \(declared) classes but '\(head)' has \(rows) rows")
        }
        return LayoutFact("classes", String(rows), from: "config.json and tensor shapes")
    }

    /// The config's integer under the first of `keys` it has, with the key.
    func configInt(_ keys: [String]) throws -> (key: String, value: Int)? {
        guard let config else { return nil }
        for key in keys { if let value = try config.int(key) { return (key, value) } }
        return nil
    }

    /// A config value that the tensors also show: an error naming both when they differ.
    func agree(_ key: String, _ declared: Int?, _ found: Int, layout: String, in what: String) throws {
        guard let declared, declared != found else { return }
        throw ModelError.unusableLayout(layout: layout, reason: "config.json says \(key) \(declared) but \(what) is \(found)")
    }

    /// Where a config value came from, for a fact.
    var configSource: String {
        guard let config else { return "config" }
        return config.library == .plain ? "given config" : "config.json"
    }
}

/// `n = r²`: `r`, else `nil`.
func exactSquareRoot(_ n: Int) -> Int? {
    guard n >= 0 else { return nil }
    let r = Int(Double(n).squareRoot().rounded())
    return r * r == n ? r : nil
}

/// The divisors of `n`, listed for a message: `1, 2, 4, 8, 16, 32 or 64`.
func divisorList(_ n: Int) -> String {
    let divisors = (1...max(n, 1)).filter { n % $0 == 0 }.map(String.init)
    guard divisors.count > 1 else { return divisors.joined() }
    return divisors.dropLast().joined(separator: ", ") + " or " + divisors.last!
}

extension LayoutContext {
    /// For a layout read from transformers' names: the `model_type` fact of a transformers
    /// `config.json` (none without a config). A timm config, or a `model_type` other than
    /// `modelType` (or the class name `className` in `architectures`), is refused: the config
    /// would describe another model than the tensors.
    func transformersModelType(_ modelType: String, className: String, layout: String) throws -> [LayoutFact] {
        guard let config else { return [] }
        if config.library == .timm {
            throw ModelError.unusableLayout(layout: layout, reason: "config.json is a timm config but the names are transformers'")
        }
        guard config.library == .transformers else { return [] }
        let type = config.architecture ?? ""
        guard type == modelType || type == className else {
            throw ModelError.unusableLayout(layout: layout, reason: "config.json says model_type '\(Escaping.printable(type))', not '\(modelType)'")
        }
        return [LayoutFact("model_type", modelType, from: "config.json")]
    }
}
