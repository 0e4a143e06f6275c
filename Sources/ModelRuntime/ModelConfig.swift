import Foundation
import Safeguards
import WeightFormats

/// A model's `config.json`, as transformers (`save_pretrained`) and timm (`save_for_hf`) write it
/// beside the weights: which library and architecture, the sizes the tensors do not show (epsilons,
/// head counts, activation names), the number of classes and their names.
///
/// Values are read on demand with typed accessors; a key of the wrong type is an error naming the
/// file and the key, a missing key is `nil` (the layout then infers the value from the tensors or
/// uses the library's default, and says so in its facts).
public struct ModelConfig: @unchecked Sendable {
    /// Which library wrote the file.
    public enum Library: String, Sendable, Equatable {
        /// transformers: `model_type` and `architectures`.
        case transformers
        /// timm: `architecture`, `pretrained_cfg`, `model_args`.
        case timm
        /// Neither: a config the user wrote for a checkpoint without one (given with `--arch`),
        /// e.g. `{"num_heads": 4}` for a torchvision ViT; its keys are read as written.
        case plain
    }

    /// The file read.
    public let path: String
    public let library: Library
    /// The JSON object.
    let object: [String: Any]

    init(path: String, library: Library, object: [String: Any]) {
        self.path = path
        self.library = library
        self.object = object
    }

    /// `config.json` in the folder `path`, or beside the file `path`; `nil` when there is none.
    /// - Throws: `WeightFileError` for a config that is not a transformers or timm JSON object.
    public static func find(besides path: String) throws -> ModelConfig? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        let folder = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
        let configPath = folder.isEmpty ? "config.json" : (folder as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else { return nil }
        return try load(configPath)
    }

    /// Reads the config at `path`; `plain` accepts a config that names no library (``Library/plain``:
    /// one given explicitly, not found beside a checkpoint).
    public static func load(_ path: String, plain: Bool = false) throws -> ModelConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WeightFileError(path: path, underlying: ModelConfigError.unreadable)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw WeightFileError(path: path, underlying: ModelConfigError.notAnObject)
        }
        if object["model_type"] is String || object["architectures"] is [Any] {
            return ModelConfig(path: path, library: .transformers, object: object)
        }
        if object["architecture"] is String {
            return ModelConfig(path: path, library: .timm, object: object)
        }
        if plain { return ModelConfig(path: path, library: .plain, object: object) }
        throw WeightFileError(path: path, underlying: ModelConfigError.unknownLibrary)
    }

    // MARK: - What every layout reads

    /// transformers' `model_type` (`vit`, `resnet`, `convnext`, `mobilenet_v2`, …) or timm's
    /// `architecture` (`resnet18`, `vit_tiny_patch16_224`, `convnext_atto`, …).
    public var architecture: String? {
        switch library {
        case .transformers: object["model_type"] as? String ?? (object["architectures"] as? [String])?.first
        case .timm: object["architecture"] as? String
        case .plain: nil
        }
    }

    /// Class names by logit index: transformers' `id2label`, timm's `label_names`.
    public func labelNames() throws -> [String]? {
        if let id2label = object["id2label"] {
            guard let map = id2label as? [String: Any] else { throw invalid("id2label", "an object of index: name") }
            var pairs: [(Int, String)] = []
            for (key, value) in map {
                guard let index = Int(key), index >= 0, index < 1_000_000, let name = value as? String else {
                    throw invalid("id2label", "an object mapping class indices to names ('\(Escaping.printable(key))' is not an index)")
                }
                pairs.append((index, name))
            }
            var names = [String](repeating: "", count: (pairs.map(\.0).max() ?? -1) + 1)
            for (index, name) in pairs { names[index] = name }
            return names
        }
        if let labels = object["label_names"] {
            guard let names = labels as? [String] else { throw invalid("label_names", "a list of strings") }
            return names
        }
        return nil
    }

    /// The number of classes the config declares (`num_labels`/`id2label` or `num_classes`).
    public func classCount() throws -> Int? {
        if let count = try int("num_classes") ?? int("num_labels") { return count }
        return try labelNames()?.count
    }

    // MARK: - Typed access

    /// The value at `key`, or under a timm config's `model_args` (which `timm.create_model`
    /// received), or its `pretrained_cfg`.
    func value(_ key: String) -> Any? {
        if let value = object[key] { return value }
        if library == .timm {
            if let value = (object["model_args"] as? [String: Any])?[key] { return value }
            if let value = (object["pretrained_cfg"] as? [String: Any])?[key] { return value }
        }
        return nil
    }

    /// An integer at `key` (see ``value(_:)``), `nil` when absent.
    public func int(_ key: String) throws -> Int? {
        guard let raw = value(key), !(raw is NSNull) else { return nil }
        guard let number = raw as? NSNumber, !Self.isBool(number), number.doubleValue.rounded() == number.doubleValue,
              abs(number.doubleValue) < 1e15 else { throw invalid(key, "an integer") }
        return number.intValue
    }

    /// A number at `key`, `nil` when absent.
    public func double(_ key: String) throws -> Double? {
        guard let raw = value(key), !(raw is NSNull) else { return nil }
        guard let number = raw as? NSNumber, !Self.isBool(number), number.doubleValue.isFinite else { throw invalid(key, "a number") }
        return number.doubleValue
    }

    /// A Boolean at `key`, `nil` when absent.
    public func bool(_ key: String) throws -> Bool? {
        guard let raw = value(key), !(raw is NSNull) else { return nil }
        guard let number = raw as? NSNumber, Self.isBool(number) else { throw invalid(key, "true or false") }
        return number.boolValue
    }

    /// A string at `key`, `nil` when absent.
    public func string(_ key: String) throws -> String? {
        guard let raw = value(key), !(raw is NSNull) else { return nil }
        guard let text = raw as? String else { throw invalid(key, "a string") }
        return text
    }

    /// A list of integers at `key` (a single integer counts as a list of one), `nil` when absent.
    public func ints(_ key: String) throws -> [Int]? {
        guard let raw = value(key), !(raw is NSNull) else { return nil }
        if let number = raw as? NSNumber, !Self.isBool(number) { return [number.intValue] }
        guard let list = raw as? [Any] else { throw invalid(key, "a list of integers") }
        return try list.map { item in
            guard let number = item as? NSNumber, !Self.isBool(number), number.doubleValue.rounded() == number.doubleValue else {
                throw invalid(key, "a list of integers")
            }
            return number.intValue
        }
    }

    func invalid(_ key: String, _ expected: String) -> WeightFileError {
        WeightFileError(path: path, underlying: ModelConfigError.invalidValue(key: key, expected: expected))
    }

    static func isBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }
}

/// Defects of a model's `config.json`.
public enum ModelConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable
    case notAnObject
    case unknownLibrary
    case invalidValue(key: String, expected: String)

    public var description: String {
        switch self {
        case .unreadable: "cannot read the model config"
        case .notAnObject: "the model config is not a JSON object"
        case .unknownLibrary:
            "a config.json without model_type/architectures (transformers) or architecture (timm); not a model config this tool reads"
        case .invalidValue(let key, let expected): "'\(Escaping.printable(key))' must be \(expected)"
        }
    }
}
