import ModelRuntime
import TensorCore

/// Loss and parameter gradients of one batch for the trained engines (PGU, the retain repair).
enum BatchGradients {
    /// The batch's two halves run forward (with `parameters` overriding the stored weights) and
    /// backward on two workers; `loss(logits, sample indices, batch size)` gives each half's loss
    /// (already divided by the whole batch size) and its gradient with respect to the logits. The
    /// halves' losses and gradients are added in a fixed order, so the result does not depend on
    /// which worker finishes first.
    static func compute(_ model: Model, parameters: [String: Tensor], data: Dataset, batch: [Int],
                        loss: @Sendable (Tensor, [Int], Int) -> (Double, Tensor)) throws -> (loss: Double, gradients: [String: Tensor]) {
        let halves = batch.count < 2 ? [batch] : [Array(batch[..<(batch.count / 2)]), Array(batch[(batch.count / 2)...])]
        let shared = SharedInputs(model: model, data: data)
        let parts = try Parallel.map(halves.count) { i -> (Double, [String: Tensor]) in
            let x = try shared.data.samples(halves[i])
            let (outputs, record) = try shared.model.graph.forward([shared.model.inputName: x], parameters: parameters, recording: true)
            guard let logits = outputs[shared.model.outputName] else { throw UnlearningError.noWeightLayers }
            let (value, gradient) = loss(logits, halves[i], batch.count)
            let grads = try shared.model.graph.backward(record, outputGradients: [shared.model.outputName: gradient], inputGradients: false)
            return (value, grads.parameters)
        }
        var (total, gradients) = parts[0]
        for (partLoss, grads) in parts.dropFirst() {
            total += partLoss
            for (name, g) in grads {
                if var existing = gradients[name] { Elementwise.addInPlace(&existing, g); gradients[name] = existing } else { gradients[name] = g }
            }
        }
        return (total, gradients)
    }
}
