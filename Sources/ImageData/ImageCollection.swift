import Foundation

/// A labelled set of encoded images: a folder per class, a manifest, or WebDataset tar shards.
///
/// Opening reads the directory tree, the manifest or the shards' member headers (an index of
/// names, labels and byte offsets), never the images; ``bytes(of:)`` reads one image's bytes
/// when asked, from any thread. Sample order is deterministic: torchvision's ImageFolder order
/// for folders, line order for manifests, shard then member order for WebDataset.
public final class ImageCollection: Sendable {
    public enum Kind: String, Sendable, Codable {
        case imageFolder = "image_folder"
        case manifest
        case webDataset = "webdataset"
    }

    /// One sample: where its bytes are, how it is named in messages, its class index.
    public struct Sample: Sendable, Equatable {
        public enum Location: Sendable, Equatable {
            case file(String)
            /// A member of an uncompressed tar shard, read by offset.
            case member(shard: Int, offset: Int, size: Int)
            /// A member of a compressed shard, kept in memory (``ImageCollection/blobs``).
            case blob(Int)
        }
        public var name: String
        public var location: Location
        public var label: Int?
    }

    public let path: String
    public let kind: Kind
    public let samples: [Sample]
    public let mapping: LabelMapping
    /// Things the user should know (numeric class folders sorted as text, compressed shards…).
    public let notes: [String]
    /// The shard files (WebDataset).
    public let shards: [String]
    /// The index of the first sample of each shard (WebDataset; ascending, one per shard).
    public let shardStarts: [Int]
    let blobs: [[UInt8]]

    init(path: String, kind: Kind, samples: [Sample], mapping: LabelMapping, notes: [String] = [], shards: [String] = [],
         shardStarts: [Int] = [], blobs: [[UInt8]] = []) {
        self.path = path
        self.kind = kind
        self.samples = samples
        self.mapping = mapping
        self.notes = notes
        self.shards = shards
        self.shardStarts = shardStarts
        self.blobs = blobs
    }

    /// The shard holding sample `index` (WebDataset), `nil` for other sources.
    public func shard(of index: Int) -> Int? {
        guard !shardStarts.isEmpty else { return nil }
        var low = 0, high = shardStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if shardStarts[middle] <= index { low = middle } else { high = middle - 1 }
        }
        return low
    }

    public var count: Int { samples.count }

    /// The labels, or `nil` when the source has none (a manifest of paths only, shards without `.cls`).
    public var labels: [Int]? {
        var labels: [Int] = []
        labels.reserveCapacity(samples.count)
        for sample in samples {
            guard let label = sample.label else { return nil }
            labels.append(label)
        }
        return labels
    }

    /// The encoded bytes of sample `index`.
    public func bytes(of index: Int) throws(ImageError) -> [UInt8] {
        switch samples[index].location {
        case .file(let path): return try FileBytes.read(path)
        case .member(let shard, let offset, let size): return try FileBytes.read(shards[shard], offset: offset, count: size)
        case .blob(let blob): return blobs[blob]
        }
    }

    /// Whether `path` names an image source rather than a tensor file: a directory, a `.csv`,
    /// `.jsonl` or `.ndjson` manifest, a `.tar`/`.tar.gz`/`.tgz` shard or a brace pattern.
    public static func recognizes(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return true }
        let lower = path.lowercased()
        return BracePattern.hasGroups(path) || [".csv", ".jsonl", ".ndjson", ".tar", ".tar.gz", ".tgz"].contains { lower.hasSuffix($0) }
    }

    /// Opens the image source at `path` (see ``recognizes(_:)``); class names are mapped to the
    /// model's `labelNames` (index → name) when they all are among them.
    /// - Throws: ``ImageSourceError`` naming the defect.
    public static func open(_ path: String, labelNames: [String]? = nil) throws -> ImageCollection {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let lower = path.lowercased()
        if exists && isDirectory.boolValue { return try imageFolder(path, labelNames: labelNames) }
        if [".csv", ".jsonl", ".ndjson"].contains(where: { lower.hasSuffix($0) }) {
            guard exists else { throw ImageSourceError(path: path, reason: "no such file") }
            return try manifest(path, labelNames: labelNames)
        }
        return try webDataset(path, labelNames: labelNames)
    }
}
