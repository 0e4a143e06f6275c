import Dispatch
import ModelRuntime
import TensorCore

/// SVD projection unlearning (Kodge, Saha, Roy, "Deep Unlearning", TMLR 2024), per
/// `ALGORITHMS.md` §1.
///
/// For every weight layer, from the Grams of its inputs over retain and forget samples:
/// ```
/// G = U diag(σ²) Uᵀ,  r_i = σ²_i / Σ σ²,  λ_i = α r_i / ((α − 1) r_i + 1),  M = U diag(λ) Uᵀ
/// P = I − (M_f − M_f M_r),   W ← W Pᵀ = W − W (I − M_r) M_f
/// ```
/// for weights stored outputs × inputs (PyTorch Linear, Conv flattened OIHW, Gemm transB = 1);
/// weights stored inputs × outputs (ONNX MatMul, Gemm transB = 0) become `P W`. Grouped
/// convolutions use one `P` per group; biases, norms and embeddings are never touched.
/// Eigendecompositions are computed once and cached, so each α pair costs only the d × d
/// rebuild.
public struct SVDProjection {
    /// One space's eigendecomposition: eigenvalues descending (negatives clamped to 0) and the
    /// eigenvectors as columns of a row-major d × d matrix.
    public struct Space: Sendable {
        public var values: [Double]
        public var vectors: [Double]
        public var dimension: Int

        /// `exp(H(p))` with `p_i = σ²_i / Σ σ²`: the number of directions the energy is spread over.
        public var effectiveRank: Double {
            let total = values.reduce(0, +)
            guard total > 0 else { return 0 }
            let entropy = values.reduce(0.0) { h, v in
                let p = v / total
                return p > 0 ? h - p * _log(p) : h
            }
            return _exp(entropy)
        }
    }

    public var retain: [GramKey: Space]
    public var forget: [GramKey: Space]

    /// Eigendecomposes every Gram (LAPACK `dsyevd`).
    public init(retainGrams: [GramKey: LayerGram], forgetGrams: [GramKey: LayerGram]) throws {
        // Every eigendecomposition is independent: two workers share them (each result is the same
        // whichever thread computes it).
        let jobs = retainGrams.sorted { $0.key < $1.key }.map { (true, $0.key, $0.value) }
            + forgetGrams.sorted { $0.key < $1.key }.map { (false, $0.key, $0.value) }
        let results = ParallelResults<Space>(count: jobs.count)
        BLAS.singleThreaded { DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for index in stride(from: worker, to: jobs.count, by: 2) {
                let (_, key, gram) = jobs[index]
                results.set(index, Result {
                    guard let (values, vectors) = BLAS.symmetricEigen(gram.gram, d: gram.dimension) else {
                        throw UnlearningError.eigendecompositionFailed(layer: key.layer)
                    }
                    return Space(values: values.map { max($0, 0) }, vectors: vectors, dimension: gram.dimension)
                })
            }
        } }
        var retain: [GramKey: Space] = [:], forget: [GramKey: Space] = [:]
        for (index, (isRetain, key, _)) in jobs.enumerated() {
            let space = try results.get(index)
            if isRetain { retain[key] = space } else { forget[key] = space }
        }
        self.retain = retain
        self.forget = forget
    }

    /// `λ_i = α r_i / ((α − 1) r_i + 1)` with `r_i = σ²_i / Σ σ²`.
    public static func importances(_ values: [Double], alpha: Double) -> [Double] {
        let total = values.reduce(0, +)
        guard total > 0 else { return values.map { _ in 0 } }
        return values.map { v in
            let r = v / total
            return alpha * r / ((alpha - 1) * r + 1)
        }
    }

    /// `M = U diag(λ) Uᵀ` (d × d, row-major).
    public static func scaledSpace(_ space: Space, alpha: Double) -> [Double] {
        let d = space.dimension
        let lambda = importances(space.values, alpha: alpha)
        var scaled = space.vectors
        for i in 0..<d { for j in 0..<d { scaled[i * d + j] *= lambda[j] } }
        var m = [Double](repeating: 0, count: d * d)
        scaled.withUnsafeBufferPointer { a in space.vectors.withUnsafeBufferPointer { u in m.withUnsafeMutableBufferPointer { c in
            BLAS.dgemm(transA: false, transB: true, m: d, n: d, k: d, a: a.baseAddress!, lda: d, b: u.baseAddress!, ldb: d, c: c.baseAddress!, ldc: d)
        } } }
        return m
    }

    /// `P = I − (M_f − M_f M_r)` for one space.
    public func projection(_ key: GramKey, alphaRetain: Double, alphaForget: Double) -> [Double]? {
        guard let r = retain[key], let f = forget[key] else { return nil }
        let d = r.dimension
        let mr = Self.scaledSpace(r, alpha: alphaRetain), mf = Self.scaledSpace(f, alpha: alphaForget)
        var p = [Double](repeating: 0, count: d * d)
        // p = M_f M_r
        mf.withUnsafeBufferPointer { a in mr.withUnsafeBufferPointer { b in p.withUnsafeMutableBufferPointer { c in
            BLAS.dgemm(transA: false, transB: false, m: d, n: d, k: d, a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: d, c: c.baseAddress!, ldc: d)
        } } }
        for i in 0..<(d * d) { p[i] -= mf[i] }
        for i in 0..<d { p[i * d + i] += 1 }
        return p
    }

    /// The edited weights of every weight layer of `graph`, computed from `original` (the
    /// weights the statistics were collected with), keyed by parameter name.
    public func editedWeights(_ graph: ComputeGraph, original: [String: Tensor], alphaRetain: Double, alphaForget: Double) -> [String: Tensor] {
        var edited: [String: Tensor] = [:]
        for (index, layer) in graph.weightLayers.enumerated() {
            guard var weight = edited[layer.weight] ?? original[layer.weight] else { continue }
            for group in 0..<layer.groups {
                let key = GramKey(layer: index, group: group)
                guard let p = projection(key, alphaRetain: alphaRetain, alphaForget: alphaForget) else { continue }
                weight = Self.apply(p, to: weight, layout: layer.layout, group: group, groups: layer.groups, dimension: retain[key]!.dimension)
            }
            edited[layer.weight] = weight
        }
        return edited
    }

    /// `W Pᵀ` on the rows of `group` (outputs × inputs), or `P W` (inputs × outputs).
    static func apply(_ p: [Double], to weight: Tensor, layout: ComputeGraph.WeightLayer.Layout, group: Int, groups: Int, dimension d: Int) -> Tensor {
        var result = weight
        switch layout {
        case .outputsByInputs:
            let rows = weight.shape[0] / groups
            let w = weight.data[(group * rows * d)..<((group + 1) * rows * d)].map(Double.init)
            var out = [Double](repeating: 0, count: rows * d)
            w.withUnsafeBufferPointer { a in p.withUnsafeBufferPointer { b in out.withUnsafeMutableBufferPointer { c in
                BLAS.dgemm(transA: false, transB: true, m: rows, n: d, k: d, a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: d, c: c.baseAddress!, ldc: d)
            } } }
            for i in 0..<(rows * d) { result.data[group * rows * d + i] = Float(out[i]) }
        case .inputsByOutputs:
            let columns = weight.shape[1]
            let w = weight.data.map(Double.init)
            var out = [Double](repeating: 0, count: d * columns)
            p.withUnsafeBufferPointer { a in w.withUnsafeBufferPointer { b in out.withUnsafeMutableBufferPointer { c in
                BLAS.dgemm(transA: false, transB: false, m: d, n: columns, k: d, a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: columns, c: c.baseAddress!, ldc: columns)
            } } }
            result.data = out.map(Float.init)
        }
        return result
    }
}

/// Failures of an unlearning run that the user can act on.
public enum UnlearningError: Error, Equatable, Sendable, CustomStringConvertible {
    case noLabels
    case emptyForgetSet(classes: [Int])
    case emptyRetainSet
    case eigendecompositionFailed(layer: Int)
    case noWeightLayers

    public var description: String {
        switch self {
        case .noLabels: "the data has no labels; give a file with y (or --y-key)"
        case .emptyForgetSet(let classes): "the data has no samples of the forget classes \(classes.map(String.init).joined(separator: ","))"
        case .emptyRetainSet: "the data has no samples of any class to retain"
        case .eigendecompositionFailed(let layer): "LAPACK dsyevd did not converge for weight layer \(layer)"
        case .noWeightLayers: "the model has no weight layers (Conv, Gemm or MatMul with a weight initializer)"
        }
    }
}

#if canImport(Glibc)
import Glibc
func _log(_ x: Double) -> Double { Glibc.log(x) }
func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#endif
