import ArgumentParser
import ModelRuntime
import Reports
import TensorCore

/// `--mia-samples` and `--seed` of the membership-inference attacks (eval --mia, report --train).
struct MembershipInferenceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Membership inference: at most N members and N non-members.", valueName: "N"))
    var miaSamples = 2000

    @OptionGroup var seed: SeedOption

    func validate() throws {
        guard miaSamples > 0 else { throw ValidationError("--mia-samples must be positive") }
    }

    /// The attacks' configuration; the result's wiring names the sets by their flags.
    var configuration: MembershipInference.Configuration {
        var configuration = MembershipInference.Configuration()
        configuration.maxSamplesPerSide = miaSamples
        configuration.seed = seed.seed
        configuration.trainSetName = "--train"
        configuration.testSetName = "--data"
        return configuration
    }

    /// Runs `body`, naming the file of the sample set an attack failure is about.
    func mappingFailures<T>(trainPath: String, testPath: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as MembershipInference.EvaluationFailure {
            throw CommandFailure(error.sampleSet == .test ? testPath : trainPath, error)
        } catch let error as SupportVectorClassifier.Failure {
            throw CommandFailure("\(trainPath): membership inference", error)
        }
    }

    /// Both attack variants on `model` (with `offset` added to every input); errors about a sample
    /// set name its file (`trainPath` or `testPath`).
    func attacks(_ model: Model, train: Dataset, trainPath: String, test: Dataset, testPath: String, forget: Set<Int>, batchSize: Int,
                 offset: Tensor?) throws -> [MembershipInferenceResult] {
        try mappingFailures(trainPath: trainPath, testPath: testPath) {
            try MembershipInference.evaluate(model, train: train, test: test, forget: forget, batchSize: batchSize,
                                             offset: offset, configuration: configuration)
        }
    }
}
