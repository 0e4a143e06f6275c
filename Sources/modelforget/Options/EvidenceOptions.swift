import ArgumentParser
import Foundation
import ModelRuntime
import Reports
import TensorCore

/// `--probe`, `--relearn` and their settings: evidence beyond accuracy (eval, report; eval adds `--original`).
struct EvidenceOptions: ParsableArguments {
    @Flag(help: "Linear-probe recovery: a logistic-regression probe on the inputs of the final classifier layer, scored on held-out forget samples (split by --seed).")
    var probe = false

    @Option(help: ArgumentHelp("With --probe: labelled samples per class the probe is fitted on (the rest are held out).", valueName: "N"))
    var probeSamples = 20

    @Flag(help: "Relearn time: SGD steps on forget samples (of --train, else of --data; order by --seed) until the forget accuracy is back to 50%.")
    var relearn = false

    @Option(help: ArgumentHelp("With --relearn: the learning rate of the plain SGD steps.", valueName: "rate"))
    var relearnLr = 0.001

    @Option(help: ArgumentHelp("With --relearn: at most this many steps (batches of 32).", valueName: "N"))
    var relearnSteps = 200

    func validate() throws {
        guard probeSamples > 0 else { throw ValidationError("--probe-samples must be positive") }
        guard relearnLr > 0 && relearnLr.isFinite else { throw ValidationError("--relearn-lr must be positive") }
        guard relearnSteps >= 0 else { throw ValidationError("--relearn-steps must not be negative") }
    }

    /// The probe's configuration; the result names the samples by their flag.
    func probeConfiguration(seed: UInt64) -> LinearProbe.Configuration {
        var configuration = LinearProbe.Configuration()
        configuration.samplesPerClass = probeSamples
        configuration.seed = seed
        configuration.samplesName = "--data"
        return configuration
    }

    /// The relearn configuration; the result names the sets by their flags.
    func relearnConfiguration(seed: UInt64, trainName: String) -> Relearn.Configuration {
        var configuration = Relearn.Configuration()
        configuration.learningRate = relearnLr
        configuration.maxSteps = relearnSteps
        configuration.seed = seed
        configuration.trainName = trainName
        configuration.measureName = "--data"
        return configuration
    }

    /// The probe recovery; its failures name the data file, failures of the model run the model file.
    func probe(_ model: Model, data: Dataset, dataPath: String, forget: Set<Int>, batchSize: Int, offset: Tensor?, seed: UInt64,
               modelPath: String) throws -> ProbeRecoveryResult {
        do {
            return try LinearProbe.evaluate(model, data: data, forget: forget, batchSize: batchSize, offset: offset, configuration: probeConfiguration(seed: seed))
        } catch let error as LinearProbe.Failure {
            throw CommandFailure(error == .noClassifierLayer || error == .nonFiniteFeatures ? modelPath : dataPath, error)
        } catch {
            throw CommandFailure(modelPath, error)
        }
    }

    /// The relearn counts: steps on the forget samples of `train` (else of `test`), measured on `test`.
    func relearn(_ model: Model, original: (Model, path: String)?, train: (Dataset, name: String, path: String)?, test: Dataset, testPath: String,
                 forget: Set<Int>, batchSize: Int, seed: UInt64, modelPath: String) throws -> RelearnResult {
        let configuration = relearnConfiguration(seed: seed, trainName: train?.name ?? "--data")
        do {
            return try Relearn.evaluate(model, original: original?.0, train: train?.0 ?? test, test: test, forget: forget, batchSize: batchSize,
                                        configuration: configuration)
        } catch let error as Relearn.Failure {
            throw CommandFailure(train?.path ?? testPath, error)
        } catch {
            throw CommandFailure(original.map { "\(modelPath), \($0.path)" } ?? modelPath, error)
        }
    }

    static func percent(_ value: Double?) -> String { value.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }

    /// One line: the probe's variant, samples and score.
    static func text(_ p: ProbeRecoveryResult) -> String {
        "linear probe (\(p.variant) on the \(p.features) inputs of \(p.weight); fit \(p.fitSamplesPerClass) per class, \(p.fitSamples) samples of "
            + "\(p.samples); held out \(p.heldOutSamples), \(p.heldOutForgetSamples) of the forget classes; seed \(p.seed), L2 \(p.l2), "
            + "\(p.iterations) iterations): forget \(percent(p.forgetAccuracy)) (the model itself: \(percent(p.modelForgetAccuracy))), "
            + "retain \(percent(p.retainAccuracy)) (\(p.direction))"
    }

    /// One line: the relearn variant and the counts.
    static func text(_ r: RelearnResult) -> String {
        var counts = "model \(r.model.text(cap: r.maxSteps)) steps"
        if let original = r.original { counts += ", original \(original.text(cap: r.maxSteps)) steps" }
        return "relearn time (\(r.variant) on \(r.trainedSamples) \(r.trained), batch \(r.batchSize), lr \(r.learningRate), seed \(r.seed), "
            + "at most \(r.maxSteps) steps; until forget accuracy ≥ \(percent(r.threshold)) on \(r.measuredSamples) \(r.measured)): "
            + "\(counts) (\(r.direction))"
    }
}
