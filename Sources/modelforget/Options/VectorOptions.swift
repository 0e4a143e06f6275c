import ArgumentParser
import TensorCore
import Unlearning
import WeightFormats

/// `--vector FV` and `--force` of eval and predict.
struct VectorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Add this forget vector to every input (see modelforget vector).", valueName: "file"))
    var vector: String?

    @Flag(help: "Use --vector even if it was made for another model (by SHA-256).")
    var force = false

    /// The offset in the model's input space, checked against the samples and the model file.
    func offset(sampleShape: [Int], modelPath: String) throws -> Tensor? {
        guard let vector else { return nil }
        let file = try ForgetVectorFile.read(vector)
        do { try file.check(sampleShape: sampleShape, modelSHA256: try SHA256.hex(ofFile: modelPath), force: force) } catch let error as ForgetVectorError {
            throw CommandFailure(vector, error)
        }
        return file.placement.modelOffset(file.delta)
    }
}

/// The loss, optimiser and stopping options shared by `vector make` and `vector combine --fit`.
struct VectorTrainingOptions: ParsableArguments {
    @OptionGroup var counts: SampleCountOptions

    @Option(help: "Margin τ: forget samples are pushed until their true logit is τ below the best other.")
    var tau = 1.0

    @Option(help: "Weight β of the forget margin term.")
    var beta = 3.0

    @Option(help: "Weight λ of the norm penalty: ‖δ‖₂ / B for make, ‖w‖₂ for combine --fit.")
    var lambda = 1.0

    @Option(help: ArgumentHelp("Learning rate of the first epoch (× 0.9 per epoch; momentum 0.9, weight decay 5e-4). Default 0.2, and for make, "
                               + "while no epoch meets both limits, up to three more runs, each from a quarter of the last rate if an epoch "
                               + "of that run fell past the retain limit, else from 4× it, until a run turns the direction; "
                               + "a rate given here is run alone."))
    var lr: Double?

    @OptionGroup var stopping: StoppingOptions

    @Option(help: ArgumentHelp("Once an epoch meets both limits, go on until this many epochs pass without one that meets them with a "
                               + "larger worst relative margin; 0 keeps the first (the paper's epoch rule; the vector is still scaled).", valueName: "n"))
    var patience = 5

    @Option(help: ArgumentHelp("Hold this fraction of every forget class out of training and judge forgetting by the worse of the "
                               + "trained-on and the held-out forget samples; 0 judges the trained-on ones alone (the paper's rule).",
                               valueName: "fraction"))
    var forgetHoldout = 0.2

    @OptionGroup var seed: SeedOption

    func validate() throws {
        guard (lr ?? 1) > 0 else { throw ValidationError("--lr must be positive") }
        guard patience >= 0 else { throw ValidationError("--patience must not be negative") }
        guard forgetHoldout >= 0 && forgetHoldout < 1 else { throw ValidationError("--forget-holdout must be at least 0 and below 1") }
    }

    func configuration(classes: [Int], batchSize: Int) -> ForgetVector.Configuration {
        var configuration = ForgetVector.Configuration(
            selection: SampleSelection.Configuration(classes: classes, counts: counts, patchCap: nil, seed: seed, batchSize: batchSize))
        configuration.settings.tau = tau
        configuration.settings.beta = beta
        configuration.settings.lambda = lambda
        configuration.settings.learningRate = lr ?? 0.2
        if lr != nil { configuration.settings.learningRateRuns = 1 }
        configuration.settings.epochs = stopping.epochs ?? 60
        configuration.settings.targetForgetAccuracy = stopping.targetForgetAccuracy ?? 0.1
        configuration.settings.maxRetainDrop = stopping.maxRetainDrop ?? 5
        configuration.settings.patience = patience
        configuration.settings.forgetHoldout = forgetHoldout
        return configuration
    }

    func printAccuracies(before: ForgetVector.Epoch, after: ForgetVector.Epoch) {
        let samples = forgetHoldout > 0 ? "the forget samples (the worse of trained-on and held-out)" : "the forget samples"
        Terminal.print("forget accuracy on \(samples): " + String(format: "%.2f%% -> %.2f%%", before.forgetAccuracy * 100, after.forgetAccuracy * 100))
        Terminal.print(String(format: "retain accuracy on the retain samples: %.2f%% -> %.2f%%", before.retainAccuracy * 100, after.retainAccuracy * 100))
    }
}
