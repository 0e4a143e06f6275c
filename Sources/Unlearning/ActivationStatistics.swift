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
    public static func collect(_ model: Model, data: Dataset, indices: [Int], batchSize: Int,
                               progress: ((Int, Int) -> Void)? = nil) throws -> [GramKey: LayerGram] {
        var grams: [GramKey: LayerGram] = [:]
        let sampleSize = data.sampleShape.reduce(1, *)
        var start = 0
        while start < indices.count {
            let chunk = indices[start..<min(start + batchSize, indices.count)]
            var values: [Float] = []
            values.reserveCapacity(chunk.count * sampleSize)
            for i in chunk { values += data.x.data[(i * sampleSize)..<((i + 1) * sampleSize)] }
            let batch = Tensor(shape: [chunk.count] + data.sampleShape, data: values)
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
