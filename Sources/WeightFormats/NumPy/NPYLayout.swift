/// Rearranging `.npy` data into little-endian C order.
enum NPYLayout {
    /// Whether `header`'s data must be rearranged before it is handed out.
    static func needsConversion(_ header: NPYHeader) -> Bool {
        swapUnit(header) > 1 || transposes(header)
    }

    /// Returns `data` (exactly the array's bytes, possibly unaligned) as little-endian, C-order
    /// bytes: transposed if `header.fortranOrder`, then byte-swapped if `header.bigEndian` (complex
    /// numbers swap their real and imaginary halves separately). `nil` when no change is needed.
    static func normalized(_ data: UnsafeRawBufferPointer, header: NPYHeader) -> [UInt8]? {
        guard needsConversion(header), let width = header.dtype.byteWidth else { return nil }
        var output = [UInt8](repeating: 0, count: data.count)
        output.withUnsafeMutableBytes { out in
            if transposes(header) {
                switch width {
                case 1: transposeFortran(data, into: out, shape: header.shape, as: UInt8.self)
                case 2: transposeFortran(data, into: out, shape: header.shape, as: UInt16.self)
                case 4: transposeFortran(data, into: out, shape: header.shape, as: UInt32.self)
                default: transposeFortran(data, into: out, shape: header.shape, as: UInt64.self)
                }
            } else if let base = data.baseAddress, data.count > 0 {
                out.baseAddress!.copyMemory(from: base, byteCount: data.count)
            }
            switch swapUnit(header) {
            case 2: swapInPlace(out, as: UInt16.self)
            case 4: swapInPlace(out, as: UInt32.self)
            case 8: swapInPlace(out, as: UInt64.self)
            default: break
            }
        }
        return output
    }

    /// The size of the units whose bytes are reversed: 1 (nothing to do) unless big-endian.
    private static func swapUnit(_ header: NPYHeader) -> Int {
        guard header.bigEndian, let width = header.dtype.byteWidth else { return 1 }
        return header.dtype == .C64 ? 4 : width
    }

    /// Fortran order differs from C order only when two or more axes are longer than 1.
    private static func transposes(_ header: NPYHeader) -> Bool {
        header.fortranOrder && header.shape.filter { $0 > 1 }.count > 1
    }

    /// Writes the Fortran-order elements of `source` to `target` in C order (last axis fastest).
    private static func transposeFortran<T: FixedWidthInteger>(
        _ source: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer, shape: [Int], as _: T.Type
    ) {
        let rank = shape.count, size = MemoryLayout<T>.size
        let count = source.count / size
        guard rank >= 2, count > 0 else { return }
        // Fortran strides in elements: the first axis varies fastest.
        var strides = [Int](repeating: 1, count: rank)
        for axis in 1..<rank { strides[axis] = strides[axis - 1] * shape[axis - 1] }
        let innerCount = shape[rank - 1], innerStride = strides[rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var sourceElement = 0, targetElement = 0
        while targetElement < count {
            var s = sourceElement
            for _ in 0..<innerCount {
                let value = source.loadUnaligned(fromByteOffset: s * size, as: T.self)
                target.storeBytes(of: value, toByteOffset: targetElement * size, as: T.self)
                s += innerStride
                targetElement += 1
            }
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                sourceElement += strides[axis]
                if index[axis] < shape[axis] { break }
                sourceElement -= shape[axis] * strides[axis]
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { break }
        }
    }

    private static func swapInPlace<T: FixedWidthInteger>(_ buffer: UnsafeMutableRawBufferPointer, as _: T.Type) {
        let size = MemoryLayout<T>.size
        for offset in stride(from: 0, to: buffer.count - size + 1, by: size) {
            let value = buffer.loadUnaligned(fromByteOffset: offset, as: T.self)
            buffer.storeBytes(of: value.byteSwapped, toByteOffset: offset, as: T.self)
        }
    }
}
