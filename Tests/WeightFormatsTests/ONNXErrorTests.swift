import Foundation
import Testing
import WeightFormats
import _TestSupport

/// Each `ONNXError` case from a minimal input.
@Suite("ONNX: every defect has its error")
struct ONNXErrorTests {
    @Test("protobuf wire-format defects", arguments: [
        ([0x08], ONNXError.truncated(offset: 1)),
        ([0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], ONNXError.overlongVarint(offset: 1)),
        ([0x0B, 0x00], ONNXError.unsupportedWireType(3, offset: 0)),
        ([0x0C], ONNXError.unsupportedWireType(4, offset: 0)),
        ([0x0E, 0x00], ONNXError.unsupportedWireType(6, offset: 0)),
        ([0x00, 0x00], ONNXError.invalidFieldNumber(offset: 0)),
        ([0x3A, 0x05, 0x00], ONNXError.fieldOverrunsMessage(offset: 2)),
        ([0x11, 0x00, 0x00], ONNXError.truncated(offset: 1)),   // fixed64 cut short
        ([0x15, 0x00], ONNXError.truncated(offset: 1)),         // fixed32 cut short
    ] as [([UInt8], ONNXError)])
    func wireDefects(bytes: [UInt8], expected: ONNXError) {
        expectONNXError(expected, bytes)
    }

    @Test("a 10-byte varint is accepted; an 11-byte one is not")
    func varintLength() throws {
        let directory = TemporaryDirectory()
        let tenBytes: [UInt8] = [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01] + PB.bytes(7, [])
        let model = try ONNXModel(path: directory.write("ok.onnx", tenBytes))
        #expect(model.irVersion == -1)
        expectONNXError(.overlongVarint(offset: 1), [0x08] + [UInt8](repeating: 0x80, count: 10) + [0x00] + PB.bytes(7, []))
    }

    @Test("a field running past its parent message, not only past the file")
    func fieldOverrunsParent() {
        // graph (3 bytes) holds a name claiming 5 bytes; the file has enough bytes after it.
        expectONNXError(.fieldOverrunsMessage(offset: 4), [0x3A, 0x03, 0x12, 0x05, 0x61] + PB.string(4, "bcdefgh"))
    }

    @Test("a typed field with the wrong wire type")
    func wrongWireType() {
        // float_data (4) as a varint: tag 0x20 at byte 10 of the file
        let tensor = PB.tensor("t", 1, [1], PB.int(4, 5))
        let model = PB.model(initializers: [tensor])
        let offset = 4 + 2 + tensor.count - 2
        expectONNXError(.wrongWireType(expected: "fixed32", offset: offset), model)
        // dims as fixed32
        expectONNXError(.wrongWireType(expected: "varint", offset: 6), PB.model(initializers: [PB.tag(1, 5) + [0, 0, 0, 0]]))
    }

    @Test("model structure: no graph, two graphs, duplicate initializer names")
    func structure() {
        expectONNXError(.noGraph, [0x08, 0x07])
        expectONNXError(.noGraph, [])
        expectONNXError(.repeatedGraph, PB.bytes(7, []) + PB.bytes(7, []))
        let empty = PB.tensor("t", 1, [0])
        expectONNXError(.duplicateInitializer("t"), PB.model(initializers: [empty, empty]))
    }

    @Test("unsupported data types name the tensor", arguments: [0, 8, 15, 21, 22, 25, 26, 27, 28, 99])
    func unsupportedDataType(code: Int) {
        expectONNXError(.unsupportedDataType(tensor: "s", dataType: code), PB.model(initializers: [PB.tensor("s", code, [0])]))
    }

    @Test("string_data makes a tensor unsupported whatever its data type")
    func stringData() {
        expectONNXError(.unsupportedDataType(tensor: "s", dataType: 1),
                        PB.model(initializers: [PB.tensor("s", 1, [1], PB.string(6, "x"))]))
    }

    @Test("dims that are negative, overflow, or give half a byte")
    func invalidDims() {
        expectONNXError(.invalidDims(tensor: "n"), PB.model(initializers: [PB.tensor("n", 1, [-1])]))
        expectONNXError(.invalidDims(tensor: "o"), PB.model(initializers: [PB.tensor("o", 1, [1 << 62, 1 << 62])]))
        expectONNXError(.invalidDims(tensor: "f4"), PB.model(initializers: [PB.tensor("f4", 23, [3])]))
    }

    @Test("segmented tensors are refused")
    func segmented() {
        expectONNXError(.segmentedTensor(tensor: "seg"),
                        PB.model(initializers: [PB.tensor("seg", 1, [0], PB.bytes(3, PB.int(1, 0) + PB.int(2, 0)))]))
    }

    @Test("data sizes that do not match the dims: raw, typed, packed, external length")
    func sizeMismatch() {
        expectONNXError(.dataSizeMismatch(tensor: "t", expected: 8, actual: 4),
                        PB.model(initializers: [PB.tensor("t", 1, [2], PB.bytes(9, [0, 0, 0, 0]))]))
        expectONNXError(.dataSizeMismatch(tensor: "t", expected: 12, actual: 8),
                        PB.model(initializers: [PB.tensor("t", 1, [3], PB.bytes(4, [UInt8](repeating: 0, count: 8)))]))
        expectONNXError(.dataSizeMismatch(tensor: "i", expected: 24, actual: 8),
                        PB.model(initializers: [PB.tensor("i", 7, [3], PB.int(7, 5))]))
        expectONNXError(.dataSizeMismatch(tensor: "h", expected: 2, actual: 4),
                        PB.model(initializers: [PB.tensor("h", 10, [1], PB.bytes(5, [0x01, 0x02]))]))
        let external = PB.int(14, 1) + PB.entry(13, "location", "d.bin") + PB.entry(13, "length", "4")
        expectONNXError(.dataSizeMismatch(tensor: "e", expected: 8, actual: 4),
                        PB.model(initializers: [PB.tensor("e", 1, [2], external)]), files: ["d.bin": [UInt8](repeating: 0, count: 8)])
    }

    @Test("a packed fixed-width field whose length is not a multiple of the width")
    func packedRemainder() {
        let tensor = PB.tensor("t", 1, [1], PB.bytes(4, [0, 0, 0, 0, 0]))
        let model = PB.model(initializers: [tensor])
        expectONNXError(.truncated(offset: model.count), model)
    }

    @Test("no data where the data type keeps it")
    func noData() {
        // FLOAT with only int64_data
        expectONNXError(.noData(tensor: "t"), PB.model(initializers: [PB.tensor("t", 1, [2], PB.int(7, 1) + PB.int(7, 2))]))
        expectONNXError(.noData(tensor: "u"), PB.model(initializers: [PB.tensor("u", 1, [1])]))
    }

    @Test("external data: missing file, out of range, escaping paths, bad entries")
    func externalData() {
        func model(_ entries: [(String, String)]) -> [UInt8] {
            PB.model(initializers: [PB.tensor("e", 1, [2], PB.int(14, 1) + entries.flatMap { PB.entry(13, $0.0, $0.1) })])
        }
        let eight = [UInt8](repeating: 0, count: 8)
        expectONNXError(.externalDataMissing(tensor: "e", location: "d.bin"), model([("location", "d.bin")]))
        expectONNXError(.externalDataOutOfRange(tensor: "e", location: "d.bin"),
                        model([("location", "d.bin"), ("offset", "4")]), files: ["d.bin": eight])
        expectONNXError(.externalDataOutOfRange(tensor: "e", location: "d.bin"),
                        model([("location", "d.bin"), ("offset", String(Int.max - 2))]), files: ["d.bin": eight])
        for path in ["../d.bin", "/etc/passwd", "a/../../d.bin", "..\\d.bin", "\\\\server\\d.bin"] {
            expectONNXError(.externalPathNotAllowed(tensor: "e", location: path), model([("location", path)]))
        }
        expectONNXError(.invalidExternalDataEntry(tensor: "e", key: "location"), model([("offset", "0")]))
        expectONNXError(.invalidExternalDataEntry(tensor: "e", key: "location"), model([("location", "")]))
        expectONNXError(.invalidExternalDataEntry(tensor: "e", key: "offset"), model([("location", "d.bin"), ("offset", "-1")]))
        expectONNXError(.invalidExternalDataEntry(tensor: "e", key: "offset"), model([("location", "d.bin"), ("offset", "x")]))
        expectONNXError(.invalidExternalDataEntry(tensor: "e", key: "length"), model([("location", "d.bin"), ("length", "8.0")]))
    }

    @Test("messages are short, lowercase and name the tensor")
    func messages() {
        #expect(ONNXError.unsupportedDataType(tensor: "names", dataType: 8).description
                == "tensor 'names' has data type STRING (8), which modelforget does not support")
        #expect(ONNXError.overlongVarint(offset: 3).description == "varint longer than 10 bytes at byte 3")
        #expect(ONNXError.notAnInitializer("x").description == "'x' is not an initializer of the model")
        #expect(ONNXError.unsupportedDType(tensor: "w", dtype: .F6_E2M3).description
                == "tensor 'w' cannot be stored as F6_E2M3 in ONNX; convert it to another dtype")
    }
}
