/// How decoded images become model inputs: torchvision's
/// `Resize(size) → CenterCrop(crop) → ToTensor() → Normalize(mean, std)` on PIL images.
///
/// For an image of width `w` and height `h`:
/// 1. **Resize** (``Resize``): none; the shorter side to `s` and the longer to
///    `⌊s · long / short⌋` (torchvision's rule); or exactly `width × height`. Resampled with
///    ``interpolation`` exactly as PIL does (``Resampling``).
/// 2. **Centre crop** to `height × width`: offsets `round((H − height) / 2)` and
///    `round((W − width) / 2)` with Python's rounding (half to even); an image smaller than the
///    crop is first padded with zeros, `⌊d/2⌋` before and `⌈d/2⌉` after (torchvision's rule).
/// 3. **ToTensor**: channels first, `v / 255` in `Float` (or `v · rescale` when ``rescale`` is set).
/// 4. **Normalize**: `(x − mean[c]) / std[c]` in `Float`, per channel.
///
/// Steps 3 and 4 map each byte through one table per channel computed with torchvision's float32
/// operations, so equal bytes give bit-identical floats.
public struct Preprocessing: Sendable, Equatable, Codable {
    /// A height and a width in pixels.
    public struct Size: Sendable, Equatable, Codable, CustomStringConvertible {
        public var height: Int
        public var width: Int
        public init(height: Int, width: Int) { self.height = height; self.width = width }
        public init(square side: Int) { self.init(height: side, width: side) }
        public var description: String { height == width ? "\(height)" : "\(height)×\(width)" }
        /// `[height, width]`.
        public var shape: [Int] { [height, width] }
    }

    public enum Resize: Sendable, Equatable, Codable {
        /// Keep the image's size.
        case none
        /// The shorter side to this length, the longer in proportion (rounded down).
        case shorterSide(Int)
        /// Exactly this size, whatever the aspect ratio.
        case exact(Size)
    }

    /// 1 (gray: PIL's `convert("L")` of the RGB image) or 3 (RGB).
    public var channels: Int
    public var resize: Resize
    public var crop: Size?
    public var interpolation: Interpolation
    /// The factor of ToTensor; `nil` for torchvision's exact `v / 255`.
    public var rescale: Double?
    /// Per-channel mean and standard deviation of Normalize (one value applies to every channel);
    /// `nil` for no normalisation.
    public var mean: [Double]?
    public var std: [Double]?
    /// Where the settings came from (`preprocessor_config.json`, `flags`…), for the audit record.
    public var origin: String

    public init(channels: Int = 3, resize: Resize = .none, crop: Size? = nil, interpolation: Interpolation = .bilinear,
                rescale: Double? = nil, mean: [Double]? = nil, std: [Double]? = nil, origin: String = "defaults") {
        self.channels = channels
        self.resize = resize
        self.crop = crop
        self.interpolation = interpolation
        self.rescale = rescale
        self.mean = mean
        self.std = std
        self.origin = origin
    }

    /// What is inconsistent, if anything (a message naming the setting to change).
    public var problem: String? {
        if channels != 1 && channels != 3 { return "images can have 1 or 3 channels, not \(channels)" }
        switch resize {
        case .none: break
        case .shorterSide(let s) where s <= 0: return "resize size must be positive"
        case .exact(let size) where size.height <= 0 || size.width <= 0: return "resize size must be positive"
        default: break
        }
        if let crop, crop.height <= 0 || crop.width <= 0 { return "crop size must be positive" }
        if (mean == nil) != (std == nil) { return "normalisation needs both mean and std" }
        if let mean, let std {
            for (name, values) in [("mean", mean), ("std", std)] where values.count != 1 && values.count != channels {
                return "\(name) has \(values.count) values for \(channels) channel\(channels == 1 ? "" : "s")"
            }
            if std.contains(where: { $0 == 0 || !$0.isFinite }) { return "std values must be finite and non-zero" }
            if mean.contains(where: { !$0.isFinite }) { return "mean values must be finite" }
        }
        if let rescale, !(rescale.isFinite && rescale > 0) { return "rescale factor must be positive" }
        return nil
    }

    /// The size after resizing an image of `width × height` (torchvision's `Resize` rule).
    public func resizedSize(width: Int, height: Int) -> Size {
        switch resize {
        case .none:
            return Size(height: height, width: width)
        case .shorterSide(let s):
            let (short, long) = width <= height ? (width, height) : (height, width)
            let newLong = Int(Double(s * long) / Double(short))
            return width <= height ? Size(height: newLong, width: s) : Size(height: s, width: newLong)
        case .exact(let size):
            return size
        }
    }

    /// `[channels, height, width]` of the sample an image of `width × height` becomes.
    public func sampleShape(width: Int, height: Int) -> [Int] {
        [channels] + (crop ?? resizedSize(width: width, height: height)).shape
    }

    /// `[channels, height, width]` when it does not depend on the image (a crop or an exact resize).
    public var fixedSampleShape: [Int]? {
        if let crop { return [channels] + crop.shape }
        if case .exact(let size) = resize { return [channels] + size.shape }
        return nil
    }

    /// The one-line pipeline, in torchvision's terms, e.g.
    /// `RGB, Resize(256, bilinear), CenterCrop(224), ToTensor, Normalize(mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225])`.
    public var pipeline: String {
        var steps = [channels == 1 ? "grayscale (PIL convert L)" : "RGB"]
        switch resize {
        case .none: break
        case .shorterSide(let s): steps.append("Resize(\(s), \(interpolation))")
        case .exact(let size): steps.append("Resize((\(size.height), \(size.width)), \(interpolation))")
        }
        if let crop { steps.append("CenterCrop(\(crop.height == crop.width ? "\(crop.height)" : "(\(crop.height), \(crop.width))"))") }
        steps.append(rescale.map { "ToTensor (×\(Self.format($0)))" } ?? "ToTensor (÷255)")
        if let mean, let std {
            steps.append("Normalize(mean [\(mean.map(Self.format).joined(separator: ", "))], std [\(std.map(Self.format).joined(separator: ", "))])")
        }
        return steps.joined(separator: ", ")
    }

    static func format(_ value: Double) -> String {
        var text = "\(value)"
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    /// One table per channel: the float each byte value becomes after ToTensor and Normalize,
    /// computed with torchvision's float32 operations (`v / 255`, then `(x − mean) / std`).
    func valueTables() -> [[Float]] {
        (0..<channels).map { c in
            let mean = self.mean.map { Float($0.count == 1 ? $0[0] : $0[c]) }
            let std = self.std.map { Float($0.count == 1 ? $0[0] : $0[c]) }
            let factor = rescale.map(Float.init)
            return (0..<256).map { v in
                var x = factor.map { Float(v) * $0 } ?? Float(v) / Float(255)
                if let mean, let std { x = (x - mean) / std }
                return x
            }
        }
    }

    /// The 8-bit image after Resize and CenterCrop (what PIL holds before ToTensor); `image` must
    /// have ``channels`` channels.
    public func resizedAndCropped(_ image: PixelImage) -> PixelImage {
        precondition(image.channels == channels, "image has \(image.channels) channels, pipeline \(channels)")
        let resized = resizedSize(width: image.width, height: image.height)
        let out = crop ?? resized
        // Where the crop window starts in the resized image (negative: padding).
        var left = 0, top = 0
        if let crop {
            (left, top) = (Self.cropOffset(resized.width, crop.width), Self.cropOffset(resized.height, crop.height))
        }
        let columns = max(left, 0)..<max(min(left + out.width, resized.width), max(left, 0))
        let rows = max(top, 0)..<max(min(top + out.height, resized.height), max(top, 0))
        let window: PixelImage
        if columns.isEmpty || rows.isEmpty {
            window = PixelImage(width: 0, height: 0, channels: channels, pixels: [])
        } else if resized.width == image.width && resized.height == image.height {
            window = Resampling.crop(image, columns: columns, rows: rows)
        } else {
            window = Resampling.resize(image, width: resized.width, height: resized.height, filter: interpolation,
                                       columns: columns, rows: rows)
        }
        guard window.width != out.width || window.height != out.height else { return window }
        // Padding: the window at its place in a zero image of the crop's size.
        var padded = [UInt8](repeating: 0, count: out.width * out.height * channels)
        let x0 = columns.lowerBound - left, y0 = rows.lowerBound - top
        let length = window.width * channels
        for y in 0..<window.height {
            let to = ((y + y0) * out.width + x0) * channels
            padded.replaceSubrange(to..<(to + length), with: window.pixels[(y * length)..<((y + 1) * length)])
        }
        return PixelImage(width: out.width, height: out.height, channels: channels, pixels: padded)
    }

    /// Writes the sample `image` (already with ``channels`` channels) becomes into `target`
    /// (`channels × height × width` floats, channels first); `tables` from ``valueTables()``.
    /// - Returns: `[height, width]` of the sample.
    @discardableResult
    func apply(_ image: PixelImage, tables: [[Float]], into target: UnsafeMutableBufferPointer<Float>) -> [Int] {
        let window = resizedAndCropped(image)
        let plane = window.height * window.width
        precondition(target.count >= channels * plane, "target too small")
        window.pixels.withUnsafeBufferPointer { src in
            for c in 0..<channels {
                tables[c].withUnsafeBufferPointer { table in
                    let base = target.baseAddress! + c * plane
                    for i in 0..<plane { base[i] = table[Int(src[i * channels + c])] }
                }
            }
        }
        return [window.height, window.width]
    }

    /// The sample `image` becomes: `channels × height × width` floats, channels first.
    public func tensor(_ image: PixelImage) -> (shape: [Int], values: [Float]) {
        let tables = valueTables()
        let out = crop ?? resizedSize(width: image.width, height: image.height)
        var shape: [Int] = []
        let values = [Float](unsafeUninitializedCapacity: channels * out.height * out.width) { buffer, count in
            shape = apply(image, tables: tables, into: buffer)
            count = buffer.count
        }
        return ([channels] + shape, values)
    }

    /// torchvision's centre-crop start along one axis of length `size` for a crop of `crop`,
    /// in the unpadded image's coordinates (negative when the image is padded).
    static func cropOffset(_ size: Int, _ crop: Int) -> Int {
        var size = size, padBefore = 0
        if crop > size {
            padBefore = (crop - size) / 2
            size += padBefore + (crop - size + 1) / 2
        }
        let offset = Int((Double(size - crop) / 2).rounded(.toNearestOrEven))
        return offset - padBefore
    }
}
