/// What an image source gave and how it was prepared, for the audit record and `data inspect`.
public struct ImageSourceSummary: Codable, Sendable, Equatable {
    public var path: String
    public var kind: ImageCollection.Kind
    /// Samples used (skipped ones excluded).
    public var samples: Int
    /// Samples per class index (keys are indices as strings, for JSON).
    public var samplesPerClass: [String: Int]
    /// Class index → name, when labels came from names.
    public var classNames: [String: String]
    public var labelRule: LabelMapping.Rule
    public var labelRuleText: String
    /// `[channels, height, width]` of every sample.
    public var sampleShape: [Int]
    /// The one-line pipeline (``Preprocessing/pipeline``).
    public var pipeline: String
    /// Where the pipeline's settings came from.
    public var preprocessingFrom: String
    public var skipped: Int
    /// The first skipped images with what is wrong (`FILE: reason`), at most 20.
    public var skippedExamples: [String]
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case path, kind, samples, pipeline, skipped, notes
        case samplesPerClass = "samples_per_class", classNames = "class_names", labelRule = "label_rule", labelRuleText = "label_rule_text"
        case sampleShape = "sample_shape", preprocessingFrom = "preprocessing_from", skippedExamples = "skipped_examples"
    }
}

extension ImageSamples {
    public var summary: ImageSourceSummary {
        var perClass: [String: Int] = [:]
        for label in labels ?? [] { perClass[String(label), default: 0] += 1 }
        var names: [String: String] = [:]
        for (index, name) in collection.mapping.names.enumerated() {
            if let name { names[String(index)] = name }
        }
        return ImageSourceSummary(path: collection.path, kind: collection.kind, samples: count, samplesPerClass: perClass,
                                  classNames: names, labelRule: collection.mapping.rule, labelRuleText: collection.mapping.summary,
                                  sampleShape: sampleShape, pipeline: preprocessing.pipeline, preprocessingFrom: preprocessing.origin,
                                  skipped: skipped.count, skippedExamples: skipped.prefix(20).map(\.description), notes: collection.notes)
    }
}
