import Testing
import TensorCore

@Suite("float storage conversions")
struct FloatConversionTests {
    func decode(_ bytes: [UInt8], _ source: FloatStorage) -> [Float] {
        bytes.withUnsafeBytes { FloatDecoding.decode($0, as: source) }
    }

    @Test("decodes little-endian F32, F16, BF16 and F64 exactly, from unaligned bytes")
    func decoding() {
        let f32: [UInt8] = [0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x80, 0xBF]              // 1.5, -1
        #expect(decode(f32, .f32) == [1.5, -1])
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00, 0x00, 0x7C]  // 1, -2, 65504, 2^-24, +inf
        #expect(decode(f16, .f16) == [1, -2, 65504, 0x1p-24, .infinity])
        let bf16: [UInt8] = [0x80, 0x3F, 0xC0, 0xBF, 0x80, 0x7F]                           // 1, -1.5, +inf
        #expect(decode(bf16, .bf16) == [1, -1.5, .infinity])
        let f64: [UInt8] = [0, 0, 0, 0, 0, 0, 0xF8, 0x3F]                                 // 1.5
        #expect(decode(f64, .f64) == [1.5])
        let unaligned = [0xAA] + f32
        #expect(unaligned.withUnsafeBytes { FloatDecoding.decode(UnsafeRawBufferPointer(rebasing: $0.dropFirst()), as: .f32) } == [1.5, -1])
        #expect(decode([0x00, 0x3C, 0x00], .f16) == [1], "a trailing partial element is ignored")
    }

    @Test("bfloat16 encoding rounds to nearest, ties to even, and keeps NaN")
    func bfloat16Rounding() {
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
        #expect(FloatEncoding.bfloat16Bits(1 + 0x1p-8) == 0x3F80)
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: ties to even (up).
        #expect(FloatEncoding.bfloat16Bits(1 + 3 * 0x1p-8) == 0x3F82)
        // Just above half rounds up.
        #expect(FloatEncoding.bfloat16Bits(1 + 0x1p-8 + 0x1p-20) == 0x3F81)
        // Overflow becomes infinity; NaN stays NaN.
        #expect(FloatEncoding.bfloat16Bits(Float.greatestFiniteMagnitude) == 0x7F80)
        #expect(FloatDecoding.bfloat16ToFloat(FloatEncoding.bfloat16Bits(.nan)).isNaN)
        #expect(FloatEncoding.bfloat16Bits(-0.0) == 0x8000)
    }

    @Test("encode then decode is exact for representable values and rounds others once")
    func roundTrips() {
        let values: [Float] = [0, -0.0, 1, -2.5, 0.125, 65504, 0x1p-24, .infinity]
        for storage in [FloatStorage.f32, .f16, .bf16, .f64] {
            let bytes = FloatEncoding.encode(values, as: storage)
            #expect(bytes.count == values.count * storage.byteWidth)
            let back = bytes.withUnsafeBytes { FloatDecoding.decode($0, as: storage) }
            if storage == .bf16 {
                #expect(back[5] == 65536, "65504 rounds to the nearest bfloat16, 65536")
                #expect(Array(back[0..<5]) == Array(values[0..<5]))
            } else {
                #expect(back == values, "\(storage)")
            }
        }
        // F16 rounds ties to even as well: 1 + 2^-11 → 1.
        let halfway = FloatEncoding.encode([1 + 0x1p-11], as: .f16)
        #expect(halfway == [0x00, 0x3C])
    }
}
