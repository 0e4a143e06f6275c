import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite("ONNX: damaged files")
struct ONNXMutationTests {
    /// Random byte flips and truncations of every fixture: opening, reading every tensor and
    /// writing either throw or succeed, and never crash.
    @Test("mutated models throw or open, never crash", arguments: [
        "mlp_raw.onnx", "typed_fields.onnx", "external.onnx", "unknown_fields.onnx",
    ])
    func mutations(fixture: String) throws {
        let directory = TemporaryDirectory()
        directory.write("external.bin", fileContents(onnxFixture("external.bin")))
        let output = TemporaryDirectory()
        var rng = SeededGenerator(seed: UInt64(fixture.utf8.count))
        let valid = fileContents(onnxFixture(fixture))
        var opened = 0
        for trial in 0..<300 {
            var bytes = valid
            switch trial % 3 {
            case 0:
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1:
                for _ in 0..<4 { bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng) }
            default:
                bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
            }
            guard let model = try? ONNXModel(path: directory.write("m.onnx", bytes)) else { continue }
            opened += 1
            for tensor in model.initializers + model.graph.attributeTensors {
                _ = try? model.withBytes(of: tensor) { $0.count }
            }
            if let first = model.tensors.first, let count = first.byteCount {
                try? model.write(to: output.path("out.onnx"), replacing: [first]) { _, consume in
                    try [UInt8](repeating: 0, count: count).withUnsafeBytes { try consume($0) }
                }
                if (try? ONNXModel(path: output.path("out.onnx"))) == nil, FileManager.default.fileExists(atPath: output.path("out.onnx")) {
                    // A written model must open again whenever its input did.
                    Issue.record("trial \(trial): the written model does not open")
                }
                try? FileManager.default.removeItem(atPath: output.path("out.onnx"))
            }
        }
        #expect(opened > 0)
    }
}
