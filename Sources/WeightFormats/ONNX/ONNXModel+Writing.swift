#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ONNXModel {
    /// Writes the model to `path` with the named initializers replaced (same name; a new dtype and
    /// shape are allowed) and every other byte kept.
    ///
    /// Guarantees:
    /// - Untouched byte ranges are copied verbatim, unknown fields included; with nothing replaced
    ///   and no metadata added the output equals the input byte for byte.
    /// - A replaced `TensorProto` is re-encoded with `dims`, `data_type`, `name`, its data, and the
    ///   original's `doc_string`, `metadata_props` and unknown fields; typed fields, `checksum` and
    ///   other external entries are dropped. Only the graph's length prefix changes around it.
    /// - An initializer stored inline is written as `raw_data`. One stored as external data stays
    ///   external: when the output goes to another folder, its file is copied there with the new
    ///   bytes at the same offset (same size, no other tensor sharing the bytes) or appended at a
    ///   4096-aligned offset; when the output goes to the input's folder, the input's file is left
    ///   alone and the new bytes go to a new file. External files that the output still refers to
    ///   are copied beside it when it goes to another folder.
    /// - New and copied data files are named after the output (`<output name>.<location name>`,
    ///   so `a.onnx` gets `a.model.onnx.data`), so that writing two outputs to one folder, or an
    ///   output beside another model, does not overwrite a data file another model refers to. The
    ///   untouched initializers in a renamed file are re-encoded with the new location, their bytes
    ///   and offsets unchanged. Names are kept by a copy (nothing replaced: the output is the input
    ///   byte for byte, beside copies of its files), by a file already named `<output file
    ///   name>.data` (the output owns it), and by one that tensors outside the main graph's
    ///   initializers use; there a file of the same name beside the output is replaced.
    /// - `addingMetadata` entries are appended to `metadata_props` (sorted by key; an existing key
    ///   is not rewritten, readers see the last value).
    /// - Every file is written through ``AtomicFileWriter``; nothing is committed unless all were
    ///   written. `bytes` is asked once per replaced tensor for exactly its `byteCount` bytes.
    /// - Throws: ``ONNXError/notAnInitializer(_:)`` for a name the main graph does not hold as an
    ///   initializer, ``ONNXError/unsupportedDType(tensor:dtype:)``, ``ONNXError/invalidDims(tensor:)``,
    ///   ``CheckpointError/byteCountMismatch(tensor:expected:actual:)`` for wrong provider bytes.
    public func write(to path: String, replacing replacements: [TensorInfo], addingMetadata: [String: String] = [:],
                      bytes: TensorBytesProvider) throws {
        var replaced: [String: Replacement] = [:]
        for info in replacements {
            guard let original = initializer(named: info.name) else { throw ONNXError.notAnInitializer(info.name) }
            guard let dataType = ONNXTensor.dataType(for: info.dtype) else {
                throw ONNXError.unsupportedDType(tensor: info.name, dtype: info.dtype)
            }
            guard let byteCount = info.byteCount else { throw ONNXError.invalidDims(tensor: info.name) }
            replaced[info.name] = Replacement(original: original, info: info, dataType: dataType, byteCount: byteCount)
        }
        let outputDirectory = ONNXModel.directory(of: path)
        let sameFolder = ONNXModel.canonicalPath(outputDirectory).map { $0 == ONNXModel.canonicalPath(directory) } ?? false
        let references = try externalReferences()
        var writers: [AtomicFileWriter] = []
        var taken = Set(references.map(\.location))
        let destinations = sameFolder || replaced.isEmpty ? [:] : otherFolderLocations(references: references, output: path, taken: &taken)

        // External files holding replaced initializers.
        let replacedLocations = Set(replaced.values.compactMap(\.original.externalLocation))
        for location in replacedLocations.sorted() {
            let destination = sameFolder ? ONNXModel.newLocation(for: location, output: path, taken: taken) : destinations[location] ?? location
            taken.insert(destination)
            let members = initializers.compactMap { replaced[$0.info.name] }.filter { $0.original.externalLocation == location }
            try writers.append(writeExternalFile(
                location, to: outputDirectory + "/" + destination, destinationLocation: destination,
                copyingSource: !sameFolder, members: members, references: references, replaced: &replaced, bytes: bytes))
        }
        // External files referenced by untouched tensors, when the output goes elsewhere.
        if !sameFolder {
            for location in Set(references.map(\.location)).subtracting(replacedLocations).sorted() {
                let tensor = references.first { $0.location == location }?.tensor ?? ""
                let source = try externalFile(location, tensor: tensor)
                let writer = try ONNXModel.makeWriter(outputDirectory + "/" + (destinations[location] ?? location))
                try writer.write(source.bytes)
                writers.append(writer)
            }
            // Untouched initializers in a renamed file: the same bytes at the same offset, the new name.
            for tensor in initializers where replaced[tensor.info.name] == nil {
                guard let location = tensor.externalLocation, let destination = destinations[location],
                      let range = tensor.externalRange else { continue }
                replaced[tensor.info.name] = Replacement(original: tensor, info: tensor.info, dataType: tensor.dataType,
                                                         byteCount: tensor.info.byteCount ?? range.count, external: (destination, range.lowerBound))
            }
        }

        let writer = try AtomicFileWriter(destination: path)
        if replaced.isEmpty {
            try writer.write(file.bytes)
        } else {
            try writeSpliced(to: writer, replaced: replaced, bytes: bytes)
        }
        for key in addingMetadata.keys.sorted() {
            try writer.write(ProtobufWriter.stringEntry(14, key: key, value: addingMetadata[key]!))
        }
        // Data files first: the model never refers to files that are not there yet; nothing is
        // renamed until every file is complete.
        try AtomicFileWriter.publishTogether(writers + [writer])
    }

    /// A replaced initializer and, once planned, where its new bytes go when they stay external.
    struct Replacement {
        let original: ONNXTensor
        let info: TensorInfo
        let dataType: Int
        let byteCount: Int
        var external: (location: String, offset: Int)?
    }

    // MARK: - The model file

    /// Writes the model with the graph's replaced initializer fields re-encoded.
    private func writeSpliced(to writer: AtomicFileWriter, replaced: [String: Replacement], bytes: TensorBytesProvider) throws {
        let source = file.bytes
        // The whole field span (tag to end) of each replaced initializer, in file order.
        var fields: [(span: Range<Int>, replacement: Replacement, prefix: [UInt8])] = []
        var reader = ProtobufReader(source, range: graphPayload)
        while let field = try reader.nextField() {
            guard field.number == 5, field.wireType == 2 else {
                try reader.skip(wireType: field.wireType)
                continue
            }
            let payload = try reader.lengthDelimited()
            guard let tensor = initializers.first(where: { $0.messageRange == payload }),
                  let replacement = replaced[tensor.info.name] else { continue }
            fields.append((field.start..<payload.upperBound, replacement, try encodedPrefix(replacement)))
        }
        var graphLength = graphPayload.count
        for field in fields {
            graphLength += field.prefix.count + inlineDataCount(field.replacement) - field.span.count
        }
        func copy(_ range: Range<Int>) throws {
            if !range.isEmpty { try writer.write(UnsafeRawBufferPointer(rebasing: source[range])) }
        }
        try copy(0..<graphField.lowerBound)
        try writer.write(ProtobufWriter.tag(7, 2) + ProtobufWriter.varint(UInt64(graphLength)))
        var cursor = graphPayload.lowerBound
        for field in fields {
            try copy(cursor..<field.span.lowerBound)
            try writer.write(field.prefix)
            if field.replacement.external == nil {
                try ONNXModel.provide(field.replacement, to: writer, bytes: bytes)
            }
            cursor = field.span.upperBound
        }
        try copy(cursor..<source.count)
    }

    /// Bytes of a replacement's data written inside the model file (0 when it stays external).
    private func inlineDataCount(_ replacement: Replacement) -> Int {
        replacement.external == nil ? replacement.byteCount : 0
    }

    /// The initializer field of a replacement up to (not including) its `raw_data` bytes: tag,
    /// length and the TensorProto's fields, `raw_data`'s tag and length last when it is inline.
    private func encodedPrefix(_ replacement: Replacement) throws(ONNXError) -> [UInt8] {
        let info = replacement.info
        var message: [UInt8] = []
        for dim in info.shape { message += ProtobufWriter.varintField(1, UInt64(dim)) }
        message += ProtobufWriter.varintField(2, UInt64(replacement.dataType))
        message += ProtobufWriter.lengthDelimited(8, Array(info.name.utf8))
        // Keep doc_string (12), metadata_props (16) and fields unknown to onnx.proto.
        var reader = ProtobufReader(file.bytes, range: replacement.original.messageRange)
        while let field = try reader.nextField() {
            try reader.skip(wireType: field.wireType)
            if field.number == 12 || field.number >= 15 {
                message += Array(UnsafeRawBufferPointer(rebasing: file.bytes[field.start..<reader.position]))
            }
        }
        var dataLength = 0
        if let external = replacement.external {
            message += ProtobufWriter.stringEntry(13, key: "location", value: external.location)
            message += ProtobufWriter.stringEntry(13, key: "offset", value: String(external.offset))
            message += ProtobufWriter.stringEntry(13, key: "length", value: String(replacement.byteCount))
            message += ProtobufWriter.varintField(14, 1)
        } else {
            dataLength = replacement.byteCount
            message += ProtobufWriter.tag(9, 2) + ProtobufWriter.varint(UInt64(dataLength))
        }
        return ProtobufWriter.tag(5, 2) + ProtobufWriter.varint(UInt64(message.count + dataLength)) + message
    }

    // MARK: - External files

    /// Writes the external file of replaced initializers that stay external: a copy of the
    /// input's file with patches and appends, or (`copyingSource` false) only the new bytes.
    private func writeExternalFile(
        _ location: String, to destinationPath: String, destinationLocation: String, copyingSource: Bool,
        members: [Replacement], references: [ExternalReference], replaced: inout [String: Replacement],
        bytes: TensorBytesProvider
    ) throws -> AtomicFileWriter {
        let source = copyingSource ? externalFiles[location]!.bytes : UnsafeRawBufferPointer(start: nil, count: 0)
        var patches: [Replacement] = []
        var appends: [Replacement] = []
        var end = source.count
        for var member in members {
            let range = member.original.externalRange!
            var others = references.filter { $0.location == location }
            if let own = others.firstIndex(where: { $0.tensor == member.info.name && $0.range.lowerBound == range.lowerBound }) {
                others.remove(at: own)
            }
            let shared = others.contains { $0.range.overlaps(range) }
            if copyingSource && member.byteCount == range.count && !shared {
                member.external = (destinationLocation, range.lowerBound)
                patches.append(member)
            } else {
                let offset = (end + ONNXModel.externalAlignment - 1) / ONNXModel.externalAlignment * ONNXModel.externalAlignment
                member.external = (destinationLocation, offset)
                end = offset + member.byteCount
                appends.append(member)
            }
            replaced[member.info.name] = member
        }
        let writer = try ONNXModel.makeWriter(destinationPath)
        var cursor = 0
        for patch in patches.sorted(by: { $0.external!.offset < $1.external!.offset }) {
            try writer.write(UnsafeRawBufferPointer(rebasing: source[cursor..<patch.external!.offset]))
            try ONNXModel.provide(patch, to: writer, bytes: bytes)
            cursor = patch.external!.offset + patch.byteCount
        }
        try writer.write(UnsafeRawBufferPointer(rebasing: source[cursor...]))
        for append in appends {
            try writer.writeZeros(append.external!.offset - writer.bytesWritten)
            try ONNXModel.provide(append, to: writer, bytes: bytes)
        }
        return writer
    }

    /// Offsets of appended external data are multiples of this (the page size ExternalData.md asks for).
    static let externalAlignment = 4096

    /// The new names of the external files when the output goes to another folder: each file is
    /// named after the output (``newLocation(for:output:taken:)``), so that two outputs written to
    /// one folder, or an output beside another model, do not share or overwrite a data file. Kept
    /// as it is: a location named like the output's own data file (`<output file name>.data`,
    /// which the output owns), and one that a tensor outside the main graph's initializers refers
    /// to (only initializers are re-encoded).
    private func otherFolderLocations(references: [ExternalReference], output: String, taken: inout Set<String>) -> [String: String] {
        let outputName = output.split(separator: "/").last.map(String.init) ?? output
        var destinations: [String: String] = [:]
        for location in Set(references.map(\.location)).sorted() where location != outputName + ".data" {
            let initializerCount = initializers.filter { $0.externalLocation == location }.count
            guard initializerCount == references.filter({ $0.location == location }).count else { continue }
            let destination = ONNXModel.newLocation(for: location, output: output, taken: taken)
            taken.insert(destination)
            destinations[location] = destination
        }
        return destinations
    }

    /// The location, in the input's folder, of the new data file for `location`:
    /// `<output name without .onnx>.<file name>` beside it, with a number added if that is taken.
    static func newLocation(for location: String, output: String, taken: Set<String>) -> String {
        var base = output.split(separator: "/").last.map(String.init) ?? output
        if base.hasSuffix(".onnx") { base.removeLast(5) }
        let slash = location.lastIndex(where: { $0 == "/" || $0 == "\\" })
        let folder = slash.map { String(location[...$0]) } ?? ""
        let name = slash.map { String(location[location.index(after: $0)...]) } ?? location
        var candidate = folder + base + "." + name
        var number = 2
        while taken.contains(candidate) {
            candidate = folder + base + ".\(number)." + name
            number += 1
        }
        return candidate
    }

    /// An atomic writer for `path`, creating the folders above it.
    static func makeWriter(_ path: String) throws -> AtomicFileWriter {
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            makeDirectories(String(path[..<slash]))
        }
        return try AtomicFileWriter(destination: path)
    }

    /// Asks `bytes` for a replacement's data and writes it, checking its size.
    static func provide(_ replacement: Replacement, to writer: AtomicFileWriter, bytes: TensorBytesProvider) throws {
        var written = false
        try bytes(replacement.info) { raw in
            guard raw.count == replacement.byteCount else {
                throw CheckpointError.byteCountMismatch(tensor: replacement.info.name, expected: replacement.byteCount, actual: raw.count)
            }
            guard !written else { return }
            try writer.write(raw)
            written = true
        }
        guard written else {
            throw CheckpointError.byteCountMismatch(tensor: replacement.info.name, expected: replacement.byteCount, actual: 0)
        }
    }
}

/// Creates `path` and its missing parents (existing folders are fine).
func makeDirectories(_ path: String) {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        _ = mkdir(current, 0o755)
    }
}
