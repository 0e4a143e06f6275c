import Testing
import WeightFormats

@Suite("element coding: stored element bytes ↔ Float, Double, Int")
struct ElementCodingTests {
    func decode(_ bytes: [UInt8], _ dtype: DType) -> [Float] {
        bytes.withUnsafeBytes { ElementCoding.decodeFloats($0, dtype) }
    }

    @Test("decodes little-endian F32, F16, BF16 and F64 exactly, from unaligned bytes")
    func decoding() {
        let f32: [UInt8] = [0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x80, 0xBF]              // 1.5, -1
        #expect(decode(f32, .F32) == [1.5, -1])
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00, 0x00, 0x7C]  // 1, -2, 65504, 2^-24, +inf
        #expect(decode(f16, .F16) == [1, -2, 65504, 0x1p-24, .infinity])
        let bf16: [UInt8] = [0x80, 0x3F, 0xC0, 0xBF, 0x80, 0x7F]                           // 1, -1.5, +inf
        #expect(decode(bf16, .BF16) == [1, -1.5, .infinity])
        let f64: [UInt8] = [0, 0, 0, 0, 0, 0, 0xF8, 0x3F]                                 // 1.5
        #expect(decode(f64, .F64) == [1.5])
        let unaligned = [0xAA] + f32
        #expect(unaligned.withUnsafeBytes { ElementCoding.decodeFloats(UnsafeRawBufferPointer(rebasing: $0.dropFirst()), .F32) } == [1.5, -1])
        #expect(decode([0x00, 0x3C, 0x00], .F16) == [1], "a trailing partial element is ignored")
    }

    @Test("bfloat16 encoding rounds to nearest, ties to even, and keeps NaN")
    func bfloat16Rounding() {
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
        #expect(ElementCoding.bfloat16Bits(1 + 0x1p-8) == 0x3F80)
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: ties to even (up).
        #expect(ElementCoding.bfloat16Bits(1 + 3 * 0x1p-8) == 0x3F82)
        // Just above half rounds up.
        #expect(ElementCoding.bfloat16Bits(1 + 0x1p-8 + 0x1p-20) == 0x3F81)
        // Overflow becomes infinity; NaN stays NaN.
        #expect(ElementCoding.bfloat16Bits(Float.greatestFiniteMagnitude) == 0x7F80)
        #expect(ElementCoding.bfloat16ToFloat(ElementCoding.bfloat16Bits(.nan)).isNaN)
        #expect(ElementCoding.bfloat16Bits(-0.0) == 0x8000)
    }

    @Test("encode then decode is exact for representable values and rounds others once")
    func roundTrips() {
        let values: [Float] = [0, -0.0, 1, -2.5, 0.125, 65504, 0x1p-24, .infinity]
        for storage in [DType.F32, .F16, .BF16, .F64] {
            let bytes = ElementCoding.encodeFloats(values, as: storage)
            #expect(bytes.count == values.count * storage.byteWidth!)
            let back = bytes.withUnsafeBytes { ElementCoding.decodeFloats($0, storage) }
            if storage == .BF16 {
                #expect(back[5] == 65536, "65504 rounds to the nearest bfloat16, 65536")
                #expect(Array(back[0..<5]) == Array(values[0..<5]))
            } else {
                #expect(back == values, "\(storage)")
            }
        }
        // F16 rounds ties to even as well: 1 + 2^-11 → 1.
        let halfway = ElementCoding.encodeFloats([1 + 0x1p-11], as: .F16)
        #expect(halfway == [0x00, 0x3C])
    }

    @Test("integers and booleans decode to Int and Double, little-endian and unaligned; floats widen to Double exactly")
    func integersAndDoubles() {
        func ints(_ bytes: [UInt8], _ dtype: DType) -> [Int]? { bytes.withUnsafeBytes { ElementCoding.decodeIntegers($0, dtype) } }
        func doubles(_ bytes: [UInt8], _ dtype: DType) -> [Double] {
            let count = bytes.count / dtype.byteWidth!
            var out = [Double](repeating: .nan, count: count)
            bytes.withUnsafeBytes { raw in out.withUnsafeMutableBufferPointer { ElementCoding.decodeDoubles(raw, dtype, into: $0.baseAddress!) } }
            return out
        }
        #expect(ints([0xFF, 0x7F], .I8) == [-1, 127])
        #expect(ints([0xFF, 0x01], .U8) == [255, 1])
        #expect(ints([0x00, 0x01], .BOOL) == [0, 1])
        #expect(ints([0xFE, 0xFF, 0x34, 0x12], .I16) == [-2, 0x1234])
        #expect(ints([0xFE, 0xFF], .U16) == [65534])
        #expect(ints([0xFF, 0xFF, 0xFF, 0xFF], .I32) == [-1])
        #expect(ints([0xFF, 0xFF, 0xFF, 0xFF], .U32) == [4_294_967_295])
        #expect([UInt8]([0xAA, 0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).withUnsafeBytes {
            ElementCoding.decodeIntegers(UnsafeRawBufferPointer(rebasing: $0.dropFirst()), .I64)
        } == [-5], "unaligned")
        #expect(ints([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], .U64) == [-1], "U64 above Int.max wraps")
        #expect(ints([0, 0, 0x80, 0x3F], .F32) == nil)
        #expect(ints([0], .F8_E4M3) == nil)

        #expect(doubles([0xFF, 0x02], .I8) == [-1, 2])
        #expect(doubles([0x00, 0x07], .BOOL) == [0, 1], "any non-zero byte is true")
        #expect(doubles([0x00, 0x3C, 0x01, 0x00], .F16) == [1, 0x1p-24])
        #expect(doubles([0xC0, 0xBF], .BF16) == [-1.5])
        #expect(doubles([0x01, 0x00, 0x80, 0x3F], .F32) == [Double(Float(bitPattern: 0x3F80_0001))])
        #expect(doubles([0x9A, 0x99, 0x99, 0x99, 0x99, 0x99, 0xB9, 0x3F], .F64) == [0.1])
        #expect(doubles([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], .U64) == [18_446_744_073_709_551_615])
        #expect(ElementCoding.isNumeric(.U64) && !ElementCoding.isNumeric(.C64) && !ElementCoding.isNumeric(.F4))
    }
}
