import ArgumentParser
import Unlearning

/// `--seed`: the seed of every random choice of a command.
struct SeedOption: ParsableArguments {
    @Option(help: "Seed of every random choice: sample and patch selection, batch order, membership-inference subsampling.")
    var seed: UInt64 = 0
}

/// `--retain-samples` and `--forget-samples`.
struct SampleCountOptions: ParsableArguments {
    @Option(help: "Retain samples in total, spread evenly over the retained classes.")
    var retainSamples = 900

    @Option(help: "Forget samples in total, spread evenly over the forget classes.")
    var forgetSamples = 900

    func validate() throws {
        guard retainSamples > 0, forgetSamples > 0 else { throw ValidationError("--retain-samples and --forget-samples must be positive") }
    }
}

/// `--max-patches`: the cap on input vectors per layer in the statistics.
struct PatchCapOption: ParsableArguments {
    @Option(help: ArgumentHelp("At most this many input vectors (conv patches, tokens) per layer and sample set enter the statistics, spread evenly over the samples and chosen by --seed; 0 keeps all.", valueName: "n"))
    var maxPatches = 10_000

    func validate() throws {
        guard maxPatches >= 0 else { throw ValidationError("--max-patches must be 0 (all) or positive") }
    }
}

/// `--epochs` of the trained methods (PGU and forget vectors).
struct StoppingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Maximum number of epochs (default 100 for pgu, 60 for forget vectors).", valueName: "n"))
    var epochs: Int?

    func validate() throws {
        guard (epochs ?? 1) > 0 else { throw ValidationError("--epochs must be positive") }
    }
}

/// The user's limits (``UnlearningContract``): measured on a validation split held out from --data.
struct ContractOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Largest accepted accuracy on the forget classes' validation samples (default 0.02 for apply, 0.1 for vector make).",
                               valueName: "fraction"))
    var maxForgetAccuracy: Double?

    @Option(help: ArgumentHelp("Largest accepted drop of the retained classes' validation accuracy, in points (default 2 for apply, 5 for vector make).",
                               valueName: "points"))
    var maxRetainDrop: Double?

    func validate() throws {
        guard (maxForgetAccuracy ?? 0) >= 0, (maxForgetAccuracy ?? 0) <= 1 else { throw ValidationError("--max-forget-accuracy must be in [0, 1]") }
        guard (maxRetainDrop ?? 0) >= 0 else { throw ValidationError("--max-retain-drop must not be negative") }
    }

    /// The contract with these defaults for what was not given.
    func contract(defaultForget: Double, defaultDrop: Double) -> UnlearningContract {
        UnlearningContract(maxForgetAccuracy: maxForgetAccuracy ?? defaultForget, maxRetainDrop: maxRetainDrop ?? defaultDrop)
    }
}

extension SampleSelection.Configuration {
    /// The selection of `classes` with the counts, patch cap and seed of a command line.
    init(classes: [Int], counts: SampleCountOptions?, patchCap: PatchCapOption?, seed: SeedOption, batchSize: Int) {
        self.init(forgetClasses: classes)
        if let counts {
            retainSamples = counts.retainSamples
            forgetSamples = counts.forgetSamples
        }
        if let patchCap { maxPatches = patchCap.maxPatches }
        self.seed = seed.seed
        self.batchSize = batchSize
    }
}
