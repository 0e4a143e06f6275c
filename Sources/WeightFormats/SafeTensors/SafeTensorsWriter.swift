/// Writes safetensors files the way the reference implementation does.
///
/// Layout: tensors sorted by dtype, strictest alignment first (descending ``DType/alignmentRank``),
/// then by name byte-wise; offsets contiguous from 0; a compact JSON header with `__metadata__`
/// first and keys `dtype`, `shape`, `data_offsets`, padded with spaces to a multiple of 8 bytes.
/// Each tensor therefore starts aligned to its element size.
public enum SafeTensorsWriter {
    /// The tensors in the order the writer lays them out.
    public static func layoutOrder(_ tensors: [TensorInfo]) -> [TensorInfo] {
        tensors.sorted {
            $0.dtype.alignmentRank != $1.dtype.alignmentRank
                ? $0.dtype.alignmentRank > $1.dtype.alignmentRank
                : Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8))
        }
    }

    /// The complete header (length field, JSON and padding) for `tensors` in layout order.
    public static func header(for tensors: [TensorInfo], metadata: [String: String]?) throws -> [UInt8] {
        var json = "{"
        var first = true
        if let metadata {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(jsonQuoted($0)):\(jsonQuoted(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for info in layoutOrder(tensors) {
            guard let size = info.byteCount else { throw SafeTensorsError.overflow(tensor: info.name) }
            if !first { json += "," }
            first = false
            let shape = info.shape.map(String.init).joined(separator: ",")
            json += "\(jsonQuoted(info.name)):{\"dtype\":\"\(info.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + size)]}"
            offset += size
        }
        json += "}"
        var body = Array(json.utf8)
        body.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - body.count % 8) % 8))
        guard body.count <= SafeTensorsFile.maximumHeaderSize else {
            throw SafeTensorsError.headerTooLargeToWrite(size: body.count)
        }
        var result = withUnsafeBytes(of: UInt64(body.count).littleEndian) { Array($0) }
        result.append(contentsOf: body)
        return result
    }

    /// Writes `tensors` to `path`, asking `bytes` for each one in layout order.
    public static func write(
        to path: String, tensors: [TensorInfo], metadata: [String: String]?, bytes: TensorBytesProvider
    ) throws {
        let writer = try AtomicFileWriter(destination: path)
        try writeContents(to: writer, tensors: tensors, metadata: metadata, bytes: bytes)
        try writer.commit()
    }

    static func writeContents(
        to writer: AtomicFileWriter, tensors: [TensorInfo], metadata: [String: String]?, bytes: TensorBytesProvider
    ) throws {
        try writer.write(try header(for: tensors, metadata: metadata))
        for info in layoutOrder(tensors) {
            let expected = info.byteCount!
            var delivered = false
            try bytes(info) { raw in
                guard raw.count == expected else {
                    throw CheckpointError.byteCountMismatch(tensor: info.name, expected: expected, actual: raw.count)
                }
                try writer.write(raw)
                delivered = true
            }
            guard delivered else { throw CheckpointError.byteCountMismatch(tensor: info.name, expected: expected, actual: 0) }
        }
    }

    /// A JSON string literal: `"` and `\` escaped, control characters as `\u00XX`, `/` left alone.
    static func jsonQuoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
