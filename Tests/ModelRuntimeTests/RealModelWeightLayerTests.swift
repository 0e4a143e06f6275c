import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

/// The weight layers the engines edit in the real-library exports.
@Suite("weight layers of torchvision, timm and transformers exports: one per Conv/Linear, layouts that edits act on the inputs")
struct RealModelWeightLayerTests {
    /// Conv and Linear layers of each PyTorch model (`nn.Conv2d`, and `nn.Linear` plus each
    /// `nn.MultiheadAttention`'s `in_proj_weight`), counted on the modules that
    /// `Benchmarks/real_models/make_real_models.py` builds (`tiny_specs()`, `m.modules()`).
    static let pytorchLayers: [String: (convolutions: Int, linear: Int)] = [
        "timm-convnext": (16, 1), "timm-deit-distilled": (1, 10), "timm-efficientnet-test": (17, 1), "timm-resnet-basic": (13, 1),
        "timm-resnet-bottleneck": (17, 1), "timm-vit": (1, 9), "torchvision-convnext": (8, 9), "torchvision-efficientnet-b0": (36, 1),
        "torchvision-mobilenet-v2": (52, 1), "torchvision-mobilenet-v3-small": (50, 2), "torchvision-vit": (1, 7 + 2),
        "transformers-convnext": (8, 9), "transformers-mobilenet-v2": (52, 1), "transformers-resnet-basic": (12, 1),
        "transformers-resnet-bottleneck": (17, 1), "transformers-vit": (1, 13),
    ]

    /// An orthonormal basis (float64 Gram–Schmidt) of the span of `rows` (each of length `d`).
    func basis(_ rows: [[Double]]) -> [[Double]] {
        var q: [[Double]] = []
        let scale = rows.map { $0.map(abs).max() ?? 0 }.max() ?? 0
        for row in rows {
            var v = row
            for _ in 0..<2 { for b in q { let dot = zip(v, b).reduce(0) { $0 + $1.0 * $1.1 }; for k in v.indices { v[k] -= dot * b[k] } } }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 1e-6 * max(scale, 1e-30) { q.append(v.map { $0 / norm }) }
        }
        return q
    }

    /// `W` with the span of `q` (input vectors) projected out of its input side, for `layout`.
    func projectedOut(_ w: Tensor, _ q: [[Double]], layout: WeightLayout) -> Tensor {
        let (rows, columns) = (w.shape[0], w.shape[1])
        var out = w.data.map(Double.init)
        for b in q {
            switch layout {
            case .outputsByInputs:   // W [out, d]: W − (W b) bᵀ
                for i in 0..<rows {
                    let dot = (0..<columns).reduce(0.0) { $0 + out[i * columns + $1] * b[$1] }
                    for k in 0..<columns { out[i * columns + k] -= dot * b[k] }
                }
            case .inputsByOutputs:   // W [d, out]: W − b (bᵀ W)
                for j in 0..<columns {
                    let dot = (0..<rows).reduce(0.0) { $0 + out[$1 * columns + j] * b[$1] }
                    for k in 0..<rows { out[k * columns + j] -= dot * b[k] }
                }
            }
        }
        return Tensor(shape: w.shape, data: out.map(Float.init))
    }

    @Test("as many weight layers as the PyTorch model has Conv and Linear layers; the fused graph edits the same parameters in the same layouts",
          arguments: RealModelFixtures.onnxFiles)
    func counts(_ file: RealModelFixtures.File) throws {
        let expected = try #require(Self.pytorchLayers[file.entry.folder])
        let model = try Model.fromONNXFile(file.path)
        let layers = model.graph.weightLayers
        #expect(layers.filter { $0.kind == .convolution }.count == expected.convolutions)
        #expect(layers.filter { $0.kind == .linear }.count == expected.linear)
        let exported = try Model.fromONNX(ONNXModel(path: file.path), checkpoint: nil, fusingKernels: false)
        #expect(layers.map(\.weight) == exported.graph.weightLayers.map(\.weight))
        #expect(layers.map(\.layout) == exported.graph.weightLayers.map(\.layout))
        // Each layer's input vectors have the length its weight's input side has in its layout.
        let x = try RealModelExpectation(file.entry).x
        var dimensions: [Int: Int] = [:]
        _ = try model.graph.forward([model.inputName: x], capture: { dimensions[$0.layer] = $0.dimension })
        for (index, layer) in layers.enumerated() {
            let w = try #require(model.graph.parameters[layer.weight])
            let inputs = switch (layer.kind, layer.layout) {
            case (.convolution, _): w.shape.dropFirst().reduce(1, *)
            case (.linear, .outputsByInputs): w.shape[1]
            case (.linear, .inputsByOutputs): w.shape[0]
            }
            #expect(dimensions[index] == inputs, "\(layer.nodeName): \(layer.weight) \(w.shape) \(layer.layout)")
        }
    }

    @Test("each linear layer's layout is how its node multiplies: projecting input vectors out of the weight's input side zeroes their products",
          arguments: RealModelFixtures.onnxFiles)
    func layouts(_ file: RealModelFixtures.File) throws {
        // The graph as exported (no fusion): every linear layer is a Gemm or MatMul node whose
        // output rows are its input rows times the weight.
        let model = try Model.fromONNX(ONNXModel(path: file.path), checkpoint: nil, fusingKernels: false)
        let graph = model.graph
        let x = try RealModelExpectation(file.entry).x
        let one = Tensor(shape: [1] + x.shape.dropFirst(), data: Array(x.data.prefix(x.count / x.shape[0])))
        var rows: [Int: Tensor] = [:]
        _ = try graph.forward([model.inputName: one], capture: { if graph.weightLayers[$0.layer].kind == .linear { rows[$0.layer] = $0.rows } })
        #expect(rows.count == graph.weightLayers.filter { $0.kind == .linear }.count)
        for (index, layer) in graph.weightLayers.enumerated() where layer.kind == .linear {
            let node = graph.nodes[layer.nodeIndex], name = node.outputs[0]
            let w = try #require(graph.parameters[layer.weight]), input = try #require(rows[index])
            let d = input.shape[1]
            // Fewer vectors than dimensions, so that the projection is not the identity.
            let r = min(input.shape[0], max(d / 2, 1), 8)
            let q = basis((0..<r).map { i in (0..<d).map { Double(input.data[i * d + $0]) } })
            func product(_ weight: Tensor) throws -> [Float] {
                let all = try graph.intermediates([name], for: [model.inputName: one], parameters: [layer.weight: weight])[name]!
                let width = all.shape.last!
                return Array(all.data.prefix(r * width))   // the rows of the r vectors (one sample: rows in input order)
            }
            let original = try product(w), bias = try product(Tensor(zeros: w.shape))
            let edited = try product(projectedOut(w, q, layout: layer.layout))
            let scale = max(1, zip(original, bias).map { abs($0 - $1) }.max() ?? 0)
            let residual = zip(edited, bias).map { abs($0 - $1) }.max() ?? 0
            #expect(residual <= 1e-4 * scale, "\(layer.nodeName): \(layer.weight) \(w.shape) \(layer.layout): residual \(residual) of \(scale)")
            if w.shape[0] == w.shape[1] {
                // A square weight fits either layout: the other one would leave the products.
                let flipped: WeightLayout = layer.layout == .outputsByInputs ? .inputsByOutputs : .outputsByInputs
                let wrong = try product(projectedOut(w, q, layout: flipped))
                #expect((zip(wrong, bias).map { abs($0 - $1) }.max() ?? 0) > 1e-3 * scale, "\(layer.nodeName)")
            }
        }
    }
}
