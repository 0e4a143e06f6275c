import Testing
import TensorCore
import _TestSupport

@Suite("graph: weight layers, activation capture, errors")
struct GraphTests {
    /// Conv (2 groups) → Relu → Flatten → Gemm (transB) → MatMul through a Transpose → Linear.
    func model() -> ComputeGraph {
        var rng = SeededGenerator(seed: 11)
        let nodes = [
            GraphNode(name: "conv", operation: .convolution(ConvolutionAttributes(strides: [2, 2], pads: [1, 1, 1, 1], groups: 2)),
                      inputs: ["x", "conv.w", "conv.b"], outputs: ["c"]),
            GraphNode(name: "relu", operation: .unary(.relu), inputs: ["c"], outputs: ["r"]),
            GraphNode(name: "flat", operation: .flatten(axis: 1), inputs: ["r"], outputs: ["f"]),
            GraphNode(name: "fc1", operation: .gemm(GemmAttributes(transB: true)), inputs: ["f", "fc1.w", "fc1.b"], outputs: ["h"]),
            GraphNode(name: "t", operation: .transpose(perm: [1, 0]), inputs: ["fc2.w"], outputs: ["fc2.wt"]),
            GraphNode(name: "fc2", operation: .matMul, inputs: ["h", "fc2.wt"], outputs: ["g"]),
            GraphNode(name: "head", operation: .linear(.inputsByOutputs), inputs: ["g", "head.w"], outputs: ["y"]),
        ]
        let parameters: [String: Tensor] = [
            "conv.w": .random([4, 1, 3, 3], using: &rng), "conv.b": .random([4], using: &rng),
            "fc1.w": .random([5, 16], using: &rng), "fc1.b": .random([5], using: &rng),
            "fc2.w": .random([3, 5], using: &rng), "head.w": .random([3, 2], using: &rng),
        ]
        return ComputeGraph(nodes: nodes, parameters: parameters, inputNames: ["x"], outputNames: ["y"])
    }

    @Test("weight layers list kind, weight parameter, layout and groups in node order")
    func weightLayers() {
        let layers = model().weightLayers
        #expect(layers.map(\.nodeName) == ["conv", "fc1", "fc2", "head"])
        #expect(layers.map(\.weight) == ["conv.w", "fc1.w", "fc2.w", "head.w"])
        #expect(layers.map(\.kind) == [.convolution, .linear, .linear, .linear])
        // MatMul by Transpose(W [out, in]) multiplies by W's rows: outputs × inputs.
        #expect(layers.map(\.layout) == [.outputsByInputs, .outputsByInputs, .outputsByInputs, .inputsByOutputs])
        #expect(layers.map(\.groups) == [2, 1, 1, 1])
    }

    @Test("capture: conv patches per group in OIHW order with the layer's stride and padding; linear rows")
    func capture() throws {
        let graph = model()
        var rng = SeededGenerator(seed: 12)
        let x = Tensor.random([2, 2, 4, 4], using: &rng)
        var captured: [String: [Int: Tensor]] = [:]
        let y = try graph.forward(["x": x], capture: { input in
            #expect(graph.weightLayers[input.layer].weight == input.weight)
            captured[input.name, default: [:]][input.group] = input.rows
        }).outputs["y"]!
        #expect(y.shape == [2, 2])
        // Conv: 2 samples × 2×2 positions, d = (C/groups)·3·3 = 9, one tensor per group.
        let group1 = try #require(captured["conv"]?[1])
        #expect(group1.shape == [8, 9])
        // Sample 1, output position (0, 1): window rows −1…1, columns 1…3 of channel 1 (stride 2, pad 1).
        var expected: [Float] = []
        for ki in -1...1 { for kj in 1...3 { expected.append(ki < 0 ? 0 : x[1, 1, ki, kj]) } }
        #expect(Array(group1.data[(5 * 9)..<(6 * 9)]) == expected)
        // Each patch times the group's flattened weight gives the pre-bias conv output.
        let w = graph.parameters["conv.w"]!, b = graph.parameters["conv.b"]!
        let conv = try ComputeGraph(nodes: [GraphNode(name: "c", operation: graph.nodes[0].operation, inputs: ["x", "w", "b"], outputs: ["c"])],
                                    parameters: ["w": w, "b": b], inputNames: ["x"], outputNames: ["c"]).outputs(for: ["x": x])["c"]!
        for m in 2..<4 {   // output channels of group 1
            let dot = (0..<9).reduce(Float(0)) { $0 + group1.data[5 * 9 + $1] * w.data[m * 9 + $1] }
            #expect(abs(dot + b.data[m] - conv[1, m, 0, 1]) < 1e-5)
        }
        // Linear layers see their input rows.
        #expect(captured["fc1"]?[0]?.shape == [2, 16])
        #expect(captured["fc2"]?[0]?.shape == [2, 5])
        #expect(captured["head"]?[0]?.shape == [2, 3])
    }

    @Test("support classes: each vector is zero off its class's coordinates; compact float64 copies equal the full patch there")
    func supportClasses() throws {
        // Uneven padding, stride 2 and dilation 2 along H, two groups: borders of many kinds.
        var rng = SeededGenerator(seed: 15)
        let attributes = ConvolutionAttributes(strides: [2, 1], pads: [2, 1, 0, 1], dilations: [2, 1], groups: 2)
        let graph = ComputeGraph(nodes: [GraphNode(name: "conv", operation: .convolution(attributes), inputs: ["x", "w"], outputs: ["y"])],
                                 parameters: ["w": .random([4, 2, 3, 3], using: &rng)], inputNames: ["x"], outputNames: ["y"])
        let x = Tensor(shape: [2, 4, 5, 6], data: Tensor.random([2, 4, 5, 6], using: &rng).data.map { abs($0) + 1 })   // no zeros inside
        var checked = 0
        _ = try graph.forward(["x": x], capture: { input in
            let classes = input.supportClasses
            let rows = input.rows, d = input.dimension, p = input.vectorsPerSample
            #expect(classes.classOfPosition.count == p)
            #expect(classes.coordinates.count > 2 && classes.coordinates.count <= p)
            for s in 0..<input.samples {
                for j in 0..<p {
                    let c = classes.classOfPosition[j], coordinates = classes.coordinates[c]
                    let full = Array(rows.data[((s * p + j) * d)..<((s * p + j + 1) * d)])
                    // Exactly the coordinates off the class are zero (inputs are nonzero).
                    #expect((0..<d).filter { full[$0] != 0 } == coordinates)
                    var compact = [Double](repeating: .nan, count: coordinates.count)
                    compact.withUnsafeMutableBufferPointer {
                        input.copyVectors([(sample: s, position: j)][...], supportClass: c, of: classes, into: $0.baseAddress!)
                    }
                    #expect(compact == coordinates.map { Double(full[$0]) })
                    checked += 1
                }
            }
        })
        #expect(checked == 2 * 2 * 2 * 6)   // groups × samples × 2×6 output positions
    }

    @Test("capture: token inputs are flattened to rows; attention reports both projections")
    func tokenCapture() throws {
        var rng = SeededGenerator(seed: 13)
        let graph = ComputeGraph(
            nodes: [GraphNode(name: "attn", operation: .multiHeadAttention(heads: 2, batchFirst: true),
                              inputs: ["x", "in.w", "in.b", "out.w", "out.b"], outputs: ["a"]),
                    GraphNode(name: "mlp", operation: .linear(.outputsByInputs), inputs: ["a", "mlp.w"], outputs: ["y"])],
            parameters: ["in.w": .random([12, 4], using: &rng), "in.b": .random([12], using: &rng), "out.w": .random([4, 4], using: &rng),
                         "out.b": .random([4], using: &rng), "mlp.w": .random([6, 4], using: &rng)],
            inputNames: ["x"], outputNames: ["y"])
        #expect(graph.weightLayers.map(\.nodeName) == ["attn.in_proj", "attn.out_proj", "mlp"])
        #expect(graph.weightLayers.map(\.weight) == ["in.w", "out.w", "mlp.w"])
        let x = Tensor.random([2, 3, 4], using: &rng)
        var rows: [String: Tensor] = [:]
        _ = try graph.forward(["x": x], capture: { rows[$0.name] = $0.rows })
        #expect(rows["attn.in_proj"] == x.reshaped([6, 4]))
        #expect(rows["attn.out_proj"]?.shape == [6, 4])
        #expect(rows["mlp"]?.shape == [6, 4])
    }

    @Test("attention with separate query/key/value weights is the fused form with the weights stacked; each is a weight layer of its own")
    func separateProjections() throws {
        var rng = SeededGenerator(seed: 15)
        let e = 6
        let names = ["q", "k", "v"]
        var parameters: [String: Tensor] = ["o.weight": .random([e, e], using: &rng), "o.bias": .random([e], using: &rng)]
        for name in names {
            parameters["\(name).weight"] = .random([e, e], using: &rng)
            parameters["\(name).bias"] = .random([e], using: &rng)
        }
        let separate = ComputeGraph(
            nodes: [GraphNode(name: "attn", operation: .multiHeadAttention(heads: 3, batchFirst: true),
                              inputs: ["x", "q.weight", "q.bias", "k.weight", "k.bias", "v.weight", "v.bias", "o.weight", "o.bias"], outputs: ["y"])],
            parameters: parameters, inputNames: ["x"], outputNames: ["y"])
        let stacked: [String: Tensor] = [
            "in.w": Tensor(shape: [3 * e, e], data: names.flatMap { parameters["\($0).weight"]!.data }),
            "in.b": Tensor(shape: [3 * e], data: names.flatMap { parameters["\($0).bias"]!.data }),
            "o.weight": parameters["o.weight"]!, "o.bias": parameters["o.bias"]!,
        ]
        let fused = ComputeGraph(
            nodes: [GraphNode(name: "attn", operation: .multiHeadAttention(heads: 3, batchFirst: true),
                              inputs: ["x", "in.w", "in.b", "o.weight", "o.bias"], outputs: ["y"])],
            parameters: stacked, inputNames: ["x"], outputNames: ["y"])
        #expect(separate.weightLayers.map(\.nodeName) == ["q", "k", "v", "o"])
        #expect(separate.weightLayers.map(\.weight) == ["q.weight", "k.weight", "v.weight", "o.weight"])
        let x = Tensor.random([2, 5, e], using: &rng)
        var rows: [String: Tensor] = [:]
        let (outputs, record) = try separate.forward(["x": x], recording: true, capture: { rows[$0.name] = $0.rows })
        let (reference, fusedRecord) = try fused.forward(["x": x], recording: true)
        expectClose(outputs["y"]!, reference["y"]!, rtol: 1e-5, atol: 1e-6)
        for name in names { #expect(rows[name] == x.reshaped([10, e])) }
        #expect(rows["o"]?.shape == [10, e])
        // Gradients: each projection's is its third of the stacked one.
        let dy = Tensor.random([2, 5, e], using: &rng)
        let g = try separate.backward(record, outputGradients: ["y": dy])
        let reference2 = try fused.backward(fusedRecord, outputGradients: ["y": dy])
        for (part, name) in names.enumerated() {
            let w = Array(reference2.parameters["in.w"]!.data[(part * e * e)..<((part + 1) * e * e)])
            let b = Array(reference2.parameters["in.b"]!.data[(part * e)..<((part + 1) * e)])
            expectClose(g.parameters["\(name).weight"]!, Tensor(shape: [e, e], data: w), rtol: 1e-5, atol: 1e-5)
            expectClose(g.parameters["\(name).bias"]!, Tensor(shape: [e], data: b), rtol: 1e-5, atol: 1e-5)
        }
        expectClose(g.inputs["x"]!, reference2.inputs["x"]!, rtol: 1e-5, atol: 1e-5)
    }

    @Test("backward through a whole model: parameter gradients by name, input gradient, frozen constants absent")
    func wholeModelGradients() throws {
        let graph = model()
        var rng = SeededGenerator(seed: 14)
        let x = Tensor.random([2, 2, 4, 4], using: &rng)
        let (outputs, record) = try graph.forward(["x": x], recording: true)
        let (_, dlogits) = Normalization.crossEntropy(logits: outputs["y"]!, labels: [0, 1])
        let gradients = try graph.backward(record, outputGradients: ["y": dlogits])
        #expect(Set(gradients.parameters.keys) == Set(graph.parameters.keys))
        for (name, g) in gradients.parameters { #expect(g.shape == graph.parameters[name]!.shape, "\(name)") }
        // Finite differences on a few weights of the first layer (through Relu, Flatten, Gemm, Transpose, MatMul, Linear).
        let w = graph.parameters["conv.w"]!
        for i in [0, 7, 20, 35] {
            func loss(_ delta: Float) throws -> Double {
                var perturbed = w
                perturbed.data[i] = w.data[i] + delta
                let logits = try graph.outputs(for: ["x": x], parameters: ["conv.w": perturbed])["y"]!
                return Double(Normalization.crossEntropy(logits: logits, labels: [0, 1]).loss)
            }
            let numeric = (try loss(1e-2) - loss(-1e-2)) / 2e-2
            #expect(abs(Double(gradients.parameters["conv.w"]!.data[i]) - numeric) < 2e-3 + 2e-2 * abs(numeric), "conv.w[\(i)]")
        }
        #expect(gradients.inputs["x"]?.shape == x.shape)
    }

    @Test("parameter overrides replace stored weights for one pass only; gradients are taken at the overridden values")
    func parameterOverrides() throws {
        let graph = model()
        var rng = SeededGenerator(seed: 15)
        let x = Tensor.random([2, 2, 4, 4], using: &rng)
        let edited = ["conv.w": Tensor.random([4, 1, 3, 3], using: &rng), "head.w": Tensor.random([3, 2], using: &rng)]
        let stored = graph.parameters
        let reference = ComputeGraph(nodes: graph.nodes, parameters: stored.merging(edited) { $1 }, inputNames: ["x"], outputNames: ["y"])
        let (outputs, record) = try graph.forward(["x": x], parameters: edited, recording: true)
        let (expected, expectedRecord) = try reference.forward(["x": x], recording: true)
        #expect(outputs["y"] == expected["y"])
        let (_, dlogits) = Normalization.crossEntropy(logits: outputs["y"]!, labels: [0, 1])
        let gradients = try graph.backward(record, outputGradients: ["y": dlogits])
        let expectedGradients = try reference.backward(expectedRecord, outputGradients: ["y": dlogits])
        #expect(gradients.parameters == expectedGradients.parameters)
        #expect(gradients.inputs == expectedGradients.inputs)
        // The graph is untouched: the next pass without overrides uses the stored weights.
        #expect(graph.parameters == stored)
        #expect(try graph.outputs(for: ["x": x]) == (try model().outputs(for: ["x": x])))
        #expect(try graph.outputs(for: ["x": x]) != outputs)
    }

    @Test("an override naming no parameter, or of another shape, is a precondition failure")
    func overridePreconditions() async {
        await #expect(processExitsWith: .failure) {
            let graph = GraphTests().model()
            _ = try? graph.outputs(for: ["x": Tensor(zeros: [1, 2, 4, 4])], parameters: ["nowhere": Tensor(zeros: [1])])
        }
        await #expect(processExitsWith: .failure) {
            let graph = GraphTests().model()
            _ = try? graph.outputs(for: ["x": Tensor(zeros: [1, 2, 4, 4])], parameters: ["head.w": Tensor(zeros: [2, 3])])
        }
    }

    @Test("errors name the node: unsupported operator, shape mismatch, missing input, invalid attributes")
    func errors() {
        let x = Tensor(zeros: [2, 3])
        func run(_ operation: GraphOperation, _ inputs: [String], _ parameters: [String: Tensor] = [:]) throws {
            _ = try ComputeGraph(nodes: [GraphNode(name: "n", operation: operation, inputs: inputs, outputs: ["y"])],
                                 parameters: parameters, inputNames: ["x"], outputNames: ["y"]).outputs(for: ["x": x])
        }
        #expect(throws: GraphError.unsupportedOperator(node: "n", opType: "TopK")) { try run(.unsupported(opType: "TopK"), ["x"]) }
        #expect(throws: GraphError.invalidInput(node: "n", opType: "MatMul", reason: "inner dimensions differ: [2, 3] × [2, 3]")) {
            try run(.matMul, ["x", "w"], ["w": Tensor(zeros: [2, 3])])
        }
        #expect(throws: GraphError.missingValue(node: "n", name: "nowhere")) { try run(.binary(.add), ["x", "nowhere"]) }
        #expect(throws: GraphError.invalidInput(node: "n", opType: "MaxPool", reason: "no kernel_shape")) {
            try run(.invalid(opType: "MaxPool", reason: "no kernel_shape"), ["x"])
        }
        #expect(throws: GraphError.missingGraphInput("x")) {
            _ = try ComputeGraph(nodes: [], parameters: [:], inputNames: ["x"], outputNames: []).outputs(for: [:])
        }
        #expect(throws: GraphError.invalidInput(node: "n", opType: "Reshape", reason: "cannot reshape [2, 3] this way")) {
            try run(.reshape(shape: [4, -1], allowZero: false), ["x"])
        }
        #expect(throws: GraphError.invalidInput(node: "n", opType: "Add", reason: "shapes [2, 3] and [2] do not broadcast")) {
            try run(.binary(.add), ["x", "b"], ["b": Tensor(zeros: [2])])
        }
    }

    @Test("checkGradient reports a wrong analytic gradient (the checker can fail)")
    func checkerDetectsErrors() {
        let x = Tensor(shape: [3], data: [0.5, -1, 2])
        withKnownIssue {
            // d/dx Σ x² is 2x; claim x instead.
            checkGradient("wrong", inputs: ["x": x], analytic: ["x": x]) { v in v["x"]!.data.reduce(0.0) { $0 + Double($1 * $1) } }
        }
        checkGradient("right", inputs: ["x": x], analytic: ["x": Tensor(shape: [3], data: x.data.map { 2 * $0 })]) { v in
            v["x"]!.data.reduce(0.0) { $0 + Double($1 * $1) }
        }
    }

    @Test("rows of sequence-first inputs ([L, N, d], and [L·N, d] after a reshape) are found position-major and attributed to their samples")
    func positionMajorRows() throws {
        var rng = SeededGenerator(seed: 21)
        let (l, d) = (5, 3)
        // The exported nn.MultiheadAttention shape: a batch-first input transposed to sequence-first
        // before the in-projection, flattened to [L·N, d] before the out-projection (a Gemm).
        let graph = ComputeGraph(
            nodes: [GraphNode(name: "seq_first", operation: .transpose(perm: [1, 0, 2]), inputs: ["x"], outputs: ["t"]),
                    GraphNode(name: "in_proj", operation: .matMul, inputs: ["t", "w_in"], outputs: ["u"]),
                    GraphNode(name: "flat", operation: .reshape(shape: [-1, d], allowZero: false), inputs: ["u"], outputs: ["f"]),
                    GraphNode(name: "out_proj", operation: .gemm(GemmAttributes(transB: true)), inputs: ["f", "w_out"], outputs: ["g"]),
                    GraphNode(name: "batch_first", operation: .reshape(shape: [l, -1, d], allowZero: false), inputs: ["g"], outputs: ["h"]),
                    GraphNode(name: "back", operation: .transpose(perm: [1, 0, 2]), inputs: ["h"], outputs: ["v"]),
                    GraphNode(name: "mlp", operation: .linear(.outputsByInputs), inputs: ["v", "w_mlp"], outputs: ["y"])],
            parameters: ["w_in": .random([d, d], using: &rng), "w_out": .random([d, d], using: &rng), "w_mlp": .random([2, d], using: &rng)],
            inputNames: ["x"], outputNames: ["y"])
        #expect(graph.weightLayers.allSatisfy { $0.rowOrder == .sampleMajor })
        let ordered = try graph.orderingRows(probe: .random([2, l, d], using: &rng), inputName: "x")
        #expect(ordered.weightLayers.map(\.rowOrder) == [.positionMajor, .positionMajor, .sampleMajor])
        #expect(ordered.weightLayers.map(\.weight) == graph.weightLayers.map(\.weight))
        // Vector j of sample s is token j of sample s for every layer, whatever the batch size.
        for n in [1, 3, 7] {
            let x = Tensor.random([n, l, d], using: &rng)
            var seen: [Int: [Float]] = [:]
            let y = try ordered.forward(["x": x], capture: { input in
                #expect(input.samples == n && input.vectorsPerSample == l && input.dimension == d)
                if input.layer == 0 {
                    for s in 0..<n {
                        var vectors = [Float](repeating: .nan, count: l * d)
                        vectors.withUnsafeMutableBufferPointer { input.copyVectors(sample: s, positions: 0..<l, into: $0.baseAddress!) }
                        #expect(vectors == Array(x.data[(s * l * d)..<((s + 1) * l * d)]), "sample \(s) of \(n)")
                    }
                }
                seen[input.layer] = input.rows.data
            }).outputs["y"]!
            #expect(y == (try graph.outputs(for: ["x": x])["y"]!))
            // The out-projection's vectors of a sample are the in-projection's outputs for it: `rows` is sample-major.
            let u = try graph.intermediates(["u"], for: ["x": x])["u"]!
            let uBatchFirst = Tensor(shape: [n, l, d], data: (0..<(n * l * d)).map { i in
                let (s, j, k) = (i / (l * d), (i / d) % l, i % d)
                return u.data[(j * n + s) * d + k]
            })
            #expect(seen[1] == uBatchFirst.data)
        }
        // Without the ordering, sample 0's vectors would mix both samples' tokens.
        let x = Tensor.random([2, l, d], using: &rng)
        _ = try graph.forward(["x": x], capture: { input in
            guard input.layer == 0 else { return }
            var vectors = [Float](repeating: .nan, count: l * d)
            vectors.withUnsafeMutableBufferPointer { input.copyVectors(sample: 0, positions: 0..<l, into: $0.baseAddress!) }
            #expect(vectors != Array(x.data[0..<(l * d)]))
        })
    }
}
