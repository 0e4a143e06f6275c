import Safeguards
import ModelRuntime
import TensorCore
import WeightFormats

/// Per-class activation statistics of a model's weight layers, stored once and reused: the Gram
/// `Σ x xᵀ` of every weight layer's inputs (per convolution group) over the samples of each
/// class, with the number of vectors added. Grams add, so files collected on the parts of a data
/// set (`stats collect --shard i/n`, one per machine) merge by summing (`Formats/stats.md`).
public struct StatisticsFile {
    /// Grams by class, then by layer and group.
    public var grams: [Int: [GramKey: LayerGram]]
    /// Weight parameter name of each layer index, to check the file belongs to the model.
    public var layerWeights: [Int: String]
    /// The ``PatchSampling`` cap the Grams were collected with (metadata `max_patches`; `nil` when
    /// unknown, or when files without provenance collected with different caps were merged).
    public var maxPatches: Int?
    /// Model, data, parts and seed; `nil` for files written before provenance was recorded.
    public var provenance: StatisticsProvenance?

    public init(grams: [Int: [GramKey: LayerGram]], layerWeights: [Int: String], maxPatches: Int? = nil,
                provenance: StatisticsProvenance? = nil) {
        self.grams = grams
        self.layerWeights = layerWeights
        self.maxPatches = maxPatches
        self.provenance = provenance
    }

    /// Collects the statistics of every class present in part `shard` of `data`
    /// (``Dataset/indices(in:)``); `sampling` applies per class of the *whole* data set: a layer
    /// with `p` vectors per sample keeps `k = min(p, ⌈max / n⌉)` of each, `n` being the class's
    /// samples in `data`, whichever part is collected, and the kept positions depend only on the
    /// sample's index in `data` (``PatchSampling``). So the parts' Grams sum to those of a single
    /// run up to the order of float64 additions (and float32 activations that vary in the last
    /// bits with the batch's composition).
    /// - Parameters:
    ///   - modelSHA256, dataFingerprint: recorded in ``provenance`` for ``merged(_:allowPartial:)`` to check.
    ///   - progress: `(done, total)` samples of the part, after every batch.
    /// - Throws: ``UnlearningError/noLabels``; ``ModelError`` when the part cannot be cut.
    public static func collect(_ model: Model, data: Dataset, batchSize: Int, sampling: PatchSampling, shard: DataShard = .whole,
                               modelSHA256: String? = nil, dataFingerprint: String? = nil,
                               progress: ((Int, Int) -> Void)? = nil) throws -> StatisticsFile {
        guard let labels = data.labels else { throw UnlearningError.noLabels }
        var byClass: [Int: [Int]] = [:]
        for (index, label) in labels.enumerated() { byClass[label, default: []].append(index) }
        let part = try data.indices(in: shard)
        var partByClass: [Int: [Int]] = [:]
        for index in part { partByClass[labels[index], default: []].append(index) }
        var grams: [Int: [GramKey: LayerGram]] = [:]
        var done = 0
        for label in partByClass.keys.sorted() {
            let indices = partByClass[label]!
            grams[label] = try ActivationStatistics.collect(model, data: data, indices: indices, setSize: byClass[label]!.count, batchSize: batchSize,
                                                            sampling: sampling, progress: progress.map { report in { classDone, _ in report(done + classDone, part.count) } })
            done += indices.count
        }
        if part.isEmpty { progress?(0, 0) }
        let weights = Dictionary(model.graph.weightLayers.enumerated().map { ($0.offset, $0.element.weight) }, uniquingKeysWith: { a, _ in a })
        let provenance = StatisticsProvenance(modelSHA256: modelSHA256, dataFingerprint: dataFingerprint, shards: ShardSet(shard),
                                              samples: part.count, dataSamples: labels.count, seed: sampling.seed)
        return StatisticsFile(grams: grams, layerWeights: weights, maxPatches: sampling.maxPerLayer, provenance: provenance)
    }

    /// The Grams of `classes`, each class weighted equally (its Gram divided by its vector count),
    /// as the balanced sample selection does when samples come from data.
    public func combined(classes: Set<Int>) -> [GramKey: LayerGram] {
        var result: [GramKey: LayerGram] = [:]
        for label in classes.sorted() {
            guard let perLayer = grams[label] else { continue }
            for (key, gram) in perLayer where gram.rows > 0 {
                var scaled = gram
                let factor = 1 / Double(gram.rows)
                for i in 0..<scaled.gram.count { scaled.gram[i] *= factor }
                scaled.rows = gram.rows
                result[key] = result[key].map { $0.adding(scaled) } ?? scaled
            }
        }
        return result
    }

    /// The plain sum of the Grams of `classes` (each vector counts once): for PGU, the Gram of
    /// the retained classes' data, `C_full − C_forget` without the cancellation of a subtraction.
    public func summed(classes: Set<Int>) -> [GramKey: LayerGram] {
        var result: [GramKey: LayerGram] = [:]
        for label in classes.sorted() {
            for (key, gram) in grams[label] ?? [:] { result[key] = result[key].map { $0.adding(gram) } ?? gram }
        }
        return result
    }

    /// This file without `classes`: the statistics for the next request once they are forgotten.
    public func removing(classes: Set<Int>) -> StatisticsFile {
        var copy = self
        for label in classes { copy.grams[label] = nil }
        copy.provenance?.removedClasses = Array(Set(provenance?.removedClasses ?? []).union(classes)).sorted()
        return copy
    }

    // MARK: - File format

    static func gramName(_ label: Int, _ key: GramKey) -> String { "class.\(label).layer.\(key.layer).group.\(key.group).gram" }
    static func rowsName(_ label: Int, _ key: GramKey) -> String { "class.\(label).layer.\(key.layer).group.\(key.group).rows" }

    /// Writes a safetensors file: per class, layer and group an F64 tensor with the packed upper
    /// triangle of the Gram (row by row, `i ≤ j`; d(d+1)/2 values) and an I64 scalar with the
    /// vector count; metadata `format: modelforget-stats`, `version: 1`, `layer.N` = weight name,
    /// `max_patches` when known, and the ``provenance`` fields.
    public func write(to path: String) throws {
        var tensors: [TensorInfo] = []
        var grams: [String: LayerGram] = [:]
        var rows: [String: Int] = [:]
        for label in self.grams.keys.sorted() {
            for key in self.grams[label]!.keys.sorted() {
                let gram = self.grams[label]![key]!
                let d = gram.dimension
                tensors.append(TensorInfo(name: Self.gramName(label, key), dtype: .F64, shape: [d * (d + 1) / 2]))
                grams[Self.gramName(label, key)] = gram
                tensors.append(TensorInfo(name: Self.rowsName(label, key), dtype: .I64, shape: []))
                rows[Self.rowsName(label, key)] = gram.rows
            }
        }
        // Each Gram is packed when its turn comes, so at most one packed copy is held.
        try Checkpoint.write(to: path, tensors: tensors, options: CheckpointWriteOptions(container: .safetensors, metadata: metadata)) { info, consume in
            if let gram = grams[info.name] {
                let d = gram.dimension
                var packed: [Double] = []
                packed.reserveCapacity(d * (d + 1) / 2)
                for i in 0..<d { packed.append(contentsOf: gram.gram[(i * d + i)..<(i * d + d)]) }
                try packed.withUnsafeBytes { try consume($0) }
            } else {
                try [Int64(rows[info.name]!)].withUnsafeBytes { try consume($0) }
            }
        }
    }

    /// The file's metadata: format, version, layers, `max_patches` and the provenance fields.
    var metadata: [String: String] {
        var metadata = ["format": "modelforget-stats", "version": "1"]
        for (layer, weight) in layerWeights { metadata["layer.\(layer)"] = weight }
        if let maxPatches { metadata["max_patches"] = String(maxPatches) }
        if let provenance { metadata.merge(provenance.metadata) { _, new in new } }
        return metadata
    }

    /// The class, layer and group of a tensor named `class.C.layer.L.group.G.gram` (or `.rows`).
    static func parseName(_ name: String) -> (label: Int, key: GramKey)? {
        let parts = name.split(separator: ".")
        guard parts.count == 7, parts[0] == "class", parts[2] == "layer", parts[4] == "group", let label = Int(parts[1]),
              let layer = Int(parts[3]), let group = Int(parts[5]) else { return nil }
        return (label, GramKey(layer: layer, group: group))
    }

    /// Reads a file written by ``write(to:)``.
    public static func read(_ path: String) throws -> StatisticsFile {
        try read(path, grams: true)
    }

    /// Reads a file written by ``write(to:)``; without `grams`, only its metadata (layers, cap,
    /// provenance) and no Grams.
    static func read(_ path: String, grams readGrams: Bool) throws -> StatisticsFile {
        let file = try Checkpoint.open(path)
        guard file.metadata["format"] == "modelforget-stats" else { throw WeightFileError(path: path, underlying: StatisticsError.notAStatisticsFile) }
        guard file.metadata["version"] == "1" else { throw WeightFileError(path: path, underlying: StatisticsError.unsupportedVersion(file.metadata["version"] ?? "")) }
        var layerWeights: [Int: String] = [:]
        for (key, value) in file.metadata where key.hasPrefix("layer.") {
            if let layer = Int(key.dropFirst("layer.".count)) { layerWeights[layer] = value }
        }
        var grams: [Int: [GramKey: LayerGram]] = [:]
        for info in file.tensors where readGrams && info.name.hasSuffix(".gram") {
            let parts = info.name.split(separator: ".")
            guard parts.count == 7, let label = Int(parts[1]), let layer = Int(parts[3]), let group = Int(parts[5]), info.dtype == .F64,
                  info.shape.count == 1 else {
                throw WeightFileError(path: path, underlying: StatisticsError.malformedTensor(info.name))
            }
            let key = GramKey(layer: layer, group: group)
            let count = info.shape[0]
            let d = Int((Double(8 * count + 1).squareRoot() - 1) / 2)
            guard d * (d + 1) / 2 == count else { throw WeightFileError(path: path, underlying: StatisticsError.malformedTensor(info.name)) }
            var packed = [Double](repeating: 0, count: count)
            if count > 0 {
                try file.withBytes(of: info.name) { raw in
                    packed.withUnsafeMutableBufferPointer {
                        ElementCoding.decodeDoubles(UnsafeRawBufferPointer(rebasing: raw.prefix(count * 8)), .F64, into: $0.baseAddress!)
                    }
                }
            }
            var gram = LayerGram(layer: layer, group: group, dimension: d)
            var k = 0
            for i in 0..<d { for j in i..<d { gram.gram[i * d + j] = packed[k]; gram.gram[j * d + i] = packed[k]; k += 1 } }
            guard let rowsInfo = file.info(named: rowsName(label, key)), rowsInfo.dtype == .I64 else {
                throw WeightFileError(path: path, underlying: StatisticsError.malformedTensor(rowsName(label, key)))
            }
            gram.rows = Int(try file.withBytes(of: rowsInfo.name) { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) })
            grams[label, default: [:]][key] = gram
        }
        let provenance: StatisticsProvenance?
        do { provenance = try StatisticsProvenance(metadata: file.metadata) } catch { throw WeightFileError(path: path, underlying: error) }
        return StatisticsFile(grams: grams, layerWeights: layerWeights, maxPatches: file.metadata["max_patches"].flatMap { Int($0) },
                              provenance: provenance)
    }

    /// Checks that the file was made for `model` (same weight layers in the same order).
    public func check(against model: Model) throws {
        let weights = Dictionary(model.graph.weightLayers.enumerated().map { ($0.offset, $0.element.weight) }, uniquingKeysWith: { a, _ in a })
        guard weights == layerWeights else { throw StatisticsError.differentModels }
    }
}
