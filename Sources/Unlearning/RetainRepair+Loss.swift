import Foundation
import ModelRuntime
import TensorCore

extension RetainRepair {
    /// The repair's loss over one batch (already divided by the whole batch's size `total`) and
    /// its gradient with respect to `logits`: the forget-vector margin `β max(z_y − max_{c≠y} z_c, −τ)`
    /// on rows whose label is in `forget`; on the others, cross-entropy with the label
    /// (``RepairTarget/labels``) or, for rows with a target, the distillation term
    /// ``distillation(logits:targets:excluding:temperature:total:)``.
    static func loss(logits: Tensor, labels: [Int], forget: Set<Int>, targets: [[Float]?], total: Int, settings s: Settings) -> (Double, Tensor) {
        let isForget = labels.map { forget.contains($0) }
        guard case .originalModel(let temperature) = s.retainTarget else {
            return ForgetVector.loss(logits: logits, labels: labels, isForget: isForget, total: total, tau: s.tau, alpha: 1, beta: s.beta)
        }
        // α = 0: the margin on the forget rows alone; the retain rows' term is the distillation.
        var (loss, gradient) = ForgetVector.loss(logits: logits, labels: labels, isForget: isForget, total: total, tau: s.tau, alpha: 0, beta: s.beta)
        let kept = zip(targets, isForget).map { $1 ? nil : $0 }
        let (distilled, distilledGradient) = distillation(logits: logits, targets: kept, excluding: forget, temperature: temperature, total: total)
        Elementwise.addInPlace(&gradient, distilledGradient)
        loss += distilled
        return (loss, gradient)
    }

    /// Distillation of the rows with a target (the original model's logits for that sample) at
    /// temperature `T`, the classes `excluding` taken out of the target:
    /// ```
    /// p = softmax(target / T) with p_c = 0 for c in excluding,   q = softmax(z / T)
    /// loss = Σ_rows T² Σ_c p_c (log p_c − log q_c) / total,   ∂loss/∂z_c = T (q_c − p_c) / total
    /// ```
    /// (the T² keeps the gradient's size independent of `T`, as in Hinton et al. 2015). Rows
    /// without a target contribute nothing.
    static func distillation(logits: Tensor, targets: [[Float]?], excluding: Set<Int>, temperature t: Double, total: Int) -> (Double, Tensor) {
        let n = logits.shape[0], classes = logits.shape[1]
        var gradient = Tensor(zeros: [n, classes])
        var loss = 0.0
        /// `log softmax(v)` with the entries where `keep` is false at −∞.
        func logSoftmax(_ v: [Double], keep: (Int) -> Bool) -> [Double] {
            let top = v.indices.filter(keep).map { v[$0] }.max() ?? 0
            let logSum = Foundation.log(v.indices.filter(keep).reduce(0) { $0 + Foundation.exp(v[$1] - top) }) + top
            return v.indices.map { keep($0) ? v[$0] - logSum : -.infinity }
        }
        for row in 0..<n {
            guard let target = targets[row] else { continue }
            let logP = logSoftmax(target.map { Double($0) / t }) { !excluding.contains($0) }
            let logQ = logSoftmax((0..<classes).map { Double(logits.data[row * classes + $0]) / t }) { _ in true }
            for c in 0..<classes {
                let p = Foundation.exp(logP[c]), q = Foundation.exp(logQ[c])
                if p > 0 { loss += t * t * p * (logP[c] - logQ[c]) }
                gradient.data[row * classes + c] = Float(t * (q - p) / Double(total))
            }
        }
        return (loss / Double(total), gradient)
    }

    /// The original model's logits for each of the `retain` samples (by sample index) when
    /// `target` distils them; empty for ``RepairTarget/labels``. The samples are read a few
    /// batches at a time, so a large image set is never held whole.
    static func targets(_ target: RepairTarget, model: Model, data: Dataset, retain: [Int], batchSize: Int) throws -> [Int: [Float]] {
        guard case .originalModel = target else { return [:] }
        var byIndex: [Int: [Float]] = [:]
        let chunk = max(1, batchSize) * Parallel.workers
        for start in stride(from: 0, to: retain.count, by: chunk) {
            let indices = Array(retain[start..<min(start + chunk, retain.count)])
            let logits = try Evaluation.logits(model, Dataset(x: try data.samples(indices), labels: nil), batchSize: batchSize)
            let classes = logits.shape[1]
            for (row, index) in indices.enumerated() { byIndex[index] = Array(logits.data[(row * classes)..<((row + 1) * classes)]) }
        }
        return byIndex
    }
}
