#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tensor anywhere in the model (main graph, subgraphs, functions, training info) whose data
/// lives in an external file.
struct ExternalReference: Sendable {
    let tensor: String
    let location: String
    /// The bytes it occupies; open-ended (to the end of the file) when `length` is not given.
    let range: Range<Int>
}

extension ONNXModel {
    /// Every external data reference in the model file, in file order, found by walking all
    /// messages that can hold tensors. Locations are checked like those of the main graph.
    func externalReferences() throws(ONNXError) -> [ExternalReference] {
        var found: [ExternalReference] = []
        var reader = ProtobufReader(file.bytes)
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (7, 2): try scanGraph(try reader.lengthDelimited(), depth: 0, into: &found)
            case (20, 2):   // TrainingInfoProto: initialization = 1, algorithm = 2
                try scanMessage(try reader.lengthDelimited(), depth: 0, into: &found) { number, span, depth, found throws(ONNXError) in
                    if number == 1 || number == 2 { try self.scanGraph(span, depth: depth + 1, into: &found) }
                }
            case (25, 2):   // FunctionProto: node = 7
                try scanMessage(try reader.lengthDelimited(), depth: 0, into: &found) { number, span, depth, found throws(ONNXError) in
                    if number == 7 { try self.scanNode(span, depth: depth, into: &found) }
                }
            default: try reader.skip(wireType: field.wireType)
            }
        }
        return found
    }

    /// Calls `visit` with each length-delimited field of the message at `range`.
    private func scanMessage(
        _ range: Range<Int>, depth: Int, into found: inout [ExternalReference],
        _ visit: (Int, Range<Int>, Int, inout [ExternalReference]) throws(ONNXError) -> Void
    ) throws(ONNXError) {
        var reader = ProtobufReader(file.bytes, range: range)
        while let field = try reader.nextField() {
            if field.wireType == 2 {
                try visit(field.number, try reader.lengthDelimited(), depth, &found)
            } else {
                try reader.skip(wireType: field.wireType)
            }
        }
    }

    private func scanGraph(_ range: Range<Int>, depth: Int, into found: inout [ExternalReference]) throws(ONNXError) {
        guard depth <= ONNXModel.maximumNesting else { throw .nestingTooDeep(offset: range.lowerBound) }
        try scanMessage(range, depth: depth, into: &found) { number, span, depth, found throws(ONNXError) in
            switch number {
            case 1: try self.scanNode(span, depth: depth, into: &found)
            case 5: try self.scanTensor(span, into: &found)
            case 15: try self.scanSparse(span, into: &found)
            default: break
            }
        }
    }

    private func scanNode(_ range: Range<Int>, depth: Int, into found: inout [ExternalReference]) throws(ONNXError) {
        try scanMessage(range, depth: depth, into: &found) { number, span, depth, found throws(ONNXError) in
            guard number == 5 else { return }   // AttributeProto
            try self.scanMessage(span, depth: depth, into: &found) { number, span, depth, found throws(ONNXError) in
                switch number {
                case 5, 10: try self.scanTensor(span, into: &found)
                case 6, 11: try self.scanGraph(span, depth: depth + 1, into: &found)
                case 22, 23: try self.scanSparse(span, into: &found)
                default: break
                }
            }
        }
    }

    private func scanSparse(_ range: Range<Int>, into found: inout [ExternalReference]) throws(ONNXError) {
        try scanMessage(range, depth: 0, into: &found) { number, span, _, found throws(ONNXError) in
            if number == 1 || number == 2 { try self.scanTensor(span, into: &found) }
        }
    }

    /// Records the tensor at `range` if its `data_location` is EXTERNAL.
    private func scanTensor(_ range: Range<Int>, into found: inout [ExternalReference]) throws(ONNXError) {
        var reader = ProtobufReader(file.bytes, range: range)
        var name = "", location = 0
        var entries: [String: String] = [:]
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (8, 2): name = try reader.string()
            case (14, 0): location = Int(truncatingIfNeeded: try reader.varint())
            case (13, 2):
                let (key, value) = try ProtobufReader.stringEntry(file.bytes, range: try reader.lengthDelimited())
                                entries[key] = value
            default: try reader.skip(wireType: field.wireType)
            }
        }
        guard location == 1 else { return }
        guard let path = entries["location"], !path.isEmpty else {
            throw .invalidExternalDataEntry(tensor: name, key: "location")
        }
        guard ONNXTensor.isAllowedLocation(path) else { throw .externalPathNotAllowed(tensor: name, location: path) }
        guard let offset = Int(entries["offset"] ?? "0"), offset >= 0 else {
            throw .invalidExternalDataEntry(tensor: name, key: "offset")
        }
        var end = Int.max
        if let text = entries["length"] {
            guard let length = Int(text), length >= 0 else { throw .invalidExternalDataEntry(tensor: name, key: "length") }
            let (sum, overflow) = offset.addingReportingOverflow(length)
            end = overflow ? Int.max : sum
        }
        found.append(ExternalReference(tensor: name, location: path, range: offset..<end))
    }

    /// The canonical absolute path of a folder, or `nil` when it does not exist.
    static func canonicalPath(_ path: String) -> String? {
        PathContainment.canonicalPath(path)
    }

    /// Maps the external data file `location` inside the model's `folder` (``PathContainment``):
    /// one that leads out of the folder (a symbolic link) is
    /// ``ONNXError/externalPathNotAllowed(tensor:location:)``, a missing one
    /// ``ONNXError/externalDataMissing(tensor:location:)``, one that cannot be read (a FIFO, a
    /// folder) ``ONNXError/externalDataUnreadable(tensor:location:reason:)``.
    static func openExternal(_ location: String, inFolder folder: String, tensor: String) throws(ONNXError) -> MappedFile {
        do throws(FileAccessError) {
            return try MappedFile(named: location, inFolder: folder)
        } catch {
            switch error {
            case .outsideFolder: throw .externalPathNotAllowed(tensor: tensor, location: location)
            case .cannotOpen where access(folder + "/" + location, F_OK) != 0:
                throw .externalDataMissing(tensor: tensor, location: location)
            default: throw .externalDataUnreadable(tensor: tensor, location: location, reason: error.description)
            }
        }
    }

    /// The mapped external data file `location` (mapped on open for the main graph's tensors;
    /// opened now, inside the model's folder, for tensors elsewhere in the model).
    func externalFile(_ location: String, tensor: String) throws(ONNXError) -> MappedFile {
        if let file = externalFiles[location] { return file }
        return try ONNXModel.openExternal(location, inFolder: directory, tensor: tensor)
    }
}

extension ONNXTensor {
    /// A location may not be absolute or contain `..` components (either separator); a
    /// symbolic link out of the folder is caught when the file is opened (``PathContainment``).
    static func isAllowedLocation(_ path: String) -> Bool {
        PathContainment.isRelativeInside(path)
    }
}
