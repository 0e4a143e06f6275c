import Foundation
import Reports
import Testing
import WeightFormats
import _TestSupport

@Suite("checkpoint diff")
struct CheckpointDiffTests {
    enum Values { case f32([Float]), f64([Double]) }

    /// Writes named tensors (F32 or F64) to a safetensors or npz file.
    static func write(_ path: String, _ tensors: [(String, [Int], Values)], npz: Bool = false) throws {
        let infos = tensors.map { name, shape, values -> TensorInfo in
            if case .f64 = values { return TensorInfo(name: name, dtype: .F64, shape: shape) }
            return TensorInfo(name: name, dtype: .F32, shape: shape)
        }
        let bytes = Dictionary(uniqueKeysWithValues: tensors.map { name, _, values -> (String, [UInt8]) in
            switch values {
            case .f32(let v): (name, v.withUnsafeBytes { Array($0) })
            case .f64(let v): (name, v.withUnsafeBytes { Array($0) })
            }
        })
        _ = try Checkpoint.write(to: path, tensors: infos, options: CheckpointWriteOptions(container: npz ? .npz(.stored) : .safetensors)) { info, consume in
            try bytes[info.name]!.withUnsafeBytes { try consume($0) }
        }
    }

    static func compare(_ a: String, _ b: String) throws -> CheckpointDifference {
        try CheckpointDiff.compare(try Checkpoint.open(a), try Checkpoint.open(b))
    }

    @Test("statuses, changed counts, ‖Δ‖, relative change, max |Δ| and cosine against hand-computed values; the summary")
    func statusesAndStatistics() throws {
        let directory = TemporaryDirectory()
        try Self.write(directory.path("a.safetensors"), [
            ("same", [3], .f32([1, 2, 3])),
            ("changed", [2, 2], .f32([3, 0, 0, 4])),
            ("removed", [1], .f32([1])),
            ("reshaped", [2, 3], .f32([1, 2, 3, 4, 5, 6])),
            ("retyped", [2], .f32([1, -2])),
        ])
        try Self.write(directory.path("b.safetensors"), [
            ("same", [3], .f32([1, 2, 3])),
            ("changed", [2, 2], .f32([3, 1, 0, 2])),
            ("reshaped", [3, 2], .f32([1, 2, 3, 4, 5, 6])),
            ("retyped", [2], .f64([1, -2])),
            ("added", [4], .f32([0, 0, 0, 0])),
        ])
        let diff = try Self.compare(directory.path("a.safetensors"), directory.path("b.safetensors"))
        let byName = Dictionary(uniqueKeysWithValues: diff.tensors.map { ($0.name, $0) })
        let namesA = try Checkpoint.open(directory.path("a.safetensors")).tensors.map(\.name)
        #expect(diff.tensors.map(\.name) == namesA + ["added"])
        #expect(byName["same"]?.status == .same && byName["removed"]?.status == .removed && byName["added"]?.status == .added)
        #expect(byName["reshaped"]?.status == .shapeChanged && byName["reshaped"]?.deltaNorm == nil)
        let retyped = try #require(byName["retyped"])
        #expect(retyped.status == .dtypeChanged && retyped.changedElements == 0 && retyped.deltaNorm == 0)
        // A = [3 0; 0 4], B = [3 1; 0 2]: Δ = [0 1; 0 −2]; ‖A‖ = 5, ‖Δ‖ = √5, ⟨A,B⟩ = 17, ‖B‖ = √14.
        let changed = try #require(byName["changed"])
        #expect(changed.status == .changed && changed.changedElements == 2 && changed.elements == 4)
        #expect(abs(changed.deltaNorm! - 5.0.squareRoot()) < 1e-12)
        #expect(abs(changed.relativeChange! - 5.0.squareRoot() / 5) < 1e-12)
        #expect(changed.maxAbsDelta == 2)
        #expect(abs(changed.cosine! - 17 / (5 * 14.0.squareRoot())) < 1e-12)
        // Δ has one non-zero column: rank 1, σ = √5.
        #expect(changed.rank == 1 && abs(changed.singularValues![0] - 5.0.squareRoot()) < 1e-12)
        #expect(diff.summary.tensors == 6 && diff.summary.tensorsChanged == 5)
        #expect(diff.summary.parametersChanged == 2 + 1 + 6 + 4)
        #expect(diff.summary.largestRelativeChangeTensor == "changed")
        #expect(!diff.isIdentical)
    }

    @Test("a rank-2 edit of a 40 × 30 matrix has rank 2 and singular values 3 and 0.5 (float32 storage, 1e-5)")
    func lowRankEditIsSeen() throws {
        var rng = SeededGenerator(seed: 4)
        let (m, n) = (40, 30)
        /// Two orthonormal vectors of length `count` by Gram–Schmidt on random ones.
        func orthonormalPair(_ count: Int) -> ([Double], [Double]) {
            let p = (0..<count).map { _ in Double.random(in: -1...1, using: &rng) }
            var q = (0..<count).map { _ in Double.random(in: -1...1, using: &rng) }
            let pn = p.map { $0 / p.reduce(0) { $0 + $1 * $1 }.squareRoot() }
            let dot = zip(pn, q).reduce(0) { $0 + $1.0 * $1.1 }
            q = zip(q, pn).map { $0 - dot * $1 }
            let qn = q.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return (pn, q.map { $0 / qn })
        }
        let (u1, u2) = orthonormalPair(m), (v1, v2) = orthonormalPair(n)
        let a = (0..<(m * n)).map { _ in Float.random(in: -1...1, using: &rng) }
        var b = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                let edit: Double = 3 * u1[i] * v1[j] + 0.5 * u2[i] * v2[j]
                b[i * n + j] = Float(Double(a[i * n + j]) + edit)
            }
        }
        let directory = TemporaryDirectory()
        try Self.write(directory.path("a.safetensors"), [("w", [m, n], .f32(a))])
        try Self.write(directory.path("b.safetensors"), [("w", [m, n], .f32(b))])
        let w = try #require(try Self.compare(directory.path("a.safetensors"), directory.path("b.safetensors")).tensors.first)
        #expect(w.rank == 2)
        let sigma = try #require(w.singularValues)
        #expect(abs(sigma[0] - 3) < 1e-5 && abs(sigma[1] - 0.5) < 1e-5 && sigma[2] < 1e-5, "\(sigma)")
    }

    @Test("a conv kernel is flattened out × in·kh·kw: an edit u ⊗ v over (in, kh, kw) has rank 1 and σ = ‖u‖‖v‖")
    func convolutionKernelFlattening() throws {
        let u: [Double] = [1, -2, 0.5, 3], v = (0..<12).map { Double($0 % 5) - 1.5 }
        let a = [Float](repeating: 0.25, count: 48)
        let b: [Float] = (0..<48).map { k in Float(0.25 + u[k / 12] * v[k % 12]) }
        let directory = TemporaryDirectory()
        try Self.write(directory.path("a.safetensors"), [("conv.weight", [4, 3, 2, 2], .f32(a))])
        try Self.write(directory.path("b.safetensors"), [("conv.weight", [4, 3, 2, 2], .f32(b))])
        let t = try #require(try Self.compare(directory.path("a.safetensors"), directory.path("b.safetensors")).tensors.first)
        let expected = u.reduce(0) { $0 + $1 * $1 }.squareRoot() * v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(t.rank == 1 && abs(t.singularValues![0] - expected) < 1e-5 * expected)
    }

    @Test("the same tensors in safetensors and npz are identical; the singular values agree with an exact float64 construction")
    func crossFormat() throws {
        let directory = TemporaryDirectory()
        let tensors: [(String, [Int], Values)] = [("x", [2, 3], .f32([1, 2, 3, 4, 5, 6])), ("y", [2], .f64([0.5, -1]))]
        try Self.write(directory.path("a.safetensors"), tensors)
        try Self.write(directory.path("a.npz"), tensors, npz: true)
        let diff = try Self.compare(directory.path("a.safetensors"), directory.path("a.npz"))
        #expect(diff.isIdentical && diff.summary.tensorsChanged == 0 && diff.summary.parameters == 8)
        // diag(4, 2, 1) padded to 3 × 5: singular values 4, 2, 1 exactly.
        var matrix = [Double](repeating: 0, count: 15)
        matrix[0] = 4; matrix[6] = -2; matrix[12] = 1
        #expect(CheckpointDiff.singularValues(matrix, rows: 3, columns: 5) == [4, 2, 1])
        #expect(CheckpointDiff.singularValues(matrix, rows: 5, columns: 3)?.count == 3)
    }

    @Test("streaming in small steps (rows for tall matrices, column blocks for wide ones) gives the whole-tensor statistics and spectrum")
    func smallStepsAgree() throws {
        var rng = SeededGenerator(seed: 9)
        let directory = TemporaryDirectory()
        var tensorsA: [(String, [Int], Values)] = [], tensorsB: [(String, [Int], Values)] = []
        for (name, shape) in [("tall", [37, 5]), ("wide", [6, 41]), ("vector", [53])] {
            let count = shape.reduce(1, *)
            let a = (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }
            var b = a
            for k in stride(from: 0, to: count, by: 3) { b[k] += Float.random(in: -0.1...0.1, using: &rng) }
            tensorsA.append((name, shape, .f32(a)))
            tensorsB.append((name, shape, .f32(b)))
        }
        try Self.write(directory.path("a.safetensors"), tensorsA)
        try Self.write(directory.path("b.safetensors"), tensorsB)
        let whole = try Self.compare(directory.path("a.safetensors"), directory.path("b.safetensors"))
        var options = CheckpointDiff.Options()
        options.chunkElements = 7
        let stepped = try CheckpointDiff.compare(try Checkpoint.open(directory.path("a.safetensors")), try Checkpoint.open(directory.path("b.safetensors")),
                                                 options: options)
        for (x, y) in zip(whole.tensors, stepped.tensors) {
            #expect(x.name == y.name && x.changedElements == y.changedElements && x.rank == y.rank && x.maxAbsDelta == y.maxAbsDelta)
            #expect(abs(x.deltaNorm! - y.deltaNorm!) <= 1e-12 * x.deltaNorm! && abs(x.cosine! - y.cosine!) <= 1e-12)
            for (s, t) in zip(x.singularValues ?? [], y.singularValues ?? []) { #expect(abs(s - t) <= 1e-10 * x.singularValues![0]) }
        }
        #expect(whole.tensors.first { $0.name == "wide" }?.rank == 6 && whole.tensors.first { $0.name == "tall" }?.rank == 5)
    }
}
