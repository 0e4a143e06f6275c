import ImageData
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
///
/// Image sources (a folder per class, a CSV/JSON Lines manifest, WebDataset tar shards) are
/// decoded and preprocessed batch by batch (``ImageSamples``): memory is bounded by the batch.
public struct Dataset: @unchecked Sendable {
    enum Storage {
        case memory(Tensor)
        case file(reader: any CheckpointReader, name: String, dtype: DType, width: Int)
        case images(ImageSamples)
    }

    let storage: Storage
    /// The tensor file the samples were read from and its keys (``load(_:xKey:yKey:images:)``), for ``fingerprint()``.
    var fileSource: (path: String, xKey: String, yKey: String?)?
    public var labels: [Int]?
    public let count: Int
    public let sampleShape: [Int]

    public init(x: Tensor, labels: [Int]?) {
        storage = .memory(x)
        self.labels = labels
        count = x.shape.first ?? 0
        sampleShape = Array(x.shape.dropFirst())
    }

    init(reader: any CheckpointReader, info: TensorInfo, labels: [Int]?) {
        storage = .file(reader: reader, name: info.name, dtype: info.dtype, width: info.dtype.byteWidth!)
        self.labels = labels
        count = info.shape[0]
        sampleShape = Array(info.shape.dropFirst())
    }

    /// Samples decoded from images; labels from the source when `withLabels`.
    public init(images: ImageSamples, withLabels: Bool = true) {
        storage = .images(images)
        labels = withLabels ? images.labels : nil
        count = images.count
        sampleShape = images.sampleShape
    }

    /// Reads `xKey` (any float dtype) and, if `yKey` is given, integer labels from an npz or
    /// safetensors file; or, when `path` is an image source (``ImageCollection/recognizes(_:)``),
    /// its images through `images` (and their labels unless `yKey` is `nil`).
    /// - Throws: ``WeightFileError`` naming the file (or image) at fault.
    public static func load(_ path: String, xKey: String = "x", yKey: String? = "y", images: ImageLoading = ImageLoading()) throws -> Dataset {
        if ImageCollection.recognizes(path) {
            do {
                let samples = try ImageSamples(try ImageCollection.open(path, labelNames: images.labelNames), loading: images)
                if yKey != nil && samples.labels == nil {
                    throw WeightFileError(path: path, underlying: ModelError.invalidData(reason: "the images have no labels "
                        + "(a manifest needs a label column, shards a .cls member per sample)"))
                }
                return Dataset(images: samples, withLabels: yKey != nil)
            } catch {
                throw Self.fileError(error)
            }
        }
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
            guard ElementCoding.isFloat(xInfo.dtype) else { throw ModelError.unsupportedDType(name: xKey, dtype: xInfo.dtype) }
            var dataset = Self.readsInPlace(file, xKey) ? Dataset(reader: file, info: xInfo, labels: labels)
                : Dataset(x: try TensorLoading.floatTensor(file, xInfo), labels: labels)
            dataset.fileSource = (path, xKey, yKey)
            return dataset
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
        switch storage {
        case .file, .images: true
        case .memory: false
        }
    }

    /// The images behind the samples, when they come from an image source.
    public var imageSamples: ImageSamples? {
        if case .images(let samples) = storage { return samples }
        return nil
    }

    /// Image errors as ``WeightFileError``s (`FILE: what is wrong`), others unchanged.
    static func fileError(_ error: any Error) -> any Error {
        switch error {
        case let error as ImageFileError: WeightFileError(path: error.displayPath, underlying: error.underlying)
        case let error as ImageSourceError: WeightFileError(path: error.displayPath, underlying: SourceDefect(reason: error.reason))
        default: error
        }
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
        case .file(let reader, let name, let dtype, let width):
            let values = try reader.withBytes(of: name) { raw -> [Float] in
                var values: [Float] = []
                values.reserveCapacity(indices.count * size)
                for i in indices {
                    values += ElementCoding.decodeFloats(UnsafeRawBufferPointer(rebasing: raw[(i * size * width)..<((i + 1) * size * width)]), dtype)
                }
                return values
            }
            return Tensor(shape: [indices.count] + sampleShape, data: values)
        case .images(let samples):
            do {
                return Tensor(shape: [indices.count] + sampleShape, data: try samples.load(indices))
            } catch {
                throw Self.fileError(error)
            }
        }
    }
}

/// The reason of an ``ImageSourceError``, as the underlying error of a ``WeightFileError``.
private struct SourceDefect: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
