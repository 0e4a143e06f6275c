import ModelRuntime
import TensorCore

/// How much an update moves a layer's outputs on the retained classes' inputs, estimated from
/// the retain Gram alone (the guard of statistics-only runs, where no retained-class samples
/// can be scored: statistics-only PGU, and the SVD contract search without retained-class
/// validation samples):
/// ```
/// damage = tr(ΔW G_r ΔWᵀ) / tr(W G_r Wᵀ) = ‖ΔW X_r‖²_F / ‖W X_r‖²_F
/// ```
/// with `G_r = X_r X_rᵀ` the retain Gram of the layer's input vectors `X_r` (d × n) and `ΔW`,
/// `W` the weight's rows as outputs × d. It is the squared relative change of the layer's
/// outputs over the retain inputs the statistics saw; per layer (groups summed), each layer
/// judged alone. Statistics-only PGU uses the plain sum of the retained classes' Grams; the SVD
/// contract search the class-balanced Grams its projection holds (each retained class weighted
/// equally), which coincide with it up to a factor when the classes have equal sample counts.
struct RetainDamage {
    /// `tr(W G_r Wᵀ)` of the original weights, per layer index.
    private var reference: [Int: Double] = [:]
    /// A group's Gram as `scale × values` on the coordinates `support` of its `inputs` (those whose
    /// row is not zero: `tr(R G Rᵀ) = tr(R_S G_S R_Sᵀ)`), `nil` when that is all of them.
    private struct SupportedGram {
        var values: [Double], scale: Double, support: [Int]?, inputs: Int
        /// The side of `values`: the support's size.
        var dimension: Int { support?.count ?? inputs }
    }
    private let grams: [GramKey: SupportedGram]
    private let layers: [ComputeGraph.WeightLayer]

    init(grams: [GramKey: LayerGram], layers: [ComputeGraph.WeightLayer], original: [String: Tensor]) {
        self.init(grams.mapValues { ($0.gram, $0.dimension, 1) }, layers: layers, original: original)
    }

    /// From the retain spaces of an SVD projection: each group's trace-normalised Gram times its
    /// trace, so that groups keep their weights in a layer's sum.
    init(retain spaces: [GramKey: SVDProjection.Space], layers: [ComputeGraph.WeightLayer], original: [String: Tensor]) {
        self.init(spaces.mapValues { ($0.normalized, $0.dimension, $0.trace) }, layers: layers, original: original)
    }

    private init(_ grams: [GramKey: (values: [Double], dimension: Int, scale: Double)], layers: [ComputeGraph.WeightLayer],
                 original: [String: Tensor]) {
        self.grams = grams.mapValues { gram in
            let d = gram.dimension
            let support = Coordinates.nonzeroRows(of: gram.values, dimension: d)
            guard support.count < d else { return SupportedGram(values: gram.values, scale: gram.scale, support: nil, inputs: d) }
            return SupportedGram(values: Coordinates.principalSubmatrix(gram.values, dimension: d, support), scale: gram.scale,
                                 support: support, inputs: d)
        }
        self.layers = layers
        for (index, layer) in layers.enumerated() {
            guard let w = original[layer.weight] else { continue }
            reference[index] = energy(of: w, layer: index)
        }
    }

    /// `Σ_groups tr(R G Rᵀ)` for the rows `R` of `weight` as layer `index` reads them.
    private func energy(of weight: Tensor, layer index: Int) -> Double {
        let layer = layers[index]
        var total = 0.0
        for group in 0..<layer.groups {
            // A Gram of zeros (no retain input reached the group) adds nothing.
            guard let gram = grams[GramKey(layer: index, group: group)], gram.dimension > 0 else { continue }
            // The rows alone: nothing is written back.
            let (all, count): ([Double], Int) = SVDProjection.rows(of: weight, layout: layer.layout, group: group, groups: layer.groups,
                                                                   dimension: gram.inputs)
            let d = gram.dimension
            let rows = gram.support.map { Coordinates.gatheredColumns(all, count: count, dimension: gram.inputs, $0) } ?? all
            var product = [Double](repeating: 0, count: count * d)
            rows.withUnsafeBufferPointer { r in gram.values.withUnsafeBufferPointer { g in product.withUnsafeMutableBufferPointer { p in
                BLAS.dgemm(transA: false, transB: false, m: count, n: d, k: d, a: r.baseAddress!, lda: d, b: g.baseAddress!, ldb: d,
                           c: p.baseAddress!, ldc: d)
            } } }
            var sum = 0.0
            for i in 0..<(count * d) { sum += product[i] * rows[i] }
            total += gram.scale * sum
        }
        return total
    }

    /// The weights of the layers this guard judges (those with a retain Gram and nonzero output energy).
    var guardedWeights: Set<String> { Set(reference.filter { $0.value > 0 }.keys.map { layers[$0].weight }) }

    /// The damage of every layer of `current` against `original`, in layer order (layers without
    /// a retain Gram or with zero reference energy left out, and those whose weight is in `skipping`).
    func perLayer(current: [String: Tensor], original: [String: Tensor],
                  skipping: Set<String> = []) -> [(layer: Int, weight: String, damage: Double)] {
        layers.enumerated().compactMap { index, layer in
            guard !skipping.contains(layer.weight), let before = original[layer.weight], let after = current[layer.weight],
                  let base = reference[index], base > 0 else { return nil }
            var delta = after
            for i in 0..<delta.count { delta.data[i] -= before.data[i] }
            return (index, layer.weight, energy(of: delta, layer: index) / base)
        }
    }
}
