/// Writes safetensors files byte for byte as the reference implementation does.
///
/// Layout (`safetensors::tensor::prepare`/`serialize`):
/// - tensors sorted by dtype, strictest alignment first (descending ``DType/alignmentRank``:
///   U64, I64, F64, C64, F32, …, BOOL), ties by name compared byte-wise;
/// - `data_offsets` contiguous from 0 in that order, so each tensor starts aligned to its element
///   size (the data buffer starts at a multiple of 8);
/// - a compact JSON header: `__metadata__` first (keys sorted), then the tensors, each with keys
///   `dtype`, `shape`, `data_offsets`; strings escaped as serde_json does (`"`, `\`, control
///   characters; `/` and non-ASCII left as they are);
/// - the header padded with spaces to a multiple of 8 bytes, at most 100,000,000 bytes.
///
/// Output goes through ``AtomicFileWriter``: the destination is either untouched or complete.
/// With a single metadata key (or none) the output is identical to the reference's; with several,
/// the reference's key order is unspecified (a hash map) while this writer sorts them.
public enum SafeTensorsWriter {
    /// The tensors in the order the writer lays them out.
    public static func layoutOrder(_ tensors: [TensorInfo]) -> [TensorInfo] {
        tensors.sorted {
            $0.dtype.alignmentRank != $1.dtype.alignmentRank
                ? $0.dtype.alignmentRank > $1.dtype.alignmentRank
                : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8)
        }
    }

    /// The complete header (length field, JSON and padding) for `tensors`.
    /// - Throws: ``SafeTensorsError`` for tensors that cannot be written: a repeated name
    ///   (`duplicateTensorName`), a name with U+0000 (`nulInTensorName`), a negative dimension
    ///   (`malformedTensorEntry`), a size that overflows (`overflow`) or is not whole bytes
    ///   (`misalignedSlice`), a metadata key with U+0000 (`invalidMetadata`), or a header over the
    ///   limit (`headerTooLargeToWrite`).
    public static func header(for tensors: [TensorInfo], metadata: [String: String]?) throws(SafeTensorsError) -> [UInt8] {
        var names = Set<String>()
        for info in tensors {
            guard names.insert(info.name).inserted else { throw .duplicateTensorName(tensor: info.name) }
            if info.name.utf8.contains(0) { throw .nulInTensorName(tensor: info.name) }
        }
        var json: [UInt8] = [UInt8(ascii: "{")]
        if let metadata {
            json += Array(#""__metadata__":{"#.utf8)
            for (index, key) in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if key.utf8.contains(0) { throw .invalidMetadata(reason: "a key contains a NUL character") }
                if index > 0 { json.append(UInt8(ascii: ",")) }
                appendQuoted(key, to: &json)
                json.append(UInt8(ascii: ":"))
                appendQuoted(metadata[key] ?? "", to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for info in layoutOrder(tensors) {
            let size = try byteCount(of: info)
            let (end, overflow) = offset.addingReportingOverflow(size)
            guard !overflow else { throw .overflow(tensor: info.name) }
            if json.count > 1 { json.append(UInt8(ascii: ",")) }
            appendQuoted(info.name, to: &json)
            json += Array(#":{"dtype":""#.utf8) + Array(info.dtype.rawValue.utf8)
            json += Array(#"","shape":["#.utf8) + Array(info.shape.map(String.init).joined(separator: ",").utf8)
            json += Array(#"],"data_offsets":["#.utf8) + Array("\(offset),\(end)]}".utf8)
            offset = end
        }
        json.append(UInt8(ascii: "}"))
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        guard json.count <= SafeTensorsFile.maximumHeaderSize else { throw .headerTooLargeToWrite(size: json.count) }
        return withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
    }

    /// The data size of a tensor to be written.
    static func byteCount(of info: TensorInfo) throws(SafeTensorsError) -> Int {
        if let size = info.byteCount { return size }
        if info.shape.contains(where: { $0 < 0 }) {
            throw .malformedTensorEntry(tensor: info.name, reason: "negative dimension in shape \(info.shape)")
        }
        if let count = info.elementCount, !count.multipliedReportingOverflow(by: info.dtype.bitWidth).overflow {
            throw .misalignedSlice(tensor: info.name)
        }
        throw .overflow(tensor: info.name)
    }

    /// Writes `tensors` to `path`, asking `bytes` for each one once, in layout order.
    /// - Throws: ``SafeTensorsError`` (see ``header(for:metadata:)``),
    ///   ``CheckpointError/byteCountMismatch(tensor:expected:actual:)`` when `bytes` delivers a
    ///   wrong count, ``FileAccessError`` when writing fails; `path` is then left as it was.
    public static func write(
        to path: String, tensors: [TensorInfo], metadata: [String: String]?, bytes: TensorBytesProvider
    ) throws {
        let header = try header(for: tensors, metadata: metadata)
        let writer = try AtomicFileWriter(destination: path)
        try writeContents(to: writer, header: header, tensors: tensors, bytes: bytes)
        try writer.commit()
    }

    /// Writes a whole file's contents (header, then data in layout order) to `writer`.
    static func writeContents(
        to writer: AtomicFileWriter, header: [UInt8], tensors: [TensorInfo], bytes: TensorBytesProvider
    ) throws {
        try writer.write(header)
        for info in layoutOrder(tensors) {
            let expected = try byteCount(of: info)
            var delivered = 0
            try bytes(info) { raw in
                delivered += 1
                guard delivered == 1, raw.count == expected else {
                    throw CheckpointError.byteCountMismatch(
                        tensor: info.name, expected: expected, actual: delivered == 1 ? raw.count : expected + raw.count)
                }
                try writer.write(raw)
            }
            guard delivered == 1 else {
                throw CheckpointError.byteCountMismatch(tensor: info.name, expected: expected, actual: 0)
            }
        }
    }

    /// Appends `text` as a JSON string literal the way serde_json writes it: `"` and `\` escaped,
    /// `\b \f \n \r \t` short, other control characters as `\u00xx`; everything else verbatim.
    static func appendQuoted(_ text: String, to json: inout [UInt8]) {
        json.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): json += [0x5C, 0x22]
            case UInt8(ascii: "\\"): json += [0x5C, 0x5C]
            case 0x08: json += [0x5C, UInt8(ascii: "b")]
            case 0x0C: json += [0x5C, UInt8(ascii: "f")]
            case 0x0A: json += [0x5C, UInt8(ascii: "n")]
            case 0x0D: json += [0x5C, UInt8(ascii: "r")]
            case 0x09: json += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20: json += Array("\\u00".utf8) + [hexDigit(byte >> 4), hexDigit(byte & 0xF)]
            default: json.append(byte)
            }
        }
        json.append(UInt8(ascii: "\""))
    }

    static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}
