#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening and writing checkpoints of any supported format.
public enum Checkpoint {
    /// Opens a weight file, recognising its format from its bytes (never from its name alone).
    ///
    /// A name whose extension promises another format than the bytes show is an error; bytes that
    /// match no format are parsed by the format the extension names, so that its reader can say
    /// exactly what is wrong (a truncated safetensors header, say).
    /// - Throws: ``WeightFileError`` wrapping the format's own error, with the offending path.
    public static func open(_ path: String) throws(WeightFileError) -> any CheckpointReader {
        do {
            if let weights = try weightsFile(inFolder: path) {
                return try open(weights)
            }
            let format = try detectFormat(path)
            switch format {
            case .safetensors: return try SafeTensorsFile(path: path)
            case .shardedSafetensors: return try ShardedSafeTensors(indexPath: path)
            case .npy: return try NPYFile(path: path)
            case .npz: return try NPZArchive(path: path)
            case .onnx: return try ONNXModel(path: path)
            }
        } catch let error as WeightFileError {
            throw error
        } catch {
            throw WeightFileError(path: path, underlying: error)
        }
    }

    /// For a model folder (as transformers' `save_pretrained` and timm's `save_for_hf` write them):
    /// the weights in it — the one `*.safetensors.index.json` (a sharded set), else
    /// `model.safetensors`, else the one `*.safetensors`, else `model.onnx`. For anything else: `nil`.
    public static func weightsFile(inFolder path: String) throws -> String? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
        guard let directory = opendir(path) else {
            throw FileAccessError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            })
        }
        let folder = path.hasSuffix("/") ? path : path + "/"
        let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
        if indexes.count > 1 {
            throw CheckpointError.unrecognizedFormat(reason: "a folder with \(indexes.count) *.safetensors.index.json files; name one")
        }
        if let index = indexes.first { return folder + index }
        if names.contains("model.safetensors") { return folder + "model.safetensors" }
        let safetensors = names.filter { $0.hasSuffix(".safetensors") }
        if safetensors.count == 1 { return folder + safetensors[0] }
        if safetensors.count > 1 {
            throw CheckpointError.unrecognizedFormat(reason: "a folder with \(safetensors.count) *.safetensors files and no model.safetensors or index; name one")
        }
        if names.contains("model.onnx") { return folder + "model.onnx" }
        let pickles = names.filter { $0.hasSuffix(".bin") || $0.hasSuffix(".pt") || $0.hasSuffix(".pth") }
        throw CheckpointError.unrecognizedFormat(reason: pickles.isEmpty
            ? "a folder without model.safetensors, a *.safetensors.index.json or model.onnx"
            : "a folder with only PyTorch pickles (\(pickles.sorted().joined(separator: ", "))), which are never loaded; save the model as safetensors")
    }

    /// The format of the file at `path`, from its first bytes (and, only where the bytes match no
    /// format, from its extension).
    public static func detectFormat(_ path: String) throws -> WeightFormat {
        let file = try MappedFile(path: path)
        let byExtension = formatForExtension(of: path)
        if let detected = detectFormat(prefix: file.bytes) {
            if let byExtension, byExtension != detected,
               !(byExtension == .safetensors && detected == .shardedSafetensors) {
                throw CheckpointError.extensionMismatch(extension: pathExtension(path), detected: detected)
            }
            return detected
        }
        if let byExtension { return byExtension }
        throw CheckpointError.unrecognizedFormat(reason: describePrefix(file.bytes))
    }

    /// The format named by a file name's extension (`.safetensors`, `.npy`, `.npz`, `.onnx`, and
    /// `.safetensors.index.json` for sharded sets), or `nil`.
    public static func formatForExtension(of path: String) -> WeightFormat? {
        if path.hasSuffix(".safetensors.index.json") { return .shardedSafetensors }
        switch pathExtension(path).lowercased() {
        case "safetensors": return .safetensors
        case "npy": return .npy
        case "npz": return .npz
        case "onnx": return .onnx
        default: return nil
        }
    }

    /// Recognises a format from the first bytes of a file.
    public static func detectFormat(prefix bytes: UnsafeRawBufferPointer) -> WeightFormat? {
        let b = Array(bytes.prefix(16))
        if b.starts(with: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) { return .npy }   // \x93NUMPY
        if b.starts(with: [0x50, 0x4B, 0x03, 0x04]) || b.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            return .npz
        }
        if bytes.count >= 9 {
            var n: UInt64 = 0
            for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
            // A length that fits the file followed by any JSON value (not only an object, so that
            // a header such as `"x"` is reported as a bad safetensors header, not as something
            // else): a serialized ONNX model cannot look like this, its bytes 3…7 are never all
            // small enough for a length within the file.
            if n >= 1, n <= UInt64(SafeTensorsFile.maximumHeaderSize), n + 8 <= UInt64(bytes.count),
               let first = bytes[8..<(8 + Int(n))].first(where: { !isJSONWhitespace($0) }),
               startsJSONValue(first) {
                return .safetensors
            }
        }
        if let first = bytes.first(where: { !isJSONWhitespace($0) }), first == UInt8(ascii: "{") {
            return .shardedSafetensors
        }
        if looksLikeONNX(bytes) { return .onnx }
        return nil
    }

    /// A serialized `ModelProto` starts with a tag of one of its fields with the right wire type;
    /// every exporter writes `ir_version` (field 1, varint) first.
    static func looksLikeONNX(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let tag = bytes.first else { return false }
        let field = tag >> 3, wireType = tag & 7
        switch (field, wireType) {
        case (1, 0), (5, 0): return bytes.count > 1
        case (2, 2), (3, 2), (4, 2), (6, 2), (7, 2), (8, 2): return bytes.count > 1
        default: return false
        }
    }

    /// Whether `byte` can start a JSON value: `{ [ "`, a digit, `-`, or `t f n` (true, false, null).
    static func startsJSONValue(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "\""), UInt8(ascii: "-"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            true
        default: false
        }
    }

    static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    static func pathExtension(_ path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...])
    }

    static func describePrefix(_ bytes: UnsafeRawBufferPointer) -> String {
        if bytes.isEmpty { return "the file is empty" }
        let hex = bytes.prefix(8).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        return "it starts with bytes \(hex.joined(separator: " "))"
    }
}
