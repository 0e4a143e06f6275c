/// An 8-bit image, rows packed top to bottom, `channels` interleaved samples per pixel
/// (1: gray, 3: RGB).
public struct PixelImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "\(pixels.count) samples for \(width)×\(height)×\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

/// What an image file's header says, read without decoding the pixels.
public struct ImageHeader: Sendable, Equatable, Codable {
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    /// How the file stores colour: `gray`, `gray+alpha`, `RGB`, `RGBA`, `palette`, `CMYK`, `YCCK`.
    public var colorModel: String
    /// Bits per sample in the file.
    public var bitDepth: Int

    public init(format: ImageFormat, width: Int, height: Int, colorModel: String, bitDepth: Int) {
        self.format = format
        self.width = width
        self.height = height
        self.colorModel = colorModel
        self.bitDepth = bitDepth
    }
}
