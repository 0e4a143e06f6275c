import Dispatch
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

    mutating func add(_ input: ComputeGraph.LayerInput) {
        BLAS.accumulateGram(&gram, rows: input.rows)
        rows += input.rows.shape[0]
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
    /// Grams keyed by `[layer index, group]`.
    ///
    /// The samples are split into two fixed halves that run on two threads (the machines this tool
    /// targets have two cores); the halves' Grams are added in a fixed order, so the result does not
    /// depend on the machine.
    public static func collect(_ model: Model, data: Dataset, indices: [Int], batchSize: Int,
                               progress: ((Int, Int) -> Void)? = nil) throws -> [GramKey: LayerGram] {
        guard indices.count >= 2 * batchSize else {
            return try collectSequentially(model, data: data, indices: indices, batchSize: batchSize, progress: progress)
        }
        let half = indices.count / 2
        let parts = [Array(indices[..<half]), Array(indices[half...])]
        let results = ParallelResults<[GramKey: LayerGram]>(count: 2)
        let shared = SharedInputs(model: model, data: data)
        BLAS.singleThreaded {
            DispatchQueue.concurrentPerform(iterations: 2) { part in
                results.set(part, Result { try collectSequentially(shared.model, data: shared.data, indices: parts[part], batchSize: batchSize) })
            }
        }
        var total = try results.get(0)
        for (key, gram) in try results.get(1) { total[key] = total[key].map { $0.adding(gram) } ?? gram }
        progress?(indices.count, indices.count)
        return total
    }

    static func collectSequentially(_ model: Model, data: Dataset, indices: [Int], batchSize: Int,
                                    progress: ((Int, Int) -> Void)? = nil) throws -> [GramKey: LayerGram] {
        var grams: [GramKey: LayerGram] = [:]
        var start = 0
        while start < indices.count {
            let chunk = indices[start..<min(start + batchSize, indices.count)]
            let batch = try data.samples(Array(chunk))
            _ = try model.graph.forward([model.inputName: batch], capture: { input in
                let key = GramKey(layer: input.layer, group: input.group)
                if grams[key] == nil { grams[key] = LayerGram(layer: input.layer, group: input.group, dimension: input.rows.shape[1]) }
                grams[key]!.add(input)
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

/// Results written by concurrent workers, one slot each.
final class ParallelResults<T>: @unchecked Sendable {
    private var slots: [Result<T, any Error>?]
    private let lock = NSLockLike()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<T, any Error>) {
        lock.withLock { slots[index] = result }
    }

    func get(_ index: Int) throws -> T { try slots[index]!.get() }
}

/// The read-only inputs shared by the workers (the graph is not mutated by a forward pass).
struct SharedInputs: @unchecked Sendable {
    let model: Model
    let data: Dataset
}

#if canImport(Glibc)
import Glibc
#endif

final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
