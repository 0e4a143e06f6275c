import Foundation

extension ImageSamples {
    /// The tar shard of each sample in use (WebDataset), `nil` for other sources.
    public var shardOfSample: [Int]? {
        guard collection.kind == .webDataset else { return nil }
        return kept.map { collection.shard(of: $0) ?? 0 }
    }

    /// The text that identifies these samples, hashed into a data set fingerprint: a line with
    /// the kind of source and the preprocessing pipeline, then one line per sample in use,
    /// `NAME<TAB>BYTES<TAB>LABEL`.
    ///
    /// `NAME` is relative to the source (a folder: the path below it; a manifest: the path below
    /// the manifest's folder, or as written when outside it; WebDataset: `SHARD-FILE-NAME:MEMBER`)
    /// so that a copy of the data elsewhere has the same fingerprint; `BYTES` is the encoded
    /// image's size (a file's size from `stat`, a tar member's from its header). Images are not
    /// read: this costs one `stat` per file, and catches images added, removed, renamed,
    /// relabelled or re-encoded to another size, not an edit that keeps a file's size.
    public var fingerprintText: String {
        let root: String
        switch collection.kind {
        case .imageFolder: root = collection.path.hasSuffix("/") ? collection.path : collection.path + "/"
        case .manifest:
            let folder = (collection.path as NSString).deletingLastPathComponent
            root = folder.isEmpty ? "" : folder + "/"
        case .webDataset: root = ""
        }
        var text = "images \(collection.kind.rawValue)\npipeline \(preprocessing.pipeline)\n"
        text.reserveCapacity(text.utf8.count + kept.count * 48)
        for index in kept {
            let sample = collection.samples[index]
            let name: String
            let bytes: Int
            switch sample.location {
            case .file(let path):
                name = !root.isEmpty && path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path
                var info = stat()
                bytes = stat(path, &info) == 0 ? Int(info.st_size) : -1
            case .member(let shard, _, let size):
                name = memberName(sample.name, shard: shard)
                bytes = size
            case .blob(let blob):
                name = memberName(sample.name, shard: collection.shard(of: index) ?? 0)
                bytes = blobs(blob)
            }
            text += "\(name)\t\(bytes)\t\(sample.label.map(String.init) ?? "-")\n"
        }
        return text
    }

    /// `SHARD-FILE-NAME:MEMBER` of a WebDataset sample named `SHARD-PATH:MEMBER`.
    private func memberName(_ name: String, shard: Int) -> String {
        let path = collection.shards[shard]
        let member = name.hasPrefix(path + ":") ? String(name.dropFirst(path.count + 1)) : name
        return (path as NSString).lastPathComponent + ":" + member
    }

    private func blobs(_ index: Int) -> Int { collection.blobs[index].count }
}
