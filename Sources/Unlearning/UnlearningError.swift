/// Failures of an unlearning run that the user can act on.
public enum UnlearningError: Error, Equatable, Sendable, CustomStringConvertible {
    case noLabels
    case emptyForgetSet(classes: [Int])
    case emptyRetainSet
    case factorizationFailed(layer: Int)
    case noEpochWithinRetainLimit(maxDrop: Double)
    case noEpochWithinRetainDamage(limit: Double)
    case noWeightLayers

    public var description: String {
        switch self {
        case .noLabels: "the data has no labels"
        case .emptyForgetSet(let classes): "the data has no samples of the forget classes \(classes.map(String.init).joined(separator: ","))"
        case .emptyRetainSet: "the data has no samples of any class to retain"
        case .noEpochWithinRetainLimit(let drop): "already the first epoch lowered retain accuracy by more than \(drop) points"
        case .noEpochWithinRetainDamage(let limit):
            "already the first epoch moved every layer's outputs on the retain statistics by more than the limit \(limit), "
                + "at every learning rate tried (squared relative change; retain accuracy not measured: no retained-class samples)"
        case .factorizationFailed(let layer): "the statistics of weight layer \(layer) are not finite (NaN or infinity in its inputs); check the model and data"
        case .noWeightLayers: "the model has no weight layers (Conv, Gemm or MatMul with a weight initializer)"
        }
    }
}


