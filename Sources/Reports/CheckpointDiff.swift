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

/// Compares two checkpoints tensor by tensor (see ``TensorDifference``), streaming: one pair of
/// tensors is decoded at a time and the mapped pages are released after it, so memory stays at a
/// few times the largest tensor whatever the checkpoint size. Two workers take alternate tensors.
public enum CheckpointDiff {
    public struct Options: Sendable {
        /// Largest smaller side of Δ whose spectrum is computed (the Gram eigensolve is O(side³)).
        public var maxSpectrumSide = 4096
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
        let parts = try Parallel.map(workers) { worker -> [(Int, TensorDifference)] in
            var results: [(Int, TensorDifference)] = []
            for index in stride(from: worker, to: pairs.count, by: workers) {
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
    private final class Readers: @unchecked Sendable {
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
        let decoded: (identical: Bool, values: ([Double], [Double])?) = try readers.a.withBytes(of: name) { rawA in
            try readers.b.withBytes(of: name) { rawB in
                let identical = a.dtype == b.dtype && rawA.count == rawB.count && memcmp(rawA.baseAddress!, rawB.baseAddress!, rawA.count) == 0
                if identical { return (true, nil) }
                guard let x = Self.decode(rawA, a.dtype), let y = Self.decode(rawB, b.dtype) else { return (identical, nil) }
                return (identical, (x, y))
            }
        }
        result.status = decoded.identical ? .same : (a.dtype == b.dtype ? .changed : .dtypeChanged)
        if decoded.identical {
            result.deltaNorm = 0
            result.relativeChange = 0
            result.maxAbsDelta = 0
            return result
        }
        guard var (values, other) = decoded.values else {
            result.changedElements = result.elements   // packed or complex: known only to differ bytewise
            return result
        }
        // Δ replaces A's values in place and B's are dropped before the spectrum: at most two
        // float64 copies of the tensor are alive per worker.
        statistics(&result, &values, other)
        other = []
        spectrum(&result, delta: values, dtypes: (a.dtype, b.dtype), shape: a.shape, options: options)
        return result
    }

    /// Decodes little-endian elements to float64; nil for packed or complex types (compared bytewise only).
    static func decode(_ raw: UnsafeRawBufferPointer, _ dtype: DType) -> [Double]? {
        guard let width = dtype.byteWidth, raw.count % width == 0 else { return nil }
        let n = raw.count / width
        func load<T: FixedWidthInteger>(_: T.Type) -> [T] {
            [T](unsafeUninitializedCapacity: n) { buffer, count in
                for i in 0..<n { buffer[i] = T(littleEndian: raw.loadUnaligned(fromByteOffset: i * width, as: T.self)) }
                count = n
            }
        }
        switch dtype {
        case .F32:
            return [Double](unsafeUninitializedCapacity: n) { buffer, count in
                for i in 0..<n { buffer[i] = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))) }
                count = n
            }
        case .F64:
            return [Double](unsafeUninitializedCapacity: n) { buffer, count in
                for i in 0..<n { buffer[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) }
                count = n
            }
        case .F16, .BF16:
            let widened = DTypeConversion.convert(raw, from: dtype, to: .F64)
            return widened.withUnsafeBytes { w in (0..<n).map { Double(bitPattern: UInt64(littleEndian: w.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) } }
        case .I8: return load(Int8.self).map(Double.init)
        case .U8: return load(UInt8.self).map(Double.init)
        case .BOOL: return load(UInt8.self).map { $0 == 0 ? 0 : 1 }
        case .I16: return load(Int16.self).map(Double.init)
        case .U16: return load(UInt16.self).map(Double.init)
        case .I32: return load(Int32.self).map(Double.init)
        case .U32: return load(UInt32.self).map(Double.init)
        case .I64: return load(Int64.self).map(Double.init)
        case .U64: return load(UInt64.self).map(Double.init)
        default: return nil
        }
    }

    /// The element statistics of A (`x`) and B (`y`); `x` becomes Δ = B − A.
    static func statistics(_ r: inout TensorDifference, _ x: inout [Double], _ y: [Double]) {
        let n = x.count
        var aa = SIMD8<Double>(), bb = SIMD8<Double>(), ab = SIMD8<Double>(), dd = SIMD8<Double>(), largest = SIMD8<Double>()
        var changed = 0
        x.withUnsafeMutableBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in
                do {
                    let dp = xp
                    var i = 0
                    while i + 8 <= n {
                        let u = SIMD8<Double>(xp[i..<(i + 8)]), v = SIMD8<Double>(yp[i..<(i + 8)])
                        let d = v - u
                        for lane in 0..<8 { dp[i + lane] = d[lane] }
                        aa += u * u; bb += v * v; ab += u * v; dd += d * d
                        largest = pointwiseMax(largest, pointwiseMax(d, -d))
                        changed += (u .!= v).nonzeroBitCountOfMask
                        i += 8
                    }
                    var tail = (aa: 0.0, bb: 0.0, ab: 0.0, dd: 0.0, largest: 0.0)
                    while i < n {
                        let u = xp[i], v = yp[i], d = v - u
                        dp[i] = d
                        tail.aa += u * u; tail.bb += v * v; tail.ab += u * v; tail.dd += d * d
                        tail.largest = max(tail.largest, abs(d))
                        if u != v { changed += 1 }
                        i += 1
                    }
                    aa[0] += tail.aa; bb[0] += tail.bb; ab[0] += tail.ab; dd[0] += tail.dd
                    largest[0] = max(largest[0], tail.largest)
                }
            }
        }
        let normA = aa.sum().squareRoot(), normB = bb.sum().squareRoot(), deltaNorm = dd.sum().squareRoot()
        r.changedElements = changed
        r.normA = normA
        r.deltaNorm = deltaNorm
        r.relativeChange = normA > 0 ? deltaNorm / normA : (deltaNorm > 0 ? .infinity : 0)
        r.maxAbsDelta = largest.max()
        r.cosine = normA > 0 && normB > 0 ? ab.sum() / (normA * normB) : nil
    }

    /// For tensors of rank ≥ 2: the numerical rank and leading singular values of Δ (out × rest).
    static func spectrum(_ r: inout TensorDifference, delta: [Double], dtypes: (DType, DType), shape: [Int], options: Options) {
        let n = delta.count, deltaNorm = r.deltaNorm ?? 0
        guard shape.count >= 2, deltaNorm > 0, dtypes.0.isConvertibleFloat || dtypes.1.isConvertibleFloat else { return }
        let m = shape[0], cols = n / max(m, 1)
        let side = min(m, cols)
        guard side <= options.maxSpectrumSide else {
            r.spectrumSkipped = "smaller side \(side) exceeds the spectrum limit \(options.maxSpectrumSide)"
            return
        }
        guard let values = singularValues(delta, rows: m, columns: cols) else {
            r.spectrumSkipped = "the eigensolver did not converge"
            return
        }
        let epsilon = dtypes.0 == .F64 && dtypes.1 == .F64 ? Double.ulpOfOne : Double(Float.ulpOfOne)
        let tolerance = (values.first ?? 0) * max(Double(max(m, cols)) * epsilon, (Double(side) * Double.ulpOfOne).squareRoot())
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
        return BLAS.symmetricEigenvalues(gram, d: side)?.map { max($0, 0).squareRoot() }
    }
}

extension SIMDMask {
    var nonzeroBitCountOfMask: Int {
        var count = 0
        for i in 0..<scalarCount where self[i] { count += 1 }
        return count
    }
}
