import Safeguards
import TensorCore
import WeightFormats

/// Samples for evaluation and unlearning: inputs `x` (N × sample shape) and integer labels `y`.
///
/// Inputs stay in their file when it can hand out byte ranges without copying the whole tensor
/// (safetensors, sharded safetensors, stored npz members, little-endian C-order npy): batches are
/// decoded from the memory map as they are needed, so memory is bounded by the batch, not the data
/// set. Otherwise (deflated npz members, big-endian or Fortran-order npy) the inputs are decoded
/// once into memory. Labels are always in memory.
public struct Dataset: @unchecked Sendable {
    enum Storage {
        case memory(Tensor)
        case file(reader: any CheckpointReader, name: String, source: FloatDecoding.Source, width: Int)
    }

    let storage: Storage
    public var labels: [Int]?
    public let count: Int
    public let sampleShape: [Int]

    public init(x: Tensor, labels: [Int]?) {
        storage = .memory(x)
        self.labels = labels
        count = x.shape.first ?? 0
        sampleShape = Array(x.shape.dropFirst())
    }

    init(reader: any CheckpointReader, info: TensorInfo, source: FloatDecoding.Source, width: Int, labels: [Int]?) {
        storage = .file(reader: reader, name: info.name, source: source, width: width)
        self.labels = labels
        count = info.shape[0]
        sampleShape = Array(info.shape.dropFirst())
    }

    /// Reads `xKey` (any float dtype) and, if `yKey` is given, integer labels from an npz or
    /// safetensors file.
    public static func load(_ path: String, xKey: String = "x", yKey: String? = "y") throws -> Dataset {
        let file = try Checkpoint.open(path)
        do {
            let names = file.tensors.map(\.name)
            guard let xInfo = file.info(named: xKey) else { throw ModelError.dataKeyMissing(key: xKey, available: names) }
            guard xInfo.shape.count >= 2 else { throw ModelError.invalidData(reason: "'\(xKey)' has shape \(xInfo.shape); need N × sample shape") }
            guard Checked.product(xInfo.shape) != nil else {
                throw ModelError.invalidData(reason: "'\(xKey)' has shape \(xInfo.shape), whose dimensions multiply past Int.max")
            }
            var labels: [Int]?
            if let yKey {
                guard let yInfo = file.info(named: yKey) else { throw ModelError.dataKeyMissing(key: yKey, available: names) }
                guard yInfo.shape == [xInfo.shape[0]] else {
                    throw ModelError.invalidData(reason: "'\(yKey)' has shape \(yInfo.shape); need [\(xInfo.shape[0])], one label per sample")
                }
                guard let values = try file.withBytes(of: yKey, { TensorLoading.integers($0, dtype: yInfo.dtype) }) else {
                    throw ModelError.invalidData(reason: "'\(yKey)' has dtype \(yInfo.dtype); labels must be integers")
                }
                guard values.allSatisfy({ $0 >= 0 }) else { throw ModelError.invalidData(reason: "'\(yKey)' has negative labels") }
                labels = values
            }
            let source: FloatDecoding.Source, width: Int
            switch xInfo.dtype {
            case .F32: (source, width) = (.f32, 4)
            case .F16: (source, width) = (.f16, 2)
            case .BF16: (source, width) = (.bf16, 2)
            case .F64: (source, width) = (.f64, 8)
            default: throw ModelError.unsupportedDType(name: xKey, dtype: xInfo.dtype)
            }
            if Self.readsInPlace(file, xKey) {
                return Dataset(reader: file, info: xInfo, source: source, width: width, labels: labels)
            }
            return Dataset(x: try TensorLoading.floatTensor(file, xInfo), labels: labels)
        } catch let error as ModelError {
            throw WeightFileError(path: path, underlying: error)
        }
    }

    /// Whether `withBytes` hands out the tensor without decoding or converting all of it.
    static func readsInPlace(_ file: any CheckpointReader, _ name: String) -> Bool {
        switch file {
        case is SafeTensorsFile, is ShardedSafeTensors: return true
        case let npz as NPZArchive: return npz.readsInPlace(name) && !(npz.header(of: name)?.needsConversion ?? true)
        case let npy as NPYFile: return !npy.header.bigEndian && !npy.header.fortranOrder
        default: return false
        }
    }

    /// Whether batches are decoded from the file as needed (rather than held in memory).
    public var isFileBacked: Bool {
        if case .file = storage { return true }
        return false
    }

    /// Samples `range` as a batch tensor.
    public func batch(_ range: Range<Int>) throws -> Tensor {
        try samples(Array(range))
    }

    /// The samples at `indices`, in that order, as one batch tensor.
    public func samples(_ indices: [Int]) throws -> Tensor {
        let size = sampleShape.reduce(1, *)
        switch storage {
        case .memory(let x):
            var values: [Float] = []
            values.reserveCapacity(indices.count * size)
            for i in indices { values += x.data[(i * size)..<((i + 1) * size)] }
            return Tensor(shape: [indices.count] + sampleShape, data: values)
        case .file(let reader, let name, let source, let width):
            let values = try reader.withBytes(of: name) { raw -> [Float] in
                var values: [Float] = []
                values.reserveCapacity(indices.count * size)
                for i in indices {
                    values += FloatDecoding.decode(UnsafeRawBufferPointer(rebasing: raw[(i * size * width)..<((i + 1) * size * width)]), as: source)
                }
                return values
            }
            return Tensor(shape: [indices.count] + sampleShape, data: values)
        }
    }
}
