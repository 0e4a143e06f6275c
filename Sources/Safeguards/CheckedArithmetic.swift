/// Integer arithmetic on sizes and offsets taken from files and graphs, reporting overflow as
/// `nil` instead of trapping.
///
/// Every element count, byte count and offset derived from untrusted numbers (file headers,
/// ONNX attributes and integer tensors) is computed through these, so that a hostile value can
/// make an operation fail with a message but never crash the process.
public enum Checked {
    /// `a + b`, or `nil` when it overflows `Int`.
    @inlinable
    public static func add(_ a: Int, _ b: Int) -> Int? {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : sum
    }

    /// `a − b`, or `nil` when it overflows `Int`.
    @inlinable
    public static func subtract(_ a: Int, _ b: Int) -> Int? {
        let (difference, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? nil : difference
    }

    /// `a · b`, or `nil` when it overflows `Int`.
    @inlinable
    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : product
    }

    /// Π `values` (1 for none), or `nil` when a value is negative or the product overflows `Int`.
    ///
    /// A zero anywhere does not hide an overflow of the other factors: `[0, 2⁶², 2⁶²]` is `nil`,
    /// so that a shape whose count is 0 can still be split into sub-shapes safely.
    @inlinable
    public static func product<Values: Sequence>(_ values: Values) -> Int? where Values.Element == Int {
        var nonZero = 1, hasZero = false
        for value in values {
            guard value >= 0 else { return nil }
            if value == 0 {
                hasZero = true
            } else {
                guard let next = multiply(nonZero, value) else { return nil }
                nonZero = next
            }
        }
        return hasZero ? 0 : nonZero
    }

    /// Σ `values` (0 for none), or `nil` when it overflows `Int`.
    @inlinable
    public static func sum<Values: Sequence>(_ values: Values) -> Int? where Values.Element == Int {
        var total = 0
        for value in values {
            guard let next = add(total, value) else { return nil }
            total = next
        }
        return total
    }

    /// Bytes of `elements` elements of `size` bytes each, or `nil` when negative or overflowing.
    @inlinable
    public static func bytes(elements: Int, size: Int) -> Int? {
        guard elements >= 0, size >= 0 else { return nil }
        return multiply(elements, size)
    }
}
