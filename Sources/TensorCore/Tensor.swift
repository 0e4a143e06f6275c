import Safeguards

/// A dense float32 tensor: a shape and its elements in row-major (C) order.
///
/// Value semantics (copy-on-write through the array). Shapes are `[Int]`; a 0-d tensor has
/// shape `[]` and one element. Every initializer checks that the element count matches the shape.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    /// The elements, row-major.
    public var data: [Float]

    /// A tensor of `shape` holding `data` (row-major); `data.count` must equal the shape's product.
    public init(shape: [Int], data: [Float]) {
        let count = Tensor.elementCount(shape)
        precondition(count == data.count, "shape \(shape) needs \(count) elements, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    /// Π shape, checked: a negative dimension or a product that overflows `Int` is a
    /// programmer error (sizes from files and graphs are checked before they reach a tensor, see
    /// ``AllocationBudget``), reported with the shape instead of an arithmetic trap.
    static func elementCount(_ shape: [Int]) -> Int {
        guard let count = Checked.product(shape) else {
            preconditionFailure("shape \(shape) has a negative dimension or more elements than Int can count")
        }
        return count
    }

    /// A 0-d tensor.
    public init(scalar: Float) {
        self.init(shape: [], data: [scalar])
    }

    /// A tensor whose elements are not set: for results that a kernel writes in full before any
    /// is read (e.g. sgemm with β = 0).
    init(uninitialized shape: [Int]) {
        self.init(shape: shape, data: uninitializedFloats(Tensor.elementCount(shape)))
    }

    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    public init(repeating value: Float, shape: [Int]) {
        let count = Tensor.elementCount(shape)
        self.shape = shape
        data = [Float](repeating: value, count: count)
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// Row-major strides in elements.
    public var strides: [Int] { Tensor.strides(for: shape) }

    public static func strides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// The same elements with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// An axis in `0..<rank`, from a possibly negative index.
    public func normalizedAxis(_ axis: Int) -> Int { axis < 0 ? axis + rank : axis }

    /// The flat (row-major) position of a multi-index; traps when out of range.
    public func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == rank, "\(indices.count) indices for a rank-\(rank) tensor")
        var offset = 0
        for (axis, index) in indices.enumerated() {
            precondition(index >= 0 && index < shape[axis], "index \(index) out of range for axis \(axis) of size \(shape[axis])")
            offset = offset * shape[axis] + index
        }
        return offset
    }

    /// The element at a multi-index, e.g. `t[0, 2, 1]`.
    public subscript(_ indices: Int...) -> Float {
        get { data[flatIndex(indices)] }
        set { data[flatIndex(indices)] = newValue }
    }
}
