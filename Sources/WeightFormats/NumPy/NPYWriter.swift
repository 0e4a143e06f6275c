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

    /// Magic, version, length and header dict, padded with spaces and a newline so that the data
    /// starts at a multiple of 64 bytes; version 1.0 unless the header needs more than 65535 bytes.
    public static func header(for info: TensorInfo) throws(NPYError) -> [UInt8] {
        guard let descr = descr(for: info.dtype) else { throw .unwritableDType(info.dtype) }
        let shape = info.shape.count == 1 ? "(\(info.shape[0]),)"
            : "(" + info.shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        if let first = info.shape.first {
            dict += String(repeating: " ", count: max(0, 21 - String(first).count))   // growth-axis room
        }
        for (major, lengthSize) in [(UInt8(1), 2), (UInt8(2), 4)] {
            let unpadded = 8 + lengthSize + dict.utf8.count + 1
            let padding = (64 - unpadded % 64) % 64
            let length = dict.utf8.count + padding + 1
            if lengthSize == 2 && length > 65535 { continue }
            var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
            for i in 0..<lengthSize { bytes.append(UInt8(truncatingIfNeeded: length >> (8 * i))) }
            bytes += Array(dict.utf8) + [UInt8](repeating: 0x20, count: padding) + [0x0A]
            return bytes
        }
        preconditionFailure("unreachable: version 2.0 holds any header")
    }

    /// Writes one tensor as a `.npy` file.
    public static func write(to path: String, info: TensorInfo, bytes: TensorBytesProvider) throws {
        let writer = try AtomicFileWriter(destination: path)
        try writer.write(try header(for: info))
        let expected = info.byteCount ?? 0
        try bytes(info) { raw in
            guard raw.count == expected else {
                throw CheckpointError.byteCountMismatch(tensor: info.name, expected: expected, actual: raw.count)
            }
            try writer.write(raw)
        }
        try writer.commit()
    }
}
