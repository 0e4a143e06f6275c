/// PIL's conversions between the layouts codecs produce and gray or RGB.
enum ColorConversion {
    /// Converts `count` pixels of `from` interleaved channels in `pixels` to `to` channels (1 or
    /// 3), in place; `pixels` must have room for `count × max(from, to)` samples and comes back
    /// with `count × to`.
    ///
    /// - 1 → 3 repeats the gray value; 2 (gray + alpha) and 4 (RGBA) drop alpha; CMYK (`cmyk`,
    ///   Adobe-inverted as JPEG files store it) becomes `RGB = K − C·K/255` rounded as PIL's
    ///   `MULDIV255`, with `C = 255 − stored C`, `K = stored K`.
    /// - → 1: `L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16` of the RGB pixel (PIL's
    ///   `convert("L")`, exact for gray input).
    static func convert(_ pixels: inout [UInt8], pixelCount count: Int, from: Int, cmyk: Bool, to: Int) {
        if from != to || cmyk {
            convertInPlace(&pixels, pixelCount: count, from: from, cmyk: cmyk, to: to)
        }
        pixels.removeLast(pixels.count - count * to)
    }

    private static func convertInPlace(_ pixels: inout [UInt8], pixelCount count: Int, from: Int, cmyk: Bool, to: Int) {
        pixels.withUnsafeMutableBufferPointer { buffer in
            let p = buffer.baseAddress!
            switch (from, to) {
            case (1, 3):
                // Backwards, so that no source pixel is overwritten before it is read.
                var i = count - 1
                while i >= 0 {
                    let v = p[i]
                    p[3 * i] = v; p[3 * i + 1] = v; p[3 * i + 2] = v
                    i -= 1
                }
            case (2, 1):
                for i in 0..<count { p[i] = p[2 * i] }
            case (2, 3):
                var i = count - 1
                while i >= 0 {
                    let v = p[2 * i]
                    p[3 * i] = v; p[3 * i + 1] = v; p[3 * i + 2] = v
                    i -= 1
                }
            case (3, 1):
                for i in 0..<count { p[i] = luma(p[3 * i], p[3 * i + 1], p[3 * i + 2]) }
            case (4, _) where cmyk:
                for i in 0..<count {
                    let k = Int32(p[4 * i + 3])     // 255 − inverted K
                    let r = Self.cmykChannel(p[4 * i], k), g = Self.cmykChannel(p[4 * i + 1], k), b = Self.cmykChannel(p[4 * i + 2], k)
                    if to == 3 {
                        p[3 * i] = r; p[3 * i + 1] = g; p[3 * i + 2] = b
                    } else {
                        p[i] = luma(r, g, b)
                    }
                }
            case (4, 3):
                for i in 0..<count {
                    p[3 * i] = p[4 * i]; p[3 * i + 1] = p[4 * i + 1]; p[3 * i + 2] = p[4 * i + 2]
                }
            case (4, 1):
                for i in 0..<count { p[i] = luma(p[4 * i], p[4 * i + 1], p[4 * i + 2]) }
            default:
                preconditionFailure("no conversion from \(from) to \(to) channels")
            }
        }
    }

    /// PIL's luma in 16-bit fixed point.
    @inline(__always)
    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        UInt8(truncatingIfNeeded: (Int32(r) &* 19595 &+ Int32(g) &* 38470 &+ Int32(b) &* 7471 &+ 0x8000) >> 16)
    }

    /// One RGB channel of an Adobe-inverted CMYK pixel: `nk − nk·C/255` with `C = 255 − stored`,
    /// `nk = stored K`, the product rounded as PIL's `MULDIV255` (`t = a·b + 128; (t + t>>8) >> 8`).
    @inline(__always)
    static func cmykChannel(_ stored: UInt8, _ nk: Int32) -> UInt8 {
        let c = 255 - Int32(stored)
        let t = c * nk + 128
        let v = nk - ((t >> 8) + t) >> 8
        return UInt8(clamping: v)
    }
}
