import ModelRuntime
import TensorCore

/// SVD projection unlearning (Kodge, Saha, Roy, "Deep Unlearning", TMLR 2024), per
/// `docs/methods.md` §2.
///
/// For every weight layer, from the Grams of its inputs over retain and forget samples:
/// ```
/// G = U diag(σ²) Uᵀ,  r_i = σ²_i / Σ σ²,  λ_i = α r_i / ((α − 1) r_i + 1),  M = U diag(λ) Uᵀ
/// P = I − (M_f − M_f M_r),   W ← W Pᵀ = W − W (I − M_r) M_f
/// ```
/// for weights stored outputs × inputs (PyTorch Linear, Conv flattened OIHW, Gemm transB = 1);
/// weights stored inputs × outputs (ONNX MatMul, Gemm transB = 0) become `P W`. Grouped
/// convolutions use one `P` per group; biases, norms and embeddings are never touched.
///
/// **No eigendecomposition is needed.** λ is a rational function of r, so M is the same function
/// of the trace-normalised Gram `Ĉ = G / tr G = U diag(r) Uᵀ`:
/// ```
/// M = U diag(α r / ((α − 1) r + 1)) Uᵀ = α Ĉ A⁻¹,   A = (α − 1) Ĉ + I
/// ```
/// exactly (Ĉ and A share eigenvectors). A's eigenvalues `(α − 1) r_i + 1` lie in `[min(1, α),
/// max(1, α)]` because `0 ≤ r_i ≤ 1`, so A is symmetric positive definite with condition number
/// at most `max(α, 1/α)`: a Cholesky factorisation (`dpotrf`, d³/3 flops) and triangular solves
/// give `X M = α (X Ĉ) A⁻¹` for the r rows of a weight in `2 r d²` + `2 r d²` flops, all in
/// BLAS-3 kernels. The whole edit costs `2 · d³/3 + 8 r d²` flops per layer instead of two
/// `dsyevd` (≈ 9 d³ each, half of it memory-bound) and d × d rebuilds, with no truncation and so no
/// truncation error; the result equals the eigenvector form up to rounding (tested against it).
package struct SVDProjection: Sendable {
    /// One space: the trace-normalised Gram of a layer's inputs over one sample set.
    public struct Space: Sendable {
        /// `Ĉ = G / tr G`, row-major d × d (all zeros when every input was zero).
        public var normalized: [Double]
        public var dimension: Int
        /// How many input vectors the Gram sums.
        public var vectors: Int
        /// `tr G`, the factor that takes ``normalized`` back to the Gram (0 when every input was zero).
        public var trace: Double
        /// The participation ratio `(Σ σ²)² / Σ σ⁴ = 1 / ‖Ĉ‖²_F`: how many directions the
        /// energy is spread over (1 for a single direction, d for isotropic inputs).
        public var effectiveRank: Double

        public init(_ gram: consuming LayerGram) {
            let d = gram.dimension
            vectors = gram.rows
            var values = (consume gram).gram   // normalised in place when this is the only copy
            var trace = 0.0
            for i in 0..<d { trace += values[i * d + i] }
            dimension = d
            self.trace = trace.isFinite && trace > 0 ? trace : 0
            guard trace > 0, trace.isFinite else {
                if trace.isFinite { values = [Double](repeating: 0, count: d * d) }
                normalized = values
                effectiveRank = 0
                return
            }
            var squares = 0.0
            for i in 0..<values.count {
                values[i] /= trace
                squares += values[i] * values[i]
            }
            normalized = values
            effectiveRank = squares > 0 ? 1 / squares : 0
        }

        var isZero: Bool { effectiveRank == 0 && normalized.allSatisfy { $0 == 0 } }

        /// The Cholesky factor of `A = (α − 1) Ĉ + I`, or `nil` if A is not positive definite
        /// (only when the statistics hold NaN or infinity).
        func factor(alpha: Double) -> [Double]? {
            let d = dimension
            var a = normalized
            for i in 0..<(d * d) { a[i] *= alpha - 1 }
            for i in 0..<d { a[i * d + i] += 1 }
            return LinearAlgebra.choleskyFactor(&a, d: d) ? a : nil
        }

        /// `X M = α (X Ĉ) A⁻¹` for the `count` rows of `x` (row-major `count × d`), given
        /// ``factor(alpha:)``.
        func timesImportance(_ x: UnsafePointer<Double>, count: Int, factor: [Double], alpha: Double) -> [Double] {
            let d = dimension
            var product = [Double](repeating: 0, count: count * d)
            guard count > 0, !isZero else { return product }
            normalized.withUnsafeBufferPointer { c in product.withUnsafeMutableBufferPointer { out in
                BLAS.dgemm(transA: false, transB: false, m: count, n: d, k: d, alpha: alpha, a: x, lda: d,
                           b: c.baseAddress!, ldb: d, c: out.baseAddress!, ldc: d)
                LinearAlgebra.choleskySolveRows(factor, d: d, rows: out.baseAddress!, count: count)
            } }
            return product
        }
    }

    public var retain: [GramKey: Space]
    public var forget: [GramKey: Space]

    /// Takes the Grams over (each is normalised in place when the caller gives up its copy).
    public init(retainGrams: consuming [GramKey: LayerGram], forgetGrams: consuming [GramKey: LayerGram]) {
        retain = Self.spaces(retainGrams)
        forget = Self.spaces(forgetGrams)
    }

    private static func spaces(_ grams: consuming [GramKey: LayerGram]) -> [GramKey: Space] {
        var remaining = grams
        var spaces: [GramKey: Space] = [:]
        for key in remaining.keys.sorted() { spaces[key] = Space(remaining.removeValue(forKey: key)!) }
        return spaces
    }

    /// `λ_i = α r_i / ((α − 1) r_i + 1)` with `r_i = σ²_i / Σ σ²`: the importances of the
    /// method (`docs/methods.md` §2.3), which ``Space`` applies without computing the σ²_i (§2.4).
    public static func importances(_ values: [Double], alpha: Double) -> [Double] {
        let total = values.reduce(0, +)
        guard total > 0 else { return values.map { _ in 0 } }
        return values.map { v in
            let r = v / total
            return alpha * r / ((alpha - 1) * r + 1)
        }
    }

    /// `X Pᵀ = X − X (I − M_r) M_f` for the `count` rows of `x` (row-major `count × d`).
    ///
    /// With `parallel`, the two factorisations run in parallel, then the two halves of the rows
    /// (``Parallel``); otherwise everything runs on the calling thread. The rows' results do not
    /// depend on the choice beyond rounding order inside BLAS. Coordinates no sample reached are
    /// left out of the arithmetic (``support(_:)``): the same edit.
    public func editedRows(_ key: GramKey, _ x: [Double], count: Int, alphaRetain: Double, alphaForget: Double,
                           parallel: Bool = true) throws -> [Double] {
        guard let r = retain[key], let f = forget[key] else { return x }
        precondition(x.count == count * r.dimension)
        guard let support = support(key) else {
            return try Self.editedRows(r, f, layer: key.layer, x, count: count, alphaRetain: alphaRetain, alphaForget: alphaForget, parallel: parallel)
        }
        let compact = try Self.editedRows(r.restricted(to: support), f.restricted(to: support), layer: key.layer,
                                          Coordinates.gatheredColumns(x, count: count, dimension: r.dimension, support), count: count,
                                          alphaRetain: alphaRetain, alphaForget: alphaForget, parallel: parallel)
        return Coordinates.scatteredColumns(compact, into: x, count: count, dimension: r.dimension, support)
    }

    /// ``editedRows(_:_:count:alphaRetain:alphaForget:parallel:)`` with the spaces given, on every one of their coordinates.
    static func editedRows(_ r: Space, _ f: Space, layer: Int, _ x: [Double], count: Int, alphaRetain: Double, alphaForget: Double,
                           parallel: Bool) throws -> [Double] {
        let d = r.dimension
        let factor = { (i: Int) throws -> [Double] in
            let (space, alpha) = i == 0 ? (r, alphaRetain) : (f, alphaForget)
            guard let factor = space.factor(alpha: alpha) else { throw UnlearningError.factorizationFailed(layer: layer) }
            return factor
        }
        let factors = parallel ? try Parallel.map(2, factor) : [try factor(0), try factor(1)]
        let edit = { (range: Range<Int>) -> [Double] in
            x.withUnsafeBufferPointer { xp in
                let rows = xp.baseAddress! + range.lowerBound * d, n = range.count
                // Y = X − X M_r = X (I − M_r);  X' = X − Y M_f
                var y = r.timesImportance(rows, count: n, factor: factors[0], alpha: alphaRetain)
                for i in 0..<(n * d) { y[i] = rows[i] - y[i] }
                let correction = y.withUnsafeBufferPointer { f.timesImportance($0.baseAddress!, count: n, factor: factors[1], alpha: alphaForget) }
                return (0..<(n * d)).map { rows[$0] - correction[$0] }
            }
        }
        guard parallel else { return edit(0..<count) }
        let half = count / 2
        let parts = try Parallel.map(2) { part in edit(part == 0 ? 0..<half : half..<count) }
        return parts[0] + parts[1]
    }

    /// `P = I − (M_f − M_f M_r)` (row-major d × d), from ``editedRows`` of the identity
    /// (`I Pᵀ = Pᵀ`); for tests and inspection.
    public func projection(_ key: GramKey, alphaRetain: Double, alphaForget: Double) throws -> [Double]? {
        guard let d = retain[key]?.dimension, forget[key] != nil else { return nil }
        var identity = [Double](repeating: 0, count: d * d)
        for i in 0..<d { identity[i * d + i] = 1 }
        let transposed = try editedRows(key, identity, count: d, alphaRetain: alphaRetain, alphaForget: alphaForget)
        var p = transposed
        for i in 0..<d { for j in 0..<d { p[i * d + j] = transposed[j * d + i] } }
        return p
    }

    /// Spaces of at most this dimension are edited on one thread each, several at a time; larger
    /// ones one at a time, each split over the workers. (A d = 64 factorisation takes microseconds:
    /// splitting it costs more in hand-offs than it saves.)
    static let smallDimension = 256

    /// The edited weights of every weight layer of `graph`, computed from `original` (the
    /// weights the statistics were collected with), keyed by parameter name.
    ///
    /// Work is cut per weight parameter (all layers and groups that use it, in graph order):
    /// parameters whose spaces are all small are spread over the workers, the others run one after
    /// the other with the work inside each space split. Which thread edits a parameter does not
    /// change its result.
    ///
    /// - Parameter firstLayer: edit only the weight parameters whose every layer is at or after
    ///   this weight layer (a search scope); the others are left out of the result, not computed.
    public func editedWeights(_ graph: ComputeGraph, original: [String: Tensor], alphaRetain: Double, alphaForget: Double,
                              from firstLayer: Int = 0) throws -> [String: Tensor] {
        let units = Self.weightUnits(graph, original: original).filter { $0.layers.allSatisfy { $0 >= firstLayer } }
        let isSmall = units.map { unit in
            unit.layers.allSatisfy { index in
                (0..<graph.weightLayers[index].groups).allSatisfy { group in
                    let key = GramKey(layer: index, group: group)
                    return (support(key)?.count ?? retain[key]?.dimension ?? 0) <= Self.smallDimension
                }
            }
        }
        func edited(_ unit: WeightUnit, parallel: Bool) throws -> Tensor {
            try editedUnit(unit, graph: graph, original: original, alphaRetain: alphaRetain, alphaForget: alphaForget, parallel: parallel)
        }
        let small = units.indices.filter { isSmall[$0] }
        var result: [String: Tensor] = [:]
        for (i, tensor) in try Parallel.map(small.count, { try edited(units[small[$0]], parallel: false) }).enumerated() {
            result[units[small[i]].weight] = tensor
        }
        for unit in units.indices where !isSmall[unit] { result[units[unit].weight] = try edited(units[unit], parallel: true) }
        return result
    }

    /// A weight parameter and the weight layers that use it (graph order).
    typealias WeightUnit = (weight: String, layers: [Int])

    /// The weight parameters of `graph` found in `original`, each with the layers that use it.
    static func weightUnits(_ graph: ComputeGraph, original: [String: Tensor]) -> [WeightUnit] {
        var units: [WeightUnit] = []
        for (index, layer) in graph.weightLayers.enumerated() where original[layer.weight] != nil {
            if let unit = units.firstIndex(where: { $0.weight == layer.weight }) { units[unit].layers.append(index) }
            else { units.append((layer.weight, [index])) }
        }
        return units
    }

    /// `unit`'s weight edited by each of its layers in turn (float64, ``editedRows``).
    func editedUnit(_ unit: WeightUnit, graph: ComputeGraph, original: [String: Tensor], alphaRetain: Double, alphaForget: Double,
                    parallel: Bool) throws -> Tensor {
        var weight = original[unit.weight]!
        for index in unit.layers {
            let layer = graph.weightLayers[index]
            for group in 0..<layer.groups {
                let key = GramKey(layer: index, group: group)
                guard let d = retain[key]?.dimension, forget[key] != nil else { continue }
                weight = try Self.edit(weight, layout: layer.layout, group: group, groups: layer.groups, dimension: d) { rows, count in
                    try editedRows(key, rows, count: count, alphaRetain: alphaRetain, alphaForget: alphaForget, parallel: parallel)
                }
            }
        }
        return weight
    }

    /// Hands the rows of `group` (outputs × inputs, or the transpose of an inputs × outputs
    /// weight) to `transform` in float64 and writes its result back in float32.
    static func edit(_ weight: Tensor, layout: ComputeGraph.WeightLayer.Layout, group: Int, groups: Int, dimension d: Int,
                     _ transform: ([Double], Int) throws -> [Double]) rethrows -> Tensor {
        var result = weight
        let (rows, count): ([Double], Int) = Self.rows(of: weight, layout: layout, group: group, groups: groups, dimension: d)
        Self.setRows(try transform(rows, count), of: &result, layout: layout, group: group, groups: groups, dimension: d)
        return result
    }

    /// The rows that group `group`'s space multiplies, row-major `count × d`: the group's output
    /// rows of an outputs × inputs weight, or the columns of an inputs × outputs weight.
    static func rows<T: BinaryFloatingPoint>(of weight: Tensor, layout: ComputeGraph.WeightLayer.Layout, group: Int, groups: Int,
                                             dimension d: Int) -> (rows: [T], count: Int) {
        switch layout {
        case .outputsByInputs:
            let count = weight.shape[0] / groups, start = group * count * d
            return (weight.data[start..<(start + count * d)].map { T($0) }, count)
        case .inputsByOutputs:
            let columns = weight.shape[1]
            var rows = [T](repeating: 0, count: columns * d)
            for i in 0..<d { for j in 0..<columns { rows[j * d + i] = T(weight.data[i * columns + j]) } }
            return (rows, columns)
        }
    }

    /// Writes `rows` (as from ``rows(of:layout:group:groups:dimension:)``) back into `weight` in float32.
    static func setRows<T: BinaryFloatingPoint>(_ rows: [T], of weight: inout Tensor, layout: ComputeGraph.WeightLayer.Layout, group: Int,
                                                groups: Int, dimension d: Int) {
        switch layout {
        case .outputsByInputs:
            let start = group * (weight.shape[0] / groups) * d
            for i in 0..<rows.count { weight.data[start + i] = Float(rows[i]) }
        case .inputsByOutputs:
            let columns = weight.shape[1]
            for i in 0..<d { for j in 0..<columns { weight.data[i * columns + j] = Float(rows[j * d + i]) } }
        }
    }
}
