/// Element-wise conversion between the floating-point storage types F16, BF16, F32 and F64, with
/// the rounding of ``ElementCoding``.
///
/// Guarantees: widening (F16/BF16 → F32 → F64) is exact; narrowing rounds to nearest, ties to
/// even, as PyTorch and ml_dtypes do (F64 → F16 rounds once, directly; F64 → BF16 rounds to F32
/// first); NaN stays NaN (BF16 keeps a quiet NaN), infinities and signed zeros are kept, values
/// beyond the target's range become ±infinity. Input and output are little-endian and may be
/// unaligned.
public enum DTypeConversion {
    /// Whether `convert` supports the pair (both must be F16, BF16, F32 or F64).
    public static func canConvert(from source: DType, to target: DType) -> Bool {
        source.isConvertibleFloat && target.isConvertibleFloat
    }

    /// Converts `source` bytes holding elements of `from` into a new buffer of `to` elements.
    /// - Precondition: ``canConvert(from:to:)`` and `source.count` is a multiple of the element size.
    public static func convert(_ source: UnsafeRawBufferPointer, from: DType, to: DType) -> [UInt8] {
        precondition(canConvert(from: from, to: to), "cannot convert \(from) to \(to)")
        if from == to { return Array(source) }
        let sourceWidth = from.byteWidth!, targetWidth = to.byteWidth!
        let count = source.count / sourceWidth
        return [UInt8](unsafeUninitializedCapacity: count * targetWidth) { buffer, initialized in
            initialized = count * targetWidth
            guard count > 0, let base = source.baseAddress else { return }
            let out = UnsafeMutableRawPointer(buffer.baseAddress!)
            if from == .F64 && to == .F16 {
                // Directly: going through Float would round twice.
                for i in 0..<count { ElementCoding.storeBits16(Float16(ElementCoding.loadF64(base, i)).bitPattern, out, i) }
                return
            }
            // Every other pair goes through Float exactly but for the one narrowing step:
            // decoded and re-encoded in steps of a few thousand elements.
            let step = 4096
            withUnsafeTemporaryAllocation(of: Float.self, capacity: step) { values in
                var start = 0
                while start < count {
                    let n = min(step, count - start)
                    ElementCoding.decodeFloats(UnsafeRawBufferPointer(rebasing: source[(start * sourceWidth)..<((start + n) * sourceWidth)]),
                                               from, into: values.baseAddress!)
                    ElementCoding.encodeFloats(UnsafeBufferPointer(rebasing: values[0..<n]), as: to, into: out + start * targetWidth)
                    start += n
                }
            }
        }
    }

    /// Rounds a Float to bfloat16 bits (``ElementCoding/bfloat16Bits(_:)``).
    public static func floatToBFloat16(_ value: Float) -> UInt16 { ElementCoding.bfloat16Bits(value) }

    /// Widens bfloat16 bits to Float (exact; ``ElementCoding/bfloat16ToFloat(_:)``).
    public static func bfloat16ToFloat(_ bits: UInt16) -> Float { ElementCoding.bfloat16ToFloat(bits) }
}
