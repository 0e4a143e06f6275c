import Testing
import TensorCore
import ModelRuntime
@testable import Unlearning
import _TestSupport

/// A Gram from explicit rows.
func gram(_ rows: [[Double]], layer: Int = 0) -> LayerGram {
    var g = LayerGram(layer: layer, group: 0, dimension: rows[0].count)
    let d = rows[0].count
    for row in rows { for i in 0..<d { for j in 0..<d { g.gram[i * d + j] += row[i] * row[j] } } }
    g.rows = rows.count
    return g
}

@Suite("SVD projection: the specification's invariants")
struct SVDProjectionTests {
    @Test("importance table: α = 10 gives λ(0.1) = 0.5263, λ(0.01) = 0.0917; α = 100 gives λ(0.01) = 0.5025")
    func importanceTable() {
        // Eigenvalues whose energy ratios are 0.1, 0.01 and the rest.
        let values = [0.89, 0.1, 0.01]
        let ten = SVDProjection.importances(values, alpha: 10)
        #expect(abs(ten[1] - 0.5263) < 5e-5)
        #expect(abs(ten[2] - 0.0917) < 5e-5)
        #expect(abs(SVDProjection.importances(values, alpha: 100)[2] - 0.5025) < 5e-5)
        #expect(SVDProjection.importances(values, alpha: 1) == values)   // α = 1 gives λ = r
    }

    /// `M = U diag(λ) Uᵀ` the specification's way: eigendecomposition, clamped eigenvalues, λ.
    static func eigenSpace(_ g: LayerGram, alpha: Double) throws -> [Double] {
        let d = g.dimension
        let (values, vectors) = try #require(LinearAlgebra.symmetricEigen(g.gram, d: d))
        let lambda = SVDProjection.importances(values.map { max($0, 0) }, alpha: alpha)
        var m = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { for k in 0..<d { m[i * d + j] += vectors[i * d + k] * lambda[k] * vectors[j * d + k] } } }
        return m
    }

    /// For three α pairs: `projection`'s edit of the rows `w` against ``referenceEdit(_:count:d:mr:mf:)`` with `M` from
    /// the eigendecomposition (1e-10); each pair with its `M_r`, `M_f` and edited rows.
    static func editsMatchEigenRoute(_ projection: SVDProjection, _ key: GramKey, retain: LayerGram, forget: LayerGram, _ w: [Double],
                                     count: Int) throws -> [(Double, Double, [Double], [Double], [Double])] {
        try [(30.0, 3.0), (100, 1), (10, 100)].map { alphaRetain, alphaForget in
            let mr = try eigenSpace(retain, alpha: alphaRetain), mf = try eigenSpace(forget, alpha: alphaForget)
            let expected = referenceEdit(w, count: count, d: retain.dimension, mr: mr, mf: mf)
            let edited = try projection.editedRows(key, w, count: count, alphaRetain: alphaRetain, alphaForget: alphaForget)
            let error = zip(edited, expected).map { abs($0 - $1) }.max()!
            #expect(error < 1e-10, "α_r \(alphaRetain), α_f \(alphaForget): max error \(error)")
            return (alphaRetain, alphaForget, mr, mf, edited)
        }
    }

    /// `W − (W (I − M_r)) M_f` in plain loops, for `count` rows of length `d`.
    static func referenceEdit(_ w: [Double], count: Int, d: Int, mr: [Double], mf: [Double]) -> [Double] {
        var y = w
        for r in 0..<count { for c in 0..<d { for k in 0..<d { y[r * d + c] -= w[r * d + k] * mr[k * d + c] } } }
        var edited = w
        for r in 0..<count { for c in 0..<d { for k in 0..<d { edited[r * d + c] -= y[r * d + k] * mf[k * d + c] } } }
        return edited
    }

    @Test("W Pᵀ equals W − W (I − M_r) M_f with M from the eigendecomposition (1e-10), for rank-deficient spaces and α = 1")
    func updateMatchesEigenRoute() throws {
        var rng = SeededGenerator(seed: 3)
        let d = 12
        func rows(_ n: Int) -> [[Double]] { (0..<n).map { _ in (0..<d).map { _ in Double.random(in: -1...1, using: &rng) } } }
        let retain = gram(rows(7)), forget = gram(rows(30))   // retain space of rank 7 < d
        let key = GramKey(layer: 0, group: 0)
        let projection = SVDProjection(retainGrams: [key: retain], forgetGrams: [key: forget])
        let w = (0..<(5 * d)).map { _ in Double.random(in: -1...1, using: &rng) }
        for (alphaRetain, alphaForget, mr, mf, _) in try Self.editsMatchEigenRoute(projection, key, retain: retain, forget: forget, w, count: 5) {
            // P itself: I − (M_f − M_f M_r).
            let p = try #require(try projection.projection(key, alphaRetain: alphaRetain, alphaForget: alphaForget))
            for i in 0..<d {
                for j in 0..<d {
                    var mfmr = 0.0
                    for k in 0..<d { mfmr += mf[i * d + k] * mr[k * d + j] }
                    #expect(abs(p[i * d + j] - ((i == j ? 1 : 0) - mf[i * d + j] + mfmr)) < 1e-10)
                }
            }
        }
    }

    @Test("grid edits (float32, shared factorisations) match separate float64 edits of every pair within 1e-3 of the change",
          arguments: ["mlp", "resnet", "vit"])
    func gridEditsMatchSeparateEdits(name: String) throws {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/\(name).onnx"))
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let labels = try #require(data.labels)
        let forget = Array((0..<data.count).filter { [5, 7].contains(labels[$0]) }.prefix(60))
        let retain = Array((0..<data.count).filter { ![5, 7].contains(labels[$0]) }.prefix(120))
        let projection = SVDProjection(retainGrams: try ActivationStatistics.collect(model, data: data, indices: retain, batchSize: 64, sampling: .all),
                                       forgetGrams: try ActivationStatistics.collect(model, data: data, indices: forget, batchSize: 64, sampling: .all))
        let original = model.graph.parameters
        let retainScales = [10.0, 1000], forgetScales = [1.0, 30, 300]
        var visited: [[Int]] = []
        var all: [[Int]: [String: Tensor]] = [:]
        try projection.gridEdits(model.graph, original: original, alphaRetain: retainScales, alphaForget: forgetScales) { ri, fi, edits in
            visited.append([ri, fi])
            all[[ri, fi]] = edits
            do {
                let exact = try projection.editedWeights(model.graph, original: original, alphaRetain: retainScales[ri], alphaForget: forgetScales[fi])
                #expect(Set(edits.keys) == Set(exact.keys))
                for (weight, expected) in exact {
                    let before = try #require(original[weight]), got = try #require(edits[weight])
                    let change = zip(expected.data, before.data).map { abs($0 - $1) }.max() ?? 0
                    let error = zip(got.data, expected.data).map { abs($0 - $1) }.max() ?? 0
                    #expect(error <= 1e-3 * change + 1e-6, "\(name) \(weight) at (\(retainScales[ri]), \(forgetScales[fi])): \(error) against a change of \(change)")
                }
            }
        }
        #expect(visited == [[0, 0], [1, 0], [0, 1], [1, 1], [0, 2], [1, 2]])
        // Asking for some pairs visits those alone, with the same bits as the whole grid's edits.
        var some: [[Int]] = []
        try projection.gridEdits(model.graph, original: original, alphaRetain: retainScales, alphaForget: forgetScales,
                                 wanted: { ri, fi in [[1, 0], [0, 2]].contains([ri, fi]) }) { ri, fi, edits in
            some.append([ri, fi])
            let whole = all[[ri, fi]] ?? [:]
            #expect(Set(edits.keys) == Set(whole.keys) && edits.allSatisfy { whole[$0.key]?.data == $0.value.data })
        }
        #expect(some == [[1, 0], [0, 2]])
    }

    @Test("coordinates no input reached are left out of the arithmetic: the edit still equals the eigendecomposition route (1e-10) and leaves those columns unchanged")
    func unreachedCoordinatesKeepTheEdit() throws {
        var rng = SeededGenerator(seed: 11)
        let d = 12, unreached: Set = [2, 5, 9]
        // Coordinate 10 is reached by the retain samples alone: it stays in the support.
        func rows(_ n: Int, zero: Set<Int>) -> [[Double]] {
            (0..<n).map { _ in (0..<d).map { zero.contains($0) ? 0 : Double.random(in: -1...1, using: &rng) } }
        }
        let retain = gram(rows(20, zero: unreached)), forget = gram(rows(6, zero: unreached.union([10])))
        let key = GramKey(layer: 0, group: 0)
        let projection = SVDProjection(retainGrams: [key: retain], forgetGrams: [key: forget])
        #expect(projection.support(key) == (0..<d).filter { !unreached.contains($0) })
        let w = (0..<(5 * d)).map { _ in Double.random(in: -1...1, using: &rng) }
        for (_, _, _, _, edited) in try Self.editsMatchEigenRoute(projection, key, retain: retain, forget: forget, w, count: 5) {
            for r in 0..<5 { for c in unreached { #expect(edited[r * d + c] == w[r * d + c]) } }
        }
    }

    /// A timm ResNet at 32 × 32 ends on a 1 × 1 feature map: its last 3 × 3 convolutions only ever
    /// read the centre tap, so 8 of every 9 inputs are zero padding.
    @Test("on a real network whose last convolutions read padding, the edits on the support equal the edits on every coordinate (float64 1e-12, grid float32 1e-3 of the change)")
    func supportEditsMatchFullEditsOnARealNetwork() throws {
        let folder = Fixtures.path("Tests/Fixtures/RealModels/timm-resnet-basic")
        let model = try Model.load(folder + "/model.onnx")
        var rng = SeededGenerator(seed: 2)
        let x = Tensor(shape: [12, 3, 32, 32], data: (0..<(12 * 3 * 32 * 32)).map { _ in Float.random(in: 0...1, using: &rng) })
        let data = Dataset(x: x, labels: nil)
        let projection = SVDProjection(
            retainGrams: try ActivationStatistics.collect(model, data: data, indices: Array(0..<8), batchSize: 4, sampling: .all),
            forgetGrams: try ActivationStatistics.collect(model, data: data, indices: Array(8..<12), batchSize: 4, sampling: .all))
        let layers = model.graph.weightLayers, original = model.graph.parameters
        let reduced = layers.indices.filter { projection.support(GramKey(layer: $0, group: 0)) != nil }
        #expect(reduced.count >= 2, "layers with unreached inputs: \(reduced)")
        let (alphaRetain, alphaForget) = (100.0, 30.0)
        let edited = try projection.editedWeights(model.graph, original: original, alphaRetain: alphaRetain, alphaForget: alphaForget)
        var grid: [String: Tensor] = [:]
        try projection.gridEdits(model.graph, original: original, alphaRetain: [alphaRetain], alphaForget: [alphaForget]) { _, _, edits in grid = edits }
        for index in reduced {
            let key = GramKey(layer: index, group: 0), layer = layers[index]
            let r = try #require(projection.retain[key]), f = try #require(projection.forget[key])
            let weight = try #require(original[layer.weight])
            let (rows, count): ([Double], Int) = SVDProjection.rows(of: weight, layout: layer.layout, group: 0, groups: 1, dimension: r.dimension)
            let full = try SVDProjection.editedRows(r, f, layer: index, rows, count: count, alphaRetain: alphaRetain, alphaForget: alphaForget,
                                                    parallel: false)
            var expected = weight
            SVDProjection.setRows(full, of: &expected, layout: layer.layout, group: 0, groups: 1, dimension: r.dimension)
            let got = try #require(edited[layer.weight]), fromGrid = try #require(grid[layer.weight])
            let change = zip(expected.data, weight.data).map { abs($0 - $1) }.max() ?? 0
            #expect(change > 0)
            let error = zip(got.data, expected.data).map { abs($0 - $1) }.max() ?? 0
            #expect(error <= 1e-12 * max(change, 1) + 1e-7, "\(layer.weight): \(error) against a change of \(change)")
            let gridError = zip(fromGrid.data, expected.data).map { abs($0 - $1) }.max() ?? 0
            #expect(gridError <= 1e-3 * change + 1e-6, "\(layer.weight) grid: \(gridError) against a change of \(change)")
        }
    }

    @Test("participation ratio: 1 for one direction, d for isotropic inputs")
    func effectiveRank() {
        let single = SVDProjection.Space(gram([[1, 2, 0], [2, 4, 0]]))
        #expect(abs(single.effectiveRank - 1) < 1e-12)
        let isotropic = SVDProjection.Space(gram([[1, 0, 0], [0, 1, 0], [0, 0, 1]]))
        #expect(abs(isotropic.effectiveRank - 3) < 1e-12)
        #expect(SVDProjection.Space(gram([[0, 0, 0]])).effectiveRank == 0)
    }

    @Test("identical retain and forget sets with α → ∞ leave the weights unchanged (P = I)")
    func identicalSetsKeepWeights() throws {
        var rng = SeededGenerator(seed: 5)
        let rows = (0..<8).map { _ in (0..<3).map { _ in Double.random(in: -1...1, using: &rng) } }
        let key = GramKey(layer: 0, group: 0)
        let projection = SVDProjection(retainGrams: [key: gram(rows)], forgetGrams: [key: gram(rows)])
        let p = try #require(try projection.projection(key, alphaRetain: 1e12, alphaForget: 1e12))
        for i in 0..<3 { for j in 0..<3 { #expect(abs(p[i * 3 + j] - (i == j ? 1 : 0)) < 1e-6) } }
    }

    @Test("a forget direction outside the retain space is removed from the layer's response")
    func removesForgetDirection() throws {
        // Retain inputs live in span(e0, e1); forget inputs along e2.
        let key = GramKey(layer: 0, group: 0)
        let projection = SVDProjection(retainGrams: [key: gram([[1, 0, 0], [0, 1, 0], [1, 1, 0]])],
                                           forgetGrams: [key: gram([[0, 0, 1], [0, 0, 2]])])
        let p = try #require(try projection.projection(key, alphaRetain: 100, alphaForget: 1e9))
        // P e2 ≈ 0 (the forget direction vanishes), P e0 = e0 (retain directions untouched).
        #expect((0..<3).allSatisfy { abs(p[$0 * 3 + 2]) < 1e-6 })
        #expect(abs(p[0] - 1) < 1e-9 && abs(p[3]) < 1e-9 && abs(p[6]) < 1e-9)
    }
}

@Suite("SVD unlearning end to end")
struct SVDUnlearningTests {
    @Test("removing class 3 from the sample MLP: forget accuracy falls to ≤ 2%, the others keep theirs", .tags(.slow))
    func mlpForgetsOneClass() throws {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/mlp.onnx"))
        let train = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let test = try Dataset.load(Fixtures.path("Samples/digits-test.npz"))
        var configuration = SVDUnlearning.Configuration(forgetClasses: [3])
        configuration.settings.alphaRetain = 100   // the point --search picks for this model and class
        configuration.settings.alphaForget = 1
        let result = try SVDUnlearning.run(model, data: train, configuration: configuration, clock: { 0 })
        // Every forget class is excluded from the retain set.
        #expect(result.selection.retain.allSatisfy { train.labels![$0] != 3 })
        #expect(result.selection.forget.allSatisfy { train.labels![$0] == 3 })
        let retainBefore = try ForgetRetainScores.accuracies(model, data: test, indices: Array(0..<test.count), forget: [3], batchSize: 256).retain
        let (forgetAfter, retainAfter) = try ForgetRetainScores.accuracies(model, data: test, indices: Array(0..<test.count), forget: [3],
                                                                           batchSize: 256, parameters: result.editedWeights)
        #expect(forgetAfter <= 0.02)
        #expect(retainAfter >= retainBefore - 0.02)
        #expect(result.layers.count == 3 && result.layers.allSatisfy { $0.relativeChange > 0 })
    }

    @Test("--search on the sample ResNet, forgetting {5, 7}: forget ≤ 2 % and retain within 2 points on the test data", .tags(.slow))
    func resnetSearchMeetsTarget() throws {
        let model = try Model.fromONNXFile(Fixtures.path("Samples/resnet.onnx"))
        let train = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let test = try Dataset.load(Fixtures.path("Samples/digits-test.npz"))
        var configuration = SVDUnlearning.Configuration(forgetClasses: [5, 7])
        configuration.settings.search = true
        let result = try SVDUnlearning.run(model, data: train, configuration: configuration, clock: { 0 })
        let all = Array(0..<test.count)
        let retainBefore = try ForgetRetainScores.accuracies(model, data: test, indices: all, forget: [5, 7], batchSize: 256).retain
        let (forgetAfter, retainAfter) = try ForgetRetainScores.accuracies(model, data: test, indices: all, forget: [5, 7], batchSize: 256, parameters: result.editedWeights)
        #expect(forgetAfter <= 0.02)
        #expect(retainAfter >= retainBefore - 0.02)
        // Several grid points tie at a perfect validation score here; the choice is not the first of them.
        let best = try #require(result.grid.map(\.score).max())
        let tied = result.grid.filter { $0.score == best }
        #expect(tied.count > 1 && (result.alphaRetain, result.alphaForget) != (tied[0].alphaRetain, tied[0].alphaForget))
    }

    @Test("the search keeps the best score, then the best confidence score, then the earlier point")
    func searchChoice() throws {
        func point(_ r: Double, _ score: Double, _ confidence: Double) -> SVDUnlearning.SearchPoint {
            SVDUnlearning.SearchPoint(alphaRetain: r, alphaForget: 1, retainAccuracy: score, forgetAccuracy: 0, score: score,
                                      retainConfidence: confidence, forgetConfidence: 0, confidenceScore: confidence, relativeChange: 0)
        }
        #expect(SVDUnlearning.choose([point(10, 0.9, 0.99), point(30, 1, 0.6), point(100, 1, 0.8), point(300, 1, 0.8)])?.alphaRetain == 100)
        #expect(SVDUnlearning.choose([point(10, 1, 0.5), point(30, 1, 0.5)])?.alphaRetain == 10)
        #expect(SVDUnlearning.choose([]) == nil)
    }

    @Test("the same data and seed select the same samples and give identical weights", .tags(.slow))
    func deterministic() throws {
        let train = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let configuration = SVDUnlearning.Configuration(forgetClasses: [5, 7])
        let a = try SVDUnlearning.run(try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx")), data: train, configuration: configuration, clock: { 0 })
        let b = try SVDUnlearning.run(try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx")), data: train, configuration: configuration, clock: { 0 })
        #expect(a.selection == b.selection)
        #expect(a.editedWeights == b.editedWeights)
        var other = configuration
        other.selection.seed = 1
        let c = try SVDUnlearning.run(try Model.fromONNXFile(Fixtures.path("Samples/cnn.onnx")), data: train, configuration: other, clock: { 0 })
        #expect(c.selection != a.selection)
    }

    @Test("balanced selection: retain samples spread evenly over the retained classes, none from any forget class")
    func selection() {
        let labels = (0..<300).map { $0 % 10 }
        let s = SampleSelection.make(labels: labels, forget: [5, 7], retainCount: 80, forgetCount: 20, validationFraction: 0, seed: 9)
        let retainCounts = SampleSelection.countsPerClass(s.retain, labels: labels)
        #expect(retainCounts.keys.sorted() == ["0", "1", "2", "3", "4", "6", "8", "9"])
        #expect(retainCounts.values.allSatisfy { $0 == 10 })
        #expect(SampleSelection.countsPerClass(s.forget, labels: labels) == ["5": 10, "7": 10])
        let v = SampleSelection.make(labels: labels, forget: [5], retainCount: 900, forgetCount: 900, validationFraction: 0.2, seed: 9)
        #expect(Set(v.validation).isDisjoint(with: v.retain + v.forget))
        #expect(v.validation.count == 60)
    }
}
