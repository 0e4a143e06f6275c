import Testing
import WeightFormats

@Suite("Float dtype conversion")
struct DTypeConversionTests {
    private func convert<T>(_ values: [T], from: DType, to: DType) -> [UInt8] {
        values.withUnsafeBytes { DTypeConversion.convert($0, from: from, to: to) }
    }

    private func halves(_ bytes: [UInt8]) -> [UInt16] {
        bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
    }

    @Test("F32 → BF16 rounds to nearest, ties to even; NaN stays a quiet NaN; overflow goes to infinity")
    func bfloat16Rounding() {
        let tieDown = Float(bitPattern: 0x3F80_8000)   // 1 + 2^-8: halfway, even neighbour is 1.0
        let tieUp = Float(bitPattern: 0x3F81_8000)     // halfway between 0x3F81 and 0x3F82 → 0x3F82
        let above = Float(bitPattern: 0x3F80_8001)     // just above halfway → rounds up
        let values: [Float] = [1, -2.5, tieDown, tieUp, above, .infinity, -0.0, Float.greatestFiniteMagnitude]
        #expect(halves(convert(values, from: .F32, to: .BF16)) ==
                [0x3F80, 0xC020, 0x3F80, 0x3F82, 0x3F81, 0x7F80, 0x8000, 0x7F80])
        let nan = halves(convert([Float.nan], from: .F32, to: .BF16))[0]
        #expect(DTypeConversion.bfloat16ToFloat(nan).isNaN)
    }

    @Test("widening F16/BF16 → F32 → F64 is exact and round-trips")
    func wideningIsExact() {
        let halfBits: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7BFF, 0x7C00, 0x8000]   // 1, -2, min subnormal, max, inf, -0
        let asFloat = convert(halfBits, from: .F16, to: .F32)
        let floats = asFloat.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(floats == [1, -2, Float(Float16(bitPattern: 1)), 65504, .infinity, -0.0])
        #expect(halves(convert(floats, from: .F32, to: .F16)) == halfBits)
        let doubles = convert(floats, from: .F32, to: .F64).withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
        #expect(doubles == floats.map(Double.init))
        let bf: [UInt16] = [0x3F80, 0x4049, 0xFF80]
        #expect(halves(convert(convert(bf, from: .BF16, to: .F64), from: .F64, to: .BF16)) == bf)
    }

    @Test("F64 → F16 rounds once (going through F32 would round twice)")
    func noDoubleRounding() {
        let value = 1 + 0x1p-11 + 0x1p-40   // just above the F16 halfway point between 1 and 1 + 2^-10
        #expect(halves(convert([value], from: .F64, to: .F16)) == [0x3C01])
        #expect(Float16(Float(value)).bitPattern == 0x3C00)   // the double-rounding result we avoid
    }

    @Test("only F16, BF16, F32 and F64 convert")
    func supportedPairs() {
        #expect(DTypeConversion.canConvert(from: .F32, to: .BF16))
        #expect(!DTypeConversion.canConvert(from: .I64, to: .F32))
        #expect(!DTypeConversion.canConvert(from: .F32, to: .F8_E4M3))
    }
}
