/// Rearranging `.npy` data into little-endian C order.
enum NPYLayout {
    /// Returns `data` as little-endian, C-order bytes: byte-swapped if `header.bigEndian`,
    /// transposed if `header.fortranOrder`. `nil` when no change is needed.
    static func normalized(_ data: UnsafeRawBufferPointer, header: NPYHeader) -> [UInt8]? {
        let width = header.dtype.byteWidth!
        let swap = header.bigEndian && width > 1
        let transpose = header.fortranOrder && header.shape.filter({ $0 > 1 }).count > 1
        guard swap || transpose else { return nil }
        var output = [UInt8](repeating: 0, count: data.count)
        output.withUnsafeMutableBytes { out in
            if transpose {
                // Fortran strides (in elements): the first axis varies fastest.
                let shape = header.shape
                var fortranStrides = [Int](repeating: 1, count: shape.count)
                for axis in 1..<shape.count { fortranStrides[axis] = fortranStrides[axis - 1] * shape[axis - 1] }
                var index = [Int](repeating: 0, count: shape.count)
                let count = data.count / width
                for target in 0..<count {
                    var source = 0
                    for axis in 0..<shape.count { source += index[axis] * fortranStrides[axis] }
                    copyElement(from: data, at: source, to: out, at: target, width: width, swap: swap)
                    var axis = shape.count - 1
                    while axis >= 0 {
                        index[axis] += 1
                        if index[axis] < shape[axis] { break }
                        index[axis] = 0
                        axis -= 1
                    }
                }
            } else {
                for element in 0..<(data.count / width) {
                    copyElement(from: data, at: element, to: out, at: element, width: width, swap: swap)
                }
            }
        }
        return output
    }

    @inline(__always)
    private static func copyElement(from source: UnsafeRawBufferPointer, at sourceIndex: Int,
                                    to target: UnsafeMutableRawBufferPointer, at targetIndex: Int,
                                    width: Int, swap: Bool) {
        let s = sourceIndex * width, t = targetIndex * width
        for byte in 0..<width {
            target[t + byte] = source[s + (swap ? width - 1 - byte : byte)]
        }
    }
}
