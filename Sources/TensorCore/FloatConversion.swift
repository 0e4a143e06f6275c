#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Floating-point element encodings of stored tensors (little-endian).
public enum FloatStorage: Sendable, Equatable {
    case f32, f16, bf16, f64

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .f16, .bf16: 2
        case .f32: 4
        case .f64: 8
        }
    }
}

/// Decoding stored element bytes into Float. Widening (F16, BF16 → F32) is exact; F64 rounds to
/// nearest, ties to even. Bytes need no alignment.
public enum FloatDecoding {
    public typealias Source = FloatStorage

    /// Decodes `bytes.count / byteWidth` little-endian elements (a trailing partial element is ignored).
    public static func decode(_ bytes: UnsafeRawBufferPointer, as source: Source) -> [Float] {
        let count = bytes.count / source.byteWidth
        guard count > 0, let base = bytes.baseAddress else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            let out = buffer.baseAddress!
            switch source {
            case .f32:
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
            case .f16:
                for i in 0..<count {
                    out[i] = Float(Float16(bitPattern: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
                }
            case .bf16:
                for i in 0..<count { out[i] = bfloat16ToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
            case .f64:
                for i in 0..<count { out[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))) }
            }
            initialized = count
        }
    }

    /// The float whose upper 16 bits are `bits` (exact).
    @inline(__always)
    public static func bfloat16ToFloat(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
}

/// Encoding Floats into stored element bytes (little-endian). Narrowing (F16, BF16) rounds to
/// nearest, ties to even; NaN stays NaN (quiet) and overflow becomes infinity. F64 is exact.
public enum FloatEncoding {
    /// The little-endian bytes of `values` in `target`.
    public static func encode(_ values: UnsafeBufferPointer<Float>, as target: FloatStorage) -> [UInt8] {
        let width = target.byteWidth
        let total = values.count * width
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let raw = UnsafeMutableRawPointer(buffer.baseAddress!)
            for (i, v) in values.enumerated() {
                switch target {
                case .f32: raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
                case .f16: raw.storeBytes(of: Float16(v).bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self)
                case .bf16: raw.storeBytes(of: bfloat16Bits(v).littleEndian, toByteOffset: i * 2, as: UInt16.self)
                case .f64: raw.storeBytes(of: Double(v).bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self)
                }
            }
            initialized = total
        }
    }

    /// `encode` for an array.
    public static func encode(_ values: [Float], as target: FloatStorage) -> [UInt8] {
        values.withUnsafeBufferPointer { encode($0, as: target) }
    }

    /// The bfloat16 nearest to `value` (ties to even); NaNs keep their sign and become quiet.
    @inline(__always)
    public static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
        // Add 0x7FFF plus the lowest kept bit: rounds half to even, carries into the exponent
        // (and up to infinity) as it should.
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }
}
