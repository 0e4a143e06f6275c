import WeightFormats

extension UnlearningResult {
    /// What ``writeFolder(_:copyingFrom:)`` wrote.
    public struct FolderOutput {
        /// The audit record, with the output's paths in the final folder.
        public let record: AuditRecord
        /// The description files copied and the weight files left out.
        public let companions: ModelFolderWriter.CompanionCopy
    }

    /// Writes the unlearned model as a model folder at `destination`: the edited weights under
    /// the input's own file name (`model.safetensors`, or a sharded set's
    /// `model.safetensors.index.json` and `model-0000k-of-0000n.safetensors`, or `model.onnx`), and
    /// copies of the input folder's description files (`config.json`, `preprocessor_config.json`,
    /// model card…; see ``ModelFolderWriter``), so that transformers' and timm's loaders, and
    /// modelforget, open it as they opened the input. Nothing appears at `destination` unless
    /// everything was written; an existing `destination` is refused, as is the input folder.
    public func writeFolder(_ destination: String, copyingFrom folder: String) throws -> FolderOutput {
        if let input = PathContainment.canonicalPath(folder), PathContainment.canonicalPath(destination) == input {
            throw WeightFileError(path: destination, underlying: FileAccessError.outputIsInput(path: destination, input: folder))
        }
        let writer = try ModelFolderWriter(destination: destination)
        var name = Self.fileName(request.weights.path)
        if name.hasSuffix(".safetensors.index.json") { name = String(name.dropLast(".index.json".count)) }
        let staged = try write(to: writer.path(of: name))
        writer.adopt(staged.output.sha256.keys.sorted())
        let inputFiles = Set(EditedCheckpoint.files(of: request.weights).map(Self.fileName))
        let companions = try writer.copyCompanions(from: folder, excluding: inputFiles)
        try writer.commit()
        return FolderOutput(record: staged.movingOutput(from: writer.staging, to: writer.destination), companions: companions)
    }

    static func fileName(_ path: String) -> String {
        path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    }
}

extension AuditRecord {
    /// The record of an output written under `staging` and then renamed to `destination`.
    func movingOutput(from staging: String, to destination: String) -> AuditRecord {
        func moved(_ path: String) -> String { path.hasPrefix(staging + "/") ? destination + path.dropFirst(staging.count) : path }
        var copy = self
        copy.output = File(path: moved(output.path), format: output.format,
                           sha256: Dictionary(uniqueKeysWithValues: output.sha256.map { (moved($0.key), $0.value) }))
        return copy
    }
}
