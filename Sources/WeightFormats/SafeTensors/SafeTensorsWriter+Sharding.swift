extension SafeTensorsWriter {
    /// Writes `tensors` as shards of at most `maxShardSize` bytes of tensor data, plus an index.
    ///
    /// Shards are filled greedily in the given order (as huggingface_hub does); a tensor larger
    /// than the limit gets a shard of its own. A set that fits in one shard is written as the
    /// single file `path`, without an index. Otherwise, for `DIR/NAME.safetensors`:
    /// `DIR/NAME-00001-of-0000K.safetensors` … and `DIR/NAME.safetensors.index.json`; see
    /// ``writeSharded(to:groups:metadata:bytes:)``.
    /// - Returns: the files written (shards, then the index).
    public static func writeSharded(
        to path: String, tensors: [TensorInfo], metadata: [String: String]?, maxShardSize: Int,
        bytes: TensorBytesProvider
    ) throws -> [String] {
        var groups: [[TensorInfo]] = []
        var current: [TensorInfo] = []
        var currentSize = 0
        for info in tensors {
            let size = try byteCount(of: info)
            if !current.isEmpty && (currentSize.addingReportingOverflow(size).overflow || currentSize + size > maxShardSize) {
                groups.append(current)
                current = []
                currentSize = 0
            }
            current.append(info)
            currentSize = currentSize.addingReportingOverflow(size).partialValue
        }
        if !current.isEmpty || groups.isEmpty { groups.append(current) }
        return try writeSharded(to: path, groups: groups, metadata: metadata, bytes: bytes)
    }

    /// Writes one shard per group of tensors, as grouped, plus the index; a single group is the
    /// plain file `path`, without an index.
    ///
    /// For `DIR/NAME.safetensors` the shards are `DIR/NAME-00001-of-0000K.safetensors` …, each a
    /// safetensors file in the reference layout carrying `metadata`, and the index is
    /// `DIR/NAME.safetensors.index.json`: `{"metadata": {"total_size": Σ tensor bytes},
    /// "weight_map": {tensor: shard file name}}` as `transformers` writes it
    /// (`json.dumps(index, indent=2, sort_keys=True) + "\n"`, byte for byte). All files are written
    /// to temporary siblings first and renamed into place only once every one is complete and
    /// closed (``AtomicFileWriter/publishTogether(_:)``): a write error in any of them (a full
    /// disk, `EFBIG`) leaves no file of the set behind, and names the file being written.
    /// - Returns: the files written (shards, then the index).
    /// - Throws: ``SafeTensorsError`` (e.g. a name in two groups is `duplicateTensorName`) before
    ///   any file is created; errors from `bytes` or the file system leave no new file behind.
    public static func writeSharded(
        to path: String, groups: [[TensorInfo]], metadata: [String: String]?, bytes: TensorBytesProvider
    ) throws -> [String] {
        let tensors = groups.flatMap { $0 }
        if groups.count <= 1 {
            try write(to: path, tensors: tensors, metadata: metadata, bytes: bytes)
            return [path]
        }
        var names = Set<String>()
        for info in tensors where !names.insert(info.name).inserted {
            throw SafeTensorsError.duplicateTensorName(tensor: info.name)
        }
        let headers = try groups.map { try header(for: $0, metadata: metadata) }
        var totalSize = 0
        for info in tensors {
            let (sum, overflow) = totalSize.addingReportingOverflow(try byteCount(of: info))
            guard !overflow else { throw SafeTensorsError.overflow(tensor: info.name) }
            totalSize = sum
        }

        let stem = path.hasSuffix(".safetensors") ? String(path.dropLast(".safetensors".count)) : path
        let folderPrefix = stem.lastIndex(of: "/").map { String(stem[...$0]) } ?? ""
        var writers: [AtomicFileWriter] = []
        var weightMap: [(tensor: String, file: String)] = []
        for (index, group) in groups.enumerated() {
            let shardPath = stem + "-" + fiveDigits(index + 1) + "-of-" + fiveDigits(groups.count) + ".safetensors"
            let writer = try AtomicFileWriter(destination: shardPath)
            writers.append(writer)
            try writeContents(to: writer, header: headers[index], tensors: group, bytes: bytes)
            let fileName = String(shardPath.dropFirst(folderPrefix.count))
            weightMap += group.map { ($0.name, fileName) }
        }
        let indexWriter = try AtomicFileWriter(destination: path + ".index.json")
        try indexWriter.write(indexJSON(totalSize: totalSize, weightMap: weightMap))
        try AtomicFileWriter.publishTogether(writers + [indexWriter])
        return writers.map(\.destination) + [indexWriter.destination]
    }

    /// The index text exactly as Python's `json.dumps(index, indent=2, sort_keys=True) + "\n"`.
    static func indexJSON(totalSize: Int, weightMap: [(tensor: String, file: String)]) -> [UInt8] {
        var json = Array("{\n  \"metadata\": {\n    \"total_size\": \(totalSize)\n  },\n  \"weight_map\": {".utf8)
        // Python sorts keys by code point, which is the UTF-8 byte order.
        let sorted = weightMap.sorted { $0.tensor.utf8.lexicographicallyPrecedes($1.tensor.utf8) }
        for (index, entry) in sorted.enumerated() {
            json += Array((index == 0 ? "\n    " : ",\n    ").utf8)
            appendPythonQuoted(entry.tensor, to: &json)
            json += Array(": ".utf8)
            appendPythonQuoted(entry.file, to: &json)
        }
        json += Array((sorted.isEmpty ? "}\n}\n" : "\n  }\n}\n").utf8)
        return json
    }

    /// Appends `text` as Python's `json.dumps` quotes it by default (`ensure_ascii=True`): ASCII
    /// 0x20–0x7E verbatim except `"` and `\`, short escapes for `\b \f \n \r \t`, every other
    /// character as `\uxxxx` (UTF-16, surrogate pairs above U+FFFF, lowercase hex).
    static func appendPythonQuoted(_ text: String, to json: inout [UInt8]) {
        json.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: json += [0x5C, 0x22]
            case 0x5C: json += [0x5C, 0x5C]
            case 0x08: json += [0x5C, UInt8(ascii: "b")]
            case 0x0C: json += [0x5C, UInt8(ascii: "f")]
            case 0x0A: json += [0x5C, UInt8(ascii: "n")]
            case 0x0D: json += [0x5C, UInt8(ascii: "r")]
            case 0x09: json += [0x5C, UInt8(ascii: "t")]
            case 0x20..<0x7F: json.append(UInt8(scalar.value))
            default:
                for unit in String(scalar).utf16 {
                    json += Array("\\u".utf8)
                    for shift in stride(from: 12, through: 0, by: -4) {
                        json.append(hexDigit(UInt8((unit >> UInt16(shift)) & 0xF)))
                    }
                }
            }
        }
        json.append(UInt8(ascii: "\""))
    }

    private static func fiveDigits(_ value: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, 5 - text.count)) + text
    }
}
