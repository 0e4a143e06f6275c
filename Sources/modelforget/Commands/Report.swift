import ArgumentParser
import Foundation
import ModelRuntime
import Reports
import Unlearning
import WeightFormats

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an HTML (or Markdown) report of an unlearning: accuracies, confusion, membership inference, weight changes, audit facts.",
        discussion: """
            Evaluates --original and --unlearned (or --original with a forget vector, --vector) on \
            --data, runs the membership-inference attacks when --train is given (and the linear \
            probe with --probe, the relearn count with --relearn), compares the two \
            checkpoints, and writes one self-contained HTML page with inline SVG figures (no \
            scripts, nothing fetched), or Markdown with --markdown.

            Examples:
              $ modelforget report --original Samples/cnn.onnx --unlearned cnn.forget-5-7.onnx \\
                  --data Samples/digits-test.npz --train Samples/digits-train.npz --classes 5,7 -o report.html
              $ modelforget report --original Samples/cnn.onnx --vector fv-5.safetensors \\
                  --data Samples/digits-test.npz --classes 5 --markdown
            """)

    @Option(help: ArgumentHelp("The model before unlearning.", valueName: "file"))
    var original: String

    @Option(help: ArgumentHelp("The model after unlearning (a checkpoint in any format).", valueName: "file"))
    var unlearned: String?

    @Option(help: ArgumentHelp("A forget vector: the unlearned model is the original with it added to every input.", valueName: "file"))
    var vector: String?

    @OptionGroup var architecture: ArchitectureOption

    @Option(help: ArgumentHelp("Labelled test samples (npz or safetensors with x and y).", valueName: "file"))
    var data: String

    @Option(help: ArgumentHelp("Labelled training samples: adds the membership-inference attacks.", valueName: "file"))
    var train: String?

    @Option(help: ArgumentHelp("The forgotten classes, e.g. 5,7.", valueName: "list"))
    var classes: ClassList

    @Option(help: ArgumentHelp("An audit record (apply --report) whose fields are listed among the audit facts.", valueName: "file"))
    var audit: String?

    @OptionGroup var keys: DataKeys

    @OptionGroup var images: ImageOptions

    @OptionGroup var normalization: NormalizationOptions

    @OptionGroup var batch: BatchSizeOption

    @OptionGroup var miaOptions: MembershipInferenceOptions

    @OptionGroup var evidence: EvidenceOptions

    @OptionGroup var memory: MemoryOptions

    @Flag(help: "Write Markdown instead of HTML.")
    var markdown = false

    @Flag(help: "Use --vector even if it was made for another model.")
    var force = false

    @OptionGroup var verbosity: QuietFlag

    @Option(name: .shortAndLong, help: ArgumentHelp("The file to write; without it the report goes to standard output.", valueName: "file"))
    var output: String?

    func validate() throws {
        guard (unlearned == nil) != (vector == nil) else { throw ValidationError("give exactly one of --unlearned and --vector") }
        if evidence.relearn && vector != nil { throw ValidationError("--relearn trains the weights; it needs --unlearned, not --vector") }
    }

    func run() throws {
        let options = try ModelOptions.forFile(original, architecture: architecture, batch: batch, verbosity: verbosity)
        let loading = try images.loading(for: [data, train], model: options, mean: normalization.mean, std: normalization.std)
        let test = try keys.load(data, images: loading, quiet: verbosity.quiet)
        let originalModel = try options.load(for: test, path: data)
        let unlearnedSide: UnlearningReport.Unlearned
        if let vector {
            let file = try ForgetVectorFile.read(vector)
            do { try file.check(sampleShape: test.sampleShape, modelSHA256: try SHA256.hex(ofFile: original), force: force) } catch let error as ForgetVectorError {
                throw CommandFailure(vector, error)
            }
            unlearnedSide = .vector(file, path: vector)
        } else {
            let path = unlearned!
            let model = try ModelOptions.forFile(path, architecture: architecture, batch: batch, verbosity: verbosity).load(for: test, path: data)
            unlearnedSide = .checkpoint(model, path: path)
        }
        var inputs = UnlearningReport.Inputs(original: originalModel, originalPath: original, unlearned: unlearnedSide, test: test,
                                             testName: data, classes: try classes.indices(for: originalModel, path: original),
                                             batchSize: options.batchSize(for: test, model: originalModel))
        if let train { inputs.train = (try keys.load(train, images: loading), train) }
        inputs.membershipInference = miaOptions.configuration
        if evidence.probe { inputs.probe = evidence.probeConfiguration(seed: miaOptions.seed.seed) }
        if evidence.relearn { inputs.relearn = evidence.relearnConfiguration(seed: miaOptions.seed.seed, trainName: train == nil ? "--data" : "--train") }
        inputs.progress = { verbosity.progress($0) }
        if let audit {
            do {
                inputs.auditRecord = (try Data(contentsOf: URL(fileURLWithPath: audit)), audit)
            } catch {
                throw WeightFileError(path: audit, underlying: ReportInputError.notAnAuditRecord(reason: error.localizedDescription))
            }
        }
        let report: UnlearningReport
        do {
            report = try miaOptions.mappingFailures(trainPath: train ?? data, testPath: data) { try UnlearningReport.build(inputs) }
        } catch let error as LinearProbe.Failure {
            throw CommandFailure(error == .noClassifierLayer || error == .nonFiniteFeatures ? original : data, error)
        } catch let error as Relearn.Failure {
            throw CommandFailure(train ?? data, error)
        } catch let error as WeightFileError {
            throw error
        } catch let error as CommandFailure {
            throw error
        } catch {
            throw CommandFailure("\(original), \(unlearned ?? vector!)", error)
        }
        let text = markdown ? report.markdown() : report.html()
        guard let output else { return Terminal.write(text) }
        do {
            let writer = try AtomicFileWriter(destination: output)
            try writer.write(text)
            try writer.commit()
        } catch {
            throw WeightFileError(path: output, underlying: error)
        }
        if !verbosity.quiet { Terminal.error("wrote \(output)") }
    }
}
