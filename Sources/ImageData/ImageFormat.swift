/// The image file formats ImageData decodes, recognised by their first bytes (never by name).
public enum ImageFormat: String, Sendable, Equatable, Codable, CustomStringConvertible {
    case jpeg = "JPEG"
    case png = "PNG"
    case webp = "WebP"

    public var description: String { rawValue }

    /// The format whose signature `bytes` starts with; `nil` for anything else.
    public static func detect(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) { return .webp }
        return nil
    }

    /// The name of a common format ImageData does not decode, for error messages.
    static func otherFormatName(_ bytes: UnsafeRawBufferPointer) -> String? {
        let signatures: [(String, [UInt8])] = [
            ("GIF", Array("GIF8".utf8)), ("BMP", Array("BM".utf8)), ("TIFF", [0x49, 0x49, 0x2A, 0x00]),
            ("TIFF", [0x4D, 0x4D, 0x00, 0x2A]), ("JPEG 2000", [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]),
            ("GIF", Array("GIF8".utf8)), ("PNM", Array("P6".utf8)), ("PNM", Array("P5".utf8)),
        ]
        if bytes.count >= 12, Array(bytes[4..<8]) == Array("ftyp".utf8) {
            let brand = String(decoding: bytes[8..<12], as: UTF8.self)
            return ["avif", "avis"].contains(brand) ? "AVIF" : (["heic", "heix", "mif1"].contains(brand) ? "HEIF" : nil)
        }
        return signatures.first { bytes.starts(with: $0.1) }?.0
    }
}
