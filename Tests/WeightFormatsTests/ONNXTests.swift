import Foundation
import Testing
import WeightFormats
import _TestSupport

func onnxFixture(_ name: String) -> String { Fixtures.path("Formats/fixtures/onnx/\(name)") }

/// The serialized bytes of each initializer, by name, as the `onnx` package sees them.
func pythonInitializerBytes(_ path: String) throws -> [String: String] {
    let result = try ProcessRunner.python("""
        import sys, onnx, hashlib
        m = onnx.load(sys.argv[1], load_external_data=False)
        for t in m.graph.initializer:
            print(t.name, hashlib.sha256(t.SerializeToString()).hexdigest())
        """, [path])
    try #require(result.status == 0, "\(result.stderr)")
    var hashes: [String: String] = [:]
    for line in result.stdout.split(separator: "\n") {
        let parts = line.split(separator: " ")
        hashes[String(parts[0])] = String(parts[1])
    }
    return hashes
}

@Suite("ONNX initializers and graph")
struct ONNXTests {
    @Test("reads raw_data initializers, graph, opsets and metadata")
    func readsRawModel() throws {
        let model = try ONNXModel(path: onnxFixture("mlp_raw.onnx"))
        #expect(model.tensors.map(\.name) == ["w1", "b1", "w2", "b2"])
        #expect(model.info(named: "w1") == TensorInfo(name: "w1", dtype: .F32, shape: [3, 4]))
        #expect(try values(model, "w1", as: Float.self) == (0..<12).map { Float($0) / 10 })
        #expect(try values(model, "b2", as: Float.self) == [0, 1])
        #expect(model.metadata == ["purpose": "test"])
        #expect(model.irVersion == 8 && model.producerName == "make_fixtures")
        #expect(model.opsetImports.map(\.version) == [17])
        #expect(model.graph.nodes.map(\.opType) == ["Gemm", "Relu", "Gemm"])
        #expect(model.graph.nodes[0].attributes["transB"]?.intValue == 1)
        #expect(model.graph.nodes[0].inputs == ["x", "w1", "b1"])
        #expect(model.graph.inputs.first?.name == "x")
        #expect(model.graph.inputs.first?.shape == [.parameter("N"), .value(4)])
        #expect(try Checkpoint.open(onnxFixture("mlp_raw.onnx")).format == .onnx)
    }

    @Test("reads typed fields: float_data, double_data, int64_data, int32_data with INT32, FLOAT16 and BFLOAT16 bits")
    func readsTypedFields() throws {
        let model = try ONNXModel(path: onnxFixture("typed_fields.onnx"))
        #expect(try values(model, "f32", as: Float.self) == [1, -2, 3.5, 0])
        #expect(try values(model, "f64", as: Double.self) == [0.5, -1e300])
        #expect(try values(model, "i64", as: Int64.self) == [-5, 0, 1 << 40])
        #expect(try values(model, "i32", as: Int32.self) == [-7, 9])
        #expect(model.info(named: "f16")?.dtype == .F16)
        #expect(try values(model, "f16", as: Float16.self) == [1.5, -2, 0.25])
        #expect(model.info(named: "bf16")?.dtype == .BF16)
        #expect(try values(model, "bf16", as: UInt16.self).map(DTypeConversion.bfloat16ToFloat) == [1.5, -2, 0.25])
        guard case .tensor(let constant) = model.graph.nodes[0].attributes["value"] else {
            Issue.record("the Constant node has no tensor value")
            return
        }
        #expect(try model.withBytes(of: constant) { Array($0.bindMemory(to: Float.self)) } == [4, 5])
    }

    @Test("reads external data at its offsets")
    func readsExternalData() throws {
        let model = try ONNXModel(path: onnxFixture("external.onnx"))
        #expect(try values(model, "w1", as: Float.self) == (0..<12).map { Float($0) / 10 })
        #expect(try values(model, "w2", as: Float.self) == (0..<6).map { Float($0) / 10 - 0.2 })
        #expect(model.externalDataLocations == ["external.bin"])
    }

    @Test("external data that is missing, out of range, or outside the folder is refused")
    func externalDefects() throws {
        let directory = TemporaryDirectory()
        let modelBytes = fileContents(onnxFixture("external.onnx"))
        let path = directory.write("m.onnx", modelBytes)
        #expect(throws: ONNXError.externalDataMissing(tensor: "w1", location: "external.bin")) { try ONNXModel(path: path) }
        directory.write("external.bin", [UInt8](repeating: 0, count: 100))
        #expect(throws: ONNXError.externalDataOutOfRange(tensor: "w2", location: "external.bin")) { try ONNXModel(path: path) }
        let escaping = modelBytes.replacing(Array("external.bin".utf8), with: Array("../xternal.b".utf8))
        #expect(throws: ONNXError.externalPathNotAllowed(tensor: "w1", location: "../xternal.b")) {
            try ONNXModel(path: directory.write("e.onnx", escaping))
        }
    }

    @Test("protobuf defects", arguments: [
        ([0x08], ONNXError.truncated(offset: 1)),
        ([0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], ONNXError.overlongVarint(offset: 11)),
        ([0x0B, 0x00], ONNXError.unsupportedWireType(3, offset: 0)),
        ([0x3A, 0x05, 0x00], ONNXError.fieldOverrunsMessage(offset: 2)),
        ([0x08, 0x07], ONNXError.noGraph),
    ] as [([UInt8], ONNXError)])
    func protobufDefects(bytes: [UInt8], expected: ONNXError) {
        let directory = TemporaryDirectory()
        #expect(throws: expected) { try ONNXModel(path: directory.write("x.onnx", bytes)) }
    }

    @Test("a data size that does not match the dims is refused")
    func sizeMismatch() throws {
        // graph { initializer { dims: 2, data_type: FLOAT, name: "t", raw_data: 4 bytes } }
        let tensor: [UInt8] = [0x08, 0x02, 0x10, 0x01, 0x42, 0x01, 0x74, 0x4A, 0x04, 0, 0, 0, 0]
        let graph: [UInt8] = [0x2A, UInt8(tensor.count)] + tensor
        let model: [UInt8] = [0x08, 0x08, 0x3A, UInt8(graph.count)] + graph
        let directory = TemporaryDirectory()
        #expect(throws: ONNXError.dataSizeMismatch(tensor: "t", expected: 8, actual: 4)) {
            try ONNXModel(path: directory.write("x.onnx", model))
        }
    }

    @Test("writing with nothing replaced copies the model byte for byte")
    func identityWrite() throws {
        let directory = TemporaryDirectory()
        for name in ["mlp_raw.onnx", "typed_fields.onnx"] {
            let model = try ONNXModel(path: onnxFixture(name))
            try model.write(to: directory.path(name), replacing: [], bytes: { _, _ in })
            #expect(fileContents(directory.path(name)) == fileContents(onnxFixture(name)))
        }
    }

    @Test("replacing an initializer keeps every other one byte-identical; onnx checks it and onnxruntime runs it")
    func replaceInitializer() throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture("mlp_raw.onnx"))
        let out = directory.path("edited.onnx")
        let newW2: [Float] = [1, 0, 0, 0, 1, 0]   // picks the first two hidden units
        try model.write(to: out, replacing: [TensorInfo(name: "w2", dtype: .F32, shape: [2, 3])]) { _, consume in
            try newW2.withUnsafeBytes { try consume($0) }
        }
        let before = try pythonInitializerBytes(onnxFixture("mlp_raw.onnx"))
        let after = try pythonInitializerBytes(out)
        for name in ["w1", "b1", "b2"] { #expect(before[name] == after[name], "\(name) changed") }
        #expect(before["w2"] != after["w2"])
        let result = try ProcessRunner.python("""
            import sys, numpy as np, onnx, onnxruntime as ort
            from onnx import numpy_helper
            m = onnx.load(sys.argv[1]); onnx.checker.check_model(m)
            w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
            assert np.array_equal(w["w2"], np.array([[1, 0, 0], [0, 1, 0]], np.float32))
            assert m.metadata_props[0].key == "purpose"
            x = np.array([[1, 2, 3, 4], [-1, 0, 0, 1]], np.float32)
            h = np.maximum(x @ w["w1"].T + w["b1"], 0)
            expected = h @ w["w2"].T + w["b2"]
            got = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            assert np.allclose(got, expected, atol=1e-6), (got, expected)
            print("ok")
            """, [out])
        #expect(result.status == 0 && result.stdout == "ok\n", "\(result.stderr)")
        let reread = try ONNXModel(path: out)
        #expect(try values(reread, "w2", as: Float.self) == newW2)
        #expect(reread.graph.nodes.map(\.opType) == ["Gemm", "Relu", "Gemm"])
    }

    @Test("a typed-field initializer can be replaced with a new dtype and shape")
    func replaceTyped() throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture("typed_fields.onnx"))
        let out = directory.path("t.onnx")
        try model.write(to: out, replacing: [TensorInfo(name: "f16", dtype: .F32, shape: [3])]) { _, consume in
            try [Float(7), 8, 9].withUnsafeBytes { try consume($0) }
        }
        let reread = try ONNXModel(path: out)
        #expect(try values(reread, "f16", as: Float.self) == [7, 8, 9])
        #expect(try values(reread, "bf16", as: UInt16.self) == values(model, "bf16", as: UInt16.self))
        #expect(throws: ONNXError.notAnInitializer("nope")) {
            try model.write(to: out, replacing: [TensorInfo(name: "nope", dtype: .F32, shape: [1])], bytes: { _, _ in })
        }
    }

    @Test("writing a model with external data to another folder brings the data file along")
    func externalWrite() throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture("external.onnx"))
        try model.write(to: directory.path("copy.onnx"), replacing: [TensorInfo(name: "b1", dtype: .F32, shape: [3])]) { _, consume in
            try [Float(0), 0, 0].withUnsafeBytes { try consume($0) }
        }
        #expect(directory.contents() == ["copy.onnx", "external.bin"])
        let copy = try ONNXModel(path: directory.path("copy.onnx"))
        #expect(try values(copy, "w1", as: Float.self) == values(model, "w1", as: Float.self))
        #expect(try values(copy, "b1", as: Float.self) == [0, 0, 0])
    }

    @Test("mutated models throw or open, never crash")
    func mutationFuzz() throws {
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: 5)
        for fixture in ["mlp_raw.onnx", "typed_fields.onnx"] {
            let valid = fileContents(onnxFixture(fixture))
            for trial in 0..<200 {
                var bytes = valid
                if trial % 2 == 0 {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                } else {
                    bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
                }
                if let model = try? ONNXModel(path: directory.write("m.onnx", bytes)) {
                    for info in model.tensors { _ = try? model.bytes(of: info.name) }
                }
            }
        }
    }
}
