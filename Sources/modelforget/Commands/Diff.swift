import ArgumentParser
import Foundation
import Reports
import WeightFormats

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two checkpoints tensor by tensor: what changed, by how much, and the rank of the change.",
        discussion: """
            A and B may be in different formats. Per tensor: status (same, changed, added, removed, \
            shape or dtype changed), changed elements, ‖Δ‖_F, ‖Δ‖_F/‖A‖_F, max |Δ|, the cosine \
            similarity of A and B, and for matrices and conv kernels (out × in·kh·kw) the numerical \
            rank of Δ and its leading singular values. Tensors are streamed one pair at a time.

            Examples:
              $ modelforget diff Samples/cnn.onnx Samples/cnn.forget-5-7.onnx
              $ modelforget diff a.safetensors b.npz --only 'layer4.*' --top 10 --markdown
              $ modelforget diff a.safetensors b.safetensors --exit-code --quiet
            """)

    @Argument(help: "The first checkpoint (A).")
    var a: String

    @Argument(help: "The second checkpoint (B); Δ = B − A.")
    var b: String

    @Option(help: ArgumentHelp("Compare only tensors whose name matches this shell pattern (*, ?, [..]).", valueName: "glob"))
    var only: String?

    @Option(help: ArgumentHelp("Show only the N tensors with the largest relative change.", valueName: "N"))
    var top: Int?

    @Option(help: ArgumentHelp("Skip the spectrum of Δ when its smaller side is larger than this (the eigensolve grows with its cube).", valueName: "N"))
    var maxRankSide = 4096

    @Flag(help: "Print JSON: a, b, summary and every tensor's statistics.")
    var json = false

    @Flag(help: "Print a Markdown table.")
    var markdown = false

    @Flag(help: "Exit with status 1 when the checkpoints differ, 0 when identical, 2 on errors (like git diff --exit-code).")
    var exitCode = false

    @Flag(help: "Print nothing (with --exit-code: only the status tells).")
    var quiet = false

    func validate() throws {
        guard !(json && markdown) else { throw ValidationError("give at most one of --json and --markdown") }
        guard (top ?? 1) > 0 else { throw ValidationError("--top must be positive") }
        guard maxRankSide >= 0 else { throw ValidationError("--max-rank-side must not be negative") }
    }

    func run() throws {
        do {
            try compareAndPrint()
        } catch let error as WeightFileError where exitCode {
            // With --exit-code, 1 means "they differ"; a failure must not look like that.
            Terminal.error(error.description)
            throw ExitCode(2)
        } catch let error as CommandFailure where exitCode {
            Terminal.error(error.message)
            throw ExitCode(2)
        }
    }

    func compareAndPrint() throws {
        let readerA = try Checkpoint.open(a), readerB = try Checkpoint.open(b)
        var options = CheckpointDiff.Options()
        options.maxSpectrumSide = maxRankSide
        if let only {
            options.include = { name in fnmatch(only, name, 0) == 0 }
        }
        let difference: CheckpointDifference
        do {
            difference = try CheckpointDiff.compare(readerA, readerB, options: options)
        } catch let error as WeightFileError {
            throw error
        } catch {
            throw CommandFailure("\(a), \(b): \(error)")
        }
        if !quiet {
            if json {
                Terminal.print(try jsonText(difference))
            } else if markdown {
                Terminal.print(difference.markdown(top: top))
            } else {
                Terminal.print("A: \(a)\nB: \(b)")
                for line in alignedTable(header: CheckpointDifference.columns, rows: difference.rows(top: top), rightAligned: [3, 4, 5, 6, 7, 8]) {
                    Terminal.print(line)
                }
                Terminal.print(difference.summaryLine)
            }
        }
        if exitCode && !difference.isIdentical { throw ExitCode(1) }
    }
}
