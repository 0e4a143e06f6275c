import TensorCore

extension SVDProjection {
    /// The edited weights of every weight layer for every α pair of `alphaRetain × alphaForget`,
    /// computed together in float32 for a search that ranks the pairs (the kept pair is then
    /// edited again in float64 by ``editedWeights(_:original:alphaRetain:alphaForget:)``).
    ///
    /// With `X` a layer's rows, `A(α) = (α − 1) Ĉ + I` and `M(α) = α Ĉ A(α)⁻¹` (see the type's
    /// comment), the edit `X' = X − Y M_f`, `Y = X (I − M_r)`, regroups as
    /// ```
    /// Z = X Ĉ_r                      once per layer
    /// V(α_r) = (X − α_r Z A_r⁻¹) Ĉ_f   once per α_r (Ĉ_f does not depend on α_f)
    /// X' = X − α_f V(α_r) A_f⁻¹        once per pair: one Cholesky per α_f, one solve per pair
    /// ```
    /// so a pair costs `2 r d²` flops (r rows, inputs of dimension d) where a separate edit
    /// costs `2 d³/3 + 8 r d²` in float64. Float32 with condition numbers at most
    /// `max(α, 1/α)` gives edits within about 1e-4 of the float64 ones (relative to the
    /// change), enough to rank pairs.
    ///
    /// Memory: the rows and the `V(α_r)` of every layer (`1 + |alphaRetain|` copies of the edited
    /// weights) plus the edited rows of `|alphaRetain|` pairs for each of ``Parallel/workers`` α_f
    /// at a time (one α_f at a time when those would take more than 1 GiB), and the set being visited.
    /// A weight parameter used by several weight layers (edited one layer after the other) is
    /// edited exactly, pair by pair, in float64.
    ///
    /// - Parameters:
    ///   - wanted: the pairs to edit, by their indices (`nil`: all); the solves of the others are
    ///     skipped, and so is the work of an α value no wanted pair uses. A pair's edit does not
    ///     depend on which other pairs are wanted.
    ///   - visit: called once per wanted pair, α_f outer and α_r inner (in the given orders), with
    ///     the pair's indices and edited weights, keyed by parameter name as in
    ///     ``editedWeights(_:original:alphaRetain:alphaForget:)``.
    public func gridEdits(_ graph: ComputeGraph, original: [String: Tensor], alphaRetain: [Double], alphaForget: [Double],
                          wanted: ((_ retainIndex: Int, _ forgetIndex: Int) -> Bool)? = nil,
                          visit: (_ retainIndex: Int, _ forgetIndex: Int, _ edits: [String: Tensor]) throws -> Void) throws {
        let isWanted = wanted ?? { _, _ in true }
        let retainUsed = alphaRetain.indices.map { ri in alphaForget.indices.contains { isWanted(ri, $0) } }
        let units = Self.weightUnits(graph, original: original)
        struct GridSpace {
            var unit: Int, key: GramKey, group: Int, groups: Int, layout: ComputeGraph.WeightLayer.Layout
            /// The spaces on the coordinates some sample reached (``support(_:)``, all of them when `support` is `nil`).
            var retain: Space, forget: Space, support: [Int]?
            /// The weight rows' length (the spaces' is `dimension`, `support.count` when there is a support).
            var rowLength: Int
            var dimension: Int { retain.dimension }
        }
        var spaces: [GridSpace] = []
        var chained: [Int] = []
        for (u, unit) in units.enumerated() {
            guard unit.layers.count == 1 else { chained.append(u); continue }
            let layer = graph.weightLayers[unit.layers[0]]
            for group in 0..<layer.groups {
                let key = GramKey(layer: unit.layers[0], group: group)
                guard let r = retain[key], let f = forget[key] else { continue }
                let support = support(key)
                spaces.append(GridSpace(unit: u, key: key, group: group, groups: layer.groups, layout: layer.layout,
                                        retain: support.map { r.restricted(to: $0) } ?? r, forget: support.map { f.restricted(to: $0) } ?? f,
                                        support: support, rowLength: r.dimension))
            }
        }
        // Small spaces are spread over the workers; each large one splits its α values over them.
        let small = spaces.indices.filter { spaces[$0].dimension <= Self.smallDimension }
        let large = spaces.indices.filter { spaces[$0].dimension > Self.smallDimension }
        func eachSpace<T>(_ body: (_ index: Int, _ parallel: Bool) throws -> T) throws -> [T] {
            var results: [T?] = Array(repeating: nil, count: spaces.count)
            for (i, value) in try Parallel.map(small.count, { try body(small[$0], false) }).enumerated() { results[small[i]] = value }
            for index in large { results[index] = try body(index, true) }
            return results.map { $0! }
        }
        func eachAlpha<T>(_ count: Int, parallel: Bool, _ body: (Int) throws -> T) throws -> [T] {
            parallel ? try Parallel.map(count, body) : try (0..<count).map(body)
        }
        // Phase 1: each space's rows X (on its support; `full`: all of them, when that is less) and V(α_r) for every α_r.
        let prepared: [(rows: [Float], full: [Float], count: Int, retained: [[Float]])] = try eachSpace { index, parallel in
            let s = spaces[index]
            let weight = original[units[s.unit].weight]!
            let (full, count): ([Float], Int) = Self.rows(of: weight, layout: s.layout, group: s.group, groups: s.groups, dimension: s.rowLength)
            let x = s.support.map { Coordinates.gatheredColumns(full, count: count, dimension: s.rowLength, $0) } ?? full
            let r = s.retain, f = s.forget
            let retainGram = r.isZero ? [] : r.normalized32, forgetGram = f.isZero ? [] : f.normalized32
            let z = r.isZero ? [] : Self.product(x, count: count, retainGram, d: s.dimension)
            let retained = try eachAlpha(alphaRetain.count, parallel: parallel) { ri -> [Float] in
                guard retainUsed[ri] else { return [] }
                var y = x
                if !r.isZero {
                    let t = try Self.solved(z, count: count, gram: retainGram, d: s.dimension, alpha: alphaRetain[ri], layer: s.key.layer)
                    for i in 0..<y.count { y[i] -= Float(alphaRetain[ri]) * t[i] }
                }
                return f.isZero ? [] : Self.product(y, count: count, forgetGram, d: s.dimension)
            }
            return (x, s.support == nil ? [] : full, count, retained)
        }
        // Phase 2: per α_f, one factorisation per space and one solve per α_r; as many α_f at a
        // time as there are workers, so that a large space's factorisations run side by side.
        func editedRows(_ index: Int, _ fi: Int) throws -> [[Float]] {
            let s = spaces[index], p = prepared[index], f = s.forget, alphaF = alphaForget[fi]
            guard !f.isZero else { return alphaRetain.indices.map { isWanted($0, fi) ? p.rows : [] } }
            guard alphaRetain.indices.contains(where: { isWanted($0, fi) }) else { return alphaRetain.map { _ in [] } }
            let factor = try Self.factor(f.normalized.map { Float($0) * Float(alphaF - 1) }, d: s.dimension, layer: s.key.layer)
            return alphaRetain.indices.map { ri in
                guard isWanted(ri, fi) else { return [] }
                var v = p.retained[ri]
                v.withUnsafeMutableBufferPointer { LinearAlgebra.choleskySolveRows(factor, d: s.dimension, rows: $0.baseAddress!, count: p.count) }
                var edited = p.rows
                for i in 0..<edited.count { edited[i] -= Float(alphaF) * v[i] }
                return edited
            }
        }
        // Several α_f at a time hold |α_r| edited copies each: one at a time when that would pass 1 GiB.
        let weightBytes = units.reduce(0) { $0 + (original[$1.weight]?.count ?? 0) } * MemoryLayout<Float>.stride
        let chunkSize = weightBytes * alphaRetain.count * Parallel.workers <= 1 << 30 ? Parallel.workers : 1
        for chunk in stride(from: 0, to: alphaForget.count, by: chunkSize) {
            let forgetIndices = Array(chunk..<min(chunk + chunkSize, alphaForget.count))
            // rows[space][position in chunk][α_r]
            var rows: [[[[Float]]]] = try eachSpace { index, parallel in
                try eachAlpha(forgetIndices.count, parallel: parallel) { try editedRows(index, forgetIndices[$0]) }
            }
            for (position, fi) in forgetIndices.enumerated() {
                for (ri, alphaR) in alphaRetain.enumerated() where isWanted(ri, fi) {
                    var set: [String: Tensor] = [:]
                    for unit in units where unit.layers.count == 1 { set[unit.weight] = original[unit.weight] }
                    for (index, s) in spaces.enumerated() {
                        let edited = s.support.map { Coordinates.scatteredColumns(rows[index][position][ri], into: prepared[index].full, count: prepared[index].count,
                                                                    dimension: s.rowLength, $0) } ?? rows[index][position][ri]
                        Self.setRows(edited, of: &set[units[s.unit].weight]!, layout: s.layout, group: s.group, groups: s.groups,
                                     dimension: s.rowLength)
                        rows[index][position][ri] = []
                    }
                    for u in chained {
                        set[units[u].weight] = try editedUnit(units[u], graph: graph, original: original, alphaRetain: alphaR,
                                                              alphaForget: alphaForget[fi], parallel: true)
                    }
                    try visit(ri, fi, set)
                }
            }
        }
    }

    /// `rows Ĉ` (row-major `count × d` times d × d) in float32.
    private static func product(_ rows: [Float], count: Int, _ c: [Float], d: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count * d)
        rows.withUnsafeBufferPointer { x in c.withUnsafeBufferPointer { cp in out.withUnsafeMutableBufferPointer { o in
            BLAS.sgemm(transA: false, transB: false, m: count, n: d, k: d, a: x.baseAddress!, lda: d, b: cp.baseAddress!, ldb: d,
                       c: o.baseAddress!, ldc: d)
        } } }
        return out
    }

    /// The float32 Cholesky factor of `A(α) = (α − 1) Ĉ + I`, given the d × d `scaledGram` `(α − 1) Ĉ`
    /// (each element of Ĉ rounded to float32, then multiplied by `Float(α − 1)`).
    private static func factor(_ scaledGram: [Float], d: Int, layer: Int) throws -> [Float] {
        var a = scaledGram
        for i in 0..<d { a[i * d + i] += 1 }
        guard LinearAlgebra.choleskyFactor(&a, d: d) else { throw UnlearningError.factorizationFailed(layer: layer) }
        return a
    }

    /// `rows A(α)⁻¹` in float32.
    private static func solved(_ rows: [Float], count: Int, gram: [Float], d: Int, alpha: Double, layer: Int) throws -> [Float] {
        let scale = Float(alpha - 1)
        let factor = try factor(gram.map { $0 * scale }, d: d, layer: layer)
        var out = rows
        out.withUnsafeMutableBufferPointer { LinearAlgebra.choleskySolveRows(factor, d: d, rows: $0.baseAddress!, count: count) }
        return out
    }
}

extension SVDProjection.Space {
    /// ``normalized`` rounded to float32.
    var normalized32: [Float] { normalized.map { Float($0) } }
}
