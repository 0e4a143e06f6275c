import Foundation
import Testing
import ModelRuntime
import TensorCore
@testable import Unlearning
import _TestSupport

@Suite("retain repair: the loss and the stopping rule")
struct RetainRepairTests {
    /// Three rows over five classes: two retain rows with targets, one forget row (label 3).
    static let logits = Tensor(shape: [3, 5], data: [0.3, -1.2, 2.0, 0.5, -0.4,
                                                     1.1, 0.2, -0.7, 1.9, 0.0,
                                                     -0.5, 0.8, 0.1, 2.2, -1.0])
    static let targets: [[Float]?] = [[0.1, -0.3, 3.0, 2.5, -1.0], [2.0, 0.0, -1.0, 4.0, 0.5], nil]
    static let labels = [2, 0, 3]

    @Test("distillation: ∂L/∂z matches central finite differences of L (absolute 1e-4 of gradients near 0.1)",
          arguments: [1.0, 4.0])
    func distillationGradient(_ temperature: Double) {
        let (_, gradient) = RetainRepair.distillation(logits: Self.logits, targets: Self.targets, excluding: [3], temperature: temperature, total: 4)
        let h: Float = 1e-2
        for i in 0..<Self.logits.count {
            var plus = Self.logits, minus = Self.logits
            plus.data[i] += h
            minus.data[i] -= h
            let up = RetainRepair.distillation(logits: plus, targets: Self.targets, excluding: [3], temperature: temperature, total: 4).0
            let down = RetainRepair.distillation(logits: minus, targets: Self.targets, excluding: [3], temperature: temperature, total: 4).0
            let numeric = (up - down) / (2 * Double(h))
            #expect(abs(numeric - Double(gradient.data[i])) < 1e-4, "logit \(i): \(numeric) against \(gradient.data[i])")
        }
        // The row without a target contributes nothing.
        #expect(gradient.data[10..<15].allSatisfy { $0 == 0 })
    }

    @Test("distillation: the excluded classes get no target mass; the loss is 0 when the outputs already match the restricted target")
    func excludedClasses() {
        // The target's largest logit is the excluded class 3: all its mass goes to the others.
        let (_, gradient) = RetainRepair.distillation(logits: Self.logits, targets: Self.targets, excluding: [3], temperature: 4, total: 1)
        #expect(gradient.data[3] > 0 && gradient.data[5 + 3] > 0)   // pushed down
        // Logits equal to the target's on the kept classes and far below on the excluded one.
        var matching = Tensor(shape: [1, 5], data: Self.targets[0]!)
        matching.data[3] = -1e4
        let (loss, matched) = RetainRepair.distillation(logits: matching, targets: [Self.targets[0]], excluding: [3], temperature: 4, total: 1)
        #expect(abs(loss) < 1e-9)
        #expect(matched.data.allSatisfy { abs($0) < 1e-7 })
        // With nothing excluded the same logits as the target are the optimum too.
        let same = Tensor(shape: [1, 5], data: Self.targets[1]!)
        let (lossAll, _) = RetainRepair.distillation(logits: same, targets: [Self.targets[1]], excluding: [], temperature: 2, total: 1)
        #expect(abs(lossAll) < 1e-9)
    }

    @Test("the repair loss: the forget row gets the forget-vector margin either way; labels reproduce cross-entropy, targets the distillation")
    func repairLoss() {
        var settings = RetainRepair.Settings()
        let isForget = Self.labels.map { $0 == 3 }
        let reference = ForgetVector.loss(logits: Self.logits, labels: Self.labels, isForget: isForget, total: 3, tau: settings.tau, alpha: 1, beta: settings.beta)
        let margin = ForgetVector.loss(logits: Self.logits, labels: Self.labels, isForget: isForget, total: 3, tau: settings.tau, alpha: 0, beta: settings.beta)
        let distilled = RetainRepair.distillation(logits: Self.logits, targets: Self.targets, excluding: [3], temperature: 4, total: 3)
        #expect(settings.retainTarget == .originalModel(temperature: 4))
        let (loss, gradient) = RetainRepair.loss(logits: Self.logits, labels: Self.labels, forget: [3], targets: Self.targets, total: 3, settings: settings)
        #expect(abs(loss - (margin.loss + distilled.0)) < 1e-12)
        #expect(gradient.data[10..<15] == reference.gradient.data[10..<15])
        #expect(gradient.data[0..<10] == distilled.1.data[0..<10])
        settings.retainTarget = .labels
        let (labelLoss, labelGradient) = RetainRepair.loss(logits: Self.logits, labels: Self.labels, forget: [3], targets: Self.targets, total: 3,
                                                           settings: settings)
        #expect(labelLoss == reference.loss && labelGradient == reference.gradient)
    }

    @Test("the repair runs one epoch past the first that meets the contract and keeps it only if it improves", .tags(.slow))
    func oneEpochPastMeeting() throws {
        // The sample MLP forgetting {5, 7}: the projection misses the retain limit and the repair meets it.
        var request = try AutoMethodTests.request("Samples/mlp.onnx", classes: [5, 7])
        request.selection.retainSamples = SampleSelection.Configuration(forgetClasses: [5, 7]).retainSamples
        request.selection.forgetSamples = SampleSelection.Configuration(forgetClasses: [5, 7]).forgetSamples
        guard case .auto(let auto) = try request.perform().details else { Issue.record("not an auto result"); return }
        let svd = auto.svd
        #expect(svd.contractVerdict?.meets == false)
        func repair(epochsPastMeeting: Int) throws -> (RetainRepair.Outcome, epochsRun: Int) {
            var settings = RetainRepair.Settings()
            settings.epochsPastMeeting = epochsPastMeeting
            var epochsRun = 0
            let outcome = try RetainRepair.run(request.model, data: request.data, retain: svd.selection.retain, forget: svd.selection.forget,
                                               validation: svd.selection.validation, forgetClasses: [5, 7], start: svd.editedWeights,
                                               contract: UnlearningContract(), retainBefore: svd.retainBefore, batchSize: 64, seed: 0,
                                               settings: settings) { stage, _, _ in if stage == "repair" { epochsRun += 1 } }
            return (outcome, epochsRun)
        }
        let (atMeeting, ranAtMeeting) = try repair(epochsPastMeeting: 0)
        let (past, ranPast) = try repair(epochsPastMeeting: 1)
        // Stopping at the first epoch that meets the contract keeps that epoch.
        #expect(atMeeting.verdict.meets)
        #expect(atMeeting.epochs.last?.verdict.meets == true && atMeeting.epochs.dropLast().allSatisfy { !$0.verdict.meets })
        // One more epoch was run (the budget of 6 allowing); the kept one is the first meeting epoch or that next one.
        try #require(atMeeting.epochs.count - 1 < RetainRepair.Settings().epochs)
        #expect(ranPast == ranAtMeeting + 1)
        #expect(past.verdict.meets && past.learningRate == atMeeting.learningRate)
        #expect(past.epochs.count == atMeeting.epochs.count || past.epochs.count == atMeeting.epochs.count + 1)
        if past.epochs.count == atMeeting.epochs.count { #expect(past.weights == atMeeting.weights) } else { #expect(past.weights != atMeeting.weights) }
    }
}
