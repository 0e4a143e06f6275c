import Foundation
import TensorCore
import WeightFormats

/// An architecture described in JSON for checkpoints without a graph (`Formats/arch.md`):
/// a sequence of layers naming the checkpoint tensors they use, with residual blocks, the input
/// shape and an optional per-channel normalisation applied to inputs.
public struct ArchitectureSpec: Decodable, Sendable {
    public struct Input: Decodable, Sendable {
        public var shape: [Int]
        public var mean: [Float]?
        public var std: [Float]?
    }

    public indirect enum Layer: Decodable, Sendable {
        case linear(weight: String, bias: String?)
        case conv(weight: String, bias: String?, stride: Int, padding: Int, dilation: Int, groups: Int)
        case batchNorm(prefix: String, epsilon: Float)
        case layerNorm(prefix: String, epsilon: Float)
        case activation(String)
        case maxPool(kernel: Int, stride: Int, padding: Int)
        case avgPool(kernel: Int, stride: Int, padding: Int)
        case globalAvgPool
        case flatten
        case residual(body: [Layer], shortcut: [Layer])

        enum Keys: String, CodingKey {
            case op, weight, bias, stride, padding, dilation, groups, prefix, epsilon, kernel, body, shortcut
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            let op = try c.decode(String.self, forKey: .op)
            switch op {
            case "linear":
                self = .linear(weight: try c.decode(String.self, forKey: .weight), bias: try c.decodeIfPresent(String.self, forKey: .bias))
            case "conv":
                self = .conv(weight: try c.decode(String.self, forKey: .weight), bias: try c.decodeIfPresent(String.self, forKey: .bias),
                             stride: try c.decodeIfPresent(Int.self, forKey: .stride) ?? 1, padding: try c.decodeIfPresent(Int.self, forKey: .padding) ?? 0,
                             dilation: try c.decodeIfPresent(Int.self, forKey: .dilation) ?? 1, groups: try c.decodeIfPresent(Int.self, forKey: .groups) ?? 1)
            case "batchnorm":
                self = .batchNorm(prefix: try c.decode(String.self, forKey: .prefix), epsilon: try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? 1e-5)
            case "layernorm":
                self = .layerNorm(prefix: try c.decode(String.self, forKey: .prefix), epsilon: try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? 1e-5)
            case "relu", "gelu", "gelu_tanh", "sigmoid", "tanh":
                self = .activation(op)
            case "maxpool", "avgpool":
                let kernel = try c.decode(Int.self, forKey: .kernel)
                let stride = try c.decodeIfPresent(Int.self, forKey: .stride) ?? kernel
                let padding = try c.decodeIfPresent(Int.self, forKey: .padding) ?? 0
                self = op == "maxpool" ? .maxPool(kernel: kernel, stride: stride, padding: padding) : .avgPool(kernel: kernel, stride: stride, padding: padding)
            case "global_avgpool": self = .globalAvgPool
            case "flatten": self = .flatten
            case "residual":
                self = .residual(body: try c.decode([Layer].self, forKey: .body), shortcut: try c.decodeIfPresent([Layer].self, forKey: .shortcut) ?? [])
            default:
                throw DecodingError.dataCorruptedError(forKey: .op, in: c, debugDescription: "unknown op '\(op)'")
            }
        }
    }

    public var input: Input
    public var layers: [Layer]

    /// Whether the JSON file at `path` is meant as a spec: an object with `input` or `layers`
    /// (any other object is a model config, see `Model.load(_:architecture:sampleShape:)`), or
    /// not a JSON object at all (``load(_:)`` then names the defect).
    public static func isSpec(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return true }
        return object["input"] != nil || object["layers"] != nil
    }

    /// Reads a spec; errors name the JSON defect.
    public static func load(_ path: String) throws -> ArchitectureSpec {
        // Opened like every input (no FIFO or device can block it), not with FileManager.
        let data = Data(try InputFile.contents(of: path))
        do {
            return try JSONDecoder().decode(ArchitectureSpec.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            throw ModelError.invalidArchitecture(reason: context.debugDescription)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ModelError.invalidArchitecture(reason: "missing \"\(key.stringValue)\" at \(context.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch let DecodingError.typeMismatch(_, context) {
            throw ModelError.invalidArchitecture(reason: "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw ModelError.invalidArchitecture(reason: "\(error)")
        }
    }

    /// The model with the checkpoint's tensors; missing or mis-shaped tensors are errors.
    public func model(checkpoint: any CheckpointReader) throws -> Model {
        var b = GraphBuilder()
        var x = "x"
        if let mean = input.mean, let std = input.std {
            let shape = [1, mean.count] + [Int](repeating: 1, count: max(0, input.shape.count - 1))
            b.parameters["__input_mean"] = Tensor(shape: shape, data: mean)
            b.parameters["__input_std"] = Tensor(shape: shape, data: std)
            x = b.add("Div", [b.add("Sub", [x, "__input_mean"]), "__input_std"])
        }
        x = try build(layers, from: x, into: &b)
        var used = Set<String>()
        for node in b.nodes { for name in node.inputs where checkpoint.info(named: name) != nil { used.insert(name) } }
        let referenced = Set(b.nodes.flatMap(\.inputs)).filter { !$0.isEmpty && b.parameters[$0] == nil && b.constants[$0] == nil }
        let produced = Set(b.nodes.flatMap(\.outputs)).union(["x"])
        for name in referenced.subtracting(produced).sorted() {
            guard let info = checkpoint.info(named: name) else { throw ModelError.missingTensor(name: name, expectedShape: []) }
            b.parameters[name] = try TensorLoading.floatTensor(checkpoint, info)
        }
        let unused = Set(checkpoint.tensors.map(\.name)).subtracting(used).sorted()
        let graph = b.graph(input: "x", output: x)
        let model = Model(graph: graph, source: .architectureSpec(path: ""), inputName: "x", outputName: x, sampleShape: input.shape,
                          warnings: Model.unusedTensorsWarning(unused).map { [$0] } ?? [])
        // Shapes are checked by running one sample: the error names the layer and both shapes.
        _ = try model.logits(Tensor(zeros: [1] + input.shape))
        return model
    }

    private func build(_ layers: [Layer], from start: String, into b: inout GraphBuilder) throws -> String {
        var x = start
        for layer in layers {
            switch layer {
            case .linear(let weight, let bias):
                x = b.linear(x, weight: weight, bias: bias, name: weight)
            case .conv(let weight, let bias, let stride, let padding, let dilation, let groups):
                x = b.add("Conv", [x, weight] + (bias.map { [$0] } ?? []), name: weight,
                          attributes: ["strides": .ints([stride, stride]), "pads": .ints([padding, padding, padding, padding]),
                                       "dilations": .ints([dilation, dilation]), "group": .int(groups)])
            case .batchNorm(let prefix, let epsilon):
                x = b.batchNorm(x, prefix: prefix, epsilon: epsilon)
            case .layerNorm(let prefix, let epsilon):
                x = b.add("LayerNormalization", [x, "\(prefix).weight", "\(prefix).bias"], name: prefix,
                          attributes: ["axis": .int(-1), "epsilon": .float(epsilon)])
            case .activation(let kind):
                switch kind {
                case "relu": x = b.relu(x)
                case "gelu": x = b.add("Gelu", [x])
                case "gelu_tanh": x = b.add("Gelu", [x], attributes: ["approximate": .string("tanh")])
                case "sigmoid": x = b.add("Sigmoid", [x])
                default: x = b.add("Tanh", [x])
                }
            case .maxPool(let kernel, let stride, let padding):
                x = b.maxPool(x, kernel: kernel, stride: stride, padding: padding)
            case .avgPool(let kernel, let stride, let padding):
                x = b.add("AveragePool", [x], attributes: ["kernel_shape": .ints([kernel, kernel]), "strides": .ints([stride, stride]),
                                                           "pads": .ints([padding, padding, padding, padding])])
            case .globalAvgPool:
                x = b.add("GlobalAveragePool", [x])
            case .flatten:
                x = b.flatten(x)
            case .residual(let body, let shortcut):
                let main = try build(body, from: x, into: &b)
                let skip = try build(shortcut, from: x, into: &b)
                x = b.add("Add", [main, skip])
            }
        }
        return x
    }
}
