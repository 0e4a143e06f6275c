import Safeguards

/// The description of one stored tensor: name, element type, shape and its size in bytes.
///
/// Data is always described as little-endian, C (row-major) order, tightly packed; readers of
/// formats that store otherwise (big-endian or Fortran-order `.npy`) convert on access.
public struct TensorInfo: Sendable, Hashable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    /// Π shape (1 for a 0-d tensor), or `nil` when it overflows `Int`.
    public var elementCount: Int? {
        var count = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// Whether no dimension is negative and the non-zero dimensions multiply to at most
    /// `Int.max` (``Checked/product(_:)``), so that the product of any part of the shape (a
    /// sample's shape, a row) fits in `Int` too. Readers refuse tensors without it; the formats
    /// allow an empty tensor such as `[0, 2⁶², 2⁶²]`, modelforget does not read one.
    public var hasBoundedShape: Bool {
        Checked.product(shape) != nil
    }

    /// Π shape × bits per element / 8, or `nil` when it overflows or is not a whole number of bytes.
    public var byteCount: Int? {
        guard let count = elementCount else { return nil }
        let (bits, overflow) = count.multipliedReportingOverflow(by: dtype.bitWidth)
        guard !overflow, bits % 8 == 0 else { return nil }
        return bits / 8
    }
}
