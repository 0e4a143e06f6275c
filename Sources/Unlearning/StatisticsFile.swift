import Safeguards
import ModelRuntime
import TensorCore
import WeightFormats

/// Per-class activation statistics of a model's weight layers, stored once and reused: the Gram
/// `Σ x xᵀ` of every weight layer's inputs (per convolution group) over the samples of each
/// class, with the number of vectors added. Grams add, so files made from parts of a data set
/// (one per machine, say) merge by summing (`Formats/stats.md`).
public struct StatisticsFile {
    /// Grams by class, then by layer and group.
    public var grams: [Int: [GramKey: LayerGram]]
    /// Weight parameter name of each layer index, to check the file belongs to the model.
    public var layerWeights: [Int: String]
    /// The ``PatchSampling`` cap the Grams were collected with (metadata `max_patches`; `nil` when
    /// unknown, or when merged parts used different caps).
    public var maxPatches: Int?

    public init(grams: [Int: [GramKey: LayerGram]], layerWeights: [Int: String], maxPatches: Int? = nil) {
        self.grams = grams
        self.layerWeights = layerWeights
        self.maxPatches = maxPatches
    }

    /// Collects the statistics of every class present in `data`; `sampling` applies per class
    /// (each class is one set of ``PatchSampling``).
    public static func collect(_ model: Model, data: Dataset, batchSize: Int, sampling: PatchSampling,
                               progress: ((Int, Int) -> Void)? = nil) throws -> StatisticsFile {
        guard let labels = data.labels else { throw UnlearningError.noLabels }
        var byClass: [Int: [Int]] = [:]
        for (index, label) in labels.enumerated() { byClass[label, default: []].append(index) }
        var grams: [Int: [GramKey: LayerGram]] = [:]
        var done = 0
        for label in byClass.keys.sorted() {
            grams[label] = try ActivationStatistics.collect(model, data: data, indices: byClass[label]!, batchSize: batchSize, sampling: sampling)
            done += byClass[label]!.count
            progress?(done, labels.count)
        }
        let weights = Dictionary(model.graph.weightLayers.enumerated().map { ($0.offset, $0.element.weight) }, uniquingKeysWith: { a, _ in a })
        return StatisticsFile(grams: grams, layerWeights: weights, maxPatches: sampling.maxPerLayer)
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
        return copy
    }

    /// The sum of several files of the same model.
    public static func merged(_ files: [StatisticsFile]) throws -> StatisticsFile {
        guard var result = files.first else { return StatisticsFile(grams: [:], layerWeights: [:]) }
        for file in files.dropFirst() {
            guard file.layerWeights == result.layerWeights else { throw StatisticsError.differentModels }
            if file.maxPatches != result.maxPatches { result.maxPatches = nil }
            for (label, perLayer) in file.grams {
                for (key, gram) in perLayer {
                    if let existing = result.grams[label]?[key] {
                        guard existing.dimension == gram.dimension else { throw StatisticsError.differentModels }
                        result.grams[label]![key] = existing.adding(gram)
                    } else {
                        result.grams[label, default: [:]][key] = gram
                    }
                }
            }
        }
        return result
    }

    // MARK: - File format

    static func gramName(_ label: Int, _ key: GramKey) -> String { "class.\(label).layer.\(key.layer).group.\(key.group).gram" }
    static func rowsName(_ label: Int, _ key: GramKey) -> String { "class.\(label).layer.\(key.layer).group.\(key.group).rows" }

    /// Writes a safetensors file: per class, layer and group an F64 tensor with the packed upper
    /// triangle of the Gram (row by row, `i ≤ j`; d(d+1)/2 values) and an I64 scalar with the
    /// vector count; metadata `format: modelforget-stats`, `version: 1`, `layer.N` = weight name, and
    /// `max_patches` when known.
    public func write(to path: String) throws {
        var tensors: [TensorInfo] = []
        var contents: [String: [UInt8]] = [:]
        for label in grams.keys.sorted() {
            for key in grams[label]!.keys.sorted() {
                let gram = grams[label]![key]!
                let d = gram.dimension
                var packed: [Double] = []
                packed.reserveCapacity(d * (d + 1) / 2)
                for i in 0..<d { for j in i..<d { packed.append(gram.gram[i * d + j]) } }
                tensors.append(TensorInfo(name: Self.gramName(label, key), dtype: .F64, shape: [packed.count]))
                contents[Self.gramName(label, key)] = packed.withUnsafeBytes { Array($0) }
                tensors.append(TensorInfo(name: Self.rowsName(label, key), dtype: .I64, shape: []))
                contents[Self.rowsName(label, key)] = [Int64(gram.rows)].withUnsafeBytes { Array($0) }
            }
        }
        var metadata = ["format": "modelforget-stats", "version": "1"]
        for (layer, weight) in layerWeights { metadata["layer.\(layer)"] = weight }
        if let maxPatches { metadata["max_patches"] = String(maxPatches) }
        try Checkpoint.write(to: path, tensors: tensors, options: CheckpointWriteOptions(container: .safetensors, metadata: metadata)) { info, consume in
            try contents[info.name]!.withUnsafeBytes { try consume($0) }
        }
    }

    /// Reads a file written by ``write(to:)``.
    public static func read(_ path: String) throws -> StatisticsFile {
        let file = try Checkpoint.open(path)
        guard file.metadata["format"] == "modelforget-stats" else { throw WeightFileError(path: path, underlying: StatisticsError.notAStatisticsFile) }
        guard file.metadata["version"] == "1" else { throw WeightFileError(path: path, underlying: StatisticsError.unsupportedVersion(file.metadata["version"] ?? "")) }
        var layerWeights: [Int: String] = [:]
        for (key, value) in file.metadata where key.hasPrefix("layer.") {
            if let layer = Int(key.dropFirst("layer.".count)) { layerWeights[layer] = value }
        }
        var grams: [Int: [GramKey: LayerGram]] = [:]
        for info in file.tensors where info.name.hasSuffix(".gram") {
            let parts = info.name.split(separator: ".")
            guard parts.count == 7, let label = Int(parts[1]), let layer = Int(parts[3]), let group = Int(parts[5]), info.dtype == .F64,
                  info.shape.count == 1 else {
                throw WeightFileError(path: path, underlying: StatisticsError.malformedTensor(info.name))
            }
            let key = GramKey(layer: layer, group: group)
            let count = info.shape[0]
            let d = Int((Double(8 * count + 1).squareRoot() - 1) / 2)
            guard d * (d + 1) / 2 == count else { throw WeightFileError(path: path, underlying: StatisticsError.malformedTensor(info.name)) }
            let packed = try file.withBytes(of: info.name) { raw in (0..<count).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) } }
            var gram = LayerGram(layer: layer, group: group, dimension: d)
            var k = 0
            for i in 0..<d { for j in i..<d { gram.gram[i * d + j] = packed[k]; gram.gram[j * d + i] = packed[k]; k += 1 } }
            guard let rowsInfo = file.info(named: rowsName(label, key)), rowsInfo.dtype == .I64 else {
                throw WeightFileError(path: path, underlying: StatisticsError.malformedTensor(rowsName(label, key)))
            }
            gram.rows = Int(try file.withBytes(of: rowsInfo.name) { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) })
            grams[label, default: [:]][key] = gram
        }
        return StatisticsFile(grams: grams, layerWeights: layerWeights, maxPatches: file.metadata["max_patches"].flatMap { Int($0) })
    }

    /// Checks that the file was made for `model` (same weight layers in the same order).
    public func check(against model: Model) throws {
        let weights = Dictionary(model.graph.weightLayers.enumerated().map { ($0.offset, $0.element.weight) }, uniquingKeysWith: { a, _ in a })
        guard weights == layerWeights else { throw StatisticsError.differentModels }
    }
}

public enum StatisticsError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAStatisticsFile
    case unsupportedVersion(String)
    case malformedTensor(String)
    case differentModels

    public var description: String {
        switch self {
        case .notAStatisticsFile: "not a statistics file (its metadata lacks format: modelforget-stats); make one with modelforget stats collect"
        case .unsupportedVersion(let v): "statistics file version '\(Escaping.printable(v))' is not supported (expected 1)"
        case .malformedTensor(let name): "malformed statistics tensor '\(Escaping.printable(name))'"
        case .differentModels: "the statistics were collected on a model with other weight layers; collect them on this model"
        }
    }
}
