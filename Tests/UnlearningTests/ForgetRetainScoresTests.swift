import ModelRuntime
import TensorCore
import Testing
@testable import Unlearning

@Suite("forget and retain scores: accuracy, confidence and the forget samples nearly right")
struct ForgetRetainScoresTests {
    /// A model whose logits are its inputs (one identity node), so each row below is its own logits.
    static var identity: Model {
        Model(graph: ComputeGraph(nodes: [GraphNode(name: "same", operation: .identity, inputs: ["x"], outputs: ["logits"])],
                                  parameters: [:], inputNames: ["x"], outputNames: ["logits"]),
              source: .recognizedLayout("identity"), inputName: "x", outputName: "logits", sampleShape: [3])
    }

    @Test("nearly right: the true logit above the largest other minus 1 (strictly); right samples count, retain samples do not")
    func nearlyRight() throws {
        let rows: [[Float]] = [
            [2.0, 1.0, 0.0],  // class 0, right (margin +1)
            [1.0, 1.5, 0.0],  // class 0, wrong by 0.5: nearly right
            [0.0, 1.5, 0.0],  // class 0, wrong by 1.5
            [0.0, 1.0, 0.0],  // class 0, wrong by exactly 1: not nearly right
            [0.0, 1.2, 1.0],  // class 1 (retain), right
            [0.0, 0.5, 1.0],  // class 1 (retain), wrong by 0.5: retain samples are not counted
        ]
        let data = Dataset(x: Tensor(shape: [6, 3], data: rows.flatMap { $0 }), labels: [0, 0, 0, 0, 1, 1])
        let scores = try ForgetRetainScores.measure(Self.identity, data: data, indices: Array(0..<6), forget: [0], batchSize: 4)
        #expect(scores.forget == 0.25 && scores.retain == 0.5)
        #expect(scores.forgetNearlyRight == 0.5)
    }

    @Test("the headroom counts the forget samples nearly right against half the forget limit")
    func headroomWithNearlyRight() {
        let contract = UnlearningContract()
        let clean = contract.verdict(forget: 0.0, retain: 0.915, retainBefore: 0.92)
        #expect(RetainRepair.hasHeadroom(clean, nearlyRight: 0.01, contract: contract))
        #expect(!RetainRepair.hasHeadroom(clean, nearlyRight: 0.04, contract: contract))
        // 4 % nearly right against a 1 % headroom limit: three times the limit over.
        #expect(abs(RetainRepair.nearlyRightExcess(0.04, contract: contract) - 3) < 1e-12)
        let better = RetainRepair.Standing(clean, contract: contract, confidence: 0.1, forgetNearlyRight: 0)
        let nearer = RetainRepair.Standing(clean, contract: contract, confidence: 0.9, forgetNearlyRight: 0.04)
        #expect(better < nearer && better.headroomViolation == 0)
        // The contract's own limits still come first.
        let failing = contract.verdict(forget: 0.05, retain: 0.92, retainBefore: 0.92)
        #expect(nearer < RetainRepair.Standing(failing, contract: contract, confidence: 0.9, forgetNearlyRight: 0))
    }
}
