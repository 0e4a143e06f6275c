import TensorCore
import WeightFormats

/// Reading stored tensors as runtime values (elements decoded by ``ElementCoding``).
package enum TensorLoading {
    /// A float tensor from any float dtype (F16, BF16 and F64 are converted to Float).
    public static func floatTensor(_ reader: any CheckpointReader, _ info: TensorInfo) throws -> Tensor {
        guard ElementCoding.isFloat(info.dtype) else { throw ModelError.unsupportedDType(name: info.name, dtype: info.dtype) }
        let data = try reader.withBytes(of: info.name) { ElementCoding.decodeFloats($0, info.dtype) }
        return Tensor(shape: info.shape, data: data)
    }

    /// Integer elements (signed, unsigned and boolean types) as `Int`; `nil` for other dtypes.
    public static func integers(_ bytes: UnsafeRawBufferPointer, dtype: DType) -> [Int]? {
        ElementCoding.decodeIntegers(bytes, dtype)
    }

    /// A runtime value: float tensors as ``Tensor``, integer tensors as ``IntTensor``.
    public static func value(_ bytes: UnsafeRawBufferPointer, info: TensorInfo) throws -> Value {
        if ElementCoding.isFloat(info.dtype) { return .float(Tensor(shape: info.shape, data: ElementCoding.decodeFloats(bytes, info.dtype))) }
        guard let data = integers(bytes, dtype: info.dtype) else { throw ModelError.unsupportedDType(name: info.name, dtype: info.dtype) }
        return .int(IntTensor(shape: info.shape, data: data))
    }
}
