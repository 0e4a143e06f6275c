import TensorCore

/// An elementwise activation as the libraries name it (PyTorch modules, transformers' `hidden_act`).
enum Activation: String, Sendable, CustomStringConvertible {
    case identity, relu, relu6, silu, sigmoid, hardSwish, hardSigmoid, gelu, geluTanh, tanh

    /// transformers' `ACT2FN` names (`hidden_act`) this runtime computes.
    init?(transformersName name: String) {
        switch name {
        case "relu": self = .relu
        case "relu6": self = .relu6
        case "silu", "swish": self = .silu
        case "sigmoid": self = .sigmoid
        case "hardswish": self = .hardSwish
        case "hardsigmoid": self = .hardSigmoid
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "tanh": self = .tanh
        case "linear": self = .identity
        default: return nil
        }
    }

    /// How facts name it: the PyTorch module.
    var description: String {
        switch self {
        case .identity: "none"
        case .relu: "ReLU"
        case .relu6: "ReLU6"
        case .silu: "SiLU"
        case .sigmoid: "Sigmoid"
        case .hardSwish: "Hardswish"
        case .hardSigmoid: "Hardsigmoid"
        case .gelu: "GELU (erf)"
        case .geluTanh: "GELU (tanh approximation)"
        case .tanh: "Tanh"
        }
    }
}

/// The padding of a convolution.
enum ConvPadding: Equatable {
    /// `p` on every side (PyTorch's `padding=p`).
    case symmetric(Int)
    /// TensorFlow "SAME": output `ceil(in / stride)`, the odd extra row and column at the bottom
    /// and right (ONNX `auto_pad = SAME_UPPER`), computed from the input's size at run time.
    case same
}

extension GraphBuilder {
    /// A 2-D convolution with the checkpoint's weight `[out, in/groups, kh, kw]` as a direct
    /// parameter (so that the weight-editing engines find it).
    mutating func conv(_ x: String, weight: String, bias: String? = nil, name: String, stride: Int = 1, padding: ConvPadding,
                       groups: Int = 1, dilation: Int = 1) -> String {
        var attributes: [String: Attribute] = ["strides": .ints([stride, stride]), "group": .int(groups)]
        switch padding {
        case .symmetric(let p): attributes["pads"] = .ints([p, p, p, p])
        case .same: attributes["auto_pad"] = .string("SAME_UPPER")
        }
        if dilation != 1 { attributes["dilations"] = .ints([dilation, dilation]) }
        return add("Conv", [x, weight] + (bias.map { [$0] } ?? []), name: name, attributes: attributes)
    }

    /// `activation(x)`; SiLU is `x · σ(x)`; ReLU6 is `Clip(x, 0, 6)`, HardSwish `x · min(max(x + 3, 0), 6) / 6`,
    /// HardSigmoid `min(max(x / 6 + ½, 0), 1)`.
    mutating func activation(_ x: String, _ kind: Activation) -> String {
        switch kind {
        case .identity: x
        case .relu: add("Relu", [x])
        case .relu6: add("Clip", [x, floatConstant(0), floatConstant(6)])
        case .silu: add("Mul", [x, add("Sigmoid", [x])])
        case .sigmoid: add("Sigmoid", [x])
        case .hardSwish: add("HardSwish", [x])
        case .hardSigmoid: add("HardSigmoid", [x], attributes: ["alpha": .float(1.0 / 6), "beta": .float(0.5)])
        case .gelu: add("Gelu", [x], attributes: ["approximate": .string("none")])
        case .geluTanh: add("Gelu", [x], attributes: ["approximate": .string("tanh")])
        case .tanh: add("Tanh", [x])
        }
    }

    /// A float scalar constant.
    mutating func floatConstant(_ value: Float) -> String {
        let name = fresh("const")
        constants[name] = .float(Tensor(shape: [], data: [value]))
        return name
    }

    /// Convolution, BatchNorm (the checkpoint's `norm` prefix) and an activation.
    mutating func convNormActivation(_ x: String, conv prefix: String, norm: String, stride: Int = 1, padding: ConvPadding,
                                     groups: Int = 1, dilation: Int = 1, epsilon: Float, activation kind: Activation) -> String {
        let y = conv(x, weight: "\(prefix).weight", name: prefix, stride: stride, padding: padding, groups: groups, dilation: dilation)
        return activation(batchNorm(y, prefix: norm, epsilon: epsilon), kind)
    }

    /// Squeeze-and-excitation: `x · gate(expand(act(reduce(mean over H, W of x))))` with 1×1
    /// convolutions `reduce`/`expand` (weights and biases `<prefix>.weight`, `<prefix>.bias`).
    mutating func squeezeExcite(_ x: String, reduce: String, expand: String, activation inner: Activation, gate: Activation) -> String {
        var s = add("GlobalAveragePool", [x])
        s = conv(s, weight: "\(reduce).weight", bias: "\(reduce).bias", name: reduce, padding: .symmetric(0))
        s = activation(s, inner)
        s = conv(s, weight: "\(expand).weight", bias: "\(expand).bias", name: expand, padding: .symmetric(0))
        return add("Mul", [x, activation(s, gate)])
    }

    /// Global average pooling to `[N, C]`.
    mutating func globalAveragePoolFlat(_ x: String) -> String {
        flatten(add("GlobalAveragePool", [x]))
    }
}

/// One step of a convolutional block, in checkpoint names.
enum CNNStep {
    /// Convolution `<conv>.weight` (with `<conv>.bias` when `bias`), then BatchNorm `norm` (when
    /// given), then `activation`.
    case conv(conv: String, norm: String?, bias: Bool = false, stride: Int, groups: Int, padding: ConvPadding, activation: Activation, dilation: Int = 1)
    /// Squeeze-and-excitation with 1×1 convolutions `reduce` and `expand` (both with biases).
    case squeezeExcite(reduce: String, expand: String, activation: Activation, gate: Activation)
}

/// A block: steps in order, and whether its input is added to their output.
struct CNNBlock {
    var steps: [CNNStep]
    var residual: Bool
}

extension GraphBuilder {
    /// Runs `steps` on `x` (BatchNorm with `epsilon`).
    mutating func apply(_ steps: [CNNStep], to x: String, epsilon: Float) -> String {
        var y = x
        for step in steps {
            switch step {
            case .conv(let conv, let norm, let bias, let stride, let groups, let padding, let kind, let dilation):
                y = self.conv(y, weight: "\(conv).weight", bias: bias ? "\(conv).bias" : nil, name: conv, stride: stride, padding: padding, groups: groups,
                              dilation: dilation)
                if let norm { y = batchNorm(y, prefix: norm, epsilon: epsilon) }
                y = activation(y, kind)
            case .squeezeExcite(let reduce, let expand, let inner, let gate):
                y = squeezeExcite(y, reduce: reduce, expand: expand, activation: inner, gate: gate)
            }
        }
        return y
    }

    /// Runs a block: its steps, plus its input when residual.
    mutating func apply(_ block: CNNBlock, to x: String, epsilon: Float) -> String {
        let y = apply(block.steps, to: x, epsilon: epsilon)
        return block.residual ? add("Add", [y, x]) : y
    }
}
