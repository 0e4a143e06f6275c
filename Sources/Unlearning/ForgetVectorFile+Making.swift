import ModelRuntime
import TensorCore
import WeightFormats

extension ForgetVectorFile {
    /// Learns a forget vector for `configuration`'s classes (``ForgetVector/make(_:data:placement:configuration:progress:)``)
    /// and wraps it as the sidecar of the model whose file has SHA-256 `modelSHA256`, with the
    /// settings and the selected epoch in its metadata.
    public static func make(_ model: Model, modelSHA256: String, data: Dataset, placement: ForgetVector.Placement,
                            configuration: ForgetVector.Configuration,
                            progress: ((Int, Int) -> Void)? = nil) throws -> (file: ForgetVectorFile, result: ForgetVector.Result) {
        let result = try ForgetVector.make(model, data: data, placement: placement, configuration: configuration, progress: progress)
        var used = configuration
        used.settings.learningRate = result.learningRate
        var metadata = settings(used, selected: result.selectedEpoch, kept: result.kept, scale: result.scale, rule: result.selectionReason)
        if result.learningRatesTried.count > 1 {
            metadata["lr_tried"] = result.learningRatesTried.map { String($0) }.joined(separator: ",")
        }
        let file = ForgetVectorFile(delta: result.delta, classes: configuration.selection.forgetClasses, placement: placement,
                                    modelSHA256: modelSHA256, settings: metadata)
        return (file, result)
    }

    /// Learns coefficients `w` of `Σ_k w_k δ_k` over `parts` (vectors made alike for the same
    /// model) for `configuration`'s classes, starting from `start`
    /// (``ForgetVector/fitCoefficients(_:data:bases:initial:placement:configuration:progress:)``).
    public static func fit(_ parts: [(path: String, file: ForgetVectorFile)], start: [Double], model: Model, data: Dataset,
                           configuration: ForgetVector.Configuration,
                           progress: ((Int, Int) -> Void)? = nil) throws -> (file: ForgetVectorFile, result: ForgetVector.FitResult) {
        let first = parts[0].file
        guard first.delta.shape == data.sampleShape else {
            throw ForgetVectorError.shapeMismatch(expected: data.sampleShape, found: first.delta.shape)
        }
        let result = try ForgetVector.fitCoefficients(model, data: data, bases: parts.map(\.file.delta), initial: start,
                                                      placement: first.placement, configuration: configuration, progress: progress)
        var settings = settings(configuration, selected: result.selectedEpoch, kept: result.kept, scale: result.scale, rule: result.selectionReason)
        settings["fit"] = "coefficients"
        settings["initial_coefficients"] = start.map { String($0) }.joined(separator: ",")
        let file = ForgetVectorFile(delta: result.delta, classes: configuration.selection.forgetClasses, placement: first.placement,
                                    modelSHA256: first.modelSHA256, sources: parts.map(\.path), coefficients: result.coefficients,
                                    settings: settings)
        return (file, result)
    }

    /// The `setting.*` metadata of a learned vector: the loss and optimiser settings, the seed,
    /// the selected epoch, the scale of its vector, the rule that selected them and the kept
    /// vector's accuracies.
    static func settings(_ configuration: ForgetVector.Configuration, selected: Int, kept: ForgetVector.Epoch, scale: Double,
                         rule: String) -> [String: String] {
        let s = configuration.settings
        return ["tau": String(s.tau), "alpha": String(s.alpha), "beta": String(s.beta), "lambda": String(s.lambda),
                "lr": String(s.learningRate), "momentum": String(s.momentum), "weight_decay": String(s.weightDecay),
                "lr_decay": String(s.lrDecay), "epochs": String(s.epochs), "patience": String(s.patience),
                "forget_holdout": String(s.forgetHoldout), "selected_epoch": String(selected), "scale": String(scale), "selection_rule": rule,
                "seed": String(configuration.selection.seed), "forget_accuracy": String(kept.forgetAccuracy),
                "retain_accuracy": String(kept.retainAccuracy)]
    }
}
