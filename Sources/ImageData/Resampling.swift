/// PIL's `Image.resize` for 8-bit images, computing only a window of the result.
///
/// The convolution filters follow `ImagingResample`: for an axis shrunk from `n` to `m` samples,
/// `scale = n / m` and `s = max(scale, 1)`; output `i` is centred at `c = (i + ½)·scale`, reads
/// inputs `⌊c − s·support + ½⌋ ..< ⌊c + s·support + ½⌋` (clamped to the image) with weights
/// `w((j − c + ½) / s)` divided by their sum, then rounded to 22-bit fixed point. The image is
/// resampled horizontally first, each value rounded and clamped to 8 bits, then vertically: the
/// same integer arithmetic as PIL, so the results are PIL's bytes. An axis whose size does not
/// change is not resampled (PIL skips that pass too). `nearest` is PIL's scale-only affine
/// transform: input `⌊x₀ + k·scale⌋` for output `k`, with `x₀ = scale/2` accumulated in `Double`.
///
/// Only the outputs in the requested window are computed (and only the input rows they read
/// are resampled horizontally); each output depends only on its own weights, so the window is
/// exactly the corresponding part of the full result.
public enum Resampling {
    /// Bits of the fixed-point weights (PIL's `PRECISION_BITS`, 32 − 8 − 2).
    static let precisionBits: Int32 = 22

    /// The inputs and fixed-point weights of outputs `outputs` of an axis resampled from `inSize`
    /// to `outSize`.
    struct Axis {
        /// Most taps of one output.
        let taps: Int
        /// First input of each output (relative to the window's first output).
        var first: [Int]
        /// Number of inputs of each output.
        var count: [Int]
        /// `taps` weights per output, in units of 2⁻²².
        var weights: [Int32]

        init(inSize: Int, outSize: Int, filter: Interpolation, outputs: Range<Int>) {
            let scale = Double(inSize) / Double(outSize)
            let filterScale = max(scale, 1)
            let support = filter.support * filterScale
            taps = Int(support.rounded(.up)) * 2 + 1
            first = []; count = []; weights = []
            first.reserveCapacity(outputs.count); count.reserveCapacity(outputs.count)
            weights.reserveCapacity(outputs.count * taps)
            let inverse = 1.0 / filterScale
            var w = [Double](repeating: 0, count: taps)
            let unit = Double(1 << Self.bits)
            for i in outputs {
                let center = (Double(i) + 0.5) * scale
                let lo = max(Int(center - support + 0.5), 0)
                let hi = min(Int(center + support + 0.5), inSize)
                let n = hi - lo
                var total = 0.0
                for t in 0..<n {
                    w[t] = filter.weight((Double(t + lo) - center + 0.5) * inverse)
                    total += w[t]
                }
                for t in 0..<taps {
                    var v = t < n ? w[t] : 0
                    if t < n, total != 0 { v /= total }
                    weights.append(v < 0 ? Int32(-0.5 + v * unit) : Int32(0.5 + v * unit))
                }
                first.append(lo)
                count.append(max(n, 0))
            }
        }

        private static var bits: Int { Int(Resampling.precisionBits) }

        /// The inputs the outputs read, as one range.
        var inputRange: Range<Int> {
            guard let lo = first.first else { return 0..<0 }
            var hi = lo
            for (f, n) in zip(first, count) { hi = max(hi, f + n) }
            return lo..<hi
        }
    }

    /// The window `columns × rows` of `image` resized to `width × height` with `filter`.
    /// - Precondition: the window lies inside `width × height`.
    public static func resize(_ image: PixelImage, width: Int, height: Int, filter: Interpolation,
                              columns: Range<Int>, rows: Range<Int>) -> PixelImage {
        precondition(columns.lowerBound >= 0 && columns.upperBound <= width && rows.lowerBound >= 0 && rows.upperBound <= height,
                     "window \(columns)×\(rows) outside \(width)×\(height)")
        if filter == .nearest { return nearest(image, width: width, height: height, columns: columns, rows: rows) }
        let channels = image.channels
        // Horizontal pass over the input rows the vertical pass will read.
        let vertical = height == image.height ? nil : Axis(inSize: image.height, outSize: height, filter: filter, outputs: rows)
        let sourceRows = vertical?.inputRange ?? rows
        var temp: PixelImage
        if width == image.width {
            temp = crop(image, columns: columns, rows: sourceRows)
        } else {
            let horizontal = Axis(inSize: image.width, outSize: width, filter: filter, outputs: columns)
            temp = horizontalPass(image, horizontal, rows: sourceRows, channels: channels)
        }
        guard let vertical else { return temp }
        return verticalPass(temp, vertical, firstRow: sourceRows.lowerBound)
    }

    /// Rows `rows`, columns `columns` of `image`.
    static func crop(_ image: PixelImage, columns: Range<Int>, rows: Range<Int>) -> PixelImage {
        if columns == 0..<image.width && rows == 0..<image.height { return image }
        let c = image.channels, rowLength = columns.count * c
        var out = [UInt8](repeating: 0, count: rows.count * rowLength)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (k, y) in rows.enumerated() {
                    let from = (y * image.width + columns.lowerBound) * c
                    for i in 0..<rowLength { dst[k * rowLength + i] = src[from + i] }
                }
            }
        }
        return PixelImage(width: columns.count, height: rows.count, channels: c, pixels: out)
    }

    @inline(__always)
    static func clip8(_ sum: Int32) -> UInt8 {
        let v = sum >> precisionBits
        return v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(truncatingIfNeeded: v))
    }

    /// PIL's `ImagingResampleHorizontal_8bpc` for input rows `rows`.
    static func horizontalPass(_ image: PixelImage, _ axis: Axis, rows: Range<Int>, channels c: Int) -> PixelImage {
        let outWidth = axis.first.count
        let half: Int32 = 1 << (precisionBits - 1)
        var out = [UInt8](repeating: 0, count: rows.count * outWidth * c)
        image.pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
        axis.weights.withUnsafeBufferPointer { weights in
        axis.first.withUnsafeBufferPointer { first in
        axis.count.withUnsafeBufferPointer { count in
            let taps = axis.taps
            for (k, y) in rows.enumerated() {
                let line = src.baseAddress! + y * image.width * c
                let target = dst.baseAddress! + k * outWidth * c
                for x in 0..<outWidth {
                    let w = weights.baseAddress! + x * taps
                    let p = line + first[x] * c
                    let n = count[x]
                    if c == 3 {
                        var s0 = half, s1 = half, s2 = half
                        for t in 0..<n {
                            let q = p + 3 * t
                            s0 &+= Int32(q[0]) &* w[t]
                            s1 &+= Int32(q[1]) &* w[t]
                            s2 &+= Int32(q[2]) &* w[t]
                        }
                        target[3 * x] = clip8(s0); target[3 * x + 1] = clip8(s1); target[3 * x + 2] = clip8(s2)
                    } else {
                        for ch in 0..<c {
                            var s = half
                            for t in 0..<n { s &+= Int32(p[c * t + ch]) &* w[t] }
                            target[c * x + ch] = clip8(s)
                        }
                    }
                }
            }
        } } } } }
        return PixelImage(width: outWidth, height: rows.count, channels: c, pixels: out)
    }

    /// PIL's `ImagingResampleVertical_8bpc`; `image` holds the input rows from `firstRow` on.
    static func verticalPass(_ image: PixelImage, _ axis: Axis, firstRow: Int) -> PixelImage {
        let length = image.width * image.channels
        let outHeight = axis.first.count
        let half: Int32 = 1 << (precisionBits - 1)
        var out = [UInt8](repeating: 0, count: outHeight * length)
        var sums = [Int32](repeating: 0, count: length)
        image.pixels.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
        sums.withUnsafeMutableBufferPointer { sums in
        axis.weights.withUnsafeBufferPointer { weights in
            for y in 0..<outHeight {
                for i in 0..<length { sums[i] = half }
                let w = weights.baseAddress! + y * axis.taps
                let top = axis.first[y] - firstRow
                for t in 0..<axis.count[y] {
                    let line = src.baseAddress! + (top + t) * length
                    let k = w[t]
                    for i in 0..<length { sums[i] &+= Int32(line[i]) &* k }
                }
                let target = dst.baseAddress! + y * length
                for i in 0..<length { target[i] = clip8(sums[i]) }
            }
        } } } }
        return PixelImage(width: image.width, height: outHeight, channels: image.channels, pixels: out)
    }

    /// PIL's nearest-neighbour resize (`ImagingScaleAffine`), window only.
    static func nearest(_ image: PixelImage, width: Int, height: Int, columns: Range<Int>, rows: Range<Int>) -> PixelImage {
        func table(_ inSize: Int, _ outSize: Int) -> [Int] {
            let step = Double(inSize) / Double(outSize)
            var position = step * 0.5
            var indices = [Int](repeating: 0, count: outSize)
            for k in 0..<outSize {
                indices[k] = position < 0 ? -1 : Int(position)
                position += step
            }
            return indices
        }
        let xs = table(image.width, width), ys = table(image.height, height), c = image.channels
        var out = [UInt8](repeating: 0, count: columns.count * rows.count * c)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var o = 0
                for y in rows {
                    let yi = ys[y]
                    for x in columns {
                        let xi = xs[x]
                        if yi >= 0 && yi < image.height && xi >= 0 && xi < image.width {
                            for ch in 0..<c { dst[o + ch] = src[(yi * image.width + xi) * c + ch] }
                        }
                        o += c
                    }
                }
            }
        }
        return PixelImage(width: columns.count, height: rows.count, channels: c, pixels: out)
    }
}
