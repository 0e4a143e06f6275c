import TensorCore

/// What the stored model computes over one fixed list of samples, kept so that later passes over
/// the same samples with edited weights recompute only the nodes downstream of the edits
/// (``ComputeGraph/forward(_:parameters:reusing:)``).
///
/// Made by ``Evaluation/logits(_:_:batchSize:keepingFor:budget:)`` for given sets of edited
/// parameter names; used by ``Evaluation/logits(_:_:batchSize:parameters:reusing:)``. A search
/// that scores many edits of the last layers of a network (the contract search's scopes) then
/// pays a pass through those layers alone for each.
public struct ReusablePasses: @unchecked Sendable {
    /// The samples and batches the values belong to: a pass reuses them only over the same ones
    /// (the same batch ranges, and batches whose samples hash to ``batchHashes``).
    let count: Int
    let batches: [Range<Int>]
    let batchHashes: [UInt64]
    /// For each covered set of edited parameter names, the values a pass overriding them takes.
    let names: [Set<String>: Set<String>]
    /// Per batch, the kept values of every covered set.
    let values: [[String: Tensor]]

    /// Whether passes overriding exactly `parameters` reuse values.
    public func covers(_ parameters: Set<String>) -> Bool { names[parameters] != nil }

    /// The bytes kept.
    public var bytes: Int { values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count * MemoryLayout<Float>.stride } } }
}

extension Evaluation {
    /// ``logits(_:_:batchSize:parameters:offset:progress:)`` of the stored model over `inputs`,
    /// keeping for each of `edits` (the names of parameters that later passes override) the values
    /// those passes can reuse (``ComputeGraph/reusableValues(overriding:)``).
    ///
    /// Sets whose values are already graph inputs alone (nothing to skip) are left out, and so are
    /// sets that would take the kept values past `budget` bytes: a one-sample pass measures each
    /// set's bytes per sample, and the sets are taken cheapest first while the total fits.
    public static func logits(_ model: Model, _ inputs: Dataset, batchSize: Int, keepingFor edits: [Set<String>],
                              budget: Int) throws -> (logits: Tensor, reusable: ReusablePasses) {
        let graph = model.graph
        var names: [Set<String>: Set<String>] = [:]
        for edit in edits where names[edit] == nil {
            let reusable = graph.reusableValues(overriding: edit)
            if !reusable.isEmpty { names[edit] = reusable }
        }
        if !names.isEmpty, inputs.count > 0 {
            // Bytes per sample of each kept value, from a pass on the first sample.
            let probe = try model.logits(try inputs.batch(0..<1), keeping: names.values.reduce(into: Set<String>()) { $0.formUnion($1) }).kept
            func perSample(_ set: Set<String>) -> Int { set.reduce(0) { $0 + (probe[$1]?.count ?? 0) * MemoryLayout<Float>.stride } }
            var chosen: [Set<String>: Set<String>] = [:]
            var kept: Set<String> = []
            for (edit, set) in names.sorted(by: { (perSample($0.value), $0.value.count) < (perSample($1.value), $1.value.count) }) {
                let union = kept.union(set)
                let (bytes, overflow) = perSample(union).multipliedReportingOverflow(by: inputs.count)
                guard !overflow, bytes <= budget, set.allSatisfy({ probe[$0] != nil }) else { continue }
                chosen[edit] = set
                kept = union
            }
            names = chosen
        }
        let keeping = names.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        let ranges = batchRanges(count: inputs.count, batchSize: batchSize)
        var values = [[String: Tensor]](repeating: [:], count: ranges.count)
        var hashes = [UInt64](repeating: 0, count: ranges.count)
        let lock = Parallel.Lock()
        let logits = try logits(model, inputs, batchSize: batchSize, progress: nil) { index, batch in
            let (logits, kept) = try model.logits(batch, keeping: keeping)
            let hash = Self.hash(batch)
            lock.withLock { (values[index], hashes[index]) = (kept, hash) }
            return logits
        }
        return (logits, ReusablePasses(count: inputs.count, batches: ranges, batchHashes: hashes, names: names, values: values))
    }

    /// FNV-1a over the bits of a batch's values: tells a batch of other samples from the one a
    /// ``ReusablePasses`` was made on.
    static func hash(_ batch: Tensor) -> UInt64 {
        batch.data.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1.bitPattern)) &* 0x100_0000_01b3 }
    }

    /// ``logits(_:_:batchSize:parameters:offset:progress:)`` with edited `parameters`, reusing the
    /// stored model's values from `reusing` when it was made over the same samples and batches
    /// and covers exactly these parameter names (else an ordinary pass; a batch whose samples hash
    /// differently also runs in full). The logits are the same either way.
    public static func logits(_ model: Model, _ inputs: Dataset, batchSize: Int, parameters: [String: Tensor],
                              reusing: ReusablePasses?) throws -> Tensor {
        guard let reusing, reusing.count == inputs.count, reusing.batches == batchRanges(count: inputs.count, batchSize: batchSize),
              let needed = reusing.names[Set(parameters.keys)] else {
            return try logits(model, inputs, batchSize: batchSize, parameters: parameters)
        }
        return try logits(model, inputs, batchSize: batchSize, progress: nil) { index, batch in
            guard Self.hash(batch) == reusing.batchHashes[index] else { return try model.logits(batch, parameters: parameters) }
            return try model.logits(batch, parameters: parameters, reusing: reusing.values[index].filter { needed.contains($0.key) })
        }
    }
}
