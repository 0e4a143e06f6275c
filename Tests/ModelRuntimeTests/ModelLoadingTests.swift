import Foundation
import Testing
import TensorCore
import WeightFormats
import ModelRuntime
import _TestSupport

func sample(_ name: String) -> String { Fixtures.path("Samples/\(name)") }

/// Copies a sample checkpoint into another container with `modelforget`'s own writers.
func convertSample(_ name: String, to path: String, container: CheckpointWriteOptions.Container) throws {
    let source = try Checkpoint.open(sample(name))
    try Checkpoint.write(to: path, tensors: source.tensors, options: CheckpointWriteOptions(container: container, metadata: source.metadata)) { info, consume in
        try source.withBytes(of: info.name) { try consume($0) }
    }
}

@Suite("loading models from every file format")
struct ModelLoadingTests {
    @Test("safetensors checkpoints run by recognised layout (MLP, VGG-BN, ResNet) within 1e-4 of PyTorch", arguments: ["mlp", "cnn", "resnet"])
    func recognisedLayouts(name: String) throws {
        let expected = try ExpectedLogits(model: name)
        let model = try Model.load(sample("\(name).safetensors"), sampleShape: [1, 8, 8])
        #expect(maxAbsDifference(try model.logits(expected.x), expected.logits) < 1e-4)
    }

    @Test("safetensors checkpoints with --arch ONNX (aliased initializers split) within 1e-4", arguments: ["mlp", "cnn", "resnet", "vit"])
    func checkpointWithONNXArchitecture(name: String) throws {
        let expected = try ExpectedLogits(model: name)
        let model = try Model.load(sample("\(name).safetensors"), architecture: sample("\(name).onnx"))
        #expect(maxAbsDifference(try model.logits(expected.x), expected.logits) < 1e-4)
    }

    @Test("npz, sharded safetensors and BF16 checkpoints load too", arguments: ["mlp", "cnn", "resnet"])
    func otherContainers(name: String) throws {
        let directory = TemporaryDirectory()
        let expected = try ExpectedLogits(model: name)
        let npz = directory.path("\(name).npz")
        try convertSample("\(name).safetensors", to: npz, container: .npz(.stored))
        #expect(maxAbsDifference(try Model.load(npz, sampleShape: [1, 8, 8]).logits(expected.x), expected.logits) < 1e-4)
        let sharded = directory.path("sharded/\(name).safetensors")
        try FileManager.default.createDirectory(atPath: directory.path("sharded"), withIntermediateDirectories: true)
        try convertSample("\(name).safetensors", to: sharded, container: .shardedSafetensors(maxShardSize: 16_000))
        #expect(maxAbsDifference(try Model.load(directory.path("sharded"), sampleShape: [1, 8, 8]).logits(expected.x), expected.logits) < 1e-4)
    }

    @Test("an architecture spec runs the CNN checkpoint exactly like its ONNX graph")
    func architectureSpec() throws {
        let expected = try ExpectedLogits(model: "cnn")
        let model = try Model.load(sample("cnn.safetensors"), architecture: sample("cnn.arch.json"))
        #expect(model.sampleShape == [1, 8, 8])
        #expect(maxAbsDifference(try model.logits(expected.x), expected.logits) < 1e-4)
    }

    @Test("a residual block in a spec adds its body and shortcut")
    func residualSpec() throws {
        let directory = TemporaryDirectory()
        let weights: [Float] = [2, 0, 0, 3]
        try Checkpoint.write(to: directory.path("r.safetensors"), tensors: [TensorInfo(name: "fc.weight", dtype: .F32, shape: [2, 2])],
                             options: CheckpointWriteOptions(container: .safetensors)) { _, consume in try weights.withUnsafeBytes { try consume($0) } }
        let spec = #"{"input": {"shape": [2]}, "layers": [{"op": "residual", "body": [{"op": "linear", "weight": "fc.weight"}]}]}"#
        directory.write("r.json", Array(spec.utf8))
        let model = try Model.load(directory.path("r.safetensors"), architecture: directory.path("r.json"))
        #expect(try model.logits(Tensor(shape: [1, 2], data: [1, 1])).data == [3, 4])
    }

    @Test("the default batch keeps a batch's largest activation within the 12 MiB that malloc reuses")
    func defaultBatchSizeFollowsActivations() throws {
        let directory = TemporaryDirectory()
        let kernel = [Float](repeating: 0.1, count: 64 * 9), head = [Float](repeating: 0.01, count: 10 * 64)
        try Checkpoint.write(to: directory.path("c.safetensors"),
                             tensors: [TensorInfo(name: "conv.weight", dtype: .F32, shape: [64, 1, 3, 3]), TensorInfo(name: "fc.weight", dtype: .F32, shape: [10, 64])],
                             options: CheckpointWriteOptions(container: .safetensors)) { info, consume in
            try (info.name == "conv.weight" ? kernel : head).withUnsafeBytes { try consume($0) }
        }
        func model(side: Int) throws -> Model {
            let spec = #"{"input": {"shape": [1, \#(side), \#(side)]}, "layers": [{"op": "conv", "weight": "conv.weight", "padding": 1}, "#
                + #"{"op": "relu"}, {"op": "global_avgpool"}, {"op": "flatten"}, {"op": "linear", "weight": "fc.weight"}]}"#
            directory.write("c\(side).json", Array(spec.utf8))
            return try Model.load(directory.path("c.safetensors"), architecture: directory.path("c\(side).json"))
        }
        // 64 × 128 × 128 floats = 4 MiB per sample after the convolution: 3 samples fit in 12 MiB.
        let large = try model(side: 128)
        #expect(try large.graph.largestComputedValueBytes(for: [large.inputName: Tensor(zeros: [1, 1, 128, 128])]) == 4 << 20)
        #expect(large.defaultBatchSize(sampleShape: [1, 128, 128]) == 3)
        // 64 × 8 × 8 floats = 16 KiB per sample: the cap of 256 applies.
        #expect(try model(side: 8).defaultBatchSize(sampleShape: [1, 8, 8]) == 256)
        // A sample whose activation alone exceeds 12 MiB (256 MiB here) runs alone.
        #expect(large.defaultBatchSize(sampleShape: [1, 1024, 1024]) == 1)
        // Samples the graph cannot take (2 channels into a 1-channel convolution) fall back to the
        // input-size rule: 256 Ki input values, capped at 256 samples.
        #expect(large.defaultBatchSize(sampleShape: [2, 8, 8]) == 256)
        #expect(large.defaultBatchSize(sampleShape: [2, 64, 64]) == 32)
    }

    @Test("a missing tensor, a mis-shaped tensor and an unknown layout are named errors")
    func loadingErrors() throws {
        let directory = TemporaryDirectory()
        let cnn = try Checkpoint.open(sample("cnn.safetensors"))
        let dropped = directory.path("dropped.safetensors")
        try Checkpoint.write(to: dropped, tensors: cnn.tensors.filter { $0.name != "features.3.weight" },
                             options: CheckpointWriteOptions(container: .safetensors)) { info, consume in
            try cnn.withBytes(of: info.name) { try consume($0) }
        }
        #expect(throws: (any Error).self) { try Model.load(dropped, architecture: sample("cnn.onnx")) }
        do {
            _ = try Model.load(dropped, architecture: sample("cnn.onnx"))
        } catch let error as WeightFileError {
            #expect(error.description == "\(dropped): missing tensor 'features.3.weight' (expected shape [16, 16, 3, 3])")
        }
        do {
            _ = try Model.load(sample("mlp.safetensors"), architecture: sample("cnn.onnx"))
            Issue.record("loading the MLP into the CNN graph must fail")
        } catch let error as WeightFileError {
            #expect(error.description.contains("missing tensor 'classifier.0.bias'"))
        }
        do {
            _ = try Model.load(sample("digits-test.safetensors"))
            Issue.record("a data file has no recognised layout")
        } catch let error as WeightFileError {
            #expect(error.description.contains("cannot tell the architecture from the tensor names"))
        }
        let resnet = try Model.load(sample("resnet.safetensors"), architecture: sample("resnet.onnx"))
        // BatchNorm step counters are training state every PyTorch checkpoint has: expected, not a warning.
        #expect(resnet.warnings.isEmpty)
    }

    @Test("a shape mismatch names the tensor and both shapes")
    func shapeMismatch() throws {
        let directory = TemporaryDirectory()
        let mlp = try Checkpoint.open(sample("mlp.safetensors"))
        let path = directory.path("wrong.safetensors")
        var tensors = mlp.tensors
        let index = tensors.firstIndex { $0.name == "5.bias" }!
        tensors[index].shape = [5]
        try Checkpoint.write(to: path, tensors: tensors, options: CheckpointWriteOptions(container: .safetensors)) { info, consume in
            try mlp.withBytes(of: info.name) { try consume(UnsafeRawBufferPointer(rebasing: $0.prefix(info.byteCount!))) }
        }
        do {
            _ = try Model.load(path, architecture: sample("mlp.onnx"))
            Issue.record("must fail")
        } catch let error as WeightFileError {
            #expect(error.description == "\(path): tensor '5.bias' has shape [5], the architecture needs [10]")
        }
    }

    @Test("an unsupported operator names the node and operator")
    func unsupportedOperator() throws {
        let graph = ComputeGraph(nodes: [GraphNode(name: "odd", opType: "NonMaxSuppression", inputs: ["x"], outputs: ["y"])],
                                 parameters: [:], inputNames: ["x"], outputNames: ["y"])
        #expect(throws: GraphError.unsupportedOperator(node: "odd", opType: "NonMaxSuppression")) {
            try graph.forward(["x": Tensor(zeros: [1])])
        }
    }
}

@Suite("weight layers and activation capture")
struct ActivationCaptureTests {
    @Test("weight layers are found with their layouts in every sample graph")
    func weightLayers() throws {
        let cnn = try Model.fromONNX(ONNXModel(path: sample("cnn.onnx")))
        #expect(cnn.graph.weightLayers.map(\.weight) == ["features.0.weight", "features.3.weight", "features.7.weight", "classifier.0.weight", "classifier.3.weight"])
        #expect(cnn.graph.weightLayers.map(\.layout).allSatisfy { $0 == .outputsByInputs })
        let vit = try Model.fromONNX(ONNXModel(path: sample("vit.onnx")))
        let attention = vit.graph.weightLayers.first { $0.weight.hasSuffix("in_proj_weight") }
        #expect(attention?.layout == .outputsByInputs)   // the exported block fused into one attention node
        #expect(vit.graph.weightLayers.count == 2 * 4 + 2)   // per block: in_proj, out_proj, mlp.0, mlp.3; conv_proj; head
        let resnet = try Model.load(sample("resnet.safetensors"), sampleShape: [1, 8, 8])
        #expect(resnet.graph.weightLayers.count == 1 + 3 * 4 + 2 + 1)
    }

    @Test("captured rows are what each weight multiplies: W·rowᵀ reproduces the layer's pre-bias output")
    func captureMatchesLayerOutputs() throws {
        let model = try Model.fromONNX(ONNXModel(path: sample("cnn.onnx")))
        let expected = try ExpectedLogits(model: "cnn")
        let batch = Tensor(shape: [2, 1, 8, 8], data: Array(expected.x.data.prefix(128)))
        var captured: [Int: Tensor] = [:]
        _ = try model.graph.forward([model.inputName: batch], capture: { captured[$0.layer] = $0.rows })
        // First conv: 2 samples × 64 positions, patches of 1·3·3.
        let conv = try #require(captured[0])
        #expect(conv.shape == [128, 9])
        // The centre of each patch is the pixel itself (padding 1, stride 1).
        #expect((0..<64).allSatisfy { conv.data[$0 * 9 + 4] == batch.data[$0] })
        // The last Linear layer's rows are 64-wide activations, one per sample.
        #expect(captured[4]?.shape == [2, 64])
        let w = model.graph.parameters["classifier.3.weight"]!, b = model.graph.parameters["classifier.3.bias"]!
        let rows = captured[4]!
        let logits = try model.logits(batch)
        for n in 0..<2 {
            for c in 0..<10 {
                var sum = b.data[c]
                for k in 0..<64 { sum += w.data[c * 64 + k] * rows.data[n * 64 + k] }
                #expect(abs(sum - logits.data[n * 10 + c]) < 1e-4)
            }
        }
    }

    @Test("gradients through a whole sample model match finite differences")
    func wholeModelGradient() throws {
        let model = try Model.load(sample("resnet.safetensors"), sampleShape: [1, 8, 8])
        let expected = try ExpectedLogits(model: "resnet")
        let x = Tensor(shape: [2, 1, 8, 8], data: Array(expected.x.data.prefix(128)))
        let labels = Array(expected.labels.prefix(2))
        let (outputs, record) = try model.graph.forward([model.inputName: x], recording: true)
        let (_, dlogits) = Normalization.crossEntropy(logits: outputs[model.outputName]!, labels: labels)
        let gradients = try model.graph.backward(record, outputGradients: [model.outputName: dlogits])
        let name = "layer2.0.conv1.weight"
        let analytic = try #require(gradients.parameters[name])
        func loss(_ delta: Float, at index: Int) throws -> Double {
            var perturbed = model.graph.parameters[name]!
            perturbed.data[index] += delta
            return Double(Normalization.crossEntropy(logits: try model.logits(x, parameters: [name: perturbed]), labels: labels).loss)
        }
        for index in [0, 17, 100, 287] {
            let numeric = (try loss(1e-2, at: index) - loss(-1e-2, at: index)) / 2e-2
            #expect(abs(Double(analytic.data[index]) - numeric) < 1e-3 + 2e-2 * abs(numeric), "d/d\(name)[\(index)]")
        }
        #expect(gradients.inputs[model.inputName]?.shape == x.shape)
    }
}

@Suite("ONNX operators outside the supported set")
struct UnsupportedONNXTests {
    @Test("loading a graph with an unsupported operator fails at load time, naming the node and operator", .tags(.interop), .requiresPython("onnx"))
    func unsupportedAtLoad() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("topk.onnx")
        let made = try ProcessRunner.python("""
            import sys, onnx
            from onnx import helper, TensorProto
            node = helper.make_node("TopK", ["x", "k"], ["v", "i"], name="pick")
            k = helper.make_tensor("k", TensorProto.INT64, [1], [2])
            g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                                  [helper.make_tensor_value_info("v", TensorProto.FLOAT, [1, 2])], initializer=[k])
            onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
            """, [path])
        try #require(made.status == 0, "\(made.stderr)")
        #expect(throws: GraphError.unsupportedOperator(node: "pick", opType: "TopK")) { try Model.fromONNX(ONNXModel(path: path)) }
        let cli = try ProcessRunner.modelforget(["eval", path, "--data", Fixtures.path("Samples/digits-test.npz")])
        #expect(cli.status == 1)
        #expect(cli.stderr == "\(path): node 'pick': operator TopK is not supported\n")
    }
}

@Suite("data sets")
struct DatasetTests {
    @Test("inputs stay in mapped files when they can; every container gives the same samples")
    func fileBackedSamples() throws {
        let directory = TemporaryDirectory()
        let npz = try Dataset.load(Fixtures.path("Samples/digits-test.npz"))
        let safetensors = try Dataset.load(Fixtures.path("Samples/digits-test.safetensors"))
        #expect(npz.isFileBacked && safetensors.isFileBacked)
        let deflated = directory.path("d.npz")
        _ = try ProcessRunner.modelforget(["convert", Fixtures.path("Samples/digits-test.npz"), deflated, "--compress"])
        let compressed = try Dataset.load(deflated)
        #expect(!compressed.isFileBacked)   // a deflated member cannot be sliced: decoded once
        let f16 = directory.path("h.safetensors")
        _ = try ProcessRunner.modelforget(["convert", Fixtures.path("Samples/digits-test.safetensors"), f16, "--dtype", "F16"])
        let half = try Dataset.load(f16)
        let indices = [539, 0, 17, 17, 250]
        let expected = try npz.samples(indices)
        #expect(try safetensors.samples(indices) == expected)
        #expect(try compressed.samples(indices) == expected)
        #expect(try npz.batch(3..<6) == npz.samples([3, 4, 5]))
        // F16 inputs decode to the nearest F16 of each pixel.
        let decoded = try half.samples(indices)
        #expect(zip(decoded.data, expected.data).allSatisfy { abs($0 - $1) <= 1e-3 })
        #expect(npz.labels == safetensors.labels && npz.count == 540 && npz.sampleShape == [1, 8, 8])
    }
}

@Suite("attention detection")
struct AttentionDetectionTests {
    @Test("containsAttention: the sample ViT and a transformers ViT checkpoint yes; the MLP, CNN, ResNet and a final softmax no")
    func detectsAttention() throws {
        for (name, expected) in [("vit.onnx", true), ("mlp.onnx", false), ("cnn.onnx", false), ("resnet.onnx", false)] {
            let model = try Model.load(sample(name), sampleShape: [1, 8, 8])
            #expect(model.graph.containsAttention == expected, "\(name)")
        }
        let vit = try Model.load(Fixtures.path("Tests/Fixtures/RealModels/transformers-vit/model.safetensors"))
        #expect(vit.graph.containsAttention)
        // A classifier that ends in a softmax (probabilities out) does not compute attention.
        let probabilities = ComputeGraph(nodes: [GraphNode(name: "p", operation: .softmax(axis: -1), inputs: ["x"], outputs: ["y"])],
                                         parameters: [:], inputNames: ["x"], outputNames: ["y"])
        #expect(!probabilities.containsAttention)
        let attention = ComputeGraph(nodes: [GraphNode(name: "p", operation: .softmax(axis: -1), inputs: ["x"], outputs: ["w"]),
                                             GraphNode(name: "m", operation: .matMul, inputs: ["w", "v"], outputs: ["y"])],
                                     parameters: [:], inputNames: ["x", "v"], outputNames: ["y"])
        #expect(attention.containsAttention)
    }
}
