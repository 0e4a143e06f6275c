import Foundation
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

    /// Adds to the upper triangle the Gram of `n` vectors that are zero outside `coordinates`
    /// (ascending): `vectors` holds only those coordinates, row-major `n × coordinates.count`. The
    /// Gram of such vectors is zero outside `coordinates × coordinates`, so it is formed over
    /// `|S|` coordinates (in `scratch`) and added into that block. Call ``mirrorUpper()`` after
    /// the last addition.
    mutating func addUpper(_ vectors: UnsafePointer<Double>, count n: Int, coordinates: [Int], scratch: inout [Double]) {
        rows += n
        let d = dimension, width = coordinates.count
        guard n > 0, width > 0 else { return }
        if width == d {
            gram.withUnsafeMutableBufferPointer { BLAS.gramUpper($0.baseAddress!, rows: vectors, n: n, d: d, beta: 1) }
            return
        }
        if scratch.count < width * width { scratch = [Double](repeating: 0, count: width * width) }
        scratch.withUnsafeMutableBufferPointer { block in
            BLAS.gramUpper(block.baseAddress!, rows: vectors, n: n, d: width, beta: 0)
            gram.withUnsafeMutableBufferPointer { g in
                for i in 0..<width {
                    let row = g.baseAddress! + coordinates[i] * d, from = block.baseAddress! + i * width
                    for j in i..<width { row[coordinates[j]] += from[j] }
                }
            }
        }
    }

    /// Most rows one float32 block holds (see the float32 `addUpper`):
    /// the bound of its rounding error grows with it.
    public static let float32BlockRows = 256

    /// Adds to the upper triangle the Gram of `n ≤` ``float32BlockRows`` float32 vectors, zero
    /// outside `coordinates` as in the float64 form: the block's Gram is formed by `ssyrk` in
    /// float32 (in `scratch`) and added in float64.
    ///
    /// Error bound: each product `x_ri x_rj` of two float32 values is exact in float64; `ssyrk`
    /// rounds each of the block's `n` sums, so the block's entry differs from the exact one by at
    /// most `γ_n Σ_r |x_ri| |x_rj|` with `γ_n = n u / (1 − n u)`, `u = 2⁻²⁴` (Higham, *Accuracy and
    /// Stability of Numerical Algorithms*, §3.1, for any summation order). The float64 sum of
    /// the blocks adds at most `γ_B` (float64, `B` = number of blocks) of the running total, about
    /// 10⁻¹² here. So every entry of the Gram is within `γ_256 ≈ 1.53·10⁻⁵` of `(|X|ᵀ|X|)_ij ≤
    /// √(G_ii G_jj)` of its exact value: relative to the diagonal, 1.5·10⁻⁵ at worst (the errors
    /// of a sum of n roundings are of random sign, typically √n u ≈ 10⁻⁶ instead).
    mutating func addUpper(_ vectors: UnsafePointer<Float>, count n: Int, coordinates: [Int], scratch: inout [Float]) {
        precondition(n <= Self.float32BlockRows)
        rows += n
        let d = dimension, width = coordinates.count
        guard n > 0, width > 0 else { return }
        if scratch.count < width * width { scratch = [Float](repeating: 0, count: width * width) }
        scratch.withUnsafeMutableBufferPointer { block in
            BLAS.gramUpper(block.baseAddress!, rows: vectors, n: n, d: width, beta: 0)
            gram.withUnsafeMutableBufferPointer { g in
                if width == d {
                    for i in 0..<d {
                        let row = g.baseAddress! + i * d, from = block.baseAddress! + i * d
                        for j in i..<d { row[j] += Double(from[j]) }
                    }
                    return
                }
                coordinates.withUnsafeBufferPointer { c in
                    for i in 0..<width {
                        let row = g.baseAddress! + c[i] * d, from = block.baseAddress! + i * width
                        for j in i..<width { row[c[j]] += Double(from[j]) }
                    }
                }
            }
        }
    }

    /// Copies the upper triangle onto the lower one.
    mutating func mirrorUpper() {
        let d = dimension
        gram.withUnsafeMutableBufferPointer { g in
            for i in 0..<d { for j in 0..<i { g[i * d + j] = g[j * d + i] } }
        }
    }

    /// Adds `other` in place (`self ← self + other`, element by element in float64).
    mutating func add(_ other: LayerGram) {
        gram.withUnsafeMutableBufferPointer { sum in
            other.gram.withUnsafeBufferPointer { part in for i in 0..<sum.count { sum[i] += part[i] } }
        }
        rows += other.rows
    }

    /// `self + other` (Grams add across batches, files and machines).
    public func adding(_ other: LayerGram) -> LayerGram {
        var sum = self
        for i in 0..<gram.count { sum.gram[i] += other.gram[i] }
        sum.rows += other.rows
        return sum
    }
}

/// How ``ActivationStatistics`` forms Grams.
public enum GramPrecision: Sendable {
    /// float32 `ssyrk` over blocks of at most ``LayerGram/float32BlockRows`` vectors, the blocks
    /// summed in float64 (every entry within `γ_256 (|X|ᵀ|X|)_ij` of the exact Gram; see
    /// ``LayerGram``). About twice the speed of ``float64``.
    case float32Blocks
    /// The vectors widened to float64 and `dsyrk` (rounding error about 10⁻¹⁶ relative per sum).
    case float64
}

/// Statistics of every weight layer's inputs over a sample set: one forward pass of the model in
/// eval mode, in batches, never holding more than one batch's activations.
package enum ActivationStatistics {
    /// The precision ``collect(_:parameters:data:indices:setSize:batchSize:sampling:precision:progress:)``
    /// uses unless told: float32 blocks; `MODELFORGET_GRAM_PRECISION=float64` in the environment
    /// selects the float64 path for the whole process (for comparing the two, see BENCHMARKS.md).
    public static let defaultPrecision: GramPrecision = {
        ProcessInfo.processInfo.environment["MODELFORGET_GRAM_PRECISION"] == "float64" ? .float64 : .float32Blocks
    }()

    /// Sets of at least this many samples are split into the two halves.
    static let minimumSplit = 32

    /// Grams keyed by `[layer index, group]`, from the vectors `sampling` keeps of each sample, with
    /// `parameters` in place of the model's stored weights of those names (``Model/logits(_:parameters:)``).
    /// `setSize` is the number of samples of the set the patch rule counts (``PatchSampling/perSample(vectors:samples:)``):
    /// `indices.count` by default, the whole class when `indices` are one part of it (`stats collect --shard`).
    ///
    /// The samples are split into two fixed halves that run on two threads (the machines this tool
    /// targets have two cores); the halves' Grams are added in a fixed order, so the result does not
    /// depend on the machine (sets under ``minimumSplit`` samples run on one thread). `progress`
    /// receives `(done, total)` after every batch, from either thread (one at a time).
    public static func collect(_ model: Model, parameters: [String: Tensor] = [:], data: Dataset, indices: [Int], setSize: Int? = nil,
                               batchSize: Int, sampling: PatchSampling, precision: GramPrecision = defaultPrecision,
                               progress: ((Int, Int) -> Void)? = nil) throws -> [GramKey: LayerGram] {
        let total = setSize ?? indices.count
        // Sets smaller than one batch are split too: each half is then a single smaller batch.
        guard indices.count >= minimumSplit else {
            return try collectSequentially(model, parameters: parameters, data: data, indices: indices, setSize: total, batchSize: batchSize,
                                           sampling: sampling, precision: precision, progress: progress)
        }
        let half = indices.count / 2
        let parts = [Array(indices[..<half]), Array(indices[half...])]
        let shared = SharedInputs(model: model, data: data)
        let lock = Parallel.Lock()
        var done = [0, 0]
        let results = try Parallel.map(2) { part in
            try collectSequentially(shared.model, parameters: parameters, data: shared.data, indices: parts[part], setSize: total,
                                    batchSize: batchSize, sampling: sampling, precision: precision, progress: progress.map { report in { partDone, _ in
                                        lock.withLock {
                                            done[part] = partDone
                                            report(done[0] + done[1], indices.count)
                                        }
                                    } })
        }
        var sum = results[0]
        for (key, gram) in results[1] { sum[key] = sum[key].map { $0.adding(gram) } ?? gram }
        return sum
    }

    /// `setSize` is the size of the whole set (both halves), on which the per-sample count depends.
    static func collectSequentially(_ model: Model, parameters: [String: Tensor] = [:], data: Dataset, indices: [Int], setSize: Int,
                                    batchSize: Int, sampling: PatchSampling, precision: GramPrecision = defaultPrecision,
                                    progress: ((Int, Int) -> Void)? = nil) throws -> [GramKey: LayerGram] {
        var grams: [GramKey: LayerGram] = [:]
        var buffer: [Double] = [], scratch: [Double] = []
        var buffer32: [Float] = [], scratch32: [Float] = []
        var start = 0
        while start < indices.count {
            let chunk = Array(indices[start..<min(start + batchSize, indices.count)])
            let batch = try data.samples(chunk)
            _ = try model.graph.forward([model.inputName: batch], parameters: parameters, capture: { input in
                let key = GramKey(layer: input.layer, group: input.group)
                let p = input.vectorsPerSample
                let k = sampling.perSample(vectors: p, samples: setSize)
                let classes = input.supportClasses
                var members = [[(sample: Int, position: Int)]](repeating: [], count: classes.coordinates.count)
                for s in 0..<input.samples {
                    let positions = k == p ? Array(0..<p)
                        : sampling.positions(layer: input.layer, group: input.group, sample: chunk[s], vectors: p, keep: k)
                    for j in positions { members[classes.classOfPosition[j]].append((s, j)) }
                }
                if grams[key] == nil { grams[key] = LayerGram(layer: input.layer, group: input.group, dimension: input.dimension) }
                for (supportClass, pairs) in members.enumerated() where !pairs.isEmpty {
                    let coordinates = classes.coordinates[supportClass]
                    /// Hands the class's vectors to `add` `blockRows` at a time, with `buffer` (grown to fit) to copy them into.
                    func inBlocks<T: BinaryFloatingPoint>(of blockRows: Int, buffer: inout [T],
                                                         _ add: (ArraySlice<(sample: Int, position: Int)>, UnsafeMutablePointer<T>) -> Void) {
                        if buffer.count < min(blockRows, pairs.count) * coordinates.count {
                            buffer = [T](repeating: 0, count: min(blockRows, pairs.count) * coordinates.count)
                        }
                        var first = 0
                        while first < pairs.count {
                            let block = pairs[first..<min(first + blockRows, pairs.count)]
                            buffer.withUnsafeMutableBufferPointer { add(block, $0.baseAddress!) }
                            first += block.count
                        }
                    }
                    if precision == .float32Blocks {
                        // Blocks of the most rows the error bound allows (rank-256 updates run near GEMM speed).
                        inBlocks(of: LayerGram.float32BlockRows, buffer: &buffer32) { block, vectors in
                            input.copyVectors(block, supportClass: supportClass, of: classes, into: vectors)
                            grams[key]!.addUpper(vectors, count: block.count, coordinates: coordinates, scratch: &scratch32)
                        }
                    } else {
                        // Blocks of at least 256 rows (rank-256+ updates run near GEMM speed), else 32 Ki
                        // values (256 KiB: the widened block is still in cache when dsyrk packs it; with
                        // 1 Mi values the ViT's 64-wide rows went through memory, 5 % slower overall).
                        inBlocks(of: max(256, (1 << 15) / max(coordinates.count, 1)), buffer: &buffer) { block, vectors in
                            input.copyVectors(block, supportClass: supportClass, of: classes, into: vectors)
                            grams[key]!.addUpper(vectors, count: block.count, coordinates: coordinates, scratch: &scratch)
                        }
                    }
                }
            })
            start += chunk.count
            progress?(start, indices.count)
        }
        // Over a copy of the keys: iterating `grams.keys` (or `values.indices`) keeps a reference to
        // the dictionary's storage, so each mutation would copy the Gram first.
        for key in Array(grams.keys) { grams[key]!.mirrorUpper() }
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
