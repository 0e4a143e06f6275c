import CArchive
import Foundation
import Safeguards
import WeightFormats

extension ImageCollection {
    /// Image members of a WebDataset sample, in the order of preference when a sample has several.
    static let webDatasetImageExtensions = ["jpg", "jpeg", "png", "webp"]

    /// WebDataset tar shards: `pattern` is one shard or a brace pattern (``BracePattern``).
    ///
    /// The shards are streamed once with libarchive to index their members: a sample is a run of
    /// adjacent members sharing a key (the path up to the first dot of the file name, as
    /// WebDataset groups them); its image is its `jpg`, `jpeg`, `png` or `webp` member, its label
    /// the integer in its `cls` member. Members of uncompressed shards are then read by offset;
    /// members of compressed shards (`.tar.gz`…), which cannot be read by offset, are kept in
    /// memory (their encoded bytes) and a note says so.
    static func webDataset(_ pattern: String, labelNames: [String]?) throws -> ImageCollection {
        let shards = try BracePattern.expand(pattern)
        var samples: [Sample] = [], blobs: [[UInt8]] = []
        var compressed: [String] = []
        var starts: [Int] = []
        for (index, shard) in shards.enumerated() {
            let result = try ArchiveLocale.utf8 { try indexShard(shard, index: index, blobs: &blobs) }
            starts.append(samples.count)
            samples += result.samples
            if result.compressed { compressed.append(shard) }
        }
        guard !samples.isEmpty else { throw ImageSourceError(path: pattern, reason: "the shards hold no samples with an image") }
        let labelled = samples.filter { $0.label != nil }.count
        if labelled != 0 && labelled != samples.count {
            let missing = samples.first { $0.label == nil }!
            throw ImageSourceError(path: missing.name, reason: "no .cls member, but other samples have one")
        }
        var notes: [String] = []
        if !compressed.isEmpty {
            notes.append("\(compressed.count) compressed shard\(compressed.count == 1 ? "" : "s") (\(Escaping.printable(compressed[0]))…) cannot be read by offset: "
                + "their images are kept in memory, encoded; store shards uncompressed to read them from disk")
        }
        return ImageCollection(path: pattern, kind: .webDataset, samples: samples, mapping: .integers, notes: notes,
                               shards: shards, shardStarts: starts, blobs: blobs)
    }

    /// The samples of one shard.
    private static func indexShard(_ shard: String, index: Int, blobs: inout [[UInt8]]) throws -> (samples: [Sample], compressed: Bool) {
        guard FileManager.default.fileExists(atPath: shard) else { throw ImageSourceError(path: shard, reason: "no such shard") }
        let descriptor: Int32
        do { descriptor = try FileBytes.openRegular(shard).descriptor } catch {
            throw ImageSourceError(path: shard, reason: error.description)
        }
        defer { close(descriptor) }
        guard let archive = archive_read_new() else { throw ImageSourceError(path: shard, reason: "out of memory") }
        defer { archive_read_free(archive) }
        archive_read_support_format_tar(archive)
        archive_read_support_format_gnutar(archive)
        archive_read_support_filter_all(archive)
        guard archive_read_open_fd(archive, descriptor, 1 << 16) == ARCHIVE_OK else {
            throw ImageSourceError(path: shard, reason: "not a tar file (\(Self.message(archive)))")
        }
        var samples: [Sample] = []
        var currentKey: String?
        var image: (name: String, rank: Int, location: Sample.Location)?
        var label: Int?
        var compressed: Bool?
        func finish() throws {
            if let key = currentKey {
                guard let image else {
                    throw ImageSourceError(path: "\(shard):\(key)", reason: "sample has no image member (.jpg, .jpeg, .png or .webp)")
                }
                samples.append(Sample(name: "\(shard):\(image.name)", location: image.location, label: label))
            }
            image = nil
            label = nil
        }
        var entry: OpaquePointer?
        while true {
            let status = archive_read_next_header(archive, &entry)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
                throw ImageSourceError(path: shard, reason: "damaged tar (\(Self.message(archive)))")
            }
            if compressed == nil {
                compressed = (0..<max(archive_filter_count(archive) - 1, 0)).contains { archive_filter_code(archive, Int32($0)) != ARCHIVE_FILTER_NONE }
            }
            // Regular files only (AE_IFREG, a macro Swift does not import).
            guard archive_entry_filetype(entry) == 0o100000, let rawName = archive_entry_pathname(entry) else { continue }
            let name = String(cString: rawName)
            let (key, ext) = Self.splitKey(name)
            if key != currentKey {
                try finish()
                currentKey = key
            }
            let size = Int(archive_entry_size(entry))
            let lowered = ext.lowercased()
            if lowered == "cls" {
                let bytes = try Self.readData(archive, size: min(size, 64), shard: shard)
                let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard let value = Int(text), value >= 0 else {
                    throw ImageSourceError(path: "\(shard):\(name)", reason: "holds '\(Escaping.printable(String(text.prefix(20))))', not a class index")
                }
                label = value
            } else if let rank = webDatasetImageExtensions.firstIndex(of: lowered), rank < (image?.rank ?? Int.max) {
                let location: Sample.Location
                if compressed == true || archive_entry_sparse_count(entry) > 0 {
                    blobs.append(try Self.readData(archive, size: size, shard: shard))
                    location = .blob(blobs.count - 1)
                } else {
                    // After the header the uncompressed stream stands at the member's first byte.
                    location = .member(shard: index, offset: Int(archive_filter_bytes(archive, 0)), size: size)
                }
                image = (name, rank, location)
            }
        }
        try finish()
        return (samples, compressed ?? false)
    }

    /// WebDataset's split of a member name: the key is everything up to the first dot of the
    /// file name, the extension the rest (`dir/a.b.jpg` → `dir/a`, `b.jpg`).
    static func splitKey(_ name: String) -> (key: String, ext: String) {
        let slash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[slash...].firstIndex(of: ".") else { return (name, "") }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }

    private static func readData(_ archive: OpaquePointer, size: Int, shard: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let n = bytes.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress! + filled, size - filled) }
            guard n > 0 else { throw ImageSourceError(path: shard, reason: "damaged tar (\(Self.message(archive)))") }
            filled += n
        }
        return bytes
    }

    private static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { Escaping.printable(String(cString: $0)) } ?? "unknown error"
    }
}
