import Foundation
import Testing
import WeightFormats
import _TestSupport

/// The path of a fixture written by `Formats/fixtures/onnx/make_fixtures.py`.
func onnxFixture(_ name: String) -> String { Fixtures.path("Formats/fixtures/onnx/\(name)") }

/// Protobuf encoding for hand-built test inputs.
enum PB {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            out.append(UInt8(value & 0x7F) | (value > 0x7F ? 0x80 : 0))
            value >>= 7
        } while value != 0
        return out
    }

    static func tag(_ field: Int, _ wireType: Int) -> [UInt8] { varint(UInt64(field << 3 | wireType)) }
    static func int(_ field: Int, _ value: Int) -> [UInt8] { tag(field, 0) + varint(UInt64(bitPattern: Int64(value))) }
    static func bytes(_ field: Int, _ payload: [UInt8]) -> [UInt8] { tag(field, 2) + varint(UInt64(payload.count)) + payload }
    static func string(_ field: Int, _ text: String) -> [UInt8] { bytes(field, Array(text.utf8)) }
    static func entry(_ field: Int, _ key: String, _ value: String) -> [UInt8] { bytes(field, string(1, key) + string(2, value)) }

    /// A TensorProto: dims, data_type, name, then `rest`.
    static func tensor(_ name: String, _ dataType: Int, _ dims: [Int], _ rest: [UInt8] = []) -> [UInt8] {
        dims.flatMap { int(1, $0) } + int(2, dataType) + string(8, name) + rest
    }

    /// A ModelProto (ir_version 8) whose graph holds `graphFields` (e.g. initializer fields).
    static func model(_ graphFields: [UInt8]) -> [UInt8] { int(1, 8) + bytes(7, graphFields) }

    /// A model with the given TensorProtos as initializers.
    static func model(initializers: [[UInt8]]) -> [UInt8] { model(initializers.flatMap { bytes(5, $0) }) }
}

/// Expects opening `bytes` as an ONNX model to throw exactly `expected`.
func expectONNXError(_ expected: ONNXError, _ bytes: [UInt8], files: [String: [UInt8]] = [:],
                     sourceLocation: SourceLocation = #_sourceLocation) {
    let directory = TemporaryDirectory()
    for (name, contents) in files { directory.write(name, contents) }
    #expect(throws: expected, sourceLocation: sourceLocation) { try ONNXModel(path: directory.write("x.onnx", bytes)) }
}

/// Runs a Python snippet (with `onnx`, `numpy` and `onnxruntime` available) and expects it to print `ok`.
func expectPythonOK(_ code: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let result = try ProcessRunner.python(code, arguments)
    #expect(result.status == 0 && result.stdout.hasSuffix("ok\n"), "\(result.stdout)\(result.stderr)",
            sourceLocation: sourceLocation)
}

/// The SHA-256 of each initializer's serialized TensorProto, by name, as the `onnx` package sees them.
func pythonInitializerHashes(_ path: String) throws -> [String: String] {
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

/// What `onnx.numpy_helper.to_array` makes of each initializer and Constant value:
/// name → "data_type dims hex-of-little-endian-bytes".
func pythonTensorDump(_ path: String) throws -> [String: String] {
    let result = try ProcessRunner.python("""
        import sys, os, onnx
        from onnx import numpy_helper
        m = onnx.load(sys.argv[1], load_external_data=False)
        base = os.path.dirname(sys.argv[1])
        tensors = list(m.graph.initializer)
        tensors += [a.t for n in m.graph.node for a in n.attribute if a.type == onnx.AttributeProto.TENSOR]
        for t in tensors:
            a = numpy_helper.to_array(t, base)
            print(t.name, t.data_type, ",".join(map(str, t.dims)), a.tobytes().hex())
        """, [path])
    try #require(result.status == 0, "\(result.stderr)")
    var dump: [String: String] = [:]
    for line in result.stdout.split(separator: "\n") {
        let parts = line.split(separator: " ", maxSplits: 1)
        dump[String(parts[0])] = String(parts[1])
    }
    return dump
}

/// The same dump as ``pythonTensorDump(_:)`` from modelforget's reader.
func swiftTensorDump(_ model: ONNXModel) throws -> [String: String] {
    var dump: [String: String] = [:]
    for tensor in model.initializers + model.graph.attributeTensors {
        let hex = try model.withBytes(of: tensor) { $0.map { String(format: "%02x", $0) }.joined() }
        dump[tensor.info.name] = "\(tensor.dataType) \(tensor.info.shape.map(String.init).joined(separator: ",")) \(hex)"
    }
    return dump
}

/// A provider that serves `values` (little-endian) for every tensor it is asked for.
func floatProvider(_ values: [String: [Float]]) -> TensorBytesProvider {
    { info, consume in try (values[info.name] ?? []).withUnsafeBytes { try consume($0) } }
}
