import WeightFormats

extension StatisticsFile {
    /// The sum of statistics files collected on the parts of one data set (`stats merge`).
    ///
    /// Files with provenance must agree on the model's SHA-256, the data set's fingerprint and
    /// size, the patch cap and seed, the number of parts and the removed classes; no part may come
    /// twice, and every part must be there unless `allowPartial` (the result then records the
    /// missing ones). They are summed in the order of their first part, so the result does not
    /// depend on the order of `files`: Grams of `n` parts add as `((P₁ + P₂) + P₃) + …` in float64.
    ///
    /// Files without provenance (written before it was recorded) are summed in the order given,
    /// checked only for the same weight layers; they cannot be mixed with files that have it.
    /// - Throws: ``WeightFileError`` naming the file at fault, with a ``StatisticsError``;
    ///   ``StatisticsError/missingShards(_:count:)`` when parts are missing.
    public static func merged(_ files: [UnlearningRequest.Named<StatisticsFile>], allowPartial: Bool = false) throws -> StatisticsFile {
        guard let first = files.first else { return StatisticsFile(grams: [:], layerWeights: [:]) }
        func fail(_ file: UnlearningRequest.Named<StatisticsFile>, _ error: StatisticsError) -> WeightFileError {
            WeightFileError(path: file.name, underlying: error)
        }
        for file in files where file.value.layerWeights != first.value.layerWeights { throw fail(file, .differentModels) }
        let withProvenance = files.filter { $0.value.provenance != nil }
        if withProvenance.isEmpty { return try sum(files.map(\.value), maxPatches: files.allSatisfy { $0.value.maxPatches == first.value.maxPatches } ? first.value.maxPatches : nil) }
        if let legacy = files.first(where: { $0.value.provenance == nil }) { throw fail(legacy, .noProvenance) }

        let ordered = files.sorted { $0.value.provenance!.shards.parts.first ?? 0 < $1.value.provenance!.shards.parts.first ?? 0 }
        let reference = ordered[0], expected = reference.value.provenance!
        var owner: [Int: String] = [:]
        for file in ordered {
            let p = file.value.provenance!
            if p.modelSHA256 != expected.modelSHA256 { throw fail(file, .otherModel(found: p.modelSHA256, expected: expected.modelSHA256, reference: reference.name)) }
            if p.dataFingerprint != expected.dataFingerprint || p.dataSamples != expected.dataSamples {
                throw fail(file, .otherData(found: p.dataFingerprint, expected: expected.dataFingerprint, reference: reference.name))
            }
            for (name, found, wanted) in [("max_patches", file.value.maxPatches.map(String.init), reference.value.maxPatches.map(String.init)),
                                          ("seed", String(p.seed), String(expected.seed)),
                                          ("removed_classes", p.removedClasses.map(String.init).joined(separator: ","),
                                           expected.removedClasses.map(String.init).joined(separator: ","))] where found != wanted {
                throw fail(file, .otherSetting(name, found: found ?? "unknown", expected: wanted ?? "unknown", reference: reference.name))
            }
            if p.shards.count != expected.shards.count { throw fail(file, .otherShardCount(found: p.shards, expected: expected.shards, reference: reference.name)) }
            for part in p.shards.parts {
                if let other = owner[part] { throw fail(file, .duplicateShard(part, count: p.shards.count, other: other)) }
                owner[part] = file.name
            }
        }
        let shards = ShardSet(parts: Array(owner.keys), count: expected.shards.count)
        if !shards.isComplete && !allowPartial { throw StatisticsError.missingShards(shards.missing, count: shards.count) }
        let samples = ordered.reduce(0) { $0 + $1.value.provenance!.samples }
        if shards.isComplete && samples != expected.dataSamples {
            throw fail(reference, .sampleCount(parts: samples, data: expected.dataSamples))
        }
        var result = try sum(ordered.map(\.value), maxPatches: reference.value.maxPatches)
        result.provenance = StatisticsProvenance(modelSHA256: expected.modelSHA256, dataFingerprint: expected.dataFingerprint, shards: shards,
                                                 samples: samples, dataSamples: expected.dataSamples, seed: expected.seed,
                                                 removedClasses: expected.removedClasses, partial: !shards.isComplete)
        return result
    }

    /// The sum of several files of the same model, in the order given (no provenance checks; the
    /// result has no provenance).
    public static func merged(_ files: [StatisticsFile]) throws -> StatisticsFile {
        let stripped = files.map { file in
            var copy = file
            copy.provenance = nil
            return copy
        }
        guard let first = stripped.first else { return StatisticsFile(grams: [:], layerWeights: [:]) }
        for file in stripped where file.layerWeights != first.layerWeights { throw StatisticsError.differentModels }
        return try sum(stripped, maxPatches: stripped.allSatisfy { $0.maxPatches == first.maxPatches } ? first.maxPatches : nil)
    }

    /// Grams and counts of `files` added in order (classes, layers and groups missing from some
    /// files are taken from those that have them).
    private static func sum(_ files: [StatisticsFile], maxPatches: Int?) throws -> StatisticsFile {
        var result = files[0]
        result.provenance = nil
        result.maxPatches = maxPatches
        for file in files.dropFirst() {
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
}
