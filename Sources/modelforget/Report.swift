import ArgumentParser
import Foundation
import ModelRuntime
import Reports
import TensorCore
import Unlearning
import WeightFormats

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an HTML (or Markdown) report of an unlearning: accuracies, confusion, membership inference, weight changes, audit facts.",
        discussion: """
            Evaluates --original and --unlearned (or --original with a forget vector, --vector) on \
            --data, runs the membership-inference attacks when --train is given, compares the two \
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

    @Option(help: ArgumentHelp("Architecture for checkpoints without a graph (ONNX file or spec), for both models.", valueName: "file"))
    var arch: String?

    @Option(help: ArgumentHelp("Labelled test samples (npz or safetensors with x and y).", valueName: "file"))
    var data: String

    @Option(help: ArgumentHelp("Labelled training samples: adds the membership-inference attacks.", valueName: "file"))
    var train: String?

    @Option(help: ArgumentHelp("The forgotten classes, e.g. 5,7.", valueName: "list"))
    var classes: ClassList

    @Option(help: ArgumentHelp("An audit record (apply --report) whose fields are listed among the audit facts.", valueName: "file"))
    var audit: String?

    @OptionGroup var keys: DataKeys

    @Option(help: "Samples per forward pass.")
    var batchSize: Int?

    @OptionGroup var miaOptions: MembershipInferenceOptions

    @OptionGroup var memory: MemoryOptions

    @Flag(help: "Write Markdown instead of HTML.")
    var markdown = false

    @Flag(help: "Use --vector even if it was made for another model.")
    var force = false

    @Flag(help: "No progress on stderr.")
    var quiet = false

    @Option(name: .shortAndLong, help: ArgumentHelp("The file to write; without it the report goes to standard output.", valueName: "file"))
    var output: String?

    func validate() throws {
        guard (unlearned == nil) != (vector == nil) else { throw ValidationError("give exactly one of --unlearned and --vector") }
        guard (batchSize ?? 1) > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() throws {
        let test = try Dataset.load(data, xKey: keys.xKey, yKey: keys.yKey)
        let trainSet = try train.map { try Dataset.load($0, xKey: keys.xKey, yKey: keys.yKey) }
        let forget = Set(classes.classes)
        func options(_ path: String) throws -> ModelOptions {
            try ModelOptions.forFile(path, arch: arch, batchSize: batchSize, quiet: quiet)
        }
        func side(_ label: String, path: String, shaPath: String, offset: Tensor?) throws -> UnlearningReport.Side {
            let modelOptions = try options(path)
            let model = try modelOptions.load(sampleShape: test.sampleShape)
            try checkSampleShape(model, test, path: data)
            let batch = modelOptions.batchSize(for: test)
            do {
                let evaluation = try Evaluation.evaluate(model, test, forget: forget, batchSize: batch, offset: offset, progress: modelOptions.progress(label))
                var attacks: [MembershipInferenceResult] = []
                if let trainSet, let train {
                    attacks = try miaOptions.attacks(model, train: trainSet, trainPath: train, test: test, testPath: data, forget: forget, batchSize: batch, offset: offset)
                }
                return .init(label: label, path: shaPath, sha256: try SHA256.hex(ofFile: shaPath), evaluation: evaluation, mia: attacks)
            } catch let error as GraphError {
                throw CommandFailure("\(path): \(error)")
            }
        }
        let before = try side("original", path: original, shaPath: original, offset: nil)
        let after: UnlearningReport.Side
        var difference: CheckpointDifference?
        var facts: [UnlearningReport.Fact] = []
        if let vector {
            let offset = try VectorOptions.parse(["--vector", vector] + (force ? ["--force"] : [])).offset(sampleShape: test.sampleShape, modelPath: original)
            after = try side("with forget vector", path: original, shaPath: vector, offset: offset)
            let file = try ForgetVectorFile.read(vector)
            facts.append(.init("vector.classes", file.classes.map(String.init).joined(separator: ",")))
            facts.append(.init("vector.space", file.placement.space.rawValue))
            if !file.coefficients.isEmpty { facts.append(.init("vector.coefficients", file.coefficients.map { String($0) }.joined(separator: ","))) }
            facts += file.settings.keys.sorted().map { .init("vector.setting." + $0, file.settings[$0]!) }
        } else if let unlearned {
            after = try side("unlearned", path: unlearned, shaPath: unlearned, offset: nil)
            let readerB = try Checkpoint.open(unlearned)
            var diffOptions = CheckpointDiff.Options()
            diffOptions.singularValues = 32
            do {
                difference = try CheckpointDiff.compare(try Checkpoint.open(original), readerB, options: diffOptions)
            } catch let error as WeightFileError {
                throw error
            } catch {
                throw CommandFailure("\(original), \(unlearned): \(error)")
            }
            facts += readerB.metadata.keys.filter { $0.hasPrefix("modelforget.") }.sorted().map { .init($0, readerB.metadata[$0]!) }
        } else {
            preconditionFailure("validate() requires --unlearned or --vector")
        }
        if let audit {
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: audit)))
            } catch {
                throw CommandFailure("\(audit): not a JSON audit record (\(error.localizedDescription))")
            }
            facts += UnlearningReport.flatten(object, prefix: "audit").filter { !$0.key.hasPrefix("audit.layers") }
        }
        let report = UnlearningReport(classes: classes.classes, data: data, train: train, original: before, unlearned: after,
                                      difference: difference, facts: facts)
        let text = markdown ? report.markdown() : report.html()
        guard let output else { return FileHandle.standardOutput.write(Data(text.utf8)) }
        do {
            let writer = try AtomicFileWriter(destination: output)
            try writer.write(text)
            try writer.commit()
        } catch {
            throw WeightFileError(path: output, underlying: error)
        }
        if !quiet { Terminal.error("wrote \(output)") }
    }
}
