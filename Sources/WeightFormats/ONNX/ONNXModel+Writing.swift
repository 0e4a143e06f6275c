extension ONNXModel {
    /// Writes the model to `path` with the named initializers replaced and every other byte kept.
    ///
    /// Untouched byte ranges are copied verbatim; each replaced `TensorProto` is re-encoded with
    /// `dims`, `data_type`, `name` and `raw_data` (its `doc_string` and `metadata_props` kept), and
    /// the length prefix of the graph is recomputed. A replaced initializer that was stored as
    /// external data is written inline. External data files still referenced are copied beside
    /// the output when it goes to another folder. With nothing replaced, the output equals the
    /// input byte for byte.
    /// - Throws: ``ONNXError/notAnInitializer(_:)`` for a name the graph does not have.
    /// `addingMetadata` entries are appended to the model's `metadata_props` (an existing key is
    /// not rewritten; readers see the last value).
    public func write(to path: String, replacing replacements: [TensorInfo], addingMetadata: [String: String] = [:],
                      bytes: TensorBytesProvider) throws {
        let replacementsByName = Dictionary(replacements.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        for name in replacementsByName.keys where !tensors.contains(where: { $0.name == name }) {
            throw ONNXError.notAnInitializer(name)
        }
        let source = file.bytes
        let writer = try AtomicFileWriter(destination: path)
        func copy(_ range: Range<Int>) throws {
            if !range.isEmpty { try writer.write(UnsafeRawBufferPointer(rebasing: source[range])) }
        }
        if replacementsByName.isEmpty {
            try copy(0..<source.count)
        } else {
            // Build the new graph payload from the old one, splicing in re-encoded initializers.
            var pieces: [Piece] = []
            var cursor = graphPayload.lowerBound
            var newLength = 0
            var reader = ProtobufReader(source, range: graphPayload)
            while let field = try reader.nextField() {
                guard field.number == 5, field.wireType == 2 else {
                    try reader.skip(wireType: field.wireType)
                    continue
                }
                let message = try reader.lengthDelimited()
                let tensor = try ONNXTensor.parse(source, range: message)
                guard let replacement = replacementsByName[tensor.info.name] else { continue }
                pieces.append(.original(cursor..<field.start))
                newLength += field.start - cursor
                let encoded = try encode(replacing: tensor, with: replacement, bytes: bytes)
                pieces.append(.encoded(encoded))
                newLength += encoded.count
                cursor = message.upperBound
            }
            pieces.append(.original(cursor..<graphPayload.upperBound))
            newLength += graphPayload.upperBound - cursor
            try copy(0..<graphField.lowerBound)
            try writer.write(ProtobufWriter.tag(7, 2) + ProtobufWriter.varint(UInt64(newLength)))
            for piece in pieces {
                switch piece {
                case .original(let range): try copy(range)
                case .encoded(let encoded): try writer.write(encoded)
                }
            }
            try copy(graphPayload.upperBound..<source.count)
        }
        for key in addingMetadata.keys.sorted() {
            let entry = ProtobufWriter.lengthDelimited(1, Array(key.utf8)) + ProtobufWriter.lengthDelimited(2, Array(addingMetadata[key]!.utf8))
            try writer.write(ProtobufWriter.lengthDelimited(14, entry))
        }
        try copyExternalData(toDirectoryOf: path, replaced: Set(replacementsByName.keys))
        try writer.commit()
    }

    private enum Piece {
        case original(Range<Int>)
        case encoded([UInt8])
    }

    /// A whole initializer field (tag, length, TensorProto) for the replacement.
    private func encode(replacing tensor: ONNXTensor, with info: TensorInfo, bytes: TensorBytesProvider) throws -> [UInt8] {
        guard let dataType = ONNXTensor.dataType(for: info.dtype), let byteCount = info.byteCount else {
            throw ONNXError.unsupportedDataType(tensor: info.name, dataType: -1)
        }
        var message: [UInt8] = []
        for dim in info.shape { message += ProtobufWriter.tag(1, 0) + ProtobufWriter.varint(UInt64(dim)) }
        message += ProtobufWriter.tag(2, 0) + ProtobufWriter.varint(UInt64(dataType))
        message += ProtobufWriter.lengthDelimited(8, Array(info.name.utf8))
        var data: [UInt8] = []
        try bytes(info) { raw in
            guard raw.count == byteCount else {
                throw CheckpointError.byteCountMismatch(tensor: info.name, expected: byteCount, actual: raw.count)
            }
            data = Array(raw)
        }
        message += ProtobufWriter.lengthDelimited(9, data)
        // Keep doc_string (12) and metadata_props (16) of the original.
        var reader = ProtobufReader(file.bytes, range: tensor.messageRange)
        while let field = try reader.nextField() {
            let start = field.start
            try reader.skip(wireType: field.wireType)
            if field.number == 12 || field.number == 16 {
                message += Array(UnsafeRawBufferPointer(rebasing: file.bytes[start..<reader.position]))
            }
        }
        return ProtobufWriter.lengthDelimited(5, message)
    }

    /// Copies the external data files that the output still refers to beside it, when the output
    /// goes to another folder (the files are copied whole; offsets stay valid).
    private func copyExternalData(toDirectoryOf output: String, replaced: Set<String>) throws {
        let outputDirectory = output.lastIndex(of: "/").map { String(output[..<$0]) } ?? "."
        guard outputDirectory != directory else { return }
        let stillReferenced = Set(initializers.compactMap { tensor -> String? in
            guard !replaced.contains(tensor.info.name), case .external(let location, _, _) = tensor.storage else { return nil }
            return location
        })
        for location in stillReferenced.sorted() {
            let source = try MappedFile(path: directory + "/" + location)
            let destination = outputDirectory + "/" + location
            if let slash = location.lastIndex(of: "/") {
                _ = makeDirectories(outputDirectory + "/" + location[..<slash])
            }
            let writer = try AtomicFileWriter(destination: destination)
            try writer.write(source.bytes)
            try writer.commit()
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

@discardableResult
func makeDirectories(_ path: String) -> Bool {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        _ = mkdir(current, 0o755)
    }
    return true
}
