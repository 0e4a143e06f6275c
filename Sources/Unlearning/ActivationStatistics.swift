import ModelRuntime
import TensorCore

/// The Gram matrix `G = Σ x xᵀ` of one weight layer's input vectors (one group of a grouped
/// convolution), accumulated in float64.
public struct LayerGram: Sendable, Equatable {
    public var layer: Int
    public var group: Int
    public var dimension: Int
    /// Row-major d × d, symmetric.
    public var gram: [Double]
    /// How many input vectors were added.
    public var rows: Int

    public init(layer: Int, group: Int, dimension: Int) {
        self.layer = layer
        self.group = group
        self.dimension = dimension
        gram = [Double](repeating: 0, count: dimension * dimension)
        rows = 0
    }

    /// Adds the `n` vectors in `vectors` (row-major `n × dimension`).
    mutating func add(_ vectors: UnsafeBufferPointer<Float>, count n: Int) {
        BLAS.accumulateGram(&gram, rows: vectors, n: n, d: dimension)
        rows += n
    }

    /// `self + other` (Grams add across batches, files and machines).
    public func adding(_ other: LayerGram) -> LayerGram {
        var sum = self
        for i in 0..<gram.count { sum.gram[i] += other.gram[i] }
        sum.rows += other.rows
        return sum
    }
}

/// Statistics of every weight layer's inputs over a sample set: one forward pass of the model in
/// eval mode, in batches, never holding more than one batch's activations.
public enum ActivationStatistics {
    /// Grams keyed by `[layer index, group]`, from the vectors `sampling` keeps of each sample.
    ///
    /// The samples are split into two fixed halves that run on two threads (the machines this tool
    /// targets have two cores); the halves' Grams are added in a fixed order, so the result does not
    /// depend on the machine.
    public static func collect(_ model: Model, data: Dataset, indices: [Int], batchSize: Int, sampling: PatchSampling,
                               progress: ((Int, Int) -> Void)? = nil) throws -> [GramKey: LayerGram] {
        let total = indices.count
        guard indices.count >= 2 * batchSize else {
            return try collectSequentially(model, data: data, indices: indices, setSize: total, batchSize: batchSize, sampling: sampling,
                                           progress: progress)
        }
        let half = indices.count / 2
        let parts = [Array(indices[..<half]), Array(indices[half...])]
        let shared = SharedInputs(model: model, data: data)
        let results = try Parallel.map(2) { part in
            try collectSequentially(shared.model, data: shared.data, indices: parts[part], setSize: total, batchSize: batchSize,
                                    sampling: sampling)
        }
        var sum = results[0]
        for (key, gram) in results[1] { sum[key] = sum[key].map { $0.adding(gram) } ?? gram }
        progress?(indices.count, indices.count)
        return sum
    }

    /// `setSize` is the size of the whole set (both halves), on which the per-sample count depends.
    static func collectSequentially(_ model: Model, data: Dataset, indices: [Int], setSize: Int, batchSize: Int, sampling: PatchSampling,
                                    progress: ((Int, Int) -> Void)? = nil) throws -> [GramKey: LayerGram] {
        var grams: [GramKey: LayerGram] = [:]
        var buffer: [Float] = []
        var start = 0
        while start < indices.count {
            let chunk = Array(indices[start..<min(start + batchSize, indices.count)])
            let batch = try data.samples(chunk)
            _ = try model.graph.forward([model.inputName: batch], capture: { input in
                let key = GramKey(layer: input.layer, group: input.group)
                let d = input.dimension, p = input.vectorsPerSample
                let k = sampling.perSample(vectors: p, samples: setSize)
                let n = input.samples * k
                if buffer.count < n * d { buffer = [Float](repeating: 0, count: n * d) }
                buffer.withUnsafeMutableBufferPointer { out in
                    for s in 0..<input.samples {
                        let positions = k == p ? Array(0..<p)
                            : sampling.positions(layer: input.layer, group: input.group, sample: chunk[s], vectors: p, keep: k)
                        input.copyVectors(sample: s, positions: positions, into: out.baseAddress! + s * k * d)
                    }
                }
                if grams[key] == nil { grams[key] = LayerGram(layer: input.layer, group: input.group, dimension: d) }
                buffer.withUnsafeBufferPointer { grams[key]!.add(UnsafeBufferPointer(rebasing: $0[..<(n * d)]), count: n) }
            })
            start += chunk.count
            progress?(start, indices.count)
        }
        return grams
    }
}

/// Identifies one space: a weight layer and, for grouped convolutions, a group.
public struct GramKey: Hashable, Sendable, Comparable, Codable {
    public var layer: Int
    public var group: Int

    public init(layer: Int, group: Int) {
        self.layer = layer
        self.group = group
    }

    public static func < (a: GramKey, b: GramKey) -> Bool { (a.layer, a.group) < (b.layer, b.group) }
}

/// The read-only inputs shared by the workers (the graph is not mutated by a forward pass).
struct SharedInputs: @unchecked Sendable {
    let model: Model
    let data: Dataset
}
