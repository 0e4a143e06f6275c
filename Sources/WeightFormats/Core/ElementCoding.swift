/// Stored tensor elements ↔ numbers: the one decoder and encoder of element bytes.
///
/// Elements are little-endian and may be unaligned. Guarantees:
/// - decoding F16, BF16 and F32 to `Float`, and any float type to `Double`, is exact;
/// - F64 → `Float` rounds to nearest, ties to even;
/// - encoding a `Float` as F16 or BF16 rounds to nearest, ties to even, as PyTorch and ml_dtypes
///   do; NaN stays NaN (BF16 keeps the sign and sets the quiet bit), infinities and signed zeros
///   are kept, values beyond the target's range become ±infinity; as F64 it is exact;
/// - integers and booleans decode to `Int` (U64 above `Int.max` wraps) and to `Double` (nearest).
///
/// A trailing partial element is ignored. ``DTypeConversion`` converts between float dtypes with
/// these rules.
package enum ElementCoding {
    /// Whether ``decodeFloats(_:_:)`` and ``encodeFloats(_:as:)`` handle `dtype` (F16, BF16, F32, F64).
    public static func isFloat(_ dtype: DType) -> Bool { dtype.isConvertibleFloat }

    /// Whether ``decodeIntegers(_:_:)`` handles `dtype` (signed and unsigned integers of 8–64
    /// bits, BOOL).
    public static func isInteger(_ dtype: DType) -> Bool {
        switch dtype {
        case .I8, .U8, .BOOL, .I16, .U16, .I32, .U32, .I64, .U64: true
        default: false
        }
    }

    /// Whether ``decodeDoubles(_:_:into:)`` handles `dtype`: every float and integer type above.
    public static func isNumeric(_ dtype: DType) -> Bool { isFloat(dtype) || isInteger(dtype) }

    // MARK: - Decoding

    /// The `bytes.count / width` elements of float dtype `dtype` as `Float`.
    /// - Precondition: ``isFloat(_:)``.
    public static func decodeFloats(_ bytes: UnsafeRawBufferPointer, _ dtype: DType) -> [Float] {
        let count = elementCount(bytes, dtype)
        guard count > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            decodeFloats(bytes, dtype, into: buffer.baseAddress!)
            initialized = count
        }
    }

    /// Decodes the `bytes.count / width` elements of float dtype `dtype` into `out`.
    /// - Precondition: ``isFloat(_:)``.
    public static func decodeFloats(_ bytes: UnsafeRawBufferPointer, _ dtype: DType, into out: UnsafeMutablePointer<Float>) {
        precondition(isFloat(dtype), "\(dtype) is not a float dtype")
        let count = elementCount(bytes, dtype)
        guard count > 0, let base = bytes.baseAddress else { return }
        // One loop per dtype, the switch outside: each loop is a plain load-convert-store.
        switch dtype {
        case .F32: for i in 0..<count { out[i] = loadF32(base, i) }
        case .F16: for i in 0..<count { out[i] = Float(loadF16(base, i)) }
        case .BF16: for i in 0..<count { out[i] = bfloat16ToFloat(loadBits16(base, i)) }
        default: for i in 0..<count { out[i] = Float(loadF64(base, i)) }
        }
    }

    /// Decodes the `bytes.count / width` elements of `dtype` into `out` as `Double`.
    /// - Precondition: ``isNumeric(_:)``.
    public static func decodeDoubles(_ bytes: UnsafeRawBufferPointer, _ dtype: DType, into out: UnsafeMutablePointer<Double>) {
        precondition(isNumeric(dtype), "\(dtype) is not a numeric dtype")
        let count = elementCount(bytes, dtype)
        guard count > 0, let base = bytes.baseAddress else { return }
        func load<T: FixedWidthInteger>(_: T.Type, _ convert: (T) -> Double) {
            for i in 0..<count { out[i] = convert(T(littleEndian: base.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))) }
        }
        switch dtype {
        case .F32: for i in 0..<count { out[i] = Double(loadF32(base, i)) }
        case .F64: for i in 0..<count { out[i] = loadF64(base, i) }
        case .F16: for i in 0..<count { out[i] = Double(Float(loadF16(base, i))) }
        case .BF16: for i in 0..<count { out[i] = Double(bfloat16ToFloat(loadBits16(base, i))) }
        case .I8: load(Int8.self) { Double($0) }
        case .U8: load(UInt8.self) { Double($0) }
        case .BOOL: load(UInt8.self) { $0 == 0 ? 0 : 1 }
        case .I16: load(Int16.self) { Double($0) }
        case .U16: load(UInt16.self) { Double($0) }
        case .I32: load(Int32.self) { Double($0) }
        case .U32: load(UInt32.self) { Double($0) }
        case .I64: load(Int64.self) { Double($0) }
        default: load(UInt64.self) { Double($0) }
        }
    }

    /// The `bytes.count / width` elements of integer or boolean dtype `dtype` as `Int`, or `nil`
    /// for other dtypes (see ``isInteger(_:)``). BOOL bytes are taken as stored (0 or 1).
    public static func decodeIntegers(_ bytes: UnsafeRawBufferPointer, _ dtype: DType) -> [Int]? {
        guard isInteger(dtype) else { return nil }
        let count = elementCount(bytes, dtype)
        func load<T: FixedWidthInteger>(_: T.Type) -> [Int] {
            (0..<count).map { Int(truncatingIfNeeded: T(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self))) }
        }
        switch dtype {
        case .I64: return load(Int64.self)
        case .U64: return load(UInt64.self)
        case .I32: return load(Int32.self)
        case .U32: return load(UInt32.self)
        case .I16: return load(Int16.self)
        case .U16: return load(UInt16.self)
        case .I8: return load(Int8.self)
        default: return load(UInt8.self)   // U8, BOOL
        }
    }

    // MARK: - Encoding

    /// The little-endian bytes of `values` as elements of float dtype `dtype`.
    /// - Precondition: ``isFloat(_:)``.
    public static func encodeFloats(_ values: UnsafeBufferPointer<Float>, as dtype: DType) -> [UInt8] {
        precondition(isFloat(dtype), "\(dtype) is not a float dtype")
        let width = dtype.byteWidth!, total = values.count * width
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            if total > 0 { encodeFloats(values, as: dtype, into: UnsafeMutableRawPointer(buffer.baseAddress!)) }
            initialized = total
        }
    }

    /// ``encodeFloats(_:as:)`` for an array.
    public static func encodeFloats(_ values: [Float], as dtype: DType) -> [UInt8] {
        values.withUnsafeBufferPointer { encodeFloats($0, as: dtype) }
    }

    /// Stores `values` as elements of float dtype `dtype` at `out` (`values.count × width` bytes).
    static func encodeFloats(_ values: UnsafeBufferPointer<Float>, as dtype: DType, into out: UnsafeMutableRawPointer) {
        switch dtype {
        case .F32: for (i, v) in values.enumerated() { storeF32(v, out, i) }
        case .F16: for (i, v) in values.enumerated() { storeBits16(Float16(v).bitPattern, out, i) }
        case .BF16: for (i, v) in values.enumerated() { storeBits16(bfloat16Bits(v), out, i) }
        default: for (i, v) in values.enumerated() { storeF64(Double(v), out, i) }
        }
    }

    // MARK: - Bfloat16

    /// The bfloat16 nearest to `value` (ties to even); NaNs keep their sign and become quiet;
    /// overflow becomes infinity.
    @inline(__always)
    public static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        // Add 0x7FFF plus the lowest kept bit: rounds half to even, carries into the exponent
        // (and up to infinity) as it should.
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// The float whose upper 16 bits are `bits` (exact).
    @inline(__always)
    public static func bfloat16ToFloat(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    // MARK: - Element access (element index `i`, little-endian, unaligned)

    @inline(__always)
    static func elementCount(_ bytes: UnsafeRawBufferPointer, _ dtype: DType) -> Int {
        guard let width = dtype.byteWidth else { preconditionFailure("\(dtype) has no whole-byte elements") }
        return bytes.count / width
    }

    @inline(__always)
    static func loadBits16(_ base: UnsafeRawPointer, _ i: Int) -> UInt16 {
        UInt16(littleEndian: base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
    }

    @inline(__always)
    static func loadF16(_ base: UnsafeRawPointer, _ i: Int) -> Float16 { Float16(bitPattern: loadBits16(base, i)) }

    @inline(__always)
    static func loadF32(_ base: UnsafeRawPointer, _ i: Int) -> Float {
        Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
    }

    @inline(__always)
    static func loadF64(_ base: UnsafeRawPointer, _ i: Int) -> Double {
        Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
    }

    @inline(__always)
    static func storeBits16(_ bits: UInt16, _ out: UnsafeMutableRawPointer, _ i: Int) {
        out.storeBytes(of: bits.littleEndian, toByteOffset: i * 2, as: UInt16.self)
    }

    @inline(__always)
    static func storeF32(_ value: Float, _ out: UnsafeMutableRawPointer, _ i: Int) {
        out.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
    }

    @inline(__always)
    static func storeF64(_ value: Double, _ out: UnsafeMutableRawPointer, _ i: Int) {
        out.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self)
    }
}
