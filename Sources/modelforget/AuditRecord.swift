import Foundation
import ImageData
import ModelRuntime
import Unlearning

/// The audit record of one `apply` run (`Formats/report.md`).
struct AuditRecord: Encodable {
    struct File: Encodable {
        let path: String
        let format: String
        let sha256: [String: String]
    }

    struct Samples: Encodable {
        let retain: [String: Int]
        let forget: [String: Int]
        let validation: Int
        let patchRule: String
        enum CodingKeys: String, CodingKey { case retain, forget, validation, patchRule = "patch_rule" }
    }

    struct Evaluation: Encodable {
        let data: String
        let before: EvaluationReport
        let after: EvaluationReport
    }

    struct Summary: Encodable {
        let output: String
        let classes: [Int]
        let method: String
        let alphaRetain: Double?
        let alphaForget: Double?
        let bestEpoch: Int?
        let layersEdited: Int
        let forgetAccuracyBefore: Double?
        let forgetAccuracyAfter: Double?
        let retainAccuracyBefore: Double?
        let retainAccuracyAfter: Double?
        let seconds: Double

        enum CodingKeys: String, CodingKey {
            case output, classes, method, seconds
            case alphaRetain = "alpha_retain", alphaForget = "alpha_forget", layersEdited = "layers_edited", bestEpoch = "best_epoch"
            case forgetAccuracyBefore = "forget_accuracy_before", forgetAccuracyAfter = "forget_accuracy_after"
            case retainAccuracyBefore = "retain_accuracy_before", retainAccuracyAfter = "retain_accuracy_after"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(output, forKey: .output); try c.encode(classes, forKey: .classes); try c.encode(method, forKey: .method)
            try c.encodeIfPresent(alphaRetain, forKey: .alphaRetain); try c.encodeIfPresent(alphaForget, forKey: .alphaForget)
            try c.encodeIfPresent(bestEpoch, forKey: .bestEpoch)
            try c.encode(layersEdited, forKey: .layersEdited); try c.encode(seconds, forKey: .seconds)
            try c.encode(forgetAccuracyBefore, forKey: .forgetAccuracyBefore); try c.encode(forgetAccuracyAfter, forKey: .forgetAccuracyAfter)
            try c.encode(retainAccuracyBefore, forKey: .retainAccuracyBefore); try c.encode(retainAccuracyAfter, forKey: .retainAccuracyAfter)
        }

        var text: String {
            func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
            let parameters = alphaRetain.map { "alpha_retain \($0), alpha_forget \(alphaForget ?? 0)" } ?? "best epoch \(bestEpoch ?? 0)"
            var lines = ["wrote \(output): classes \(classes.map(String.init).joined(separator: ",")) removed by \(method) "
                         + "(\(parameters)), \(layersEdited) weight layers edited in " + String(format: "%.2f s", seconds)]
            if forgetAccuracyBefore != nil {
                lines.append("forget accuracy: \(percent(forgetAccuracyBefore)) -> \(percent(forgetAccuracyAfter))")
                lines.append("retain accuracy: \(percent(retainAccuracyBefore)) -> \(percent(retainAccuracyAfter))")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// What depends on the engine, encoded at the top level of the record.
    enum Details {
        case svd(configuration: SVDUnlearning.Configuration, alphaRetain: Double, alphaForget: Double,
                 layers: [SVDUnlearning.LayerReport], search: [SVDUnlearning.SearchPoint])
        case pgu(configuration: PGUUnlearning.Configuration, layers: [PGUUnlearning.LayerReport], epochs: [PGUUnlearning.Epoch],
                 bestEpoch: Int, stopReason: String)

        var layerCount: Int {
            switch self {
            case .svd(_, _, _, let layers, _): layers.count
            case .pgu(_, let layers, _, _, _): layers.count
            }
        }
    }

    let tool: String
    let version: String
    let method: String
    let input: File
    let output: File
    let classes: [Int]
    let samples: Samples
    let details: Details
    let evaluation: Evaluation?
    let timingsSeconds: [String: Double]
    /// How an image source became samples (`--data images/`): pipeline, label rule, skipped images.
    var images: ImageSourceSummary? = nil

    enum CodingKeys: String, CodingKey {
        case tool, version, method, input, output, classes, configuration, samples, layers, search, evaluation, epochs
        case alphaRetainUsed = "alpha_retain_used", alphaForgetUsed = "alpha_forget_used", timingsSeconds = "timings_seconds"
        case bestEpoch = "best_epoch", stopReason = "stop_reason"
        case images
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tool, forKey: .tool); try c.encode(version, forKey: .version); try c.encode(method, forKey: .method)
        try c.encode(input, forKey: .input); try c.encode(output, forKey: .output); try c.encode(classes, forKey: .classes)
        try c.encode(samples, forKey: .samples)
        try c.encodeIfPresent(evaluation, forKey: .evaluation)
        try c.encode(timingsSeconds, forKey: .timingsSeconds)
        try c.encodeIfPresent(images, forKey: .images)
        switch details {
        case .svd(let configuration, let alphaRetain, let alphaForget, let layers, let search):
            try c.encode(configuration, forKey: .configuration)
            try c.encode(alphaRetain, forKey: .alphaRetainUsed); try c.encode(alphaForget, forKey: .alphaForgetUsed)
            try c.encode(layers, forKey: .layers); try c.encode(search, forKey: .search)
        case .pgu(let configuration, let layers, let epochs, let bestEpoch, let stopReason):
            try c.encode(configuration, forKey: .configuration)
            try c.encode(layers, forKey: .layers); try c.encode(epochs, forKey: .epochs)
            try c.encode(bestEpoch, forKey: .bestEpoch); try c.encode(stopReason, forKey: .stopReason)
        }
    }

    var summary: Summary {
        var alphas: (Double, Double)?, epoch: Int?
        switch details {
        case .svd(_, let r, let f, _, _): alphas = (r, f)
        case .pgu(_, _, _, let best, _): epoch = best
        }
        return Summary(output: output.path, classes: classes, method: method, alphaRetain: alphas?.0, alphaForget: alphas?.1, bestEpoch: epoch,
                       layersEdited: details.layerCount, forgetAccuracyBefore: evaluation?.before.forgetAccuracy,
                       forgetAccuracyAfter: evaluation?.after.forgetAccuracy, retainAccuracyBefore: evaluation?.before.retainAccuracy,
                       retainAccuracyAfter: evaluation?.after.retainAccuracy, seconds: timingsSeconds["total"] ?? 0)
    }
}
