import Foundation
import ImageData
import Testing
import WeightFormats
import _TestSupport

/// The fixtures of `Fixtures/make_fixtures.py`: images, PIL's and torchvision's results.
enum ImageFixtures {
    static func path(_ relative: String) -> String {
        Fixtures.path("Tests/ImageDataTests/Fixtures/" + relative)
    }

    /// `expected.npz`, opened once.
    nonisolated(unsafe) static let expected: any CheckpointReader = try! Checkpoint.open(path("expected.npz"))

    static func bytes(_ key: String) throws -> (shape: [Int], values: [UInt8]) {
        let info = try #require(expected.info(named: key), "no \(key) in expected.npz")
        return (info.shape, try expected.bytes(of: key))
    }

    static func floats(_ key: String) throws -> (shape: [Int], values: [Float])? {
        guard let info = expected.info(named: key) else { return nil }
        let raw = try expected.bytes(of: key)
        let values = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (info.shape, values)
    }

    /// One pipeline case of `cases.json`.
    struct Case: Decodable, CustomTestStringConvertible, Sendable {
        let name: String
        let image: String
        let interpolation: String
        let resize: [Int]?
        let crop: [Int]?
        let channels: Int
        let mean: [Double]?
        let std: [Double]?
        let tensor: Bool

        var testDescription: String { name }

        enum CodingKeys: String, CodingKey { case name, image, interpolation, resize, crop, channels, mean, std, tensor }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            image = try c.decode(String.self, forKey: .image)
            interpolation = try c.decode(String.self, forKey: .interpolation)
            channels = try c.decode(Int.self, forKey: .channels)
            mean = try c.decodeIfPresent([Double].self, forKey: .mean)
            std = try c.decodeIfPresent([Double].self, forKey: .std)
            tensor = try c.decode(Bool.self, forKey: .tensor)
            // resize and crop are an int (one side) or [height, width] in the JSON.
            func sizes(_ key: CodingKeys) throws -> [Int]? {
                if let one = try? c.decodeIfPresent(Int.self, forKey: key) { return [one] }
                return try c.decodeIfPresent([Int].self, forKey: key)
            }
            resize = try sizes(.resize)
            crop = try sizes(.crop)
        }

        var preprocessing: Preprocessing {
            var p = Preprocessing(channels: channels, interpolation: Interpolation(name: interpolation)!, mean: mean, std: std)
            if let resize { p.resize = resize.count == 1 ? .shorterSide(resize[0]) : .exact(.init(height: resize[0], width: resize[1])) }
            if let crop { p.crop = crop.count == 1 ? .init(square: crop[0]) : .init(height: crop[0], width: crop[1]) }
            return p
        }
    }

    static let cases: [Case] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: path("cases.json")))
        return try! JSONDecoder().decode([Case].self, from: data)
    }()

    /// Every image file of `Fixtures/images`.
    static let images: [String] = (try? FileManager.default.contentsOfDirectory(atPath: path("images")).sorted()) ?? []
}

/// How far two byte arrays are apart: the largest difference and how many differ.
func byteDifference(_ a: [UInt8], _ b: [UInt8]) -> (max: Int, count: Int) {
    var worst = 0, count = 0
    for (x, y) in zip(a, b) where x != y {
        worst = max(worst, abs(Int(x) - Int(y)))
        count += 1
    }
    return (worst, count)
}
