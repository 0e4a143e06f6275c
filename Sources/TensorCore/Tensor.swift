/// A dense float32 tensor: a shape and its elements in row-major (C) order.
///
/// Value semantics (copy-on-write through the array). Shapes are `[Int]`; a 0-d tensor has
/// shape `[]` and one element.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) needs \(shape.reduce(1, *)) elements, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    public init(repeating value: Float, shape: [Int]) {
        self.shape = shape
        data = [Float](repeating: value, count: shape.reduce(1, *))
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
}

/// Decoding stored element bytes into Float (widening is exact).
public enum FloatDecoding {
    public enum Source: Sendable { case f32, f16, bf16, f64 }

    /// Decodes little-endian elements into Floats.
    public static func decode(_ bytes: UnsafeRawBufferPointer, as source: Source) -> [Float] {
        switch source {
        case .f32:
            let count = bytes.count / 4
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                _ = memcpy(buffer.baseAddress!, bytes.baseAddress!, count * 4)
                initialized = count
            }
        case .f16:
            return (0..<(bytes.count / 2)).map {
                Float(Float16(bitPattern: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))))
            }
        case .bf16:
            return (0..<(bytes.count / 2)).map {
                Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) << 16)
            }
        case .f64:
            return (0..<(bytes.count / 8)).map {
                Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))))
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
