import WeightFormats

extension StatisticsFile {
    /// Writes the sum of the statistics files at `paths`, collected on the parts of one data set,
    /// to `output` (`stats merge`): their metadata is checked first (``merged(_:allowPartial:)``
    /// says what must agree), then every tensor is summed over the files in the order of their
    /// parts, straight from the files' packed triangles, and written before the next is read — so
    /// memory holds one Gram, whatever the number of parts. The bytes equal those of
    /// `merged(…).write(to:)`.
    /// - Returns: the merged file's provenance (`nil` for files without) and its number of classes.
    /// - Throws: ``WeightFileError`` naming the file at fault, with a ``StatisticsError``;
    ///   ``StatisticsError/missingShards(_:count:)`` when parts are missing.
    @discardableResult
    public static func merge(files paths: [String], allowPartial: Bool = false, to output: String) throws -> (provenance: StatisticsProvenance?, classes: Int) {
        let headers = try paths.map { UnlearningRequest.Named(try read($0, grams: false), name: $0) }
        let plan = try plan(headers, allowPartial: allowPartial)
        guard let first = plan.order.first else { throw StatisticsError.missingShards([], count: 0) }
        let readers = try plan.order.map { (name: paths[$0], file: try Checkpoint.open(paths[$0])) }
        var infos: [String: TensorInfo] = [:]
        var classes = Set<Int>()
        for reader in readers {
            for info in reader.file.tensors {
                guard let (label, _) = parseName(info.name),
                      (info.name.hasSuffix(".gram") && info.dtype == .F64 && info.shape.count == 1)
                        || (info.name.hasSuffix(".rows") && info.dtype == .I64 && info.shape.isEmpty) else {
                    throw WeightFileError(path: reader.name, underlying: StatisticsError.malformedTensor(info.name))
                }
                if let known = infos[info.name], known.shape != info.shape {
                    throw WeightFileError(path: reader.name, underlying: StatisticsError.differentModels)
                }
                infos[info.name] = info
                classes.insert(label)
            }
        }
        // The order of write(to:): class, then layer and group, the Gram before its count.
        let order = infos.keys.sorted { a, b in
            let (x, y) = (parseName(a)!, parseName(b)!)
            return (x.label, x.key.layer, x.key.group, a.hasSuffix(".rows") ? 1 : 0) < (y.label, y.key.layer, y.key.group, b.hasSuffix(".rows") ? 1 : 0)
        }
        var header = headers[first].value
        header.maxPatches = plan.maxPatches
        header.provenance = plan.provenance
        do {
            try write(readers, order.map { infos[$0]! }, metadata: header.metadata, to: output)
        } catch let error as WeightFileError {
            throw error
        } catch {
            throw WeightFileError(path: output, underlying: error)
        }
        return (plan.provenance, classes.count)
    }

    /// Writes `tensors`, each the sum over the `readers` holding it, in their order.
    private static func write(_ readers: [(name: String, file: any CheckpointReader)], _ tensors: [TensorInfo], metadata: [String: String],
                              to output: String) throws {
        try Checkpoint.write(to: output, tensors: tensors, options: CheckpointWriteOptions(container: .safetensors, metadata: metadata)) { info, consume in
            let holders = readers.filter { $0.file.info(named: info.name) != nil }
            if info.dtype == .I64 {
                var total: Int64 = 0
                for holder in holders { total += try holder.file.withBytes(of: info.name) { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) } }
                try [total].withUnsafeBytes { try consume($0) }
                return
            }
            let count = info.shape[0]
            var sum = [Double](repeating: 0, count: count)
            for (index, holder) in holders.enumerated() {
                try holder.file.withBytes(of: info.name) { raw in
                    sum.withUnsafeMutableBufferPointer { sum in
                        if index == 0 {
                            ElementCoding.decodeDoubles(UnsafeRawBufferPointer(rebasing: raw.prefix(count * 8)), .F64, into: sum.baseAddress!)
                        } else {
                            for i in 0..<count { sum[i] += Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) }
                        }
                    }
                }
            }
            try sum.withUnsafeBytes { try consume($0) }
        }
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
