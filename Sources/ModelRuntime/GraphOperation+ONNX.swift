import TensorCore

/// A decoded ONNX node attribute, the input of ``GraphOperation/init(onnxType:attributes:)``.
package enum Attribute: Sendable, Equatable {
    case int(Int)
    case float(Float)
    case ints([Int])
    case floats([Float])
    case string(String)
    case tensor(Value)
}

extension GraphOperation {
    /// The ONNX operators ``init(onnxType:attributes:)`` maps to an operation (standard-domain
    /// names only). Each maps to an operation whose ``TensorCore/GraphOperation/name`` is the ONNX
    /// name, so messages name operators as the file does.
    public static let onnxOperators: Set<String> = [
        "Constant", "Identity", "Dropout", "Cast", "Shape", "ConstantOfShape", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
        "Transpose", "Gather", "Concat", "Split", "Slice", "Expand", "Equal", "Less", "Greater", "Where",
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Relu", "Erf", "Sqrt", "Sigmoid", "Tanh", "Neg", "Exp", "Log", "Abs",
        "Reciprocal", "Gelu", "Softmax", "LayerNormalization", "BatchNormalization", "Gemm", "MatMul", "Conv",
        "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "ReduceSum",
        "Clip", "HardSigmoid", "HardSwish", "IsNaN", "Pad",
    ]

    /// The operation of an ONNX node (opset ≥ 13 semantics; integer arguments that ONNX passes as
    /// inputs stay inputs). Unknown operators become ``TensorCore/GraphOperation/unsupported(opType:)``;
    /// known ones with unusable attributes become ``TensorCore/GraphOperation/invalid(opType:reason:)``.
    package init(onnxType opType: String, attributes: [String: Attribute]) {
        let a = ONNXAttributes(attributes)
        func autoPad() -> AutoPad? {
            switch a.string("auto_pad", "NOTSET") {
            case "NOTSET": .notSet
            case "SAME_UPPER": .sameUpper
            case "SAME_LOWER": .sameLower
            case "VALID": .valid
            default: nil
            }
        }
        switch opType {
        case "Constant":
            if case .tensor(let value)? = attributes["value"] { self = .constant(value) }
            else if let v = a.float("value_float") { self = .constant(.float(Tensor(shape: [], data: [v]))) }
            else if case .floats(let v)? = attributes["value_floats"] { self = .constant(.float(Tensor(shape: [v.count], data: v))) }
            else if let v = a.int("value_int") { self = .constant(.int(IntTensor(scalar: v))) }
            else if let v = a.ints("value_ints") { self = .constant(.int(IntTensor(v))) }
            else { self = .invalid(opType: opType, reason: "no value attribute") }
        case "Identity": self = .identity
        case "Dropout": self = .dropout
        case "Cast": self = .cast(toFloat: [1, 10, 11, 16].contains(a.int("to") ?? 1))
        case "Shape":
            self = .shape(start: a.int("start") ?? 0, end: a.int("end"))
        case "ConstantOfShape":
            if case .tensor(let fill)? = attributes["value"] { self = .constantOfShape(fill: fill) } else { self = .constantOfShape(fill: nil) }
        case "Reshape": self = .reshape(shape: nil, allowZero: a.int("allowzero") == 1)
        case "Flatten": self = .flatten(axis: a.int("axis") ?? 1)
        case "Squeeze": self = .squeeze(axes: a.ints("axes"))
        case "Unsqueeze": self = .unsqueeze(axes: a.ints("axes"))
        case "Transpose": self = .transpose(perm: a.ints("perm"))
        case "Gather": self = .gather(axis: a.int("axis") ?? 0)
        case "Concat": self = .concat(axis: a.int("axis") ?? 0)
        case "Split": self = .split(axis: a.int("axis") ?? 0, sizes: a.ints("split"))
        case "Slice":
            if let starts = a.ints("starts"), let ends = a.ints("ends") {
                self = .slice(SliceArguments(starts: starts, ends: ends, axes: a.ints("axes")))
            } else {
                self = .slice(nil)
            }
        case "Expand": self = .expand(shape: nil)
        case "Equal": self = .compare(.equal)
        case "Less": self = .compare(.less)
        case "Greater": self = .compare(.greater)
        case "Where": self = .select
        case "IsNaN": self = .isNaN
        case "Pad":
            // Opset 11 on: pads, constant_value and (18) axes are inputs; before, attributes.
            let mode: PadMode? = switch a.string("mode", "constant") {
            case "constant": .constant
            case "reflect": .reflect
            case "edge": .edge
            case "wrap": .wrap
            default: nil
            }
            guard let mode else { self = .invalid(opType: opType, reason: "unknown mode '\(a.string("mode", ""))'"); return }
            self = .pad(PadArguments(mode: mode, pads: a.ints("pads"), value: a.float("value") ?? 0))
        case "Add": self = .binary(.add)
        case "Sub": self = .binary(.sub)
        case "Mul": self = .binary(.mul)
        case "Div": self = .binary(.div)
        case "Pow": self = .binary(.pow)
        case "Mod": self = .binary(.mod)
        case "Relu": self = .unary(.relu)
        case "Erf": self = .unary(.erf)
        case "Sqrt": self = .unary(.sqrt)
        case "Sigmoid": self = .unary(.sigmoid)
        case "Tanh": self = .unary(.tanh)
        case "Neg": self = .unary(.neg)
        case "Exp": self = .unary(.exp)
        case "Log": self = .unary(.log)
        case "Abs": self = .unary(.abs)
        case "Reciprocal": self = .unary(.reciprocal)
        case "HardSwish": self = .unary(.hardSwish)
        case "HardSigmoid": self = .hardSigmoid(alpha: a.float("alpha") ?? 0.2, beta: a.float("beta") ?? 0.5)
        case "Clip":
            // Opset 11 on: min and max are optional inputs; before, attributes.
            self = .clip(lower: a.float("min"), upper: a.float("max"))
        case "Gelu":
            switch a.string("approximate", "none") {
            case "none": self = .gelu(.none)
            case "tanh": self = .gelu(.tanh)
            case let other: self = .invalid(opType: opType, reason: "unknown approximate '\(other)'")
            }
        case "Softmax": self = .softmax(axis: a.int("axis") ?? -1)
        case "LayerNormalization":
            self = .layerNormalization(axis: a.int("axis") ?? -1, epsilon: a.float("epsilon") ?? 1e-5)
        case "BatchNormalization":
            self = a.int("training_mode") == 1
                ? .invalid(opType: opType, reason: "training_mode = 1 is not supported: export the model in eval mode")
                : .batchNormalization(epsilon: a.float("epsilon") ?? 1e-5)
        case "Gemm":
            self = .gemm(GemmAttributes(alpha: a.float("alpha") ?? 1, beta: a.float("beta") ?? 1,
                                        transA: a.int("transA") == 1, transB: a.int("transB") == 1))
        case "MatMul": self = .matMul
        case "Conv":
            guard let pad = autoPad() else { self = .invalid(opType: opType, reason: "unknown auto_pad"); return }
            self = .convolution(ConvolutionAttributes(kernelShape: a.ints("kernel_shape"), strides: a.ints("strides"), pads: a.ints("pads"),
                                                      dilations: a.ints("dilations"), groups: a.int("group") ?? 1, autoPad: pad))
        case "MaxPool", "AveragePool":
            guard let kernel = a.ints("kernel_shape") else { self = .invalid(opType: opType, reason: "no kernel_shape"); return }
            guard let pad = autoPad() else { self = .invalid(opType: opType, reason: "unknown auto_pad"); return }
            let pool = PoolAttributes(kernelShape: kernel, strides: a.ints("strides"), pads: a.ints("pads"), dilations: a.ints("dilations"),
                                      ceilMode: a.int("ceil_mode") == 1, autoPad: pad)
            if opType == "MaxPool" {
                self = a.ints("storage_order").map { $0 != [0] } == true ? .invalid(opType: opType, reason: "storage_order is not supported") : .maxPool(pool)
            } else {
                self = .averagePool(pool, countIncludePad: a.int("count_include_pad") == 1)
            }
        case "GlobalAveragePool": self = .globalAveragePool
        case "ReduceMean", "ReduceSum":
            // Axes: an attribute up to opset 17 (ReduceMean) / 12 (ReduceSum), then input 1.
            self = .reduce(opType == "ReduceMean" ? .mean : .sum, axes: a.ints("axes"), keepDims: (a.int("keepdims") ?? 1) == 1,
                           noopWithEmptyAxes: a.int("noop_with_empty_axes") == 1)
        default:
            self = .unsupported(opType: opType)
        }
    }
}

/// Typed reads of an ONNX attribute dictionary.
private struct ONNXAttributes {
    let values: [String: Attribute]
    init(_ values: [String: Attribute]) { self.values = values }

    func int(_ key: String) -> Int? { if case .int(let v)? = values[key] { v } else { nil } }
    func float(_ key: String) -> Float? { if case .float(let v)? = values[key] { v } else { nil } }
    func ints(_ key: String) -> [Int]? { if case .ints(let v)? = values[key] { v } else { nil } }
    func string(_ key: String, _ fallback: String) -> String { if case .string(let v)? = values[key] { v } else { fallback } }
}

extension GraphNode {
    /// A node from an ONNX operator name and attributes (see ``GraphOperation/init(onnxType:attributes:)``).
    package init(name: String, opType: String, inputs: [String], outputs: [String], attributes: [String: Attribute] = [:]) {
        self.init(name: name, operation: GraphOperation(onnxType: opType, attributes: attributes), inputs: inputs, outputs: outputs)
    }
}
