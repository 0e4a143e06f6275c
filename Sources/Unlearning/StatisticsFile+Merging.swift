import WeightFormats

extension StatisticsFile {
    /// The sum of the statistics files at `paths`, collected on the parts of one data set
    /// (`stats merge`): their metadata is checked first (``merged(_:allowPartial:)`` says what must
    /// agree), then the files are read one at a time, in the order of their parts, and added to the
    /// sum, so memory holds two files' Grams, not all of them.
    /// - Throws: ``WeightFileError`` naming the file at fault, with a ``StatisticsError``;
    ///   ``StatisticsError/missingShards(_:count:)`` when parts are missing.
    public static func merged(files paths: [String], allowPartial: Bool = false) throws -> StatisticsFile {
        let headers = try paths.map { UnlearningRequest.Named(try read($0, grams: false), name: $0) }
        let plan = try plan(headers, allowPartial: allowPartial)
        var result: StatisticsFile?
        for index in plan.order {
            let file = try read(paths[index])
            if result == nil { result = file } else { try result!.add(file, name: paths[index]) }
        }
        result?.maxPatches = plan.maxPatches
        result?.provenance = plan.provenance
        return result ?? StatisticsFile(grams: [:], layerWeights: [:])
    }

    /// The sum of statistics files collected on the parts of one data set.
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
        let plan = try plan(files, allowPartial: allowPartial)
        guard var result = plan.order.first.map({ files[$0].value }) else { return StatisticsFile(grams: [:], layerWeights: [:]) }
        for index in plan.order.dropFirst() { try result.add(files[index].value, name: files[index].name) }
        result.maxPatches = plan.maxPatches
        result.provenance = plan.provenance
        return result
    }

    /// The sum of several files of the same model, in the order given (no provenance checks; the
    /// result has no provenance).
    public static func merged(_ files: [StatisticsFile]) throws -> StatisticsFile {
        guard var result = files.first else { return StatisticsFile(grams: [:], layerWeights: [:]) }
        for file in files.dropFirst() {
            guard file.layerWeights == result.layerWeights else { throw StatisticsError.differentModels }
            try result.add(file, name: "")
            if file.maxPatches != result.maxPatches { result.maxPatches = nil }
        }
        result.provenance = nil
        return result
    }

    /// The order in which to add files and what the sum records.
    private struct MergePlan {
        var order: [Int]
        var maxPatches: Int? = nil
        var provenance: StatisticsProvenance? = nil
    }

    /// Checks that `files` (their metadata; Grams are not looked at) belong together.
    private static func plan(_ files: [UnlearningRequest.Named<StatisticsFile>], allowPartial: Bool) throws -> MergePlan {
        guard let first = files.first else { return MergePlan(order: []) }
        func fail(_ file: UnlearningRequest.Named<StatisticsFile>, _ error: StatisticsError) -> WeightFileError {
            WeightFileError(path: file.name, underlying: error)
        }
        for file in files where file.value.layerWeights != first.value.layerWeights { throw fail(file, .differentModels) }
        if files.allSatisfy({ $0.value.provenance == nil }) {
            return MergePlan(order: Array(files.indices),
                             maxPatches: files.allSatisfy { $0.value.maxPatches == first.value.maxPatches } ? first.value.maxPatches : nil)
        }
        if let legacy = files.first(where: { $0.value.provenance == nil }) { throw fail(legacy, .noProvenance) }

        let order = files.indices.sorted { (files[$0].value.provenance!.shards.parts.first ?? 0, $0) < (files[$1].value.provenance!.shards.parts.first ?? 0, $1) }
        let reference = files[order[0]], expected = reference.value.provenance!
        var owner: [Int: String] = [:]
        for file in order.map({ files[$0] }) {
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
        let samples = files.reduce(0) { $0 + $1.value.provenance!.samples }
        if shards.isComplete && samples != expected.dataSamples { throw fail(reference, .sampleCount(parts: samples, data: expected.dataSamples)) }
        return MergePlan(order: order, maxPatches: reference.value.maxPatches,
                         provenance: StatisticsProvenance(modelSHA256: expected.modelSHA256, dataFingerprint: expected.dataFingerprint, shards: shards,
                                                          samples: samples, dataSamples: expected.dataSamples, seed: expected.seed,
                                                          removedClasses: expected.removedClasses, partial: !shards.isComplete))
    }

    /// Adds `other`'s Grams and counts (classes, layers and groups this file lacks are taken as they are).
    private mutating func add(_ other: StatisticsFile, name: String) throws {
        for (label, perLayer) in other.grams {
            for (key, gram) in perLayer {
                if let existing = grams[label]?[key] {
                    guard existing.dimension == gram.dimension else {
                        throw name.isEmpty ? StatisticsError.differentModels : WeightFileError(path: name, underlying: StatisticsError.differentModels)
                    }
                    grams[label]![key]!.add(gram)
                } else {
                    grams[label, default: [:]][key] = gram
                }
            }
        }
    }
}
