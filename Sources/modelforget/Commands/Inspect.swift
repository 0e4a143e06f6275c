import ArgumentParser
import Foundation
import ModelRuntime
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
        var report = InspectReport(reader: reader)
        report.model = try InspectReport.Architecture(reader, path: file)
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
    /// The architecture the names (and config) describe, from headers and the config only.
    var model: Architecture?

    /// What `inspect` can tell about the model a checkpoint holds.
    struct Architecture: Encodable {
        /// "ONNX graph", or a recognised family such as "ResNet (BasicBlock)"; `nil` when unrecognised.
        let family: String?
        let naming: String?
        /// The config.json read, if any.
        let config: String?
        let classes: Int?
        let facts: [LayoutFact]
        /// Why the architecture is not known, when it is not.
        let unrecognized: String?

        init?(_ reader: any CheckpointReader, path: String) throws {
            if reader is ONNXModel {
                self.init(family: "ONNX graph", naming: nil, config: nil, classes: nil, facts: [], unrecognized: nil)
                return
            }
            guard !(reader is NPYFile) else { return nil }
            let config = try ModelConfig.find(besides: path)
            do {
                let reading = try RecognizedLayouts.recognize(reader, config: config, sampleShape: nil)
                self.init(family: reading.family, naming: reading.naming, config: config?.path, classes: try config?.classCount(),
                          facts: reading.facts, unrecognized: nil)
            } catch let error as ModelError {
                self.init(family: nil, naming: nil, config: config?.path, classes: nil, facts: [], unrecognized: ErrorHints.text(of: error))
            }
        }

        init(family: String?, naming: String?, config: String?, classes: Int?, facts: [LayoutFact], unrecognized: String?) {
            self.family = family
            self.naming = naming
            self.config = config
            self.classes = classes
            self.facts = facts
            self.unrecognized = unrecognized
        }

        enum CodingKeys: String, CodingKey { case family, naming, config, classes, facts, unrecognized }

        /// Every key always present (null when unknown), as documented.
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(family, forKey: .family)
            try c.encode(naming, forKey: .naming)
            try c.encode(config, forKey: .config)
            try c.encode(classes, forKey: .classes)
            try c.encode(facts, forKey: .facts)
            try c.encode(unrecognized, forKey: .unrecognized)
        }

        var lines: [String] {
            guard let family else { return ["model: not recognised: \(unrecognized ?? "")"] }
            var lines = ["model: \(family)" + (naming.map { ", \($0) names" } ?? "") + (config.map { ", config \($0)" } ?? "")]
            for fact in facts { lines.append("  \(fact.key): \(fact.value) (\(fact.source))") }
            return lines
        }
    }

    enum CodingKeys: String, CodingKey {
        case file, format, metadata, files, tensors, model
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
        if let model { lines += model.lines }
        if !metadata.isEmpty {
            lines.append("metadata:")
            for key in metadata.keys.sorted() { lines.append("  \(key): \(metadata[key]!)") }
        }
        let rows = tensors.map { [$0.name, $0.dtype, "[" + $0.shape.map(String.init).joined(separator: ", ") + "]", String($0.bytes)] }
        lines.append(contentsOf: alignedTable(header: ["NAME", "DTYPE", "SHAPE", "BYTES"], rows: rows, rightAligned: [3]))
        return lines.joined(separator: "\n")
    }
}
