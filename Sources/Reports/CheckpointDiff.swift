import Foundation
import TensorCore
import WeightFormats

/// What changed in one tensor between checkpoints A and B.
///
/// With `Δ = B − A` over the decoded values (float64):
/// - `changedElements` counts positions where the values differ (`A ≠ B`);
/// - `deltaNorm = ‖Δ‖_F`, `relativeChange = ‖Δ‖_F / ‖A‖_F` (∞ when A is zero and Δ is not),
///   `maxAbsDelta = max |Δ|`, `cosine = ⟨A, B⟩ / (‖A‖_F ‖B‖_F)` (nil when either is zero);
/// - for tensors of rank ≥ 2, Δ flattened to `shape[0] × (product of the rest)` (a linear layer's
///   out × in, a convolution's out × in·kh·kw): its singular values from the eigenvalues of the
///   Gram on the smaller side (`ΔΔᵀ` or `ΔᵀΔ` in float64, `LAPACKE_dsyevd`), `σ = √max(λ, 0)`,
///   and the numerical rank `#{σ > tol}`, `tol = σ_max · max(max(m, n) · ε, √(k · ε₆₄))`, with ε
///   the machine epsilon of the stored dtype (float32's unless both sides are F64) and k the
///   smaller side. The first term is NumPy's `matrix_rank` rule. The second is the resolution of
///   the Gram route: the eigensolver's error is about `k · ε₆₄ · σ_max²`, so singular values under
///   `√(k · ε₆₄) σ_max` (about 10⁻⁷ σ_max) are noise. It never exceeds the first term for float32
///   data, so float32 ranks follow NumPy's rule exactly; for float64 data, directions weaker than
///   that resolution are not counted.
public struct TensorDifference: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case same, changed, added, removed
        case shapeChanged = "shape changed"
        case dtypeChanged = "dtype changed"
    }

    public var name: String
    public var status: Status
    public var dtypeA: DType?
    public var dtypeB: DType?
    public var shapeA: [Int]?
    public var shapeB: [Int]?
    /// Elements compared (0 unless both sides have the same shape).
    public var elements: Int
    public var changedElements: Int
    public var normA: Double?
    public var deltaNorm: Double?
    public var relativeChange: Double?
    public var maxAbsDelta: Double?
    public var cosine: Double?
    /// Numerical rank of Δ as a matrix; nil for vectors, identical tensors, or skipped spectra.
    public var rank: Int?
    /// The leading singular values of Δ, largest first.
    public var singularValues: [Double]?
    /// Why the spectrum was not computed, when it could have been.
    public var spectrumSkipped: String?

    public init(name: String, status: Status, dtypeA: DType?, dtypeB: DType?, shapeA: [Int]?, shapeB: [Int]?, elements: Int, changedElements: Int) {
        self.name = name; self.status = status; self.dtypeA = dtypeA; self.dtypeB = dtypeB; self.shapeA = shapeA; self.shapeB = shapeB
        self.elements = elements; self.changedElements = changedElements
    }

    enum CodingKeys: String, CodingKey {
        case name, status, elements, rank, cosine
        case dtypeA = "dtype_a", dtypeB = "dtype_b", shapeA = "shape_a", shapeB = "shape_b"
        case changedElements = "changed_elements", normA = "norm_a", deltaNorm = "delta_norm"
        case relativeChange = "relative_change", maxAbsDelta = "max_abs_delta"
        case singularValues = "singular_values", spectrumSkipped = "spectrum_skipped"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(status, forKey: .status)
        try c.encode(dtypeA, forKey: .dtypeA)
        try c.encode(dtypeB, forKey: .dtypeB)
        try c.encode(shapeA, forKey: .shapeA)
        try c.encode(shapeB, forKey: .shapeB)
        try c.encode(elements, forKey: .elements)
        try c.encode(changedElements, forKey: .changedElements)
        try c.encode(normA.map(JSONNumber.init), forKey: .normA)
        try c.encode(deltaNorm.map(JSONNumber.init), forKey: .deltaNorm)
        try c.encode(relativeChange.map(JSONNumber.init), forKey: .relativeChange)
        try c.encode(maxAbsDelta.map(JSONNumber.init), forKey: .maxAbsDelta)
        try c.encode(cosine.map(JSONNumber.init), forKey: .cosine)
        try c.encode(rank, forKey: .rank)
        try c.encode(singularValues, forKey: .singularValues)
        try c.encode(spectrumSkipped, forKey: .spectrumSkipped)
    }
}

/// A double that encodes non-finite values as the strings "inf", "-inf", "nan" (JSON has none).
struct JSONNumber: Codable {
    var value: Double
    init(_ value: Double) { self.value = value }
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Double.self) { value = v; return }
        switch try c.decode(String.self) {
        case "inf": value = .infinity
        case "-inf": value = -.infinity
        default: value = .nan
        }
    }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if value.isFinite { try c.encode(value) } else { try c.encode(value.isNaN ? "nan" : value > 0 ? "inf" : "-inf") }
    }
}

/// The differences between two checkpoints, tensor by tensor, and a summary.
public struct CheckpointDifference: Codable, Sendable, Equatable {
    public struct Summary: Codable, Sendable, Equatable {
        public var tensors: Int
        public var tensorsChanged: Int
        public var parameters: Int
        public var parametersChanged: Int
        public var largestRelativeChange: Double?
        public var largestRelativeChangeTensor: String?

        public init(tensors: Int, tensorsChanged: Int, parameters: Int, parametersChanged: Int, largestRelativeChange: Double?,
                    largestRelativeChangeTensor: String?) {
            self.tensors = tensors; self.tensorsChanged = tensorsChanged; self.parameters = parameters
            self.parametersChanged = parametersChanged; self.largestRelativeChange = largestRelativeChange
            self.largestRelativeChangeTensor = largestRelativeChangeTensor
        }

        enum CodingKeys: String, CodingKey {
            case tensors, parameters
            case tensorsChanged = "tensors_changed", parametersChanged = "parameters_changed"
            case largestRelativeChange = "largest_relative_change", largestRelativeChangeTensor = "largest_relative_change_tensor"
        }
    }

    public var a: String
    public var b: String
    /// In A's order, then the tensors only B has.
    public var tensors: [TensorDifference]
    public var summary: Summary

    public init(a: String, b: String, tensors: [TensorDifference], summary: Summary) {
        self.a = a; self.b = b; self.tensors = tensors; self.summary = summary
    }

    public var isIdentical: Bool { tensors.allSatisfy { $0.status == .same } }

    /// Tensors sorted for reading: by relative change, largest first; tensors without one
    /// (added, removed, reshaped) first, identical ones last; ties by name.
    public var byRelativeChange: [TensorDifference] {
        func key(_ t: TensorDifference) -> (Int, Double) {
            switch t.status {
            case .added, .removed, .shapeChanged: (0, 0)
            case .same: (2, 0)
            case .changed, .dtypeChanged: (1, -(t.relativeChange ?? 0))
            }
        }
        return tensors.sorted { key($0) < key($1) || (key($0) == key($1) && $0.name < $1.name) }
    }
}

/// Compares two checkpoints tensor by tensor (see ``TensorDifference``), streaming: each pair is
/// read in steps of ``Options/chunkElements`` elements, the Gram of Δ is accumulated step by step,
/// and the mapped pages of each step are released, so memory is bounded by the step size and the
/// Gram (at most `maxSpectrumSide²` doubles), not by the checkpoint or its largest tensor. Two
/// workers each take the next pair when free.
public enum CheckpointDiff {
    public struct Options: Sendable {
        /// Largest smaller side of Δ whose spectrum is computed (the Gram eigensolve is O(side³)).
        public var maxSpectrumSide = 4096
        /// Elements decoded per step when streaming through one tensor (default 1 Mi: 8 MiB of
        /// float64 per side and worker).
        public var chunkElements = 1 << 20
        /// Singular values reported per tensor.
        public var singularValues = 5
        /// Which tensors to compare (all by default).
        public var include: @Sendable (String) -> Bool = { _ in true }
        public init() {}
    }

    public static func compare(_ a: any CheckpointReader, _ b: any CheckpointReader, options: Options = Options(),
                               progress: ((Int, Int) -> Void)? = nil) throws -> CheckpointDifference {
        let infoB = Dictionary(b.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let namesA = Set(a.tensors.map(\.name))
        let pairs: [(TensorInfo?, TensorInfo?)] = a.tensors.filter { options.include($0.name) }.map { ($0, infoB[$0.name]) }
            + b.tensors.filter { !namesA.contains($0.name) && options.include($0.name) }.map { (nil, $0) }
        let readers = Readers(a: a, b: b)
        let lock = Parallel.Lock()
        var done = 0
        let workers = min(Parallel.workers, max(pairs.count, 1))
        var next = 0
        // Workers take the next pair when free (sizes vary by orders of magnitude); the results are
        // put back in order, so the scheduling never shows in the output.
        let parts = try Parallel.map(workers) { _ -> [(Int, TensorDifference)] in
            var results: [(Int, TensorDifference)] = []
            while true {
                let index: Int = lock.withLock {
                    defer { next += 1 }
                    return next
                }
                guard index < pairs.count else { break }
                let (ia, ib) = pairs[index]
                results.append((index, try compare(ia, ib, readers: readers, options: options)))
                lock.withLock {
                    done += 1
                    progress?(done, pairs.count)
                }
            }
            return results
        }
        let tensors = parts.flatMap { $0 }.sorted { $0.0 < $1.0 }.map(\.1)
        return CheckpointDifference(a: a.path, b: b.path, tensors: tensors, summary: summary(tensors))
    }

    /// Lets the two workers share the readers (each call maps its own range; readers are not mutated).
    final class Readers: @unchecked Sendable {
        let a: any CheckpointReader, b: any CheckpointReader
        init(a: any CheckpointReader, b: any CheckpointReader) { self.a = a; self.b = b }
    }

    static func summary(_ tensors: [TensorDifference]) -> CheckpointDifference.Summary {
        let changed = tensors.filter { $0.status != .same }
        let largest = tensors.filter { $0.relativeChange != nil && $0.status != .same }.max { $0.relativeChange! < $1.relativeChange! }
        return .init(tensors: tensors.count, tensorsChanged: changed.count,
                     parameters: tensors.reduce(0) { $0 + max($1.elements, ($1.shapeB ?? $1.shapeA ?? []).reduce(1, *)) },
                     parametersChanged: tensors.reduce(0) { total, t in
                         switch t.status {
                         case .same: total
                         case .changed, .dtypeChanged: total + t.changedElements
                         case .added, .shapeChanged: total + (t.shapeB ?? []).reduce(1, *)
                         case .removed: total + (t.shapeA ?? []).reduce(1, *)
                         }
                     },
                     largestRelativeChange: largest?.relativeChange, largestRelativeChangeTensor: largest?.name)
    }


    private static func compare(_ a: TensorInfo?, _ b: TensorInfo?, readers: Readers, options: Options) throws -> TensorDifference {
        let name = (a ?? b)!.name
        var result = TensorDifference(name: name, status: .same, dtypeA: a?.dtype, dtypeB: b?.dtype, shapeA: a?.shape, shapeB: b?.shape,
                                      elements: 0, changedElements: 0)
        guard let a, let b else {
            result.status = a == nil ? .added : .removed
            return result
        }
        guard a.shape == b.shape else {
            result.status = .shapeChanged
            return result
        }
        result.elements = a.shape.reduce(1, *)
        return try readers.a.withBytes(of: name) { rawA in
            try readers.b.withBytes(of: name) { rawB in
                let stream = Stream(rawA: rawA, rawB: rawB, dtypeA: a.dtype, dtypeB: b.dtype, readers: readers)
                if a.dtype == b.dtype && stream.bytesEqual() {
                    result.deltaNorm = 0
                    result.relativeChange = 0
                    result.maxAbsDelta = 0
                    return result
                }
                result.status = a.dtype == b.dtype ? .changed : .dtypeChanged
                guard stream.decodable else {
                    result.changedElements = result.elements   // packed or complex: known only to differ bytewise
                    return result
                }
                stream.measure(&result, shape: a.shape, options: options)
                return result
            }
        }
    }

    /// One tensor pair read in steps of about ``Options/chunkElements`` elements, releasing the mapped
    /// pages behind each step, so memory stays bounded however large the tensor.
    struct Stream {
        let rawA: UnsafeRawBufferPointer, rawB: UnsafeRawBufferPointer
        let dtypeA: DType, dtypeB: DType
        let readers: Readers

        var decodable: Bool { ElementCoding.isNumeric(dtypeA) && ElementCoding.isNumeric(dtypeB) }

        func release(_ elements: Range<Int>) {
            guard let wa = dtypeA.byteWidth, let wb = dtypeB.byteWidth else { return }
            readers.a.releasePages(UnsafeRawBufferPointer(rebasing: rawA[(elements.lowerBound * wa)..<(elements.upperBound * wa)]))
            readers.b.releasePages(UnsafeRawBufferPointer(rebasing: rawB[(elements.lowerBound * wb)..<(elements.upperBound * wb)]))
        }

        /// Byte equality, compared and released in 16 MiB steps.
        func bytesEqual() -> Bool {
            guard rawA.count == rawB.count else { return false }
            var offset = 0
            while offset < rawA.count {
                let length = min(1 << 24, rawA.count - offset)
                let equal = memcmp(rawA.baseAddress! + offset, rawB.baseAddress! + offset, length) == 0
                readers.a.releasePages(UnsafeRawBufferPointer(rebasing: rawA[offset..<(offset + length)]))
                readers.b.releasePages(UnsafeRawBufferPointer(rebasing: rawB[offset..<(offset + length)]))
                if !equal { return false }
                offset += length
            }
            return true
        }

        /// Decodes elements `range` of both sides into `x` and `y` as float64 (``ElementCoding``).
        func decode(_ range: Range<Int>, into x: UnsafeMutablePointer<Double>, _ y: UnsafeMutablePointer<Double>) {
            let wa = dtypeA.byteWidth!, wb = dtypeB.byteWidth!
            ElementCoding.decodeDoubles(UnsafeRawBufferPointer(rebasing: rawA[(range.lowerBound * wa)..<(range.upperBound * wa)]), dtypeA, into: x)
            ElementCoding.decodeDoubles(UnsafeRawBufferPointer(rebasing: rawB[(range.lowerBound * wb)..<(range.upperBound * wb)]), dtypeB, into: y)
        }

        /// The element statistics and, for matrices, the Gram of Δ on the smaller side (accumulated
        /// block by block), then the spectrum.
        func measure(_ r: inout TensorDifference, shape: [Int], options: Options) {
            let n = r.elements
            let m = shape.count >= 2 ? shape[0] : 1, columns = shape.count >= 2 ? n / max(shape[0], 1) : n
            let side = min(m, columns)
            let floating = dtypeA.isConvertibleFloat || dtypeB.isConvertibleFloat
            let spectrum = shape.count >= 2 && floating && n > 0 && side <= options.maxSpectrumSide
            var moments = Moments()
            var gram = spectrum ? [Double](repeating: 0, count: side * side) : []
            if !spectrum || columns <= m {
                // Whole rows per step (single elements when there is no spectrum); the Gram ΔᵀΔ
                // (columns × columns) takes each block of rows.
                let (height, length) = spectrum ? (m, columns) : (n, 1)
                let rowsPerStep = max(1, options.chunkElements / max(length, 1))
                var x = [Double](repeating: 0, count: min(height, rowsPerStep) * length), y = x
                var row = 0
                while row < height {
                    let rows = min(rowsPerStep, height - row), range = (row * length)..<((row + rows) * length)
                    x.withUnsafeMutableBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in decode(range, into: xp.baseAddress!, yp.baseAddress!) } }
                    moments.add(&x, y, count: range.count)
                    if spectrum { x.withUnsafeBufferPointer { BLAS.accumulateGram(&gram, rows: UnsafeBufferPointer(rebasing: $0[0..<range.count]), n: rows, d: columns) } }
                    release(range)
                    row += rows
                }
            } else {
                // Fewer rows than columns: blocks of whole columns, every row's segment of them, so
                // that the Gram ΔΔᵀ (m × m) is the sum of the blocks' ΔΔᵀ.
                let blockColumns = max(1, options.chunkElements / m)
                var x = [Double](repeating: 0, count: m * min(columns, blockColumns)), y = x, transposed = x
                var column = 0
                while column < columns {
                    let width = min(blockColumns, columns - column)
                    x.withUnsafeMutableBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                        for i in 0..<m {
                            decode((i * columns + column)..<(i * columns + column + width), into: xp.baseAddress! + i * width, yp.baseAddress! + i * width)
                        }
                    } }
                    moments.add(&x, y, count: m * width)
                    for i in 0..<m { for j in 0..<width { transposed[j * m + i] = x[i * width + j] } }
                    transposed.withUnsafeBufferPointer { BLAS.accumulateGram(&gram, rows: UnsafeBufferPointer(rebasing: $0[0..<(m * width)]), n: width, d: m) }
                    for i in 0..<m { release((i * columns + column)..<(i * columns + column + width)) }
                    column += width
                }
            }
            moments.finish(into: &r)
            if spectrum && (r.deltaNorm ?? 0) > 0 {
                CheckpointDiff.spectrum(&r, gram: gram, side: side, rows: m, columns: columns, dtypes: (dtypeA, dtypeB), options: options)
            } else if shape.count >= 2 && floating && side > options.maxSpectrumSide {
                r.spectrumSkipped = "smaller side \(side) exceeds the spectrum limit \(options.maxSpectrumSide)"
            }
        }
    }

    /// Running sums over A (`x`) and B (`y`): ‖A‖², ‖B‖², ⟨A, B⟩, ‖Δ‖², max |Δ| and the count of
    /// differing elements, in eight float64 lanes.
    struct Moments {
        var aa = SIMD8<Double>(), bb = SIMD8<Double>(), ab = SIMD8<Double>(), dd = SIMD8<Double>(), largest = SIMD8<Double>()
        var changed = 0

        /// Adds the first `count` elements; `x` becomes Δ = y − x there.
        mutating func add(_ x: inout [Double], _ y: [Double], count n: Int) {
            var aa = self.aa, bb = self.bb, ab = self.ab, dd = self.dd, largest = self.largest, changed = self.changed
            x.withUnsafeMutableBufferPointer { xp in
                y.withUnsafeBufferPointer { yp in
                    var i = 0
                    while i + 8 <= n {
                        let u = SIMD8<Double>(xp[i..<(i + 8)]), v = SIMD8<Double>(yp[i..<(i + 8)])
                        let d = v - u
                        for lane in 0..<8 { xp[i + lane] = d[lane] }
                        aa += u * u; bb += v * v; ab += u * v; dd += d * d
                        largest = pointwiseMax(largest, pointwiseMax(d, -d))
                        changed += (u .!= v).nonzeroBitCountOfMask
                        i += 8
                    }
                    while i < n {
                        let u = xp[i], v = yp[i], d = v - u
                        xp[i] = d
                        aa[0] += u * u; bb[0] += v * v; ab[0] += u * v; dd[0] += d * d
                        largest[0] = max(largest[0], abs(d))
                        if u != v { changed += 1 }
                        i += 1
                    }
                }
            }
            self.aa = aa; self.bb = bb; self.ab = ab; self.dd = dd; self.largest = largest; self.changed = changed
        }

        func finish(into r: inout TensorDifference) {
            let normA = aa.sum().squareRoot(), normB = bb.sum().squareRoot(), deltaNorm = dd.sum().squareRoot()
            r.changedElements = changed
            r.normA = normA
            r.deltaNorm = deltaNorm
            r.relativeChange = normA > 0 ? deltaNorm / normA : (deltaNorm > 0 ? .infinity : 0)
            r.maxAbsDelta = largest.max()
            r.cosine = normA > 0 && normB > 0 ? ab.sum() / (normA * normB) : nil
        }
    }

    /// The numerical rank and leading singular values of Δ from its Gram on the smaller side.
    static func spectrum(_ r: inout TensorDifference, gram: [Double], side: Int, rows m: Int, columns: Int, dtypes: (DType, DType), options: Options) {
        guard let eigenvalues = LinearAlgebra.symmetricEigenvalues(gram, d: side) else {
            r.spectrumSkipped = "the eigensolver did not converge"
            return
        }
        let values = eigenvalues.map { max($0, 0).squareRoot() }
        let epsilon = dtypes.0 == .F64 && dtypes.1 == .F64 ? Double.ulpOfOne : Double(Float.ulpOfOne)
        let tolerance = (values.first ?? 0) * max(Double(max(m, columns)) * epsilon, (Double(side) * Double.ulpOfOne).squareRoot())
        r.rank = values.prefix { $0 > tolerance }.count
        r.singularValues = Array(values.prefix(options.singularValues))
    }

    /// All singular values of the row-major `rows × columns` matrix, largest first, from the
    /// eigenvalues of its Gram on the smaller side.
    public static func singularValues(_ matrix: [Double], rows m: Int, columns n: Int) -> [Double]? {
        let side = min(m, n)
        var gram = [Double](repeating: 0, count: side * side)
        if n <= m {
            BLAS.accumulateGram(&gram, rows: matrix, n: m, d: n)          // ΔᵀΔ, n × n
        } else {
            var transposed = [Double](repeating: 0, count: m * n)        // Δᵀ as n rows of m
            for i in 0..<m { for j in 0..<n { transposed[j * m + i] = matrix[i * n + j] } }
            BLAS.accumulateGram(&gram, rows: transposed, n: n, d: m)     // ΔΔᵀ, m × m
        }
        return LinearAlgebra.symmetricEigenvalues(gram, d: side)?.map { max($0, 0).squareRoot() }
    }
}

extension SIMDMask {
    var nonzeroBitCountOfMask: Int {
        var count = 0
        for i in 0..<scalarCount where self[i] { count += 1 }
        return count
    }
}
