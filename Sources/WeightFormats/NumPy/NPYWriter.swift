/// Writes `.npy` arrays with headers byte-identical to NumPy 2's `np.save`.
public enum NPYWriter {
    /// The NumPy type string for a dtype, or `nil` where NumPy has none (BF16, the 8/6/4-bit floats).
    public static func descr(for dtype: DType) -> String? {
        switch dtype {
        case .BOOL: "|b1"
        case .I8: "|i1"
        case .U8: "|u1"
        case .I16: "<i2"
        case .U16: "<u2"
        case .I32: "<i4"
        case .U32: "<u4"
        case .I64: "<i8"
        case .U64: "<u8"
        case .F16: "<f2"
        case .F32: "<f4"
        case .F64: "<f8"
        case .C64: "<c8"
        default: nil
        }
    }

    /// Magic, version, length and header dict exactly as NumPy 2's `np.save` writes them:
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, spare spaces so the first
    /// axis can grow to 21 digits in place, then 1 to 64 spaces and a newline so that the data
    /// starts at a multiple of 64 bytes (NumPy pads a full 64 when already aligned). Version 1.0
    /// unless the header needs more than 65535 bytes, then 2.0.
    /// - Throws: ``NPYError/unwritableDType(_:)`` for dtypes NumPy has no type for,
    ///   ``NPYError/invalidShape(_:)`` for negative dimensions or an overflowing size.
    public static func header(for info: TensorInfo) throws(NPYError) -> [UInt8] {
        guard let descr = descr(for: info.dtype) else { throw .unwritableDType(info.dtype) }
        guard info.byteCount != nil else { throw .invalidShape(NPYHeader.pythonTuple(info.shape)) }
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(NPYHeader.pythonTuple(info.shape)), }"
        if let first = info.shape.first {
            dict += String(repeating: " ", count: max(0, 21 - String(first).count))   // growth-axis room
        }
        let dictBytes = Array(dict.utf8)
        for (major, lengthSize) in [(UInt8(1), 2), (UInt8(2), 4)] {
            let unpadded = 8 + lengthSize + dictBytes.count + 1
            let padding = 64 - unpadded % 64
            let length = dictBytes.count + padding + 1
            if lengthSize == 2 && length > 65535 { continue }
            var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
            for i in 0..<lengthSize { bytes.append(UInt8(truncatingIfNeeded: length >> (8 * i))) }
            bytes += dictBytes
            bytes += [UInt8](repeating: 0x20, count: padding)
            bytes.append(0x0A)
            return bytes
        }
        preconditionFailure("unreachable: version 2.0 holds any header")
    }

    /// Writes one tensor as a `.npy` file: ``header(for:)`` then the bytes `bytes` supplies.
    /// Nothing appears at `path` unless the whole file was written.
    public static func write(to path: String, info: TensorInfo, bytes: TensorBytesProvider) throws {
        let header = try header(for: info)
        let expected = info.byteCount ?? 0
        let writer = try AtomicFileWriter(destination: path)
        try writer.write(header)
        var delivered = false
        try bytes(info) { raw in
            guard !delivered, raw.count == expected else {
                throw CheckpointError.byteCountMismatch(tensor: info.name, expected: expected, actual: raw.count)
            }
            try writer.write(raw)
            delivered = true
        }
        guard delivered else { throw CheckpointError.byteCountMismatch(tensor: info.name, expected: expected, actual: 0) }
        try writer.commit()
    }
}
