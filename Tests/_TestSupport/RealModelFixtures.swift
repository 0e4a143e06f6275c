import Foundation
import Testing

/// The tiny classifiers built with torchvision, timm and Hugging Face transformers code in
/// `Tests/Fixtures/RealModels` (made by `Benchmarks/real_models/make_real_models.py`, described in
/// its README and `manifest.json`): per folder a checkpoint, a default-exporter ONNX file
/// (`model.onnx`, opset 20, weights in `model.onnx.data`), a legacy-exporter one
/// (`model.legacy.onnx`, opset 17) and PyTorch's logits on a seeded input (`expected.npz`: `x`,
/// `logits`).
public enum RealModelFixtures {
    public static let root = "Tests/Fixtures/RealModels"

    /// One model folder, from its manifest entry.
    public struct Entry: Sendable {
        public let folder: String
        public let library: String
        public let family: String
        /// One sample's shape (the manifest's input shape without the batch axis).
        public let sampleShape: [Int]
        public let classes: Int
    }

    /// One ONNX file of a folder.
    public struct File: Sendable, CustomTestStringConvertible {
        public let entry: Entry
        /// `model.onnx` or `model.legacy.onnx`.
        public let name: String
        /// The path below the package root.
        public var relativePath: String { "\(RealModelFixtures.root)/\(entry.folder)/\(name)" }
        public var path: String { Fixtures.path(relativePath) }
        /// `dynamo` (the default exporter) or `legacy`.
        public var exporter: String { name == "model.onnx" ? "dynamo" : "legacy" }
        public var testDescription: String { "\(entry.folder) \(exporter)" }
    }

    /// The committed folders, by name; empty when the manifest cannot be read.
    public static let entries: [Entry] = {
        guard let data = FileManager.default.contents(atPath: Fixtures.path("\(root)/manifest.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let entries = json["entries"] as? [String: [String: Any]] else { return [] }
        return entries.keys.sorted().compactMap { folder in
            let e = entries[folder]!
            guard e["committed"] as? Bool == true, let shape = e["input_shape"] as? [Any], let classes = e["num_classes"] as? Int,
                  let library = e["library"] as? String, let family = e["family"] as? String else { return nil }
            return Entry(folder: folder, library: library, family: family, sampleShape: shape.dropFirst().compactMap { $0 as? Int },
                         classes: classes)
        }
    }()

    /// Both ONNX files of every committed folder.
    public static let onnxFiles: [File] = entries.flatMap { entry in
        ["model.onnx", "model.legacy.onnx"].map { File(entry: entry, name: $0) }
    }
}
