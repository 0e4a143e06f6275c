import Foundation
import Testing
import ModelRuntime
import TensorCore
import Unlearning
import WeightFormats
import _TestSupport

@Suite("unlearning through the library API")
struct UnlearningRequestTests {
    @Test("request → perform → write: the CNN sample forgets {5, 7}, the record names both files by SHA-256, untouched tensors are copied", .tags(.slow))
    func requestPerformWrite() throws {
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let test = try Dataset.load(Fixtures.path("Samples/digits-test.npz"))
        let input = Fixtures.path("Samples/cnn.safetensors")
        var request = try UnlearningRequest(model: input, classes: [5, 7], data: data)
        request.method = .svd(SVDUnlearning.Settings(search: true))
        request.evaluationData = .init(test, name: "digits-test.npz")
        let result = try request.perform()
        let evaluation = try #require(result.evaluation)
        #expect(try #require(evaluation.before.forgetAccuracy) > 0.9)
        #expect(try #require(evaluation.after.forgetAccuracy) <= 0.02)
        #expect(try #require(evaluation.after.retainAccuracy) >= (evaluation.before.retainAccuracy ?? 1) - 0.02)
        // perform() leaves the model's own weights alone.
        #expect(request.model.graph.parameters == (try Model.load(input, sampleShape: data.sampleShape)).graph.parameters)

        let directory = TemporaryDirectory()
        let output = directory.path("cnn.forget-5-7.safetensors")
        let record = try result.write(to: output)
        #expect(record.input.sha256 == [input: try SHA256.hex(ofFile: input)])
        #expect(record.output.sha256 == [output: try SHA256.hex(ofFile: output)])
        #expect(record.classes == [5, 7] && record.method == "svd")
        #expect(record.summary.layersEdited == result.editedWeights.count)
        let original = try Checkpoint.open(input), written = try Checkpoint.open(output)
        #expect(written.metadata["modelforget.classes"] == "5,7")
        for info in original.tensors {
            let before = try original.withBytes(of: info.name) { Array($0) }, after = try written.withBytes(of: info.name) { Array($0) }
            if result.editedWeights[info.name] == nil {
                #expect(before == after, "\(info.name) was not edited but its bytes changed")
            } else {
                #expect(before != after, "\(info.name) was edited but its bytes did not change")
            }
        }
    }

    @Test("an edited .npy checkpoint is written as .npy, not as an npz under a .npy name")
    func npyStaysNpy() throws {
        let directory = TemporaryDirectory()
        let input = directory.path("weight.npy")
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        try NPYWriter.write(to: input, info: TensorInfo(name: "weight", dtype: .F32, shape: [2, 3])) { _, consume in
            try values.withUnsafeBytes { try consume($0) }
        }
        let source = try Checkpoint.open(input)
        let output = directory.path("weight.forget-1.npy")
        try EditedCheckpoint.write(source, edits: ["weight": Tensor(shape: [2, 3], data: [0, 0, 0, 4, 5, 6])], to: output, provenance: [:])
        #expect(try Checkpoint.detectFormat(output) == .npy)
        let written = try Checkpoint.open(output)
        let decoded: [Float] = try written.withBytes(of: "weight.forget-1") { raw in
            (0..<6).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        #expect(decoded == [0, 0, 0, 4, 5, 6])
    }
}
