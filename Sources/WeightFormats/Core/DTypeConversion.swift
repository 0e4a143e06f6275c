/// Element-wise conversion between the floating-point storage types F16, BF16, F32 and F64.
///
/// Guarantees: widening (F16/BF16 → F32 → F64) is exact; narrowing rounds to nearest, ties to
/// even, as PyTorch and ml_dtypes do; NaN stays NaN (BF16 keeps a quiet NaN), infinities and
/// signed zeros are kept, values beyond the target's range become ±infinity. Input and output
/// are little-endian and may be unaligned.
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
        let count = source.count / from.byteWidth!
        var output = [UInt8](repeating: 0, count: count * to.byteWidth!)
        output.withUnsafeMutableBytes { out in
            if from == .F64 && to == .F32 {
                for i in 0..<count { storeFloat(Float(loadDouble(source, i)), out, i) }
            } else if to == .F64 {
                for i in 0..<count {
                    out.storeBytes(of: Double(loadFloat(source, i, from)).bitPattern.littleEndian,
                                   toByteOffset: i * 8, as: UInt64.self)
                }
            } else {
                for i in 0..<count {
                    let value = from == .F64 ? Float(loadDouble(source, i)) : loadFloat(source, i, from)
                    switch to {
                    case .F32: storeFloat(value, out, i)
                    case .F16:
                        out.storeBytes(of: narrowToF16(from == .F64 ? nil : value, double: from == .F64 ? loadDouble(source, i) : nil).littleEndian,
                                       toByteOffset: i * 2, as: UInt16.self)
                    case .BF16:
                        out.storeBytes(of: floatToBFloat16(value).littleEndian, toByteOffset: i * 2, as: UInt16.self)
                    default: preconditionFailure()
                    }
                }
            }
        }
        return output
    }

    /// Rounds a Float to bfloat16 bits (nearest, ties to even; NaN → quiet NaN).
    public static func floatToBFloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// Widens bfloat16 bits to Float (exact).
    public static func bfloat16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    @inline(__always)
    private static func loadDouble(_ source: UnsafeRawBufferPointer, _ i: Int) -> Double {
        Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
    }

    @inline(__always)
    private static func loadFloat(_ source: UnsafeRawBufferPointer, _ i: Int, _ dtype: DType) -> Float {
        switch dtype {
        case .F32:
            return Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
        case .F16:
            return Float(Float16(bitPattern: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
        case .BF16:
            return bfloat16ToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
        default:
            preconditionFailure("not a 16/32-bit float: \(dtype)")
        }
    }

    @inline(__always)
    private static func storeFloat(_ value: Float, _ out: UnsafeMutableRawBufferPointer, _ i: Int) {
        out.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
    }

    /// F64 → F16 rounds once, directly (going through Float would round twice).
    @inline(__always)
    private static func narrowToF16(_ value: Float?, double: Double?) -> UInt16 {
        if let double { return Float16(double).bitPattern }
        return Float16(value!).bitPattern
    }
}
