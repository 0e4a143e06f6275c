import ImageData
import Testing

@Suite("Decoding agrees with PIL")
struct DecodingParityTests {
    /// JPEG and PNG decode to PIL's bytes exactly (same libjpeg-turbo IDCT and upsampling, PNG is
    /// lossless); lossy WebP may differ by libwebp version (Debian 1.2.4, Pillow's 1.6.0) by at most 1.
    @Test("RGB bytes equal PIL's convert(\"RGB\")", arguments: ImageFixtures.images)
    func rgb(_ name: String) throws {
        let image = try ImageDecoder().decode(file: ImageFixtures.path("images/" + name), channels: 3)
        let expected = try ImageFixtures.bytes("decoded_rgb_" + name.replacingOccurrences(of: ".", with: "_"))
        #expect([image.height, image.width, 3] == expected.shape)
        let difference = byteDifference(image.pixels, expected.values)
        #expect(difference.max == 0, "\(name): \(difference.count) of \(expected.values.count) samples differ, by up to \(difference.max)")
    }

    @Test("gray bytes equal PIL's convert(\"RGB\").convert(\"L\")",
          arguments: ["gray.jpg", "cmyk.jpg", "rgb.png", "palette.png", "gray_alpha.png", "lossy.webp"])
    func gray(_ name: String) throws {
        let image = try ImageDecoder().decode(file: ImageFixtures.path("images/" + name), channels: 1)
        let expected = try ImageFixtures.bytes("decoded_l_" + name.replacingOccurrences(of: ".", with: "_"))
        #expect([image.height, image.width] == expected.shape)
        let difference = byteDifference(image.pixels, expected.values)
        #expect(difference.max == 0, "\(name): \(difference.count) of \(expected.values.count) samples differ, by up to \(difference.max)")
    }

    @Test("headers describe the file")
    func headers() throws {
        let decoder = ImageDecoder()
        let cmyk = try decoder.header(file: ImageFixtures.path("images/cmyk.jpg"))
        #expect(cmyk == ImageHeader(format: .jpeg, width: 61, height: 47, colorModel: "CMYK", bitDepth: 8))
        let palette = try decoder.header(file: ImageFixtures.path("images/palette.png"))
        #expect(palette.colorModel == "palette")
        let rgb16 = try decoder.header(file: ImageFixtures.path("images/rgb16.png"))
        #expect(rgb16.bitDepth == 16 && rgb16.colorModel == "RGB")
        let webp = try decoder.header(file: ImageFixtures.path("images/alpha.webp"))
        #expect(webp.format == .webp && webp.colorModel == "RGBA")
    }
}
