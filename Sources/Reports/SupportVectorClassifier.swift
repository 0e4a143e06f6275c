import CLibSVM

/// A binary RBF support-vector classifier trained by libsvm (the solver scikit-learn's `SVC`
/// wraps).
///
/// The problem is libsvm's C-SVC: with labels `y_i ∈ {+1, −1}` and kernel
/// ```
/// K(x, x') = exp(−γ ‖x − x'‖²)
/// ```
/// it solves `min_α ½ αᵀQα − Σα_i` subject to `0 ≤ α_i ≤ C`, `Σ y_i α_i = 0`
/// (`Q_ij = y_i y_j K(x_i, x_j)`), and classifies by the sign of the decision value
/// `f(x) = Σ y_i α_i K(x_i, x) − ρ`.
///
/// Guarantees:
/// - scikit-learn's defaults for everything but C and γ: kernel cache 200 MB, stopping tolerance
///   1e-3, shrinking on, no probability estimates. libsvm draws random numbers (`rand()`) only
///   for probability estimates and cross-validation, neither of which is used, so the same
///   samples in the same order give the same model, bit for bit.
/// - ``predict(_:)`` reports the decision value oriented so that it is positive for `true`,
///   whichever label libsvm saw first.
/// - libsvm's progress output (on stdout) is silenced for the whole process.
/// - The training nodes stay allocated as long as the model, which points into them.
public final class SupportVectorClassifier {
    /// libsvm's model keeps pointers into these nodes (the support vectors are not copied).
    private let nodes: UnsafeMutablePointer<svm_node>
    private let rows: UnsafeMutablePointer<UnsafeMutablePointer<svm_node>?>
    private let targets: UnsafeMutablePointer<Double>
    private var model: UnsafeMutablePointer<svm_model>?
    /// +1 when libsvm's first label (the sign of its decision value) is `true`, else −1.
    private var orientation = 1.0
    /// The number of features of every sample.
    public let features: Int
    /// The kernel width used: `γ` in `exp(−γ ‖x − x'‖²)`.
    public let gamma: Double
    /// The box constraint `C`.
    public let c: Double

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case invalidParameter(String)
        case oneClassOnly
        case noFeatures
        case raggedSamples(index: Int, features: Int, expected: Int)
        case nonFiniteSample(index: Int)
        public var description: String {
            switch self {
            case .invalidParameter(let message): "libsvm refused the parameters: \(message)"
            case .oneClassOnly: "the classifier needs samples of both classes"
            case .noFeatures: "the samples have no features"
            case let .raggedSamples(index, features, expected): "sample \(index) has \(features) features, the first has \(expected)"
            case .nonFiniteSample(let index): "sample \(index) has a NaN or infinite feature"
            }
        }
    }

    /// Trains on `samples` (each with the same number of finite features) labelled `true`/`false`.
    /// - Parameters:
    ///   - c: the box constraint `C` (scikit-learn's `C`).
    ///   - gamma: the RBF width; `nil` is scikit-learn's `gamma='auto'`, `1 / features`.
    /// - Throws: ``Failure`` when the samples are empty of features, ragged or non-finite, when
    ///   only one label occurs, or when libsvm's `svm_check_parameter` refuses the parameters.
    public init(samples: [[Double]], labels: [Bool], c: Double, gamma: Double? = nil) throws {
        precondition(samples.count == labels.count, "\(samples.count) samples but \(labels.count) labels")
        guard Set(labels).count == 2 else { throw Failure.oneClassOnly }
        let features = samples[0].count
        guard features > 0 else { throw Failure.noFeatures }
        for (i, sample) in samples.enumerated() {
            guard sample.count == features else { throw Failure.raggedSamples(index: i, features: sample.count, expected: features) }
            guard sample.allSatisfy(\.isFinite) else { throw Failure.nonFiniteSample(index: i) }
        }
        self.features = features
        self.gamma = gamma ?? 1 / Double(features)
        self.c = c
        let n = samples.count, stride = features + 1
        nodes = .allocate(capacity: n * stride)
        rows = .allocate(capacity: n)
        targets = .allocate(capacity: n)
        for (i, sample) in samples.enumerated() {
            for (j, value) in sample.enumerated() { (nodes + i * stride + j).initialize(to: svm_node(index: Int32(j + 1), value: value)) }
            (nodes + i * stride + features).initialize(to: svm_node(index: -1, value: 0))
            (rows + i).initialize(to: nodes + i * stride)
            (targets + i).initialize(to: labels[i] ? 1 : 0)
        }
        // From here on every stored property is set, so a throw runs deinit, which frees the buffers.
        var problem = svm_problem(l: Int32(n), y: targets, x: rows)
        var parameter = svm_parameter(
            svm_type: Int32(C_SVC), kernel_type: Int32(RBF), degree: 3, gamma: self.gamma, coef0: 0, cache_size: 200,
            eps: 1e-3, C: c, nr_weight: 0, weight_label: nil, weight: nil, nu: 0.5, p: 0.1, shrinking: 1, probability: 0)
        Self.silence()
        if let message = svm_check_parameter(&problem, &parameter) { throw Failure.invalidParameter(String(cString: message)) }
        // svm_train copies the parameters and the row pointers it keeps; the nodes must outlive it.
        model = svm_train(&problem, &parameter)
        var modelLabels: [Int32] = [0, 0]
        svm_get_labels(model, &modelLabels)
        orientation = modelLabels[0] == 1 ? 1 : -1
    }

    deinit {
        svm_free_and_destroy_model(&model)
        nodes.deallocate()
        rows.deallocate()
        targets.deallocate()
    }

    /// The predicted label and the decision value `f(x)` (positive for `true`).
    /// - Precondition: `sample.count == features`.
    public func predict(_ sample: [Double]) -> (label: Bool, decision: Double) {
        precondition(sample.count == features, "sample has \(sample.count) features, the classifier \(features)")
        var x = sample.enumerated().map { svm_node(index: Int32($0.offset + 1), value: $0.element) } + [svm_node(index: -1, value: 0)]
        var value = 0.0
        let label = svm_predict_values(model, &x, &value)
        return (label == 1, orientation * value)
    }

    /// The number of support vectors (for tests and diagnostics).
    public var supportVectorCount: Int { Int(svm_get_nr_sv(model)) }

    /// libsvm prints progress on stdout; route it nowhere, once per process.
    private static let silenced: Void = { svm_set_print_string_function { _ in } }()
    private static func silence() { _ = silenced }
}
