/// What a ``GraphNode`` computes: an operator and its attributes.
///
/// Inputs are positional (see each case); an empty input name in the node is an omitted optional
/// input. Integer arguments that may be computed by the graph (a reshape target, slice bounds,
/// squeeze axes, split sizes, reduction axes, an expand shape) may be given statically in the
/// case; when the case holds `nil`, the argument is read from the node's integer input at run time.
///
/// Every float input has a gradient rule (``ComputeGraph/backward(_:outputGradients:inputGradients:)``), except for
/// the integer-only operations (``shape(start:end:)``, ``constantOfShape(fill:)``, ``compare(_:)``,
/// ``isNaN``, ``cast(toFloat:)`` to integers), which carry no gradient.
public enum GraphOperation: Sendable, Equatable {
    // MARK: Structure (no arithmetic)

    /// `y = x`.
    case identity
    /// Inference-mode dropout: `y = x` (a second output, the mask, is not produced).
    case dropout
    /// A constant output, no inputs.
    case constant(Value)
    /// Converts to float (`toFloat`) or to integers (truncation toward zero).
    case cast(toFloat: Bool)
    /// The shape of input 0 as a 1-D integer tensor, axes `start..<end` (negative values count
    /// from the end, `nil` end is the rank).
    case shape(start: Int, end: Int?)
    /// A tensor of the shape given by integer input 0, filled with `fill` (a one-element value;
    /// `nil` means float zero).
    case constantOfShape(fill: Value?)
    /// Reshape: `0` copies the input dimension (unless `allowZero`), `-1` is inferred.
    /// Target from `shape`, or from integer input 1.
    case reshape(shape: [Int]?, allowZero: Bool)
    /// `[d0…d(axis−1), d(axis)…]` → 2-D `[Π before, Π after]`; `axis` may be negative.
    case flatten(axis: Int)
    /// Removes the size-1 `axes` (from the case, else integer input 1, else every size-1 axis).
    case squeeze(axes: [Int]?)
    /// Inserts size-1 axes at `axes` of the output (from the case, else integer input 1).
    case unsqueeze(axes: [Int]?)
    /// Output axis i is input axis `perm[i]`; `nil` reverses the axes.
    case transpose(perm: [Int]?)
    /// `y = take(x, indices, axis)`: input 0 data, integer input 1 indices (negative allowed).
    case gather(axis: Int)
    /// Concatenates every present input along `axis`.
    case concat(axis: Int)
    /// Splits input 0 along `axis` into parts of `sizes` (from the case, else integer input 1,
    /// else equal parts, one per output, the last one shorter).
    case split(axis: Int, sizes: [Int]?)
    /// Strided slice (see ``SliceArguments``). Bounds from the case, else from integer inputs 1 (starts), 2 (ends),
    /// 3 (axes, optional) and 4 (steps, optional).
    case slice(SliceArguments?)
    /// Broadcasts input 0 to `shape` (from the case, else integer input 1) numpy-style.
    case expand(shape: [Int]?)
    /// Elementwise comparison with broadcasting; integer (0/1) output.
    case compare(Comparison)
    /// Where: integer condition (input 0) selects input 1 where non-zero, else input 2.
    case select
    /// 1 where the float input 0 is NaN, else 0 (integer output).
    case isNaN
    /// Pads (or, for negative amounts, crops) input 0; see ``PadArguments``. The amounts are the
    /// case's, else integer input 1 (`[begin…, end…]` over the padded axes); the constant is
    /// the case's, replaced by float input 2 when present; the axes are integer input 3 when
    /// present, else every axis.
    case pad(PadArguments)

    // MARK: Elementwise arithmetic

    /// Two-input elementwise operator with numpy broadcasting; backward sums over broadcast axes.
    case binary(BinaryOperator)
    /// One-input elementwise function.
    case unary(UnaryOperator)
    /// `x Φ(x)`: exact (erf) or the tanh approximation.
    case gelu(GeluApproximation)
    /// `min(max(x, lower), upper)`: each bound from input 1 (lower) or 2 (upper) when present (one
    /// element), else from the case; a bound that is neither does not clamp. The gradient goes to
    /// whichever operand gives the output: `x` strictly between the bounds, a bound where the
    /// output equals it (`upper` where `lower ≥ upper`).
    case clip(lower: Float?, upper: Float?)
    /// `max(0, min(1, α x + β))`; gradient `α` strictly inside the ramp, 0 on the flat parts.
    case hardSigmoid(alpha: Float, beta: Float)

    // MARK: Normalisation and reductions

    /// `exp(x) / Σ exp(x)` along `axis` (max-subtracted).
    case softmax(axis: Int)
    /// Normalises over the axes from `axis` to the last; inputs x, scale (optional), bias
    /// (optional), all trailing-shaped.
    case layerNormalization(axis: Int, epsilon: Float)
    /// Inference batch normalisation over axis 1 with running statistics; inputs x, scale, bias,
    /// mean, variance (each `[C]`).
    case batchNormalization(epsilon: Float)
    /// Mean or sum over `axes` (from the case, else integer input 1, else every axis). An empty
    /// axes list reduces every axis, unless `noopWithEmptyAxes`: then the output is the input.
    case reduce(Reduction, axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool = false)
    /// Mean over every axis after the first two: `[N, C, …]` → `[N, C, 1, …]`.
    case globalAveragePool

    // MARK: Weight layers

    /// Gemm: `Y = alpha · op(A) · op(B) + beta · C`, 2-D A and B, C broadcast to Y.
    case gemm(GemmAttributes)
    /// A linear layer on the last axis of input 0 (any leading axes, e.g. tokens): input 1 the
    /// weight in `layout`, input 2 an optional bias `[out]`.
    case linear(WeightLayout)
    /// numpy matmul for inputs of rank ≥ 2: batched over leading axes, which broadcast.
    case matMul
    /// Convolution, 1-D (`[N, C, W]`) or 2-D (`[N, C, H, W]`): inputs x, weight
    /// `[M, C/groups, kh, kw]`, optional bias `[M]`.
    case convolution(ConvolutionAttributes)
    /// Max pooling over the spatial axes (1-D or 2-D); backward routes to the argmax.
    case maxPool(PoolAttributes)
    /// Average pooling; `countIncludePad` divides by the full window including padding.
    case averagePool(PoolAttributes, countIncludePad: Bool)
    /// PyTorch `nn.MultiheadAttention` self-attention (query = key = value, no mask, dropout off).
    /// Inputs: x (`[N, L, E]` if `batchFirst`, else `[L, N, E]`), in_proj_weight `[3E, E]`,
    /// in_proj_bias `[3E]` (optional), out_proj.weight `[E, E]`, out_proj.bias `[E]` (optional).
    ///
    /// With more than five inputs the in-projection comes as three weight layers (transformers'
    /// `query`, `key`, `value`): x, W_q `[E, E]`, b_q, W_k, b_k, W_v, b_v, out_proj.weight,
    /// out_proj.bias (biases optional), the same function as the fused form with
    /// `in_proj_weight = [W_q; W_k; W_v]` (see ``separateAttentionProjections(_:)``).
    case multiHeadAttention(heads: Int, batchFirst: Bool)

    /// An operator this runtime does not evaluate (kept so that a loader can name it).
    case unsupported(opType: String)
    /// A known operator whose attributes are invalid; evaluating it throws with `reason`.
    case invalid(opType: String, reason: String)
}

extension GraphOperation {
    /// Whether a ``multiHeadAttention(heads:batchFirst:)`` node takes its in-projection as three
    /// weights (query, key, value: nine inputs) rather than one fused `[3E, E]` weight.
    public static func separateAttentionProjections(_ node: GraphNode) -> Bool { node.inputs.count > 5 }

    /// The operator's name in messages (``GraphError``): `Gemm`, `Conv`, `MatMul`, `Add`, …; for
    /// ``unsupported(opType:)`` and ``invalid(opType:reason:)`` the name they were given.
    public var name: String {
        switch self {
        case .identity: "Identity"
        case .dropout: "Dropout"
        case .constant: "Constant"
        case .cast: "Cast"
        case .shape: "Shape"
        case .constantOfShape: "ConstantOfShape"
        case .reshape: "Reshape"
        case .flatten: "Flatten"
        case .squeeze: "Squeeze"
        case .unsqueeze: "Unsqueeze"
        case .transpose: "Transpose"
        case .gather: "Gather"
        case .concat: "Concat"
        case .split: "Split"
        case .slice: "Slice"
        case .expand: "Expand"
        case .compare(let c): c == .equal ? "Equal" : c == .less ? "Less" : "Greater"
        case .select: "Where"
        case .isNaN: "IsNaN"
        case .pad: "Pad"
        case .binary(let op): op.rawValue.prefix(1).uppercased() + op.rawValue.dropFirst()
        case .unary(.hardSwish): "HardSwish"
        case .unary(let op): op.rawValue.prefix(1).uppercased() + op.rawValue.dropFirst()
        case .gelu: "Gelu"
        case .clip: "Clip"
        case .hardSigmoid: "HardSigmoid"
        case .softmax: "Softmax"
        case .layerNormalization: "LayerNormalization"
        case .batchNormalization: "BatchNormalization"
        case .reduce(let r, _, _, _): r == .mean ? "ReduceMean" : "ReduceSum"
        case .globalAveragePool: "GlobalAveragePool"
        case .gemm: "Gemm"
        case .linear: "Linear"
        case .matMul: "MatMul"
        case .convolution: "Conv"
        case .maxPool: "MaxPool"
        case .averagePool: "AveragePool"
        case .multiHeadAttention: "MultiHeadAttention"
        case .unsupported(let name), .invalid(let name, _): name
        }
    }
}

/// Layout of a 2-D weight matrix.
public enum WeightLayout: Sendable, Equatable {
    /// Rows are outputs: `y = W x` (PyTorch Linear, Conv, Gemm with transB = 1).
    case outputsByInputs
    /// Rows are inputs: `y = xᵀ W` (MatMul, Gemm with transB = 0).
    case inputsByOutputs
}

public enum BinaryOperator: String, Sendable, Equatable, CaseIterable {
    case add, sub, mul, div
    /// `aᵇ` (a scalar or a tensor exponent; the exponent's gradient is defined for a > 0).
    case pow
    /// Truncated remainder for floats (C `fmod`: the sign of the dividend); for integers the
    /// floored remainder (the sign of the divisor). No gradient for the divisor.
    case mod
}

public enum UnaryOperator: String, Sendable, Equatable, CaseIterable {
    case relu, erf, sqrt, sigmoid, tanh, neg, exp, log, abs, reciprocal
    /// `x · max(0, min(1, x / 6 + ½))` (PyTorch's `x · relu6(x + 3) / 6`).
    case hardSwish
}

public enum GeluApproximation: Sendable, Equatable {
    /// `½ x (1 + erf(x / √2))`.
    case none
    /// `½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
    case tanh
}

public enum Comparison: Sendable, Equatable { case equal, less, greater }

public enum Reduction: Sendable, Equatable { case mean, sum }

/// Gemm attributes: `Y = alpha · op(A) · op(B) + beta · C`, `op` transposing when `transA`/`transB`.
public struct GemmAttributes: Sendable, Equatable {
    public var alpha: Float
    public var beta: Float
    public var transA: Bool
    public var transB: Bool

    public init(alpha: Float = 1, beta: Float = 1, transA: Bool = false, transB: Bool = false) {
        self.alpha = alpha
        self.beta = beta
        self.transA = transA
        self.transB = transB
    }
}

/// Automatic padding of a convolution or pooling window.
public enum AutoPad: Sendable, Equatable {
    /// Use the explicit pads.
    case notSet
    /// Output size `ceil(in / stride)`, extra padding at the end (`SAME_UPPER`) or start.
    case sameUpper, sameLower
    /// No padding.
    case valid
}

/// Convolution attributes. Spatial lists have one entry per spatial axis; `pads` is
/// `[begin…, end…]` (2-D: top, left, bottom, right). `nil` lists take the defaults: the kernel
/// shape of the weight, strides and dilations 1, no padding.
public struct ConvolutionAttributes: Sendable, Equatable {
    public var kernelShape: [Int]?
    public var strides: [Int]?
    public var pads: [Int]?
    public var dilations: [Int]?
    public var groups: Int
    public var autoPad: AutoPad

    public init(kernelShape: [Int]? = nil, strides: [Int]? = nil, pads: [Int]? = nil, dilations: [Int]? = nil,
                groups: Int = 1, autoPad: AutoPad = .notSet) {
        self.kernelShape = kernelShape
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.groups = groups
        self.autoPad = autoPad
    }
}

/// Pooling attributes (max and average pooling); lists as in ``ConvolutionAttributes``.
public struct PoolAttributes: Sendable, Equatable {
    public var kernelShape: [Int]
    public var strides: [Int]?
    public var pads: [Int]?
    public var dilations: [Int]?
    /// Output size rounds up; a window must still start inside the input or its leading padding.
    public var ceilMode: Bool
    public var autoPad: AutoPad

    public init(kernelShape: [Int], strides: [Int]? = nil, pads: [Int]? = nil, dilations: [Int]? = nil,
                ceilMode: Bool = false, autoPad: AutoPad = .notSet) {
        self.kernelShape = kernelShape
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.ceilMode = ceilMode
        self.autoPad = autoPad
    }
}

/// How ``GraphOperation/pad(_:)`` fills the positions outside the input.
public enum PadMode: Sendable, Equatable {
    /// The constant value.
    case constant
    /// The mirror image without repeating the edge (`[a b c]` → `… c b | a b c | b a …`).
    case reflect
    /// The edge value repeated.
    case edge
    /// The input repeated periodically (`… b c | a b c | a b …`).
    case wrap
}

/// Pad arguments: the mode, the amounts `[begin…, end…]` (one pair per padded axis; negative
/// amounts crop; `nil`: from integer input 1) and the constant for ``PadMode/constant``.
public struct PadArguments: Sendable, Equatable {
    public var mode: PadMode
    public var pads: [Int]?
    public var value: Float

    public init(mode: PadMode = .constant, pads: [Int]? = nil, value: Float = 0) {
        self.mode = mode
        self.pads = pads
        self.value = value
    }
}

/// Static slice bounds: per listed axis (default `0..<starts.count`), start (inclusive) and
/// end (exclusive), negative values count from the end, clamped; steps default to 1 and may be
/// negative.
public struct SliceArguments: Sendable, Equatable {
    public var starts: [Int]
    public var ends: [Int]
    public var axes: [Int]?
    public var steps: [Int]?

    public init(starts: [Int], ends: [Int], axes: [Int]? = nil, steps: [Int]? = nil) {
        self.starts = starts
        self.ends = ends
        self.axes = axes
        self.steps = steps
    }
}

/// One operator application: an ``GraphOperation`` and the names of the values it reads and writes.
/// An empty input name is an omitted optional input; an empty output name is not stored.
public struct GraphNode: Sendable, Equatable {
    public var name: String
    public var operation: GraphOperation
    public var inputs: [String]
    public var outputs: [String]

    public init(name: String, operation: GraphOperation, inputs: [String], outputs: [String]) {
        self.name = name
        self.operation = operation
        self.inputs = inputs
        self.outputs = outputs
    }
}
