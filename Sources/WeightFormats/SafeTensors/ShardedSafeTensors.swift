#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CJSONC
import Safeguards

/// A sharded safetensors checkpoint: `NAME.safetensors.index.json` plus the shards it names,
/// presented as one checkpoint.
///
/// The index is `{"metadata": {"total_size": …}, "weight_map": {tensor: shard file}}`; `metadata`
/// is informational and ignored. Opening maps and validates every shard (headers only) and checks
/// that:
/// - every shard named exists, in the index's folder (or below it), and is a regular file that
///   stays inside that folder (``PathContainment``: no absolute names, no `..`, no symbolic link
///   leading out);
/// - each tensor the index lists is in the shard it names, and no shard holds a tensor the index
///   does not list (or lists under another shard);
/// - no tensor is in two shards.
/// A defect inside a shard is reported as a ``WeightFileError`` carrying that shard's path.
public final class ShardedSafeTensors: CheckpointReader, @unchecked Sendable {
    /// The index file.
    public let path: String
    public var format: WeightFormat { .shardedSafetensors }
    /// The `__metadata__` of the first shard (in ``shardFiles`` order).
    public let metadata: [String: String]
    /// Tensors in shard order, then data-offset order within each shard.
    public let tensors: [TensorInfo]
    /// The paths of the shard files, sorted by file name.
    public let shardFiles: [String]
    private let shards: [String: SafeTensorsFile]
    /// The index, mapped for as long as the set is open (so that no output can replace it).
    private let indexFile: MappedFile
    private let shardOfTensor: [String: String]

    /// Opens the index at `indexPath` and every shard it names.
    /// - Throws: ``ShardedSafeTensorsError`` for a defect of the set, ``WeightFileError`` (with the
    ///   shard's path) for a defect of one shard, ``FileAccessError`` if the index cannot be read.
    public init(indexPath: String) throws {
        path = indexPath
        indexFile = try MappedFile(path: indexPath)
        let weightMap = try Self.parseIndex(indexFile.bytes)
        let directory = indexPath.lastIndex(of: "/").map { String(indexPath[..<$0]) } ?? "."
        let files = Set(weightMap.values).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var mapped: [String: MappedFile] = [:]
        for file in files {
            guard PathContainment.isRelativeInside(file) else { throw ShardedSafeTensorsError.shardOutsideFolder(file: file) }
            mapped[file] = try Self.openShard(file, inFolder: directory)
        }
        var shards: [String: SafeTensorsFile] = [:]
        var shardOfTensor: [String: String] = [:]
        var fileOfTensor: [String: String] = [:]
        var tensors: [TensorInfo] = []
        for file in files {
            let shardPath = directory + "/" + file
            let shard: SafeTensorsFile
            do {
                shard = try SafeTensorsFile(file: mapped[file]!)
            } catch {
                throw WeightFileError(path: shardPath, underlying: error)
            }
            shards[shardPath] = shard
            for info in shard.tensors {
                if let other = fileOfTensor[info.name] {
                    throw ShardedSafeTensorsError.tensorInTwoShards(tensor: info.name, first: other, second: file)
                }
                guard weightMap[info.name] == file else {
                    throw ShardedSafeTensorsError.tensorNotInIndex(tensor: info.name, file: file)
                }
                fileOfTensor[info.name] = file
                shardOfTensor[info.name] = shardPath
                tensors.append(info)
            }
        }
        for (name, file) in weightMap.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) })
        where shardOfTensor[name] == nil {
            throw ShardedSafeTensorsError.tensorMissingFromShard(tensor: name, file: file)
        }
        self.shards = shards
        self.shardOfTensor = shardOfTensor
        self.tensors = tensors
        shardFiles = files.map { directory + "/" + $0 }
        metadata = shardFiles.first.flatMap { shards[$0]?.metadata } ?? [:]
    }

    /// Maps shard `file` inside `folder` (``PathContainment``): a shard that leads out of the
    /// folder is ``ShardedSafeTensorsError/shardOutsideFolder(file:)``, a missing one
    /// ``ShardedSafeTensorsError/missingShard(file:)``, any other failure (a FIFO, a folder) a
    /// ``WeightFileError`` with the shard's path.
    static func openShard(_ file: String, inFolder folder: String) throws -> MappedFile {
        do throws(FileAccessError) {
            return try MappedFile(named: file, inFolder: folder)
        } catch {
            let path = folder + "/" + file
            switch error {
            case .outsideFolder: throw ShardedSafeTensorsError.shardOutsideFolder(file: file)
            case .cannotOpen where access(path, F_OK) != 0: throw ShardedSafeTensorsError.missingShard(file: file)
            default: throw WeightFileError(path: path, underlying: error)
            }
        }
    }

    /// The path of the shard holding `name`, or `nil`.
    public func shardPath(of name: String) -> String? { shardOfTensor[name] }

    public func releasePages(_ view: UnsafeRawBufferPointer) {
        for shard in shards.values { shard.releasePages(view) }
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let shardPath = shardOfTensor[name], let shard = shards[shardPath] else {
            throw CheckpointError.tensorNotFound(name: name)
        }
        return try shard.withBytes(of: name, body)
    }

    /// The `weight_map` of an index file.
    static func parseIndex(_ bytes: UnsafeRawBufferPointer) throws(ShardedSafeTensorsError) -> [String: String] {
        guard let tokener = json_tokener_new_ex(32) else { throw .invalidIndex(reason: "out of memory") }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8))
        if let nul = bytes.firstIndex(of: 0) { throw .invalidIndex(reason: "not valid JSON: NUL byte at byte \(nul)") }
        let root = bytes.withMemoryRebound(to: CChar.self) {
            json_tokener_parse_ex(tokener, $0.baseAddress, Int32(clamping: $0.count))
        }
        let end = json_tokener_get_parse_end(tokener)
        let error = json_tokener_get_error(tokener)
        if root == nil, error == json_tokener_success { throw .invalidIndex(reason: "not a JSON object") }
        guard let root else {
            throw .invalidIndex(reason: "not valid JSON: " + (error == json_tokener_continue
                ? "incomplete" : String(cString: json_tokener_error_desc(error))) + " at byte \(end)")
        }
        defer { json_object_put(root) }
        if end < bytes.count, !bytes[end...].allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            throw .invalidIndex(reason: "not valid JSON: trailing characters at byte \(end)")
        }
        guard json_object_is_type(root, json_type_object) != 0 else { throw .invalidIndex(reason: "not a JSON object") }
        var mapObject: OpaquePointer?
        guard json_object_object_get_ex(root, "weight_map", &mapObject) != 0,
              json_object_is_type(mapObject, json_type_object) != 0 else {
            throw .invalidIndex(reason: "no \"weight_map\" object")
        }
        var map: [String: String] = [:]
        for (name, value) in JSONObjectMembers(mapObject) {
            guard json_object_is_type(value, json_type_string) != 0 else {
                throw .invalidIndex(reason: "the shard of '\(Escaping.printable(name))' is not a string")
            }
            map[name] = jsonString(value)
        }
        guard !map.isEmpty else { throw .invalidIndex(reason: "the weight_map names no tensors") }
        return map
    }
}

/// Defects of a sharded safetensors set (defects inside one shard are ``SafeTensorsError``s,
/// wrapped in a ``WeightFileError`` with the shard's path).
public enum ShardedSafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The index is not JSON, not an object, or has no `weight_map` object of strings.
    case invalidIndex(reason: String)
    /// A shard the index names does not exist.
    case missingShard(file: String)
    /// A shard named by an absolute path or with `..`.
    case shardOutsideFolder(file: String)
    /// A shard holds a tensor the index does not list, or lists under another shard.
    case tensorNotInIndex(tensor: String, file: String)
    /// The index lists a tensor that its shard does not hold.
    case tensorMissingFromShard(tensor: String, file: String)
    /// Two shards hold a tensor of the same name.
    case tensorInTwoShards(tensor: String, first: String, second: String)

    public var description: String {
        switch self {
        case .invalidIndex(let reason):
            "invalid index: \(reason)"
        case .missingShard(let file):
            "shard '\(Escaping.printable(file))' named in the index does not exist"
        case .shardOutsideFolder(let file):
            "shard '\(Escaping.printable(file))' is outside the index's folder (an absolute name, '..' or a symbolic link out of it); name shards relative to it"
        case .tensorNotInIndex(let tensor, let file):
            "tensor '\(Escaping.printable(tensor))' in shard '\(Escaping.printable(file))' is not listed in the index under that shard"
        case .tensorMissingFromShard(let tensor, let file):
            "tensor '\(Escaping.printable(tensor))' is listed in the index but not found in shard '\(Escaping.printable(file))'"
        case .tensorInTwoShards(let tensor, let first, let second):
            "tensor '\(Escaping.printable(tensor))' is in two shards: '\(Escaping.printable(first))' and '\(Escaping.printable(second))'"
        }
    }
}
