import CImageCodecs
import CWebP

/// Decodes JPEG, PNG and WebP files into 8-bit gray or RGB pixels as PIL's `Image.open(…).convert("RGB")`
/// (then `.convert("L")` for one channel) gives them.
///
/// - JPEG: libjpeg-turbo with PIL's settings (accurate integer IDCT, fancy upsampling); CMYK and
///   YCCK files are read as Adobe-inverted CMYK and converted as PIL does
///   (`R = 255 − K' − K'·C'/255` with `C' = 255 − C`…); a file that ends early is an error (PIL
///   refuses it too unless told to load truncated images).
/// - PNG: libpng; palettes expanded, gray below 8 bits scaled, 16-bit RGB(A) cut to the high byte
///   (PIL's `RGB;16B`), alpha dropped (PIL's `convert("RGB")` drops it), gamma ignored (as PIL);
///   16-bit gray is refused.
/// - WebP: libwebp, still images (animations are refused); alpha dropped.
///
/// One channel is the ITU-R 601-2 luma of the RGB pixels in PIL's fixed point:
/// `L = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16`; gray files give their own values back.
///
/// Every header is checked before pixels are allocated: zero sizes are ``ImageError/zeroSize(_:)``,
/// more than ``maxPixels`` pixels ``ImageError/tooLarge(_:width:height:limit:)``.
public struct ImageDecoder: Sendable {
    /// The largest width × height decoded (100 Mpx by default, about PIL's decompression-bomb
    /// warning threshold of 89.5 Mpx).
    public var maxPixels: Int
    /// The most scans of a progressive JPEG (each is a pass over the whole image).
    public var maxJPEGScans: Int

    public init(maxPixels: Int = 100_000_000, maxJPEGScans: Int = 1000) {
        self.maxPixels = maxPixels
        self.maxJPEGScans = maxJPEGScans
    }

    /// The header of the image in `bytes`.
    public func header(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> ImageHeader {
        try decodeRaw(bytes, pixels: false).header
    }

    /// The image in `bytes` as `channels` (1 or 3) channels.
    public func decode(_ bytes: UnsafeRawBufferPointer, channels: Int) throws(ImageError) -> PixelImage {
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
        let raw = try decodeRaw(bytes, pixels: true)
        var pixels = raw.pixels
        let count = raw.header.width * raw.header.height
        let cmyk = raw.header.format == .jpeg && raw.channels == 4
        ColorConversion.convert(&pixels, pixelCount: count, from: raw.channels, cmyk: cmyk, to: channels)
        return PixelImage(width: raw.header.width, height: raw.header.height, channels: channels, pixels: pixels)
    }

    /// The file's samples as the codec gives them (`channels` per pixel, followed by room for
    /// converting them to RGB in place), or only the header.
    func decodeRaw(_ bytes: UnsafeRawBufferPointer, pixels wanted: Bool) throws(ImageError) -> (header: ImageHeader, channels: Int, pixels: [UInt8]) {
        guard !bytes.isEmpty else { throw .empty }
        guard let format = ImageFormat.detect(bytes) else { throw .unknownFormat(name: ImageFormat.otherFormatName(bytes)) }
        switch format {
        case .jpeg, .png: return try decodeWithC(bytes, format: format, pixels: wanted)
        case .webp: return try decodeWebP(bytes, pixels: wanted)
        }
    }

    private func decodeWithC(_ bytes: UnsafeRawBufferPointer, format: ImageFormat, pixels wanted: Bool) throws(ImageError)
        -> (header: ImageHeader, channels: Int, pixels: [UInt8]) {
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var info = mfimage_info()
        func read(_ target: UnsafeMutablePointer<UInt8>?, _ capacity: Int) -> Int32 {
            switch format {
            case .jpeg: mfimage_jpeg_read(base, bytes.count, UInt64(maxPixels), Int32(clamping: maxJPEGScans), target, capacity, &info)
            default: mfimage_png_read(base, bytes.count, UInt64(maxPixels), target, capacity, &info)
            }
        }
        try check(read(nil, 0), info, format)
        let header = Self.header(info, format)
        guard wanted else { return (header, Int(info.channels), []) }
        let channels = Int(info.channels)
        // Room for the widest of the codec's layout and an RGB result, converted in place.
        let capacity = header.width * header.height * max(channels, 3)
        var status: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            status = read(buffer.baseAddress, buffer.count)
            count = capacity
        }
        try check(status, info, format)
        return (header, channels, pixels)
    }

    private func check(_ status: Int32, _ info: mfimage_info, _ format: ImageFormat) throws(ImageError) {
        let message = withUnsafeBytes(of: info.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        switch Int(status) {
        case Int(MFIMAGE_OK):
            return
        case Int(MFIMAGE_TRUNCATED):
            throw .truncated(format)
        case Int(MFIMAGE_UNSUPPORTED):
            throw .unsupported(format, reason: message)
        case Int(MFIMAGE_TOO_LARGE):
            throw .tooLarge(format, width: Int(info.width), height: Int(info.height), limit: maxPixels)
        default:
            if message.contains("is zero in IHDR") || message.contains("Empty JPEG image") { throw .zeroSize(format) }
            throw .corrupt(format, reason: message.isEmpty ? "cannot be decoded" : message)
        }
    }

    private static func header(_ info: mfimage_info, _ format: ImageFormat) -> ImageHeader {
        let model: String
        if format == .jpeg {
            model = [1: "gray", 2: "RGB", 3: "YCbCr", 4: "CMYK", 5: "YCCK"][Int(info.color_model)] ?? "unknown"
        } else {
            model = [0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"][Int(info.color_model)] ?? "unknown"
        }
        return ImageHeader(format: format, width: Int(info.width), height: Int(info.height), colorModel: model, bitDepth: Int(info.bit_depth))
    }

    private func decodeWebP(_ bytes: UnsafeRawBufferPointer, pixels wanted: Bool) throws(ImageError)
        -> (header: ImageHeader, channels: Int, pixels: [UInt8]) {
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var features = WebPBitstreamFeatures()
        let status = WebPGetFeatures(base, bytes.count, &features)
        guard status == VP8_STATUS_OK else { throw Self.webPError(status) }
        let header = ImageHeader(format: .webp, width: Int(features.width), height: Int(features.height),
                                 colorModel: features.has_alpha != 0 ? "RGBA" : "RGB", bitDepth: 8)
        guard features.has_animation == 0 else { throw .unsupported(.webp, reason: "animated WebP is not supported; extract a frame") }
        guard header.width > 0, header.height > 0 else { throw .zeroSize(.webp) }
        guard header.width * header.height <= maxPixels else {
            throw .tooLarge(.webp, width: header.width, height: header.height, limit: maxPixels)
        }
        guard wanted else { return (header, 3, []) }
        var config = WebPDecoderConfig()
        guard WebPInitDecoderConfig(&config) != 0 else { throw .unsupported(.webp, reason: "libwebp version mismatch") }
        let count = header.width * header.height * 3
        var decoded = VP8_STATUS_OK
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            config.output.colorspace = MODE_RGB
            config.output.is_external_memory = 1
            config.output.u.RGBA.rgba = buffer.baseAddress
            config.output.u.RGBA.stride = Int32(header.width * 3)
            config.output.u.RGBA.size = count
            decoded = WebPDecode(base, bytes.count, &config)
            WebPFreeDecBuffer(&config.output)
            initialized = count
        }
        guard decoded == VP8_STATUS_OK else { throw Self.webPError(decoded) }
        return (header, 3, pixels)
    }

    private static func webPError(_ status: VP8StatusCode) -> ImageError {
        switch status {
        case VP8_STATUS_NOT_ENOUGH_DATA: .truncated(.webp)
        case VP8_STATUS_UNSUPPORTED_FEATURE: .unsupported(.webp, reason: "a WebP feature libwebp does not support")
        case VP8_STATUS_OUT_OF_MEMORY: .corrupt(.webp, reason: "out of memory")
        default: .corrupt(.webp, reason: "invalid bitstream")
        }
    }
}
