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
    @Option(help: ArgumentHelp(
        "At most this many input vectors (conv patches, tokens) per layer and sample set enter the statistics, spread evenly over "
            + "the samples and chosen by --seed; 0 keeps all.", valueName: "n"))
    var maxPatches = 10_000

    func validate() throws {
        guard maxPatches >= 0 else { throw ValidationError("--max-patches must be 0 (all) or positive") }
    }
}

/// The stopping rule of the trained methods (PGU and forget vectors): epochs, target and budget.
struct StoppingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Maximum number of epochs (default 100 for pgu, 60 for forget vectors).", valueName: "n"))
    var epochs: Int?

    @Option(help: ArgumentHelp(
        "pgu: stop at the first epoch whose forget accuracy on the forget samples is at most this (default: --max-forget-accuracy; "
            + "the paper stops at chance, 1/classes; a run from --stats alone goes on past it while its forget accuracy or loss falls); "
            + "forget vectors: the largest forget accuracy a kept epoch may have (default 0.1).", valueName: "fraction"))
    var targetForgetAccuracy: Double?

    @Option(help: ArgumentHelp(
        "Largest retain-accuracy drop, in points: apply's auto method on its validation split (default 2); pgu on the retained-class "
            + "samples of --data, stopping when it is exceeded, and forget vectors on them for a kept epoch (default 5).", valueName: "points"))
    var maxRetainDrop: Double?

    func validate() throws {
        guard (epochs ?? 1) > 0 else { throw ValidationError("--epochs must be positive") }
        guard (maxRetainDrop ?? 0) >= 0 else { throw ValidationError("--max-retain-drop must not be negative") }
    }
}

/// `--max-forget-accuracy`: the forget limit of the user's contract (``UnlearningContract``), measured
/// on a validation split held out from --data; `--max-retain-damage`: its stand-in for the retain
/// limit when no retained-class samples are given.
struct ContractOptions: ParsableArguments {
    @Option(help: ArgumentHelp("auto: largest accepted accuracy on the forget classes' validation samples (held out from --data); "
                               + "pgu: its target on the forget samples unless --target-forget-accuracy is given.",
                               valueName: "fraction"))
    var maxForgetAccuracy = 0.02

    @Option(help: ArgumentHelp("Without retained-class samples (--stats with forget samples only): largest accepted estimated retain damage "
                               + "of an edited layer, the squared relative change of its outputs on the stored retain statistics "
                               + "(auto and pgu).", valueName: "ratio"))
    var maxRetainDamage = 0.01

    func validate() throws {
        guard maxForgetAccuracy >= 0, maxForgetAccuracy <= 1 else { throw ValidationError("--max-forget-accuracy must be in [0, 1]") }
        guard maxRetainDamage >= 0 else { throw ValidationError("--max-retain-damage must not be negative") }
    }

    /// The contract: these limits and `maxRetainDrop` (default 2 points).
    func contract(maxRetainDrop: Double?) -> UnlearningContract {
        UnlearningContract(maxForgetAccuracy: maxForgetAccuracy, maxRetainDrop: maxRetainDrop ?? 2, maxRetainDamage: maxRetainDamage)
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
