import Safeguards

/// How class names (folder names, manifest labels) become class indices, and which rule chose them.
public struct LabelMapping: Sendable, Equatable, Codable {
    public enum Rule: String, Sendable, Codable {
        /// Class names sorted by Unicode code point, indices 0, 1, … (torchvision's ImageFolder).
        case sortedNames = "sorted_names"
        /// Each name's position in the model's label names (`id2label`, `label_names`).
        case modelLabels = "model_labels"
        /// Labels are class indices already (manifests, WebDataset `.cls`).
        case integers
    }

    public var rule: Rule
    /// Index → name (`nil` entries for indices no name maps to); empty for ``Rule/integers``.
    public var names: [String?]
    /// Name → index.
    public var indices: [String: Int]

    /// The mapping for `names` (distinct class names): by the model's `labelNames` (index → name)
    /// when every name is one of them, else sorted.
    /// - Throws: `reason` text when some names are model labels and others are not.
    static func forNames(_ names: [String], modelLabels labelNames: [String]?) throws(LabelMappingFailure) -> LabelMapping {
        if let labelNames, !labelNames.isEmpty {
            var byName: [String: Int] = [:]
            for (i, name) in labelNames.enumerated() where byName[name] == nil { byName[name] = i }
            let known = names.filter { byName[$0] != nil }
            if known.count == names.count {
                var indexed = [String?](repeating: nil, count: labelNames.count)
                var indices: [String: Int] = [:]
                for name in names {
                    indices[name] = byName[name]!
                    indexed[byName[name]!] = name
                }
                return LabelMapping(rule: .modelLabels, names: indexed, indices: indices)
            }
            if !known.isEmpty {
                let unknown = names.filter { byName[$0] == nil }.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
                let shown = unknown.prefix(5).map { "'\(Escaping.printable($0))'" }.joined(separator: ", ") + (unknown.count > 5 ? ", …" : "")
                throw LabelMappingFailure(reason: "\(known.count) class names are the model's labels but \(unknown.count) are not (\(shown)); rename those to labels of the model")
            }
        }
        let sorted = names.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
        return LabelMapping(rule: .sortedNames, names: sorted, indices: Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1, $0) }))
    }

    static let integers = LabelMapping(rule: .integers, names: [], indices: [:])

    /// One line for people and the audit record.
    public var summary: String {
        switch rule {
        case .sortedNames: "class names sorted by code point, as torchvision's ImageFolder does"
        case .modelLabels: "class names matched to the model's label names"
        case .integers: "labels are class indices"
        }
    }

    /// A warning when the names are all integers and sorting them as text does not give their values.
    public var numericNamesWarning: String? {
        guard rule == .sortedNames else { return nil }
        let pairs = names.enumerated().compactMap { (i, name) in name.flatMap(Int.init).map { (i, $0, name!) } }
        guard pairs.count == names.count, let clash = pairs.first(where: { $0.0 != $0.1 }) else { return nil }
        return "class folders are numbers but sorted as text (torchvision's rule): '\(clash.2)' is class \(clash.0); rename them with leading zeros if they are meant as indices"
    }
}

struct LabelMappingFailure: Error {
    let reason: String
}
