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
