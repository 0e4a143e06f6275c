import TensorCore
import WeightFormats

/// Which checkpoint tensor fills each weight of an ONNX graph exported from the same architecture
/// (`--arch model.onnx`), found without trusting the graph's initializer names or values.
///
/// torch's exporters rename and fold weights (see `Benchmarks/real_models/OPERATORS.md`): the
/// legacy exporter names initializers `onnx::Conv_193`, `onnx::MatMul_819`; both fold every
/// eval-mode BatchNorm into the Conv before it (the dynamo exporter keeps the conv's name for the
/// folded kernel `W·γ/√(σ²+ε)` and adds `<name>_bias`); `Linear` layers inside blocks become a
/// `MatMul` by a transposed copy `Wᵀ` (`val_N`); timm's layer-scale `gamma [C]` becomes a
/// reshaped copy `[1, C, 1, 1]`; transformers' graphs carry in-memory module names that differ
/// from the saved ones. So every float initializer is a *slot* with a role (the weight of a Conv,
/// the bias added after a MatMul, a LayerNorm scale, …), a shape, and the module scopes the
/// exporter recorded (``ExporterScope``), and the checkpoint's tensors are matched to slots in
/// passes, each taking only what the ones before left:
///
/// 1. **Name**: a tensor of the initializer's own name (same shape, or the same values laid out
///    as the slot needs: transposed for a weight, reshaped for other inputs); a name with another
///    shape is a ``ModelError/shapeMismatch(name:expected:actual:)``.
/// 2. **Folded BatchNorm (dynamo metadata)**: a `Conv` the exporter's rewriter made from
///    Conv+BatchNorm names the batch norm's module and epsilon; its bias slot is not a
///    checkpoint tensor but the fold (``Fold``).
/// 3. **Scope and role**: a tensor `<module>.<leaf>` of a module the exporter recorded for the
///    slot, the leaf given by the role (`weight`, `bias`, `running_mean`, …, or suffixed such as
///    `in_proj_weight`); for inputs of other operators (Mul, Add, Expand) the one tensor directly
///    in that module whose shape fits.
/// 4. **Module**: the remaining slots, grouped by module, against the checkpoint's remaining
///    modules: a pair fits when the module's tensors fill its slots one to one by role and shape;
///    pairs are scored by the numeric path components (`layers.3` ↔ `layer.3`) and the name
///    tokens they share (`q_proj` ↔ `query`), and a pair is taken only when each is the other's
///    strictly best; a tie is ``CheckpointBindingError/ambiguous(module:slots:candidates:)``.
/// 5. **Folded BatchNorm (structure)**: a `Conv` whose bias no tensor fills is paired with an
///    unused checkpoint BatchNorm of its channel count: the one its metadata names, else the
///    one beside it (same parent module; the k-th such conv in graph order with the k-th batch
///    norm in name order), else the only one of that size.
///
/// Transposed copies bind through a `Transpose`, reshaped ones through a `Reshape`, and a folded
/// conv is rebuilt as the checkpoint's conv followed by a `BatchNormalization` with the
/// checkpoint's γ, β, mean and variance (``ONNXImport`` does the rebuilding), so the parameters
/// the engines edit are the checkpoint's tensors under their own names. Nothing here trusts the
/// graph's values: they only confirm (a square `MatMul` weight that equals the tensor, not its
/// transpose; a fold's epsilon, see ``Fold``). One-element float initializers no tensor fills
/// (exporter constants such as `√scale`) keep the graph's values; any other unfilled slot is an
/// error.
package struct CheckpointBinding {
    /// How the bound tensor's values become the slot's.
    package enum Form: Sendable, Equatable {
        case same
        /// A 2-D tensor transposed (`Linear.weight` `[out, in]` → the `MatMul` operand `[in, out]`).
        case transposed
        /// The same elements in another shape (`gamma [C]` → `[1, C, 1, 1]`).
        case reshaped([Int])
    }

    /// Which pass bound a slot.
    package enum Evidence: String, Sendable {
        case name, scope, module
        /// A copy of a shared initializer (see ``Model/prepared(_:scopes:parameters:checkpoint:)``)
        /// that no tensor of its own module fills: the original's tensor.
        case shared
    }

    package struct Bound: Sendable, Equatable {
        package var tensor: String
        package var form: Form
        package var evidence: Evidence
    }

    /// A checkpoint BatchNorm's tensors.
    package struct BatchNorm: Sendable, Equatable {
        package var module: String
        package var channels: Int
        /// `weight` (γ) and `bias` (β), absent for a batch norm without affine parameters.
        package var scale, shift: String?
        package var mean, variance: String
    }

    /// Where a fold's epsilon comes from.
    package enum EpsilonSource: String, Sendable {
        /// The dynamo exporter's record of the batch norm call.
        case exporter
        /// The graph's folded values, which the checkpoint reproduces with this epsilon only.
        case values
        /// The epsilon the other folds of this graph were found to have.
        case otherFolds
        /// None of the above: PyTorch's default.
        case assumed
    }

    /// A `Conv` into which the exporter folded a BatchNorm, rebuilt from the checkpoint's
    /// unfolded conv weight (and bias, when the conv has its own) followed by the checkpoint's
    /// batch norm.
    ///
    /// Checked on a probe: for a random patch `p` of each group, the rebuilt output
    /// `γ (W p + b − μ)/√(σ² + ε) + β` must equal the graph's `W_f p + b_f` within
    /// `10⁻⁴ · max(1, max |W_f p + b_f|)` (`verified`). This holds when the checkpoint holds the
    /// values the graph was exported from; a checkpoint with other values (fine-tuned) is used
    /// all the same. The epsilon, lost in the fold, is the exporter's record when there is one,
    /// else the value among 10⁻⁵, 10⁻³, 10⁻⁶, 10⁻⁴, 10⁻¹² and 0 that best reproduces the folded
    /// per-channel scale `γ/√(σ² + ε)` (when the probe holds), else the epsilon of the other
    /// folds, else 10⁻⁵ (with a warning).
    package struct Fold: Sendable {
        /// The conv node's index in the node list matched.
        package var node: Int
        /// The graph's initializers holding the folded kernel and bias.
        package var foldedWeight: String
        package var foldedBias: String
        /// The checkpoint's conv weight and its own bias, if any.
        package var weight: String
        package var bias: String?
        package var norm: BatchNorm
        package var epsilon: Float
        package var epsilonSource: EpsilonSource
        package var verified: Bool
    }

    /// Bound slots by graph initializer name.
    package var bound: [String: Bound]
    package var folds: [Fold]
    /// Graph float initializers no tensor fills that keep the graph's values (one element each).
    package var kept: [String]
    /// Checkpoint tensors no slot uses, in file order.
    package var unused: [String]
    /// Non-fatal findings (an assumed epsilon).
    package var warnings: [String]
}

extension CheckpointBinding {
    /// Matches `checkpoint` to the graph `nodes` (with their exporter scopes, index for index)
    /// whose float initializers are `initializers`; `copies` maps initializers split off a shared
    /// one to the original.
    /// - Throws: ``CheckpointBindingError``, ``ModelError/shapeMismatch(name:expected:actual:)``,
    ///   or the checkpoint's read errors.
    static func match(nodes: [GraphNode], scopes: [ExporterScope], initializers: [String: Tensor], copies: [String: String] = [:],
                      checkpoint: any CheckpointReader) throws -> CheckpointBinding {
        var matcher = Matcher(nodes: nodes, scopes: scopes, initializers: initializers, copies: copies, checkpoint: checkpoint)
        try matcher.byName()
        matcher.foldsFromMetadata()
        try matcher.byScope()
        try matcher.byModule()
        try matcher.checkFilled()
        try matcher.pairBatchNorms()
        try matcher.settleFolds()
        return matcher.result()
    }
}
