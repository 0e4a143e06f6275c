import TensorCore

extension Model {
    /// The samples per forward pass when the user names none: up to `limit` (256), fewer when one
    /// sample's largest activation is large, so that the largest value of a batch stays within
    /// three quarters of the block malloc reuses (``Allocator/reusedBlockBytes``, 16 MiB).
    ///
    /// Larger values are mapped afresh on every allocation, and faulting their pages in costs
    /// more than a smaller batch's narrower matrix products: ResNet-50 at 224 × 224 ran 8.4
    /// images/s in batches of 16 (a 51 MB activation) and 13.8 in batches of 4. The largest value
    /// is measured by a pass over one all-zero sample of `sampleShape`; if that pass fails (the
    /// real data will report why), the rule falls back to at most 256 Ki input values per batch.
    public func defaultBatchSize(sampleShape: [Int], limit: Int = 256) -> Int {
        let inputValues = max(1, sampleShape.reduce(1, *))
        let fallback = max(1, min(limit, (1 << 18) / inputValues))
        let sample = Tensor(zeros: [1] + sampleShape)
        guard let bytes = try? graph.largestComputedValueBytes(for: [inputName: sample]), bytes > 0 else { return fallback }
        return max(1, min(limit, Allocator.reusedBlockBytes * 3 / 4 / bytes))
    }
}
