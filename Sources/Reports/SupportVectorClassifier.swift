import CLibSVM

/// A binary RBF support-vector classifier trained by libsvm (the solver scikit-learn's `SVC`
/// wraps): C-SVC with kernel `exp(−γ ‖x − x'‖²)`, and scikit-learn's defaults for the rest
/// (cache 200 MB, tolerance 1e-3, shrinking, no probability estimates — so training is
/// deterministic: libsvm draws random numbers only for probabilities and cross-validation).
public final class SupportVectorClassifier {
    /// libsvm keeps pointers into the training nodes (`free_sv = 0`): they live as long as the model.
    private var nodes: UnsafeMutablePointer<svm_node>
    private var rows: UnsafeMutablePointer<UnsafeMutablePointer<svm_node>?>
    private var targets: UnsafeMutablePointer<Double>
    private var problem: svm_problem
    private var parameter: svm_parameter
    private var model: UnsafeMutablePointer<svm_model>?
    private let features: Int

    public enum Failure: Error, CustomStringConvertible {
        case invalidParameter(String)
        case oneClassOnly
        public var description: String {
            switch self {
            case .invalidParameter(let message): "libsvm refused the parameters: \(message)"
            case .oneClassOnly: "the classifier needs samples of both classes"
            }
        }
    }

    /// Trains on `samples` (each of the same length) with labels `true`/`false`.
    public init(samples: [[Double]], labels: [Bool], c: Double, gamma: Double) throws {
        precondition(samples.count == labels.count && !samples.isEmpty)
        guard Set(labels).count == 2 else { throw Failure.oneClassOnly }
        features = samples[0].count
        let n = samples.count, stride = features + 1
        nodes = .allocate(capacity: n * stride)
        rows = .allocate(capacity: n)
        targets = .allocate(capacity: n)
        for (i, sample) in samples.enumerated() {
            for (j, value) in sample.enumerated() { nodes[i * stride + j] = svm_node(index: Int32(j + 1), value: value) }
            nodes[i * stride + features] = svm_node(index: -1, value: 0)
            rows[i] = nodes + i * stride
            targets[i] = labels[i] ? 1 : 0
        }
        problem = svm_problem(l: Int32(n), y: targets, x: rows)
        parameter = svm_parameter(svm_type: Int32(C_SVC), kernel_type: Int32(RBF), degree: 3, gamma: gamma, coef0: 0, cache_size: 200,
                                  eps: 1e-3, C: c, nr_weight: 0, weight_label: nil, weight: nil, nu: 0.5, p: 0.1, shrinking: 1, probability: 0)
        Self.silence()
        if let message = svm_check_parameter(&problem, &parameter) { throw Failure.invalidParameter(String(cString: message)) }
        model = svm_train(&problem, &parameter)
    }

    deinit {
        svm_free_and_destroy_model(&model)
        nodes.deallocate()
        rows.deallocate()
        targets.deallocate()
    }

    /// The predicted label and the decision value (positive for `true`).
    public func predict(_ sample: [Double]) -> (label: Bool, decision: Double) {
        precondition(sample.count == features)
        var x = sample.enumerated().map { svm_node(index: Int32($0.offset + 1), value: $0.element) } + [svm_node(index: -1, value: 0)]
        var value = 0.0
        let label = svm_predict_values(model, &x, &value)
        // libsvm's decision value is positive for its first label, the class of the first sample.
        let firstIsTrue = problem.y[0] == 1
        return (label == 1, firstIsTrue ? value : -value)
    }

    /// libsvm prints progress on stdout; route it nowhere.
    private static let silenced: Void = { svm_set_print_string_function { _ in } }()
    private static func silence() { _ = silenced }
}
