import Foundation
import ImageData
import Testing
import _TestSupport

@Suite("Preprocessing read from model folders")
struct ModelImageConfigTests {
    func run(_ folder: String) throws -> (Preprocessing, [Float], [Int]) {
        let config = try ModelImageConfig.load(model: ImageFixtures.path("models/" + folder))
        let p = try #require(config.preprocessing)
        let image = try ImageDecoder().decode(file: ImageFixtures.path("images/rgb.png"), channels: p.channels)
        let (shape, values) = p.tensor(image)
        return (p, values, shape)
    }

    /// transformers' PIL-backend processor rescales in float64 and normalises in float32; on these
    /// images that is bit-identical to torchvision's float32 division.
    @Test("transformers ViT: resize to height × width, mean/std 0.5; id2label read")
    func vit() throws {
        let (p, values, shape) = try run("vit")
        #expect(p.pipeline == "RGB, Resize((32, 40), bilinear), ToTensor (÷255), Normalize(mean [0.5, 0.5, 0.5], std [0.5, 0.5, 0.5])")
        let expected = try #require(try ImageFixtures.floats("model_vit"))
        #expect(shape == expected.shape)
        expectClose(values, expected.values, rtol: 0, atol: 0)
        let config = try ModelImageConfig.load(model: ImageFixtures.path("models/vit"))
        #expect(config.labelNames == ["cat", "Dog", "zebra", "10", "2", "été"])
        #expect(config.files.map { ($0 as NSString).lastPathComponent } == ["preprocessor_config.json", "config.json"])
    }

    @Test("transformers ConvNeXt: shortest edge / crop_pct, centre crop, bicubic")
    func convnext() throws {
        let (p, values, shape) = try run("convnext")
        #expect(p.resize == .shorterSide(36) && p.crop == .init(square: 32) && p.interpolation == .bicubic)
        let expected = try #require(try ImageFixtures.floats("model_convnext"))
        #expect(shape == expected.shape)
        expectClose(values, expected.values, rtol: 0, atol: 0)
    }

    /// timm's eval transform is torchvision's Resize + CenterCrop + ToTensor + Normalize: bit-exact.
    @Test("timm pretrained_cfg: ⌊size / crop_pct⌋, centre crop, its mean/std; label_names read")
    func timm() throws {
        let (p, values, shape) = try run("timm")
        #expect(p.pipeline.hasPrefix("RGB, Resize(35, bicubic), CenterCrop(32), ToTensor (÷255), Normalize(mean [0.48145466"))
        let expected = try #require(try ImageFixtures.floats("model_timm"))
        #expect(shape == expected.shape)
        expectClose(values, expected.values, rtol: 0, atol: 0)
        let config = try ModelImageConfig.load(model: ImageFixtures.path("models/timm/config.json"))
        #expect(config.labelNames?.first == "cat")
    }

    @Test("a folder without configuration files gives none")
    func nothing() throws {
        let config = try ModelImageConfig.load(model: Fixtures.path("Samples/cnn.onnx"))
        #expect(config == ModelImageConfig())
    }

    @Test("unusable settings are errors naming the file and the key")
    func errors() throws {
        func reason(_ json: [String: Any]) -> String? {
            do { _ = try ModelImageConfig.transformers(json, path: "p.json"); return nil } catch { return "\(error)" }
        }
        #expect(reason(["size": ["longest_edge": 3]]) == "p.json: size [\"longest_edge\"] is not supported (shortest_edge, or height and width)")
        #expect(reason(["size": ["shortest_edge": 8], "resample": 9]) == "p.json: resample must be a PIL filter number 0–5")
        #expect(reason(["size": ["shortest_edge": 8], "image_mean": [0.5]]) == "p.json: do_normalize is true but image_mean or image_std is missing")
        #expect(reason(["size": 8, "do_normalize": false, "image_processor_type": "ViTImageProcessor"]) == nil)
        #expect(throws: ImageSourceError.self) { try ModelImageConfig.timm(["input_size": [3, 8, 8], "crop_mode": "border"], path: "c.json") }
    }
}
