import Testing
import ModelRuntime
import TensorCore
import _TestSupport

/// Passes with edited weights that reuse the original model's values over the same samples give
/// the same logits as full passes, on the sample ResNet (skip connections, batch norms folded).
@Suite("evaluation passes that reuse the original model's values")
struct ReusablePassesTests {
    static func fixture() throws -> (Model, Dataset) {
        let data = try Dataset.load(Fixtures.path("Samples/digits-test.npz"), xKey: "x", yKey: "y")
        let model = try Model.load(Fixtures.path("Samples/resnet.onnx"), sampleShape: data.sampleShape)
        let subset = Dataset(x: try data.samples(Array(0..<37)), labels: Array(data.labels![0..<37]))
        return (model, subset)
    }

    /// The weights of the weight layers from `first` on, each scaled by 0.9.
    static func edits(_ model: Model, from first: Int) -> [String: Tensor] {
        var edits: [String: Tensor] = [:]
        for layer in model.graph.weightLayers[first...] {
            var weight = model.graph.parameters[layer.weight]!
            for i in weight.data.indices { weight.data[i] *= 0.9 }
            edits[layer.weight] = weight
        }
        return edits
    }

    @Test("edits of the later layers: the same logits bit for bit with and without reuse, and the edit changes them")
    func sameLogits() throws {
        let (model, data) = try Self.fixture()
        let layers = model.graph.weightLayers.count
        let sets = [layers / 2, layers - 1].map { Self.edits(model, from: $0) }
        let (original, reusable) = try Evaluation.logits(model, data, batchSize: 16, keepingFor: sets.map { Set($0.keys) }, budget: 64 << 20)
        #expect(original.data == (try Evaluation.logits(model, data, batchSize: 16)).data)
        for edits in sets {
            #expect(reusable.covers(Set(edits.keys)))
            let reused = try Evaluation.logits(model, data, batchSize: 16, parameters: edits, reusing: reusable)
            let full = try Evaluation.logits(model, data, batchSize: 16, parameters: edits)
            #expect(reused.data == full.data)
            #expect(reused.data != original.data)
        }
        // Another batch size runs other batches: an ordinary pass, the same logits.
        let other = try Evaluation.logits(model, data, batchSize: 8, parameters: sets[0], reusing: reusable)
        #expect(other.data == (try Evaluation.logits(model, data, batchSize: 8, parameters: sets[0])).data)
    }

    @Test("the budget bounds the kept bytes: none kept at 0, and an uncovered edit runs in full")
    func budget() throws {
        let (model, data) = try Self.fixture()
        let layers = model.graph.weightLayers.count
        let edits = Self.edits(model, from: layers / 2)
        let (_, nothing) = try Evaluation.logits(model, data, batchSize: 16, keepingFor: [Set(edits.keys)], budget: 0)
        #expect(!nothing.covers(Set(edits.keys)) && nothing.bytes == 0)
        let (_, some) = try Evaluation.logits(model, data, batchSize: 16, keepingFor: [Set(edits.keys)], budget: 64 << 20)
        #expect(some.covers(Set(edits.keys)) && some.bytes > 0 && some.bytes <= 64 << 20)
        let uncovered = try Evaluation.logits(model, data, batchSize: 16, parameters: Self.edits(model, from: 0), reusing: some)
        #expect(uncovered.data == (try Evaluation.logits(model, data, batchSize: 16, parameters: Self.edits(model, from: 0))).data)
    }
}
