import TensorCore
import WeightFormats

/// Reading stored tensors as runtime values.
public enum TensorLoading {
    /// A float tensor from any float dtype (F16, BF16 and F64 are converted to Float).
    public static func floatTensor(_ reader: any CheckpointReader, _ info: TensorInfo) throws -> Tensor {
        let source: FloatDecoding.Source
        switch info.dtype {
        case .F32: source = .f32
        case .F16: source = .f16
        case .BF16: source = .bf16
        case .F64: source = .f64
        default: throw ModelError.unsupportedDType(name: info.name, dtype: info.dtype)
        }
        let data = try reader.withBytes(of: info.name) { FloatDecoding.decode($0, as: source) }
        return Tensor(shape: info.shape, data: data)
    }

    /// Integer elements (signed, unsigned and boolean types) as `Int`.
    public static func integers(_ bytes: UnsafeRawBufferPointer, dtype: DType) -> [Int]? {
        guard let width = dtype.byteWidth else { return nil }
        let count = bytes.count / width
        switch dtype {
        case .I64: return (0..<count).map { Int(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
        case .U64: return (0..<count).map { Int(truncatingIfNeeded: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
        case .I32: return (0..<count).map { Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
        case .U32: return (0..<count).map { Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        case .I16: return (0..<count).map { Int(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self))) }
        case .U16: return (0..<count).map { Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) }
        case .I8: return (0..<count).map { Int(Int8(bitPattern: bytes[$0])) }
        case .U8, .BOOL: return (0..<count).map { Int(bytes[$0]) }
        default: return nil
        }
    }

    /// A runtime value: float tensors as ``Tensor``, integer tensors as ``IntTensor``.
    public static func value(_ bytes: UnsafeRawBufferPointer, info: TensorInfo) throws -> Value {
        switch info.dtype {
        case .F32: return .float(Tensor(shape: info.shape, data: FloatDecoding.decode(bytes, as: .f32)))
        case .F16: return .float(Tensor(shape: info.shape, data: FloatDecoding.decode(bytes, as: .f16)))
        case .BF16: return .float(Tensor(shape: info.shape, data: FloatDecoding.decode(bytes, as: .bf16)))
        case .F64: return .float(Tensor(shape: info.shape, data: FloatDecoding.decode(bytes, as: .f64)))
        default:
            guard let data = integers(bytes, dtype: info.dtype) else { throw ModelError.unsupportedDType(name: info.name, dtype: info.dtype) }
            return .int(IntTensor(shape: info.shape, data: data))
        }
    }
}
