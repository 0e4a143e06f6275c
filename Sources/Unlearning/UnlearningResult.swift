import ModelRuntime
import TensorCore
import WeightFormats

/// What an ``UnlearningRequest`` produced: the edited weights, how they were found, and the
/// accuracies before and after. Nothing is written until ``write(to:)``.
public struct UnlearningResult {
    /// The request this answers.
    public let request: UnlearningRequest
    /// The new values of the edited weights, by parameter name (float32; written back in each
    /// tensor's own dtype).
    public let editedWeights: [String: Tensor]
    /// Metadata keys added to the written checkpoint (`modelforget.*`).
    public let provenance: [String: String]
    /// Which samples of the data the engine used.
    public let selection: SampleSelection
    /// The engine's settings and per-layer figures, as the audit record states them.
    public let details: AuditRecord.Details
    /// How the kept edit fares against the contract on the validation split (`nil` when the method
    /// checked none: fixed settings, the paper's search, PGU).
    public let verdict: UnlearningContract.Verdict?
    /// Accuracies on ``UnlearningRequest/evaluationData`` before and after.
    public let evaluation: (before: EvaluationReport, after: EvaluationReport)?
    /// Seconds per phase (`select_samples`, `collect_statistics`, …, `total` so far).
    public let timings: [String: Double]
    let started: Double

    /// Writes the edited checkpoint to `path` (a sharded set: its index, with the shards beside
    /// it) in the format of the request's weights, and returns the audit record with the SHA-256
    /// of every file read and written.
    public func write(to path: String) throws -> AuditRecord {
        let source = request.weights
        let writeStart = request.clock()
        let files: [String]
        do {
            files = try EditedCheckpoint.write(source, edits: editedWeights, to: path, provenance: provenance)
        } catch let error as WeightFileError {
            throw error
        } catch {
            throw WeightFileError(path: path, underlying: error)
        }
        var timings = self.timings
        timings["write_output"] = request.clock() - writeStart
        timings["total"] = request.clock() - started
        let labels = request.data.labels ?? []
        let countsFromData = request.statistics == nil || request.method.name == "pgu"
        let maxPatches = request.selection.maxPatches
        let patchRule: String
        if let statistics = request.statistics {
            patchRule = "statistics file \(statistics.name), "
                + (request.method.name == "svd" ? "each class weighted equally; " : "retained classes summed; ")
                + (statistics.value.maxPatches.map { Self.patchRule($0, per: "class") } ?? "patch cap unknown")
        } else {
            patchRule = Self.patchRule(maxPatches, per: "sample set")
        }
        return AuditRecord(
            tool: Toolkit.name, version: Toolkit.version, method: request.method.name,
            input: .init(path: source.path, format: source.format.rawValue, sha256: try Self.hashes(EditedCheckpoint.files(of: source))),
            output: .init(path: path, format: source.format.rawValue, sha256: try Self.hashes(files)),
            classes: request.classes, classNames: request.model.classNames(request.classes),
            samples: .init(retain: countsFromData ? SampleSelection.countsPerClass(selection.retain, labels: labels) : [:],
                           forget: countsFromData ? SampleSelection.countsPerClass(selection.forget, labels: labels) : [:],
                           validation: selection.validation.count, patchRule: patchRule),
            details: details,
            evaluation: evaluation.map { .init(data: request.evaluationData?.name ?? "", before: $0.before, after: $0.after) },
            timingsSeconds: timings, images: request.data.imageSamples?.summary, contract: verdict == nil ? nil : request.contract,
            verdict: verdict)
    }

    /// The ``PatchSampling`` rule in words, for the audit record.
    static func patchRule(_ maxPatches: Int, per set: String) -> String {
        maxPatches == 0 ? "every input vector of every sample"
            : "at most \(maxPatches) input vectors per layer, group and \(set): k = min(p, ceil(\(maxPatches) / samples)) of each sample's p, "
            + "chosen by seed, layer, group and sample index"
    }

    static func hashes(_ files: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for file in files { result[file] = try SHA256.hex(ofFile: file) }
        return result
    }
}

extension UnlearningRequest {
    /// Runs the request: sample selection, the engine, and evaluations before and after on
    /// ``evaluationData``. Writes nothing.
    /// - Throws: ``UnlearningError``, ``StatisticsError`` (statistics that do not fit the model),
    ///   `GraphError` (the model fails to run).
    public func perform() throws -> UnlearningResult {
        let started = clock()
        let forget = Set(classes)
        var before: EvaluationReport?
        if let evaluationData {
            before = try Evaluation.evaluate(model, evaluationData.value, forget: forget, batchSize: selection.batchSize)
        }
        let outcome: any EngineResult
        switch method {
        case .svd(let settings): outcome = try run(SVDUnlearning.self, settings)
        case .pgu(let settings): outcome = try run(PGUUnlearning.self, settings)
        case .auto(let contract): outcome = try performAuto(contract)
        }
        var evaluation: (EvaluationReport, EvaluationReport)?
        if let evaluationData, let before {
            evaluation = (before, try Evaluation.evaluate(model, evaluationData.value, forget: forget, batchSize: selection.batchSize,
                                                          parameters: outcome.editedWeights))
        }
        let provenance = [
            "modelforget.tool": Toolkit.name, "modelforget.version": Toolkit.version, "modelforget.method": method.name,
            "modelforget.classes": classes.map(String.init).joined(separator: ","),
        ].merging(outcome.provenance) { $1 }
        return UnlearningResult(request: self, editedWeights: outcome.editedWeights, provenance: provenance, selection: outcome.selection,
                                details: outcome.details, verdict: outcome.contractVerdict, evaluation: evaluation, timings: outcome.timings,
                                started: started)
    }

    /// Runs `engine` with `settings` on this request's model, data and samples.
    func run<Engine: WeightEditingEngine>(_ engine: Engine.Type, _ settings: Engine.Settings) throws -> Engine.Result {
        try Engine.run(model, data: data, statistics: statistics?.value, configuration: EngineConfiguration(selection: selection, settings: settings),
                       clock: clock, progress: progress)
    }
}
