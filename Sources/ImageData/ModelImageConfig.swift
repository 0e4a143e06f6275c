import Foundation
import Safeguards

/// What a model folder says about its inputs and classes: transformers' `preprocessor_config.json`
/// and `config.json` (`id2label`), or timm's `config.json` (`pretrained_cfg`, `label_names`).
public struct ModelImageConfig: Sendable, Equatable {
    /// The preprocessing the model was trained with, if a file describes it.
    public var preprocessing: Preprocessing?
    /// Class names by index (empty strings for indices without a name).
    public var labelNames: [String]?
    /// The files read, for messages and the audit record.
    public var files: [String] = []

    public init(preprocessing: Preprocessing? = nil, labelNames: [String]? = nil, files: [String] = []) {
        self.preprocessing = preprocessing
        self.labelNames = labelNames
        self.files = files
    }

    /// The configuration next to the model at `path`: the folder itself when `path` is a
    /// folder, else the folder holding the file. Nothing found is an empty configuration.
    /// - Throws: ``ImageSourceError`` for a file that is there but cannot be used.
    public static func load(model path: String) throws -> ModelImageConfig {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return ModelImageConfig() }
        let folder = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
        func file(_ name: String) -> String { folder.isEmpty ? name : folder + "/" + name }
        var result = ModelImageConfig()
        let processorPath = file("preprocessor_config.json")
        if let processor = try readObject(processorPath) {
            result.preprocessing = try transformers(processor, path: processorPath)
            result.files.append(processorPath)
        }
        let configPath = file("config.json")
        if let config = try readObject(configPath) {
            var used = false
            if let labels = config["id2label"] as? [String: Any] {
                result.labelNames = try Self.labels(labels, path: configPath)
                used = true
            } else if let labels = config["label_names"] as? [String] {
                result.labelNames = labels
                used = true
            }
            if result.preprocessing == nil, let pretrained = config["pretrained_cfg"] as? [String: Any] {
                result.preprocessing = try timm(pretrained, path: configPath)
                used = true
            }
            if used { result.files.append(configPath) }
        }
        return result
    }

    private static func readObject(_ path: String) throws -> [String: Any]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ImageSourceError(path: path, reason: "not a JSON object")
        }
        return object
    }

    private static func labels(_ id2label: [String: Any], path: String) throws -> [String] {
        var pairs: [(Int, String)] = []
        for (key, value) in id2label {
            guard let index = Int(key), index >= 0, index < 1_000_000, let name = value as? String else {
                throw ImageSourceError(path: path, reason: "id2label must map class indices to names ('\(Escaping.printable(key))' does not)")
            }
            pairs.append((index, name))
        }
        var names = [String](repeating: "", count: (pairs.map(\.0).max() ?? -1) + 1)
        for (index, name) in pairs { names[index] = name }
        return names
    }

    // MARK: - transformers

    /// transformers' image processor settings (`ViTImageProcessor`, `ConvNextImageProcessor`,
    /// `CLIPImageProcessor`…): `do_resize` with `size` `{shortest_edge}` or `{height, width}`
    /// (`crop_pct` as ConvNeXt uses it), `do_center_crop` with `crop_size`, `resample` (PIL's
    /// numbers), `do_rescale`/`rescale_factor`, `do_normalize`/`image_mean`/`image_std`.
    /// The crop offset follows torchvision's rounding (transformers' fast processors).
    public static func transformers(_ json: [String: Any], path: String) throws -> Preprocessing {
        func fail(_ reason: String) -> ImageSourceError { ImageSourceError(path: path, reason: reason) }
        let type = json["image_processor_type"] as? String ?? ""
        var p = Preprocessing(origin: (path as NSString).lastPathComponent + (type.isEmpty ? "" : " (\(type))"))
        if let code = json["resample"] {
            guard let number = code as? Int, let filter = Interpolation(pilCode: number) else { throw fail("resample must be a PIL filter number 0–5") }
            p.interpolation = filter
        }
        let shortestEdgeTypes = ["CLIP", "ConvNext", "Bit", "MobileNet", "EfficientNet", "LevitImage", "PoolFormer", "Siglip2"]
        func size(_ value: Any?, key: String) throws -> (shortest: Int?, exact: Preprocessing.Size?) {
            switch value {
            case nil:
                return (nil, nil)
            case let side as Int:
                return shortestEdgeTypes.contains(where: type.contains) && key == "size" ? (side, nil) : (nil, .init(square: side))
            case let object as [String: Any]:
                if let s = object["shortest_edge"] as? Int { return (s, nil) }
                if let h = object["height"] as? Int, let w = object["width"] as? Int { return (nil, .init(height: h, width: w)) }
                throw fail("\(key) \(Array(object.keys).sorted()) is not supported (shortest_edge, or height and width)")
            default:
                throw fail("\(key) must be a number or an object")
            }
        }
        if json["do_resize"] as? Bool ?? true {
            let (shortest, exact) = try size(json["size"], key: "size")
            if let exact {
                p.resize = .exact(exact)
            } else if let shortest {
                if let cropPct = json["crop_pct"] as? Double, json["do_center_crop"] == nil {
                    // ConvNeXt: below 384 resize to shortest/crop_pct then crop; from 384 warp to a square.
                    if shortest < 384 {
                        p.resize = .shorterSide(Int(Double(shortest) / cropPct))
                        p.crop = .init(square: shortest)
                    } else {
                        p.resize = .exact(.init(square: shortest))
                    }
                } else {
                    p.resize = .shorterSide(shortest)
                }
            } else {
                throw fail("do_resize is true but there is no size")
            }
        }
        if json["do_center_crop"] as? Bool ?? false {
            let (shortest, exact) = try size(json["crop_size"], key: "crop_size")
            guard let crop = exact ?? shortest.map({ .init(square: $0) }) else { throw fail("do_center_crop is true but there is no crop_size") }
            p.crop = crop
        }
        if json["do_rescale"] as? Bool ?? true {
            let factor = json["rescale_factor"] as? Double ?? 1.0 / 255
            // torchvision divides by 255; a factor equal to 1/255 is that division.
            p.rescale = abs(factor - 1.0 / 255) < 1e-12 ? nil : factor
        } else {
            p.rescale = 1
        }
        if json["do_normalize"] as? Bool ?? true {
            guard let mean = json["image_mean"] as? [Double], let std = json["image_std"] as? [Double] else {
                throw fail("do_normalize is true but image_mean or image_std is missing")
            }
            p.mean = mean
            p.std = std
        }
        if let problem = p.problem { throw fail(problem) }
        return p
    }

    // MARK: - timm

    /// timm's `pretrained_cfg`, as `resolve_data_config` + `transforms_imagenet_eval` use it:
    /// `input_size` `[C, H, W]`, `crop_pct` (default 0.875): resize to `⌊size / crop_pct⌋`
    /// (the shorter side when square, `crop_mode` `center`; both sides with `squash`), then
    /// centre-crop to `H × W`; `interpolation`, `mean`, `std`.
    public static func timm(_ cfg: [String: Any], path: String) throws -> Preprocessing {
        func fail(_ reason: String) -> ImageSourceError { ImageSourceError(path: path, reason: "pretrained_cfg: " + reason) }
        guard let input = cfg["input_size"] as? [Int], input.count == 3 else { throw fail("input_size must be [channels, height, width]") }
        var p = Preprocessing(channels: input[0], origin: (path as NSString).lastPathComponent + " (timm pretrained_cfg)")
        if let name = cfg["interpolation"] as? String {
            guard let filter = Interpolation(name: name) else { throw fail("interpolation '\(Escaping.printable(name))' is not supported") }
            p.interpolation = filter
        } else {
            p.interpolation = .bilinear
        }
        let cropPct = cfg["crop_pct"] as? Double ?? 0.875
        guard cropPct > 0 && cropPct <= 4 else { throw fail("crop_pct must be in (0, 4]") }
        let (h, w) = (input[1], input[2])
        let scaled = Preprocessing.Size(height: Int((Double(h) / cropPct).rounded(.down)), width: Int((Double(w) / cropPct).rounded(.down)))
        switch cfg["crop_mode"] as? String ?? "center" {
        case "center":
            guard scaled.height == scaled.width else {
                throw fail("a non-square input_size with crop_mode center (timm's ResizeKeepRatio) is not supported; give --resize and --crop")
            }
            p.resize = .shorterSide(scaled.height)
        case "squash":
            p.resize = .exact(scaled)
        case let mode:
            throw fail("crop_mode '\(Escaping.printable(mode))' is not supported (center, squash)")
        }
        p.crop = .init(height: h, width: w)
        if let mean = cfg["mean"] as? [Double], let std = cfg["std"] as? [Double] {
            p.mean = mean
            p.std = std
        }
        if let problem = p.problem { throw fail(problem) }
        return p
    }
}
