#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a model folder — weights plus the small files beside them, as transformers'
/// `save_pretrained` and timm's `save_for_hf` lay them out — as one unit.
///
/// Files are written into a staging folder `.NAME.partial-XXXXXX` beside the destination (so
/// the final rename stays on one file system); ``commit()`` renames it onto the destination, so
/// a failed run leaves nothing. An existing destination is never replaced (unlike a file, a
/// folder may hold anything): the writer refuses it before any work is done. The staging
/// folder and its files are listed with ``TemporaryFiles`` and removed when the process is
/// stopped by a signal; ``discard()`` (or dropping the writer uncommitted) removes them too.
///
/// Companion files (``copyCompanions(from:excluding:)``) are only the model's description —
/// `*.json` (not a safetensors index, which the weights writer rewrites), `*.txt`, `*.md` —
/// read through ``PathContainment`` (regular files that stay inside the source folder). Other
/// weight files (`pytorch_model.bin`, a second `*.safetensors`, `model.onnx`) hold the original,
/// unedited weights: they are never copied, and are reported so the caller can say so.
public final class ModelFolderWriter {
    /// The folder the model ends up in.
    public let destination: String
    /// The folder files are written to until ``commit()``.
    public let staging: String
    private var slots: [Int] = []
    private var committed = false

    /// Creates the staging folder beside `destination` (a trailing `/` is ignored).
    /// - Throws: ``WeightFileError`` with ``FileAccessError/cannotWrite(path:reason:)`` when
    ///   the staging folder cannot be made, or ``FileAccessError/outputIsInput(path:input:)``
    ///   when the destination is a file this run reads.
    public init(destination: String) throws {
        var trimmed = destination
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.destination = trimmed
        var existing = stat()
        if lstat(trimmed, &existing) == 0 {
            throw WeightFileError(path: trimmed, underlying: FileAccessError.cannotWrite(
                path: trimmed, reason: "it exists; remove it or give another output folder (a model folder is never replaced)"))
        }
        let slash = trimmed.lastIndex(of: "/")
        let parent = slash.map { String(trimmed[..<$0]) } ?? "."
        let name = slash.map { String(trimmed[trimmed.index(after: $0)...]) } ?? trimmed
        var template = Array("\(parent.isEmpty ? "/" : parent)/.\(name).partial-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw WeightFileError(path: trimmed, underlying: FileAccessError.cannotWrite(path: trimmed, reason: String(cString: strerror(errno))))
        }
        staging = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        _ = chmod(staging, 0o777 & ~AtomicFileWriter.processUmask)
        if let slot = TemporaryFiles.add(staging) { slots.append(slot) }
    }

    /// The path of `name` inside the staging folder.
    public func path(of name: String) -> String { staging + "/" + name }

    /// Lists files written into the staging folder by other writers (the weights), so that a
    /// signal before ``commit()`` removes them with the folder.
    public func adopt(_ paths: [String]) {
        for path in paths { if let slot = TemporaryFiles.add(path) { slots.append(slot) } }
    }

    /// Files of `folder` that describe the model and would be stale or dangerous to copy.
    public struct CompanionCopy: Sendable, Equatable {
        /// Copied into the new folder, by name.
        public var copied: [String] = []
        /// Weight files left out (they hold the original weights).
        public var leftOut: [String] = []
    }

    /// Copies the description files of `folder` (see the type's documentation) into the staging
    /// folder, except the names in `excluding` (the weights being rewritten).
    /// - Throws: ``WeightFileError`` naming the file that cannot be read or written.
    @discardableResult
    public func copyCompanions(from folder: String, excluding: Set<String>) throws -> CompanionCopy {
        var result = CompanionCopy()
        for name in try Self.entries(of: folder).sorted() where !excluding.contains(name) && !name.hasPrefix(".") {
            let lower = name.lowercased()
            if Self.weightExtensions.contains(where: { lower.hasSuffix($0) }) {
                result.leftOut.append(name)
                continue
            }
            guard Self.companionExtensions.contains(where: { lower.hasSuffix($0) }), !lower.hasSuffix(".safetensors.index.json") else { continue }
            let source = (folder.hasSuffix("/") ? folder : folder + "/") + name
            var status = stat()
            guard stat(source, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { continue }
            let bytes: [UInt8]
            do { bytes = try Self.readContained(name, inFolder: folder) } catch { throw WeightFileError(path: source, underlying: error) }
            let writer = try AtomicFileWriter(destination: path(of: name))
            do {
                try writer.write(bytes)
                try writer.commit()
            } catch {
                throw WeightFileError(path: path(of: name), underlying: error)
            }
            adopt([path(of: name)])
            result.copied.append(name)
        }
        return result
    }

    /// Renames the staging folder onto the destination.
    /// - Throws: ``WeightFileError`` when the rename fails (a destination that appeared
    ///   meanwhile and is not empty); the staging folder is then removed.
    public func commit() throws {
        guard rename(staging, destination) == 0 else {
            let reason = errno == ENOTEMPTY || errno == EEXIST ? "the folder exists; remove it or give another output folder"
                                                                : String(cString: strerror(errno))
            discard()
            throw failure(reason)
        }
        committed = true
        for slot in slots { TemporaryFiles.remove(slot) }
        slots = []
    }

    /// Removes the staging folder and everything in it.
    public func discard() {
        guard !committed else { return }
        committed = true
        Self.removeTree(staging)
        for slot in slots { TemporaryFiles.remove(slot) }
        slots = []
    }

    deinit { discard() }

    // MARK: - Helpers

    static let companionExtensions = [".json", ".txt", ".md"]
    static let weightExtensions = [".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".onnx.data", ".npz", ".npy", ".gguf"]

    private func failure(_ reason: String) -> WeightFileError {
        WeightFileError(path: destination, underlying: FileAccessError.cannotWrite(path: destination, reason: reason))
    }

    static func entries(of folder: String) throws -> [String] {
        guard let directory = opendir(folder) else {
            throw WeightFileError(path: folder, underlying: FileAccessError.cannotOpen(path: folder, reason: String(cString: strerror(errno))))
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The bytes of `name` in `folder`, opened by the ``PathContainment`` rules.
    static func readContained(_ name: String, inFolder folder: String) throws(FileAccessError) -> [UInt8] {
        let opened = try PathContainment.open(name, inFolder: folder)
        defer { close(opened.descriptor) }
        return try readAll(opened.descriptor, count: Int(opened.status.st_size), path: folder + "/" + name)
    }

    static func readAll(_ descriptor: Int32, count: Int, path: String) throws(FileAccessError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .cannotOpen(path: path, reason: n < 0 ? String(cString: strerror(errno)) : "the file shrank while it was read") }
            done += n
        }
        return bytes
    }

    /// Removes a folder this writer made (files and folders only; links are removed, not followed).
    static func removeTree(_ path: String) {
        if let names = try? entries(of: path) {
            for name in names {
                let child = path + "/" + name
                var status = stat()
                if lstat(child, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR { removeTree(child) } else { unlink(child) }
            }
        }
        rmdir(path)
    }
}
