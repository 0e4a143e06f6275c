import Foundation
import Testing
@testable import WeightFormats
import _TestSupport

@Suite("ONNX: splice writer")
struct ONNXWriterTests {
    @Test("replacing nothing copies the model byte for byte", arguments: [
        "mlp_raw.onnx", "typed_fields.onnx", "external.onnx", "unknown_fields.onnx",
    ])
    func identity(fixture: String) throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture(fixture))
        try model.write(to: directory.path(fixture), replacing: [], bytes: { _, _ in Issue.record("asked for bytes") })
        #expect(fileContents(directory.path(fixture)) == fileContents(onnxFixture(fixture)))
        for location in model.externalDataLocations {
            #expect(fileContents(directory.path(location)) == fileContents(onnxFixture(location)))
        }
    }

    @Test("replacing one initializer: onnx checks it, to_array sees the new values, the others are byte-identical, onnxruntime runs it",
          .tags(.interop), .requiresPython("numpy", "onnx", "onnxruntime"))
    func replaceOne() throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture("mlp_raw.onnx"))
        let out = directory.path("edited.onnx")
        let newW2: [Float] = [1, 0, 0, 0, 1, 0]   // picks the first two hidden units
        try model.write(to: out, replacing: [TensorInfo(name: "w2", dtype: .F32, shape: [2, 3])], bytes: floatProvider(["w2": newW2]))
        let before = try pythonInitializerHashes(onnxFixture("mlp_raw.onnx"))
        let after = try pythonInitializerHashes(out)
        for name in ["w1", "b1", "b2"] { #expect(before[name] == after[name], "\(name) changed") }
        #expect(before["w2"] != after["w2"])
        try expectPythonOK("""
            import sys, numpy as np, onnx, onnxruntime as ort
            from onnx import numpy_helper
            m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True)
            w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
            assert np.array_equal(w["w2"], np.array([[1, 0, 0], [0, 1, 0]], np.float32))
            assert [(p.key, p.value) for p in m.metadata_props] == [("purpose", "test")]
            x = np.array([[1, 2, 3, 4], [-1, 0, 0, 1]], np.float32)
            h = np.maximum(x @ w["w1"].T + w["b1"], 0)
            expected = h[:, :2] + w["b2"]
            got = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            assert np.allclose(got, expected, atol=1e-6), (got, expected)
            print("ok")
            """, [out])
        let reread = try ONNXModel(path: out)
        #expect(try values(reread, "w2", as: Float.self) == newW2)
        #expect(reread.graph.nodes.map(\.opType) == ["Gemm", "Relu", "Gemm"])
        // Only the graph's length prefix and the replaced message differ: everything before the graph is equal.
        let original = fileContents(onnxFixture("mlp_raw.onnx")), edited = fileContents(out)
        #expect(original.count == edited.count)
    }

    @Test("a typed-field initializer can be replaced with a new dtype and shape", .tags(.interop), .requiresPython("numpy", "onnx"))
    func replaceTypedNewDType() throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture("typed_fields.onnx"))
        let out = directory.path("t.onnx")
        try model.write(to: out, replacing: [TensorInfo(name: "f16", dtype: .F32, shape: [1, 3])], bytes: floatProvider(["f16": [7, 8, 9]]))
        let reread = try ONNXModel(path: out)
        #expect(reread.info(named: "f16") == TensorInfo(name: "f16", dtype: .F32, shape: [1, 3]))
        #expect(try values(reread, "f16", as: Float.self) == [7, 8, 9])
        let expected = try pythonTensorDump(onnxFixture("typed_fields.onnx"))
        let actual = try pythonTensorDump(out)
        for (name, value) in expected where name != "f16" { #expect(actual[name] == value, "\(name)") }
        #expect(actual["f16"] == "1 1,3 0000e0400000004100001041")
        let before = try pythonInitializerHashes(onnxFixture("typed_fields.onnx")), after = try pythonInitializerHashes(out)
        for name in before.keys where name != "f16" { #expect(before[name] == after[name], "\(name) changed") }
    }

    @Test("unknown fields survive, in the model, the graph, untouched and replaced tensors; doc_string is kept", .tags(.interop), .requiresPython("numpy", "onnx", "onnxruntime"))
    func unknownFields() throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture("unknown_fields.onnx"))
        let out = directory.path("u.onnx")
        try model.write(to: out, replacing: [TensorInfo(name: "w2", dtype: .F32, shape: [2, 3])],
                        bytes: floatProvider(["w2": [1, 2, 3, 4, 5, 6]]))
        try expectPythonOK("""
            import sys, numpy as np, onnx
            from onnx import numpy_helper
            m = onnx.load(sys.argv[1]); onnx.checker.check_model(m)
            assert m.SerializeToString().endswith(b"\\xc0\\x3e\\x07")
            assert b"\\xba\\x3e\\x03abc" in m.graph.SerializeToString()
            t = {t.name: t for t in m.graph.initializer}
            assert b"\\xc8\\x3e\\x2a" in t["w1"].SerializeToString()
            assert b"\\xd2\\x3e\\x05hello" in t["w2"].SerializeToString()
            assert t["w2"].doc_string == "second layer"
            assert np.array_equal(numpy_helper.to_array(t["w2"]), np.arange(1, 7, dtype=np.float32).reshape(2, 3))
            print("ok")
            """, [out])
    }

    @Test("metadata entries are appended; existing ones stay", .tags(.interop), .requiresPython("numpy", "onnx", "onnxruntime"))
    func addingMetadata() throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture("mlp_raw.onnx"))
        let out = directory.path("m.onnx")
        try model.write(to: out, replacing: [], addingMetadata: ["tool": "modelforget", "a": "1"], bytes: { _, _ in })
        let reread = try ONNXModel(path: out)
        #expect(reread.metadata == ["purpose": "test", "tool": "modelforget", "a": "1"])
        #expect(Array(fileContents(out).prefix(fileContents(onnxFixture("mlp_raw.onnx")).count)) == fileContents(onnxFixture("mlp_raw.onnx")))
        try expectPythonOK("""
            import sys, onnx
            m = onnx.load(sys.argv[1]); onnx.checker.check_model(m)
            assert [(p.key, p.value) for p in m.metadata_props] == [("purpose", "test"), ("a", "1"), ("tool", "modelforget")]
            print("ok")
            """, [out])
    }

    @Test("external, same size, other folder: the data file is copied, named after the output, with the new bytes at the same offset",
          .tags(.interop), .requiresPython("numpy", "onnx", "onnxruntime"))
    func externalSameSize() throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture("external.onnx"))
        let out = directory.path("copy.onnx")
        let newW2: [Float] = [1, 0, 0, 0, 1, 0]
        try model.write(to: out, replacing: [TensorInfo(name: "w2", dtype: .F32, shape: [2, 3])], bytes: floatProvider(["w2": newW2]))
        #expect(directory.contents() == ["copy.external.bin", "copy.onnx"])
        var expectedData = fileContents(onnxFixture("external.bin"))
        expectedData.replaceSubrange(4096..<4120, with: littleEndianBytes(newW2))
        #expect(fileContents(directory.path("copy.external.bin")) == expectedData)
        // Same offsets: the untouched w1 keeps its bytes and offset under the new name.
        let reread = try ONNXModel(path: out)
        #expect(reread.externalDataLocations == ["copy.external.bin"])
        #expect(reread.initializer(named: "w1")?.externalRange == model.initializer(named: "w1")?.externalRange)
        #expect(reread.initializer(named: "w2")?.externalRange == model.initializer(named: "w2")?.externalRange)
        #expect(try values(reread, "w1", as: Float.self) == values(model, "w1", as: Float.self))
        let before = try pythonInitializerHashes(onnxFixture("external.onnx")), after = try pythonInitializerHashes(out)
        for name in ["b1", "b2"] { #expect(before[name] == after[name], "\(name) changed") }
        try expectPythonOK("""
            import sys, numpy as np, onnx, onnxruntime as ort
            from onnx import numpy_helper
            onnx.checker.check_model(sys.argv[1])
            m = onnx.load(sys.argv[1])
            w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
            assert np.array_equal(w["w2"], np.array([[1, 0, 0], [0, 1, 0]], np.float32))
            x = np.array([[1, 2, 3, 4]], np.float32)
            expected = np.maximum(x @ w["w1"].T + w["b1"], 0)[:, :2] + w["b2"]
            got = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            assert np.allclose(got, expected, atol=1e-6), (got, expected)
            print("ok")
            """, [out])
    }

    @Test("external, new size: appended at a page-aligned offset with offset and length updated", .tags(.interop), .requiresPython("numpy", "onnx", "onnxruntime"))
    func externalNewSize() throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture("external.onnx"))
        let out = directory.path("grown.onnx")
        let newW1 = (0..<12).map { Double($0) * -0.5 }
        try model.write(to: out, replacing: [TensorInfo(name: "w1", dtype: .F64, shape: [3, 4])]) { _, consume in
            try newW1.withUnsafeBytes { try consume($0) }
        }
        let data = fileContents(directory.path("grown.external.bin"))
        #expect(data.count == 8192 + 96)
        #expect(Array(data.prefix(4120)) == fileContents(onnxFixture("external.bin")))
        let reread = try ONNXModel(path: out)
        #expect(reread.initializer(named: "w1")?.externalLocation == "grown.external.bin")
        #expect(try values(reread, "w1", as: Double.self) == newW1)
        #expect(try values(reread, "w2", as: Float.self) == values(model, "w2", as: Float.self))
        try expectPythonOK("""
            import sys, numpy as np, onnx
            from onnx import numpy_helper
            m = onnx.load(sys.argv[1], load_external_data=False)
            t = {t.name: t for t in m.graph.initializer}
            entries = {e.key: e.value for e in t["w1"].external_data}
            assert entries == {"location": "grown.external.bin", "offset": "8192", "length": "96"}, entries
            a = numpy_helper.to_array(t["w1"], sys.argv[2])
            assert a.dtype == np.float64 and np.array_equal(a.ravel(), np.arange(12) * -0.5)
            print("ok")
            """, [out, directory.path])
    }

    @Test("external, two outputs in one other folder: each has its own data file, and another model's data file there is left alone")
    func externalOutputsShareAFolder() throws {
        let directory = TemporaryDirectory()
        let bystander: [UInt8] = [7, 7, 7]
        directory.write("external.bin", bystander)   // the data file of some other model in that folder
        let model = try ONNXModel(path: onnxFixture("external.onnx"))
        let a: [Float] = [1, 2, 3, 4, 5, 6], b: [Float] = [-1, -2, -3, -4, -5, -6]
        for (name, w2) in [("a", a), ("b", b)] {
            try model.write(to: directory.path("\(name).onnx"), replacing: [TensorInfo(name: "w2", dtype: .F32, shape: [2, 3])],
                            bytes: floatProvider(["w2": w2]))
        }
        #expect(directory.contents() == ["a.external.bin", "a.onnx", "b.external.bin", "b.onnx", "external.bin"])
        #expect(fileContents(directory.path("external.bin")) == bystander)
        for (name, w2) in [("a", a), ("b", b)] {
            let written = try ONNXModel(path: directory.path("\(name).onnx"))
            #expect(try values(written, "w2", as: Float.self) == w2)
            #expect(try values(written, "w1", as: Float.self) == values(model, "w1", as: Float.self))
            #expect(written.externalDataLocations == ["\(name).external.bin"])
        }
    }

    @Test("external, output beside the input: the input's data file is untouched, the new bytes go to a new file", .tags(.interop), .requiresPython("numpy", "onnx", "onnxruntime"))
    func externalSameFolder() throws {
        let directory = TemporaryDirectory()
        directory.write("model.onnx", fileContents(onnxFixture("external.onnx")))
        directory.write("external.bin", fileContents(onnxFixture("external.bin")))
        let model = try ONNXModel(path: directory.path("model.onnx"))
        try model.write(to: directory.path("edited.onnx"), replacing: [TensorInfo(name: "w2", dtype: .F32, shape: [2, 3])],
                        bytes: floatProvider(["w2": [6, 5, 4, 3, 2, 1]]))
        #expect(directory.contents() == ["edited.external.bin", "edited.onnx", "external.bin", "model.onnx"])
        #expect(fileContents(directory.path("external.bin")) == fileContents(onnxFixture("external.bin")))
        #expect(fileContents(directory.path("edited.external.bin")) == littleEndianBytes([Float(6), 5, 4, 3, 2, 1]))
        let edited = try ONNXModel(path: directory.path("edited.onnx"))
        #expect(try values(edited, "w2", as: Float.self) == [6, 5, 4, 3, 2, 1])
        #expect(try values(edited, "w1", as: Float.self) == values(model, "w1", as: Float.self))
        #expect(edited.externalDataLocations == ["edited.external.bin", "external.bin"])
        #expect(try values(ONNXModel(path: directory.path("model.onnx")), "w2", as: Float.self) == values(model, "w2", as: Float.self))
        // Writing over the input itself is refused (inputs are never modified) and changes nothing.
        let before = directory.contents().map { fileContents(directory.path($0)) }
        #expect(throws: WeightFileError.self) {
            try edited.write(to: directory.path("edited.onnx"), replacing: [TensorInfo(name: "w1", dtype: .F32, shape: [3, 4])],
                             bytes: floatProvider(["w1": [Float](repeating: 1, count: 12)]))
        }
        #expect(directory.contents() == ["edited.external.bin", "edited.onnx", "external.bin", "model.onnx"])
        #expect(directory.contents().map { fileContents(directory.path($0)) } == before)
        try expectPythonOK("""
            import sys, onnx
            onnx.checker.check_model(sys.argv[1]); print("ok")
            """, [directory.path("edited.onnx")])
    }

    @Test("refused requests: unknown name, dtype ONNX cannot hold, wrong byte count; nothing is written")
    func refusals() throws {
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: onnxFixture("external.onnx"))
        let out = directory.path("x.onnx")
        #expect(throws: ONNXError.notAnInitializer("nope")) {
            try model.write(to: out, replacing: [TensorInfo(name: "nope", dtype: .F32, shape: [1])], bytes: { _, _ in })
        }
        #expect(throws: ONNXError.notAnInitializer("x")) {   // graph inputs are not initializers
            try model.write(to: out, replacing: [TensorInfo(name: "x", dtype: .F32, shape: [1])], bytes: { _, _ in })
        }
        #expect(throws: ONNXError.unsupportedDType(tensor: "w1", dtype: .F6_E2M3)) {
            try model.write(to: out, replacing: [TensorInfo(name: "w1", dtype: .F6_E2M3, shape: [4])], bytes: { _, _ in })
        }
        #expect(throws: ONNXError.invalidDims(tensor: "w1")) {
            try model.write(to: out, replacing: [TensorInfo(name: "w1", dtype: .F32, shape: [-1])], bytes: { _, _ in })
        }
        for name in ["b1", "w2"] {   // inline and external
            #expect(throws: CheckpointError.byteCountMismatch(tensor: name, expected: name == "b1" ? 12 : 24, actual: 4)) {
                try model.write(to: out, replacing: [TensorInfo(name: name, dtype: .F32, shape: name == "b1" ? [3] : [2, 3])],
                                bytes: floatProvider([name: [1]]))
            }
            #expect(throws: CheckpointError.byteCountMismatch(tensor: name, expected: name == "b1" ? 12 : 24, actual: 0)) {
                try model.write(to: out, replacing: [TensorInfo(name: name, dtype: .F32, shape: name == "b1" ? [3] : [2, 3])],
                                bytes: { _, _ in })
            }
        }
        #expect(directory.contents().isEmpty)
    }

    @Test("external data of a subgraph is found and copied; graphs nested too deeply are refused")
    func nestedGraphs() throws {
        let directory = TemporaryDirectory()
        let source = TemporaryDirectory()
        let external = PB.tensor("inner", 1, [1], PB.int(14, 1) + PB.entry(13, "location", "sub/inner.bin"))
        let body = PB.bytes(5, external)
        let node = PB.string(4, "If") + PB.bytes(5, PB.string(1, "then_branch") + PB.bytes(6, body) + PB.int(20, 5))
        source.write("m.onnx", PB.model(PB.bytes(1, node)))
        try FileManager.default.createDirectory(atPath: source.path("sub"), withIntermediateDirectories: true)
        source.write("sub/inner.bin", littleEndianBytes([Float(3)]))
        let model = try ONNXModel(path: source.path("m.onnx"))
        try model.write(to: directory.path("m.onnx"), replacing: [], bytes: { _, _ in })
        #expect(fileContents(directory.path("sub/inner.bin")) == littleEndianBytes([Float(3)]))

        var graph = body
        for _ in 0...ONNXModel.maximumNesting {
            graph = PB.bytes(1, PB.string(4, "If") + PB.bytes(5, PB.string(1, "g") + PB.bytes(6, graph) + PB.int(20, 5)))
        }
        let deep = try ONNXModel(path: source.write("deep.onnx", PB.model(graph)))
        let error = #expect(throws: ONNXError.self) { try deep.write(to: directory.path("deep.onnx"), replacing: [], bytes: { _, _ in }) }
        guard case .nestingTooDeep = error else {
            Issue.record("expected nestingTooDeep, got \(String(describing: error))")
            return
        }
    }
}
