import Foundation
import WeightFormats

/// What an exporter recorded about the PyTorch module that produced one ONNX node.
///
/// - torch's TorchScript ("legacy") exporter names nodes by their module scope:
///   `/layer1/layer1.0/conv1/Conv` is the `Conv` of module `layer1.0.conv1` (a scope component
///   `p.N` directly after `p` is the `N`th child of `p`, written once).
/// - torch's dynamo exporter writes `metadata_props` on every node: `pkg.torch.onnx.name_scopes`
///   (`['', 'layer1', 'layer1.0', 'layer1.0.conv1', 'conv2d']`: the module paths from the root, then
///   the operation's own name), and, where onnxscript's rewriter merged a `BatchNorm` into the
///   `Conv` before it, `pkg.onnxscript.rewriter.rule_name` `FuseBatchNormIntoConv` with the
///   merged batch norm's FX node (`pkg.torch.onnx.fx_node`: its arguments name the module's
///   parameters and end with `momentum, eps`); the merged node's scopes are then the batch norm's.
///
/// Module paths are those of the module in memory, which may differ from the names a library
/// saves (transformers v5 renames on save).
struct ExporterScope: Sendable, Equatable {
    /// The module path of the code that wrote the node (`""`: the root module), or `nil` when the
    /// node carries no scope.
    var module: String?
    /// For a `Conv` into which the exporter folded a `BatchNorm`: the batch norm's module path and,
    /// when recorded, its epsilon.
    var foldedBatchNorm: FoldedBatchNorm?

    struct FoldedBatchNorm: Sendable, Equatable {
        var module: String
        var epsilon: Float?
    }

    init(module: String?, foldedBatchNorm: FoldedBatchNorm? = nil) {
        self.module = module
        self.foldedBatchNorm = foldedBatchNorm
    }

    /// The scope of `node`: from its dynamo metadata when present, else from its legacy name.
    init(_ node: ONNXNode) {
        if let scopes = node.metadata["pkg.torch.onnx.name_scopes"].flatMap(Self.pythonStrings), !scopes.isEmpty {
            let module = scopes.count >= 2 ? scopes[scopes.count - 2] : ""
            self.init(module: module)
            if node.opType == "Conv", node.metadata["pkg.onnxscript.rewriter.rule_name"]?.contains("FuseBatchNormIntoConv") == true {
                foldedBatchNorm = FoldedBatchNorm(module: module, epsilon: node.metadata["pkg.torch.onnx.fx_node"].flatMap(Self.batchNormEpsilon))
            }
        } else {
            self.init(module: Self.legacyModule(node.name))
        }
    }

    /// The module path in a legacy node name (`/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`,
    /// `/Gemm` → the root), or `nil` for a name that is not a scope path.
    static func legacyModule(_ name: String) -> String? {
        guard name.hasPrefix("/") else { return nil }
        var path: [Substring] = []
        for component in name.dropFirst().split(separator: "/", omittingEmptySubsequences: false).dropLast() {
            if let last = path.last, component.hasPrefix(last + ".") { path[path.count - 1] = component } else { path.append(component) }
        }
        return path.joined(separator: ".")
    }

    /// The string items of a Python list literal (`['', 'a.b', "c"]`), or `nil` when `text` is
    /// not one.
    static func pythonStrings(_ text: String) -> [String]? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.first == "[", scalars.last == "]" else { return nil }
        var items: [String] = []
        var index = 1
        while index < scalars.count - 1 {
            let quote = scalars[index]
            guard quote == "'" || quote == "\"" else { index += 1; continue }
            var item = String.UnicodeScalarView()
            index += 1
            while index < scalars.count - 1, scalars[index] != quote {
                if scalars[index] == "\\", index + 1 < scalars.count - 1 { index += 1 }
                item.append(scalars[index])
                index += 1
            }
            items.append(String(item))
            index += 1
        }
        return items
    }

    /// The epsilon argument of an FX batch-norm call
    /// (`…_native_batch_norm_legit_no_training.default](args = (%x, %w, %b, %m, %v, 0.1, 1e-05), …`:
    /// the 7th argument; `batch_norm`/`native_batch_norm`: the 8th).
    static func batchNormEpsilon(_ fxNode: String) -> Float? {
        guard let start = fxNode.range(of: "args = ("), let end = fxNode[start.upperBound...].firstIndex(of: ")") else { return nil }
        let arguments = fxNode[start.upperBound..<end].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let position = fxNode.contains("_native_batch_norm_legit_no_training") ? 6 : fxNode.contains("batch_norm") ? 7 : nil
        guard let position, position < arguments.count, let epsilon = Float(arguments[position]), epsilon >= 0 else { return nil }
        return epsilon
    }
}
