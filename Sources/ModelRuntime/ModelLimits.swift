import Safeguards

/// Sizes a model or data file declares, checked before anything is allocated from them.
enum ModelLimits {
    /// A declared per-sample shape: no negative dimension, and a batch of a few samples fits in
    /// the allocation budget (the ONNX import runs a probe batch of two samples).
    static func isPlausibleSampleShape(_ shape: [Int]) -> Bool {
        guard let count = Checked.product(shape), let bytes = Checked.bytes(elements: count, size: 8 * MemoryLayout<Float>.stride) else {
            return false
        }
        return AllocationBudget.allows(bytes)
    }
}
