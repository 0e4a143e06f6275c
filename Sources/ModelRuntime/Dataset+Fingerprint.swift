import ImageData
import WeightFormats

extension Dataset {
    /// A fingerprint of the samples (64 hex digits), the same on every machine that reads the same
    /// data, different when the data changes; `nil` for samples built in memory.
    ///
    /// It is the SHA-256 of a short text (`Formats/stats.md`):
    /// - a tensor file (npz, npy, safetensors, a sharded safetensors set): `tensors x=XKEY y=YKEY`,
    ///   then the SHA-256 of every file (a sharded set: each shard, in the index's order). Files are
    ///   read once, whole; their names do not count, so a renamed copy matches.
    /// - an image source: ``ImageSamples/fingerprintText`` (names relative to the source, sizes,
    ///   labels and the preprocessing pipeline; images are not read).
    /// - Throws: ``WeightFileError`` when a file cannot be read.
    public func fingerprint() throws -> String? {
        if let images = imageSamples {
            return Self.sha256(images.fingerprintText)
        }
        guard let source = fileSource else { return nil }
        var text = "tensors x=\(source.xKey) y=\(source.yKey ?? "-")\n"
        var files = [source.path]
        if let sharded = try? Checkpoint.open(source.path) as? ShardedSafeTensors { files = sharded.shardFiles }
        for file in files {
            do { text += try SHA256.hex(ofFile: file) + "\n" } catch let error as WeightFileError { throw error } catch {
                throw WeightFileError(path: file, underlying: error)
            }
        }
        return Self.sha256(text)
    }

    private static func sha256(_ text: String) -> String {
        var hasher = SHA256()
        hasher.update(Array(text.utf8))
        return hasher.finalize()
    }
}
