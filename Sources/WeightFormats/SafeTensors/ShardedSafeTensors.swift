import CJSONC

/// A sharded safetensors checkpoint: `NAME.safetensors.index.json` plus the shards it names,
/// presented as one checkpoint.
///
/// The index is `{"metadata": {"total_size": …}, "weight_map": {tensor: shard file}}` (unknown
/// keys in `metadata` are ignored). Opening checks that every shard exists and is a valid
/// safetensors file, that each tensor is in the shard the index names, that no shard holds a
/// tensor the index does not list, and that no tensor is in two shards.
public final class ShardedSafeTensors: CheckpointReader, @unchecked Sendable {
    public let path: String
    public var format: WeightFormat { .shardedSafetensors }
    /// The `__metadata__` of the first shard.
    public let metadata: [String: String]
    /// Tensors in shard order, then data-offset order within each shard.
    public let tensors: [TensorInfo]
    /// The shard files, in index order (sorted by name).
    public let shardFiles: [String]
    private let shards: [String: SafeTensorsFile]
    private let shardOfTensor: [String: String]

    public init(indexPath: String) throws {
        path = indexPath
        let indexFile = try MappedFile(path: indexPath)
        let weightMap = try Self.parseIndex(indexFile.bytes)
        let directory = indexPath.lastIndex(of: "/").map { String(indexPath[..<$0]) } ?? "."
        let files = Array(Set(weightMap.values)).sorted()
        var shards: [String: SafeTensorsFile] = [:]
        var shardOfTensor: [String: String] = [:]
        var tensors: [TensorInfo] = []
        for file in files {
            guard !file.hasPrefix("/"), !file.split(separator: "/").contains("..") else {
                throw ShardedSafeTensorsError.shardOutsideFolder(file: file)
            }
            let shardPath = directory + "/" + file
            let shard: SafeTensorsFile
            do {
                shard = try SafeTensorsFile(path: shardPath)
            } catch FileAccessError.cannotOpen {
                throw ShardedSafeTensorsError.missingShard(file: file)
            } catch {
                throw WeightFileError(path: shardPath, underlying: error)
            }
            shards[shardPath] = shard
            for info in shard.tensors {
                if let other = shardOfTensor[info.name] {
                    throw ShardedSafeTensorsError.tensorInTwoShards(tensor: info.name, first: Self.base(other), second: file)
                }
                guard weightMap[info.name] == file else {
                    throw ShardedSafeTensorsError.tensorNotInIndex(tensor: info.name, file: file)
                }
                shardOfTensor[info.name] = shardPath
                tensors.append(info)
            }
        }
        for (name, file) in weightMap.sorted(by: { $0.key < $1.key }) where shardOfTensor[name] == nil {
            throw ShardedSafeTensorsError.tensorMissingFromShard(tensor: name, file: file)
        }
        self.shards = shards
        self.shardOfTensor = shardOfTensor
        self.tensors = tensors
        shardFiles = files.map { directory + "/" + $0 }
        metadata = shardFiles.first.flatMap { shards[$0]?.metadata } ?? [:]
    }

    /// The path of the shard holding `name`.
    public func shardPath(of name: String) -> String? { shardOfTensor[name] }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let shardPath = shardOfTensor[name], let shard = shards[shardPath] else {
            throw CheckpointError.tensorNotFound(name: name)
        }
        return try shard.withBytes(of: name, body)
    }

    private static func base(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// The `weight_map` of an index file.
    static func parseIndex(_ bytes: UnsafeRawBufferPointer) throws(ShardedSafeTensorsError) -> [String: String] {
        guard let tokener = json_tokener_new_ex(16) else { throw .invalidIndex(reason: "out of memory") }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8))
        let root = bytes.withMemoryRebound(to: CChar.self) {
            json_tokener_parse_ex(tokener, $0.baseAddress, Int32(clamping: $0.count))
        }
        guard let root else {
            let error = json_tokener_get_error(tokener)
            throw .invalidIndex(reason: "not valid JSON: " + (error == json_tokener_continue
                ? "incomplete" : String(cString: json_tokener_error_desc(error))))
        }
        defer { json_object_put(root) }
        var mapObject: OpaquePointer?
        guard json_object_is_type(root, json_type_object) != 0,
              json_object_object_get_ex(root, "weight_map", &mapObject) != 0,
              json_object_is_type(mapObject, json_type_object) != 0 else {
            throw .invalidIndex(reason: "no \"weight_map\" object")
        }
        var map: [String: String] = [:]
        for (name, value) in JSONObjectMembers(mapObject) {
            guard json_object_is_type(value, json_type_string) != 0 else {
                throw .invalidIndex(reason: "the shard of '\(name)' is not a string")
            }
            map[name] = jsonString(value)
        }
        return map
    }
}

/// Defects of a sharded safetensors set.
public enum ShardedSafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidIndex(reason: String)
    case missingShard(file: String)
    case shardOutsideFolder(file: String)
    case tensorNotInIndex(tensor: String, file: String)
    case tensorMissingFromShard(tensor: String, file: String)
    case tensorInTwoShards(tensor: String, first: String, second: String)

    public var description: String {
        switch self {
        case .invalidIndex(let reason): "invalid index: \(reason)"
        case .missingShard(let file): "shard '\(file)' named in the index does not exist"
        case .shardOutsideFolder(let file): "shard '\(file)' is outside the index's folder"
        case .tensorNotInIndex(let tensor, let file): "tensor '\(tensor)' in shard '\(file)' is not listed in the index (or listed under another shard)"
        case .tensorMissingFromShard(let tensor, let file): "tensor '\(tensor)' is listed in the index but not found in shard '\(file)'"
        case .tensorInTwoShards(let tensor, let first, let second): "tensor '\(tensor)' is in two shards: '\(first)' and '\(second)'"
        }
    }
}

extension SafeTensorsWriter {
    /// Writes `tensors` as shards of at most `maxShardSize` bytes of tensor data plus an index.
    ///
    /// Shards are filled greedily in the given order; a tensor larger than the limit gets a shard
    /// of its own. A set that fits in one shard is written as the single file `path`, without an
    /// index. Otherwise, for `DIR/NAME.safetensors`: `DIR/NAME-00001-of-0000K.safetensors` … and
    /// `DIR/NAME.safetensors.index.json` (sorted keys, two-space indent, as `transformers` writes
    /// it). Files are renamed into place only after all were written.
    /// - Returns: the files written.
    public static func writeSharded(
        to path: String, tensors: [TensorInfo], metadata: [String: String]?, maxShardSize: Int,
        bytes: TensorBytesProvider
    ) throws -> [String] {
        var groups: [[TensorInfo]] = []
        var current: [TensorInfo] = []
        var currentSize = 0
        for info in tensors {
            let size = info.byteCount ?? 0
            if !current.isEmpty && currentSize + size > maxShardSize {
                groups.append(current)
                current = []
                currentSize = 0
            }
            current.append(info)
            currentSize += size
        }
        if !current.isEmpty || groups.isEmpty { groups.append(current) }
        return try writeSharded(to: path, groups: groups, metadata: metadata, bytes: bytes)
    }

    /// Writes one shard per group of tensors (as given), plus the index; a single group is a
    /// plain file without an index.
    public static func writeSharded(
        to path: String, groups: [[TensorInfo]], metadata: [String: String]?, bytes: TensorBytesProvider
    ) throws -> [String] {
        let tensors = groups.flatMap { $0 }
        if groups.count <= 1 {
            try write(to: path, tensors: tensors, metadata: metadata, bytes: bytes)
            return [path]
        }
        let stem = path.hasSuffix(".safetensors") ? String(path.dropLast(".safetensors".count)) : path
        let directoryPrefix = stem.lastIndex(of: "/").map { String(stem[...$0]) } ?? ""
        var writers: [AtomicFileWriter] = []
        var weightMap: [(String, String)] = []
        for (index, group) in groups.enumerated() {
            let shardPath = stem + "-" + fiveDigits(index + 1) + "-of-" + fiveDigits(groups.count) + ".safetensors"
            let writer = try AtomicFileWriter(destination: shardPath)
            try writeContents(to: writer, tensors: group, metadata: metadata, bytes: bytes)
            writers.append(writer)
            let shardName = String(shardPath.dropFirst(directoryPrefix.count))
            weightMap += group.map { ($0.name, shardName) }
        }
        let totalSize = tensors.reduce(0) { $0 + ($1.byteCount ?? 0) }
        var json = "{\n  \"metadata\": {\n    \"total_size\": \(totalSize)\n  },\n  \"weight_map\": {\n"
        json += weightMap.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
            .map { "    \(jsonQuoted($0.0)): \(jsonQuoted($0.1))" }.joined(separator: ",\n")
        json += "\n  }\n}\n"
        let indexWriter = try AtomicFileWriter(destination: path + ".index.json")
        try indexWriter.write(json)
        for writer in writers { try writer.commit() }
        try indexWriter.commit()
        return writers.map(\.destination) + [indexWriter.destination]
    }

    private static func fiveDigits(_ value: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, 5 - text.count)) + text
    }
}
