import Foundation

extension ImageCollection {
    /// A CSV (`path,label`, optional header naming the columns `path`/`file`/`image` and
    /// `label`/`class`; RFC 4180 quoting) or JSON Lines (`{"path": …, "label": …}`) manifest.
    /// Paths are relative to the manifest's folder unless absolute. Labels are class indices when
    /// they are all non-negative integers, else class names (mapped by the model's label names
    /// when all are among them, else sorted); a manifest without labels gives unlabelled samples.
    static func manifest(_ path: String, labelNames: [String]?) throws -> ImageCollection {
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(path) } catch { throw ImageSourceError(path: path, reason: "cannot read the manifest (\(error.description))") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ImageSourceError(path: path, reason: "the manifest is not UTF-8 text") }
        let lower = path.lowercased()
        let rows = lower.hasSuffix(".csv") ? try csvRows(text, path: path) : try jsonLines(text, path: path)
        guard !rows.isEmpty else { throw ImageSourceError(path: path, reason: "the manifest lists no images") }
        let base = (path as NSString).deletingLastPathComponent
        func resolve(_ file: String) -> String {
            file.hasPrefix("/") || base.isEmpty ? file : base + "/" + file
        }
        let labelled = rows.filter { $0.label != nil }.count
        guard labelled == 0 || labelled == rows.count else {
            let line = rows.first { $0.label == nil }!.line
            throw ImageSourceError(path: path, reason: "line \(line) has no label but other lines do")
        }
        var mapping = LabelMapping.integers
        var labels: [Int?] = rows.map { _ in nil }
        if labelled > 0 {
            if rows.allSatisfy({ Int($0.label!).map { $0 >= 0 } ?? false }) {
                labels = rows.map { Int($0.label!) }
            } else {
                var seen = Set<String>(), names: [String] = []
                for row in rows where seen.insert(row.label!).inserted { names.append(row.label!) }
                do { mapping = try LabelMapping.forNames(names, modelLabels: labelNames) } catch {
                    throw ImageSourceError(path: path, reason: error.reason)
                }
                labels = rows.map { mapping.indices[$0.label!] }
            }
        }
        let samples = zip(rows, labels).map { row, label in
            Sample(name: resolve(row.path), location: .file(resolve(row.path)), label: label)
        }
        return ImageCollection(path: path, kind: .manifest, samples: samples, mapping: mapping)
    }

    struct ManifestRow {
        var line: Int
        var path: String
        var label: String?
    }

    static let pathColumns = ["path", "file", "filename", "image", "file_name", "filepath"]
    static let labelColumns = ["label", "class", "label_id", "target", "class_id", "category"]

    static func csvRows(_ text: String, path: String) throws -> [ManifestRow] {
        var records = try CSV.records(text, path: path)
        var pathColumn = 0, labelColumn: Int? = 1
        if let header = records.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }),
           let p = header.firstIndex(where: pathColumns.contains) {
            pathColumn = p
            labelColumn = header.firstIndex(where: labelColumns.contains)
            records.removeFirst()
        }
        return try records.map { record in
            guard pathColumn < record.fields.count, !record.fields[pathColumn].isEmpty else {
                throw ImageSourceError(path: path, reason: "line \(record.line) has no path")
            }
            let label = labelColumn.flatMap { $0 < record.fields.count ? record.fields[$0].trimmingCharacters(in: .whitespaces) : nil }
            return ManifestRow(line: record.line, path: record.fields[pathColumn], label: label?.isEmpty == true ? nil : label)
        }
    }

    static func jsonLines(_ text: String, path: String) throws -> [ManifestRow] {
        var rows: [ManifestRow] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any] else {
                throw ImageSourceError(path: path, reason: "line \(i + 1) is not a JSON object")
            }
            guard let file = pathColumns.lazy.compactMap({ object[$0] as? String }).first else {
                throw ImageSourceError(path: path, reason: "line \(i + 1) has no \"path\"")
            }
            var label: String?
            if let value = labelColumns.lazy.compactMap({ object[$0] }).first {
                if let string = value as? String {
                    label = string
                } else if let number = value as? NSNumber, let integer = Int(exactly: number.doubleValue) {
                    label = String(integer)
                } else {
                    throw ImageSourceError(path: path, reason: "line \(i + 1): the label must be an integer or a name")
                }
            }
            rows.append(ManifestRow(line: i + 1, path: file, label: label))
        }
        return rows
    }
}

/// Just enough CSV (RFC 4180): comma-separated fields, double quotes around fields holding
/// commas, quotes or line breaks, `""` for a quote inside them, `\n` or `\r\n` line ends.
enum CSV {
    struct Record {
        var line: Int
        var fields: [String]
    }

    static func records(_ text: String, path: String) throws -> [Record] {
        var records: [Record] = []
        var fields: [String] = [], field = "", quoted = false, inQuotes = false
        var line = 1, recordLine = 1
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var i = 0
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty && !quoted) { records.append(Record(line: recordLine, fields: fields)) }
            fields = []; field = ""; quoted = false
        }
        while i < scalars.count {
            let c = scalars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < scalars.count && scalars[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true; quoted = true
            } else if c == "," {
                fields.append(field); field = ""; quoted = false
            } else if c == "\n" || c == "\r" {
                if c == "\r" && i + 1 < scalars.count && scalars[i + 1] == "\n" { i += 1 }
                endRecord()
                line += 1
                recordLine = line
            } else {
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if inQuotes { throw ImageSourceError(path: path, reason: "line \(recordLine): a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty || quoted { endRecord() }
        return records
    }
}
