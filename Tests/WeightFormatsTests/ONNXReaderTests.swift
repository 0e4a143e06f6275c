import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite("ONNX: reading initializers and the graph")
struct ONNXReaderTests {
    @Test("every initializer and Constant value equals onnx.numpy_helper.to_array", .tags(.interop), .requiresPython("numpy", "onnx"),
          arguments: ["mlp_raw.onnx", "typed_fields.onnx", "external.onnx", "unknown_fields.onnx"])
    func matchesNumpyHelper(fixture: String) throws {
        let model = try ONNXModel(path: onnxFixture(fixture))
        let expected = try pythonTensorDump(onnxFixture(fixture))
        let actual = try swiftTensorDump(model)
        #expect(actual.keys.sorted() == expected.keys.sorted())
        for (name, value) in expected { #expect(actual[name] == value, "\(name)") }
    }

    @Test("raw_data initializers, graph, opsets and metadata of the opset-17 MLP")
    func rawModel() throws {
        let model = try ONNXModel(path: onnxFixture("mlp_raw.onnx"))
        #expect(model.tensors.map(\.name) == ["w1", "b1", "w2", "b2"])
        #expect(model.info(named: "w1") == TensorInfo(name: "w1", dtype: .F32, shape: [3, 4]))
        #expect(try values(model, "w1", as: Float.self) == (0..<12).map { Float($0) / 10 })
        #expect(try values(model, "b2", as: Float.self) == [0, 1])
        #expect(model.metadata == ["purpose": "test"])
        #expect(model.irVersion == 8 && model.producerName == "make_fixtures" && model.producerVersion == "")
        #expect(model.opsetImports.map(\.domain) == [""] && model.opsetImports.map(\.version) == [17])
        #expect(model.graph.name == "mlp")
        #expect(model.graph.nodes.map(\.opType) == ["Gemm", "Relu", "Gemm"])
        #expect(model.graph.nodes.map(\.name) == ["fc1", "relu", "fc2"])
        #expect(model.graph.nodes[0].attributes["transB"]?.intValue == 1)
        #expect(model.graph.nodes[0].inputs == ["x", "w1", "b1"] && model.graph.nodes[0].outputs == ["h"])
        #expect(model.graph.inputs.map(\.name) == ["x"])
        #expect(model.graph.inputs[0].elementType == 1)
        #expect(model.graph.inputs[0].shape == [.parameter("N"), .value(4)])
        #expect(model.graph.outputs[0].shape == [.parameter("N"), .value(2)])
        #expect(model.externalDataLocations.isEmpty)
        #expect(try Checkpoint.open(onnxFixture("mlp_raw.onnx")).format == .onnx)
        #expect(throws: CheckpointError.tensorNotFound(name: "nope")) { try model.bytes(of: "nope") }
    }

    @Test("typed fields decode to the dtypes of FORMATS §3.3")
    func typedFields() throws {
        let model = try ONNXModel(path: onnxFixture("typed_fields.onnx"))
        let dtypes = Dictionary(uniqueKeysWithValues: model.tensors.map { ($0.name, $0.dtype) })
        #expect(dtypes == ["f32": .F32, "f64": .F64, "i64": .I64, "i32": .I32, "f16": .F16, "bf16": .BF16, "i16": .I16,
                           "i8": .I8, "u16": .U16, "u8": .U8, "bool": .BOOL, "u32": .U32, "u64": .U64, "c64": .C64,
                           "f8e4m3": .F8_E4M3, "f8e5m2": .F8_E5M2, "scalar": .F32, "empty": .F32])
        #expect(try values(model, "f32", as: Float.self) == [1, -2, 3.5, 0])
        #expect(try values(model, "f64", as: Double.self) == [0.5, -1e300])
        #expect(try values(model, "i64", as: Int64.self) == [-5, 0, 1 << 40])
        #expect(try values(model, "i32", as: Int32.self) == [-7, 9])
        #expect(try values(model, "f16", as: Float16.self) == [1.5, -2, 0.25])
        #expect(try values(model, "bf16", as: UInt16.self) == [0x3FC0, 0xC000, 0x3E80])
        #expect(try values(model, "i16", as: Int16.self) == [-300, 0, 32767])
        #expect(try values(model, "i8", as: Int8.self) == [-128, -1, 0, 127])
        #expect(try values(model, "u16", as: UInt16.self) == [0, 65535])
        #expect(try values(model, "u8", as: UInt8.self) == [0, 7, 255])
        #expect(try values(model, "bool", as: UInt8.self) == [1, 0, 1])
        #expect(try values(model, "u32", as: UInt32.self) == [1, .max])
        #expect(try values(model, "u64", as: UInt64.self) == [3, .max])
        #expect(try values(model, "c64", as: Float.self) == [1, 2, -0.5, -1])
        #expect(try values(model, "f8e4m3", as: UInt8.self) == [0x38, 0xB0, 0x7E])
        #expect(try values(model, "scalar", as: Float.self) == [42])
        #expect(model.info(named: "scalar")?.shape == [])
        #expect(try model.bytes(of: "empty").isEmpty && model.info(named: "empty")?.shape == [0, 3])
    }

    @Test("Constant nodes: tensor attributes with their bytes")
    func constants() throws {
        let model = try ONNXModel(path: onnxFixture("typed_fields.onnx"))
        #expect(model.graph.nodes.map(\.opType) == ["Constant", "Constant", "Add"])
        let c = try #require(model.graph.nodes[0].attributes["value"]?.tensorValue)
        #expect(c.info == TensorInfo(name: "c_value", dtype: .F32, shape: [2]) && c.dataType == 1)
        #expect(try model.withBytes(of: c) { Array($0.bindMemory(to: Float.self)) } == [4, 5])
        let d = try #require(model.graph.nodes[1].attributes["value"]?.tensorValue)
        #expect(d.info == TensorInfo(name: "d_value", dtype: .I64, shape: [1, 2]))
        #expect(try model.withBytes(of: d) { raw in (0..<2).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) } } == [1, -2])
        #expect(model.graph.attributeTensors.map(\.info.name) == ["c_value", "d_value"])
        #expect(!model.tensors.contains { $0.name == "c_value" })
    }

    @Test("a tensor of a larger model is refused, not read out of bounds")
    func foreignTensor() throws {
        let large = try ONNXModel(path: onnxFixture("typed_fields.onnx"))
        let small = try ONNXModel(path: onnxFixture("mlp_raw.onnx"))
        let last = try #require(large.initializers.last)
        #expect(throws: CheckpointError.tensorNotFound(name: last.info.name)) { try small.withBytes(of: last) { $0.count } }
    }

    @Test("external data at its offsets, mapped from the model's folder")
    func externalData() throws {
        let model = try ONNXModel(path: onnxFixture("external.onnx"))
        #expect(try values(model, "w1", as: Float.self) == (0..<12).map { Float($0) / 10 })
        #expect(try values(model, "w2", as: Float.self) == (0..<6).map { Float($0) / 10 - 0.2 })
        #expect(model.externalDataLocations == ["external.bin"])
        #expect(model.initializer(named: "w2")?.externalLocation == "external.bin")
        #expect(model.initializer(named: "b1")?.externalLocation == nil)
    }

    @Test("unpacked repeated scalars and packed dims are read like the packed and unpacked forms onnx writes")
    func packedAndUnpacked() throws {
        // dims packed [2]; float_data unpacked (wire type 5, twice); int64_data unpacked; double packed
        let floats = PB.tensor("f", 1, [], PB.bytes(1, PB.varint(2)) + PB.tag(4, 5) + [0, 0, 0x80, 0x3F] + PB.tag(4, 5) + [0, 0, 0, 0x40])
        let ints = PB.tensor("i", 7, [2], PB.int(7, -3) + PB.int(7, 4))
        let doubles = PB.tensor("d", 11, [1], PB.bytes(10, withUnsafeBytes(of: 2.5) { Array($0) }))
        let unpackedDouble = PB.tensor("e", 11, [1], PB.tag(10, 1) + withUnsafeBytes(of: -1.0) { Array($0) })
        let halves = PB.tensor("h", 10, [2], PB.int(5, 0x3C00) + PB.bytes(5, PB.varint(0xC000)))
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: directory.write("p.onnx", PB.model(initializers: [floats, ints, doubles, unpackedDouble, halves])))
        #expect(model.info(named: "f")?.shape == [2])
        #expect(try values(model, "f", as: Float.self) == [1, 2])
        #expect(try values(model, "i", as: Int64.self) == [-3, 4])
        #expect(try values(model, "d", as: Double.self) == [2.5])
        #expect(try values(model, "e", as: Double.self) == [-1])
        #expect(try values(model, "h", as: Float16.self) == [1, -2])
    }

    @Test("raw_data wins over typed fields; unknown fields and external-data keys are skipped")
    func precedence() throws {
        let tensor = PB.tensor("t", 1, [1], PB.bytes(4, [0, 0, 0x80, 0x3F]) + PB.bytes(9, [0, 0, 0, 0x40]) + PB.int(1234, 5))
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: directory.write("p.onnx", PB.model(initializers: [tensor]) + PB.string(999, "extra")))
        #expect(try values(model, "t", as: Float.self) == [2])
    }

    @Test("attributes of every kind, with the type inferred when old models leave it out")
    func attributes() throws {
        let attrs = [
            PB.string(1, "f") + PB.tag(2, 5) + withUnsafeBytes(of: Float(0.5).bitPattern) { Array($0) } + PB.int(20, 1),
            PB.string(1, "i") + PB.int(3, -4),                        // no type field
            PB.string(1, "s") + PB.string(4, "tanh") + PB.int(20, 3),
            PB.string(1, "fs") + PB.bytes(7, [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]) + PB.int(20, 6),
            PB.string(1, "is") + PB.int(8, 1) + PB.int(8, -2) + PB.int(20, 7),
            PB.string(1, "ss") + PB.string(9, "a") + PB.string(9, "b") + PB.int(20, 8),
            PB.string(1, "g") + PB.bytes(6, PB.string(2, "body")) + PB.int(20, 5),
            PB.string(1, "strconst") + PB.bytes(5, PB.tensor("sc", 8, [1], PB.string(6, "x"))) + PB.int(20, 4),
        ]
        let node = PB.string(1, "a") + PB.string(2, "b") + PB.string(3, "n") + PB.string(4, "If") + PB.string(7, "ai.onnx")
            + attrs.flatMap { PB.bytes(5, $0) }
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: directory.write("a.onnx", PB.model(PB.bytes(1, node))))
        let parsed = model.graph.nodes[0]
        #expect(parsed.name == "n" && parsed.opType == "If" && parsed.domain == "ai.onnx")
        #expect(parsed.inputs == ["a"] && parsed.outputs == ["b"])
        #expect(parsed.attributes["f"]?.floatValue == 0.5)
        #expect(parsed.attributes["i"]?.intValue == -4)
        #expect(parsed.attributes["s"]?.stringValue == "tanh")
        guard case .floats(let floats) = parsed.attributes["fs"], case .strings(let strings) = parsed.attributes["ss"],
              case .unsupported(5) = parsed.attributes["g"], case .unsupported(4) = parsed.attributes["strconst"]
        else {
            Issue.record("unexpected attributes \(parsed.attributes)")
            return
        }
        #expect(floats == [1, 2] && strings == ["a", "b"])
        #expect(parsed.attributes["is"]?.intsValue == [1, -2])
    }

    @Test("value infos: fixed, symbolic and unknown dimensions; unknown rank")
    func valueInfos() throws {
        let dims = [PB.int(1, 3), PB.string(2, "batch"), []].flatMap { PB.bytes(1, $0) }
        let tensorType = PB.int(1, 10) + PB.bytes(2, dims)
        let input = PB.string(1, "x") + PB.bytes(2, PB.bytes(1, tensorType))
        let output = PB.string(1, "y") + PB.bytes(2, PB.bytes(1, PB.int(1, 1)))
        let directory = TemporaryDirectory()
        let model = try ONNXModel(path: directory.write("v.onnx", PB.model(PB.bytes(11, input) + PB.bytes(12, output))))
        #expect(model.graph.inputs[0].elementType == 10)
        #expect(model.graph.inputs[0].shape == [.value(3), .parameter("batch"), .unknown])
        #expect(model.graph.outputs[0].elementType == 1 && model.graph.outputs[0].shape == nil)
    }

    @Test("opening walks structure only: a large raw_data is skipped by length")
    func openingSkipsData() throws {
        let count = 4 << 20   // 16 MiB of floats
        let header = PB.tensor("big", 1, [count]) + PB.tag(9, 2) + PB.varint(UInt64(count * 4))
        let graph = PB.tag(5, 2) + PB.varint(UInt64(header.count + count * 4)) + header
        let prefix = PB.int(1, 8) + PB.tag(7, 2) + PB.varint(UInt64(graph.count + count * 4)) + graph
        let directory = TemporaryDirectory()
        let path = directory.path("big.onnx")
        _ = FileManager.default.createFile(atPath: path, contents: Data(prefix))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.truncate(atOffset: UInt64(prefix.count + count * 4))   // sparse zeros
        try handle.close()
        // How long opening takes is measured by Benchmarks/formats_bench.py, not here.
        let model = try ONNXModel(path: path)
        #expect(model.info(named: "big")?.shape == [count])
    }
}
