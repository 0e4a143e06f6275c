import ArgumentParser
import Foundation
import WeightFormats

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a weight file's format, metadata and tensors.",
        discussion: """
            Prints the format (detected from the file's bytes), the metadata and, for every tensor, \
            its name, dtype (safetensors spelling: F32, BF16, I64, ...), shape and size in bytes. \
            Only headers are read, so the time does not grow with the size of the tensors.

            FILE may be a .safetensors file, a sharded set's *.safetensors.index.json (or the \
            folder holding exactly one), a .npy or .npz file, or an ONNX model (its initializers).

            Examples:
              $ modelforget inspect Samples/mlp.safetensors
              $ modelforget inspect model.safetensors.index.json --json
            """)

    @Argument(help: "The weight file to inspect.")
    var file: String

    @Flag(help: "Print JSON (see FORMATS in modelforget-inspect(1)) instead of a table.")
    var json = false

    func run() throws {
        let reader = try Checkpoint.open(file)
        let report = InspectReport(reader: reader)
        Terminal.print(json ? try jsonText(report) : report.text())
    }
}

/// What `inspect` reports; its JSON form is documented in man/modelforget-inspect.1.
struct InspectReport: Encodable {
    struct Tensor: Encodable {
        let name: String
        let dtype: String
        let shape: [Int]
        let bytes: Int
        let file: String
    }

    let file: String
    let format: String
    let metadata: [String: String]
    let files: [String]
    let tensorCount: Int
    let parameterCount: Int
    let totalBytes: Int
    let tensors: [Tensor]

    enum CodingKeys: String, CodingKey {
        case file, format, metadata, files, tensors
        case tensorCount = "tensor_count"
        case parameterCount = "parameter_count"
        case totalBytes = "total_bytes"
    }

    init(reader: any CheckpointReader) {
        let sharded = reader as? ShardedSafeTensors
        file = reader.path
        format = reader.format.rawValue
        metadata = reader.metadata
        tensors = reader.tensors.map { info in
            Tensor(name: info.name, dtype: info.dtype.rawValue, shape: info.shape,
                   bytes: info.byteCount ?? 0, file: sharded?.shardPath(of: info.name) ?? reader.path)
        }
        var seen = Set<String>()
        files = tensors.map(\.file).filter { seen.insert($0).inserted } .sorted()
        tensorCount = tensors.count
        parameterCount = reader.tensors.reduce(0) { $0 + ($1.elementCount ?? 0) }
        totalBytes = tensors.reduce(0) { $0 + $1.bytes }
    }

    func text() -> String {
        var lines = ["\(file): \(format), \(tensorCount) tensors, \(parameterCount) parameters, \(formatBytes(totalBytes))"]
        if files.count > 1 || files.first != file {
            lines.append("files: " + files.joined(separator: ", "))
        }
        if !metadata.isEmpty {
            lines.append("metadata:")
            for key in metadata.keys.sorted() { lines.append("  \(key): \(metadata[key]!)") }
        }
        let rows = tensors.map { [$0.name, $0.dtype, "[" + $0.shape.map(String.init).joined(separator: ", ") + "]", String($0.bytes)] }
        lines.append(contentsOf: alignedTable(header: ["NAME", "DTYPE", "SHAPE", "BYTES"], rows: rows, rightAligned: [3]))
        return lines.joined(separator: "\n")
    }
}
