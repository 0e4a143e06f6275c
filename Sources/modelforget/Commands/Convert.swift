import ArgumentParser
import WeightFormats

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a weight file to safetensors, npz or ONNX.",
        discussion: """
            Reads any supported format and writes OUT in the format its extension names: \
            .safetensors (sharded with --max-shard-size), .npz, or .onnx (ONNX input only: the model \
            is copied with everything else preserved). Tensors are streamed one at a time, so peak \
            memory is bounded by the largest tensor, not the file. Safetensors metadata is kept; \
            formats without metadata drop it with a note on stderr.

            Examples:
              $ modelforget convert model.onnx model.safetensors
              $ modelforget convert model.safetensors model.npz --dtype F32
              $ modelforget convert big.safetensors out/model.safetensors --max-shard-size 2GB
            """)

    @Argument(help: "The weight file to read.")
    var input: String

    @Argument(help: "The file to write (.safetensors, .npz or .onnx).")
    var output: String

    @Option(help: ArgumentHelp(
        "Cast every floating-point tensor (F16, BF16, F32, F64) to this dtype; others are copied.",
        valueName: "F32|F16|BF16|F64"))
    var dtype: FloatDType?

    @Option(help: ArgumentHelp(
        "Split safetensors output into shards of at most SIZE bytes of tensor data (e.g. 500MB, 2GiB), with an index.",
        valueName: "SIZE"))
    var maxShardSize: ByteSize?

    @Flag(help: "Deflate npz members (like numpy.savez_compressed); stored otherwise.")
    var compress = false

    @OptionGroup var memory: MemoryOptions

    enum FloatDType: String, ExpressibleByArgument, CaseIterable {
        case F32, F16, BF16, F64
        var dtype: DType { DType(rawValue: rawValue)! }
    }

    func validate() throws {
        let outputFormat = Checkpoint.formatForExtension(of: output)
        guard let outputFormat, [.safetensors, .npz, .onnx].contains(outputFormat) else {
            throw ValidationError("OUT must end in .safetensors, .npz or .onnx: \(output)")
        }
        if maxShardSize != nil && outputFormat != .safetensors {
            throw ValidationError("--max-shard-size needs a .safetensors output")
        }
        if compress && outputFormat != .npz {
            throw ValidationError("--compress needs a .npz output")
        }
        if outputFormat == .onnx && dtype != nil {
            throw ValidationError("--dtype cannot be used with .onnx output: the graph's types would no longer match its initializers")
        }
    }

    func run() throws {
        let reader = try Checkpoint.open(input)
        let outputFormat = Checkpoint.formatForExtension(of: output)!
        do {
            if outputFormat == .onnx {
                guard let model = reader as? ONNXModel else {
                    throw CommandFailure("\(output): only an ONNX input can be written as ONNX (\(input) is \(reader.format.displayName))")
                }
                try model.write(to: output, replacing: [], bytes: { _, _ in })
                return
            }
            let container: CheckpointWriteOptions.Container
            switch outputFormat {
            case .npz: container = .npz(compress ? .deflated : .stored)
            default: container = maxShardSize.map { .shardedSafetensors(maxShardSize: $0.bytes) } ?? .safetensors
            }
            let outcome = try Checkpoint.convert(reader, to: output, options: ConversionOptions(container: container, floatDType: dtype?.dtype))
            if outcome.droppedMetadataKeys > 0 {
                Terminal.note("npz files have no metadata; dropped \(outcome.droppedMetadataKeys) key(s) from \(input)")
            }
        } catch let error as WeightFileError {
            throw error
        } catch let error as CommandFailure {
            throw error
        } catch {
            throw WeightFileError(path: output, underlying: error)
        }
    }
}
