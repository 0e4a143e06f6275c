import TensorCore
import WeightFormats

/// Samples for evaluation and unlearning: inputs `x` (N × sample shape) and integer labels `y`.
public struct Dataset {
    public var x: Tensor
    public var labels: [Int]?

    public var count: Int { x.shape.first ?? 0 }
    public var sampleShape: [Int] { Array(x.shape.dropFirst()) }

    public init(x: Tensor, labels: [Int]?) {
        self.x = x
        self.labels = labels
    }

    /// Reads `xKey` (any float dtype) and, if `yKey` is given, integer labels from an npz or
    /// safetensors file.
    public static func load(_ path: String, xKey: String = "x", yKey: String? = "y") throws -> Dataset {
        let file = try Checkpoint.open(path)
        do {
            let names = file.tensors.map(\.name)
            guard let xInfo = file.info(named: xKey) else { throw ModelError.dataKeyMissing(key: xKey, available: names) }
            guard xInfo.shape.count >= 2 else { throw ModelError.invalidData(reason: "'\(xKey)' has shape \(xInfo.shape); need N × sample shape") }
            let x = try TensorLoading.floatTensor(file, xInfo)
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
            return Dataset(x: x, labels: labels)
        } catch let error as ModelError {
            throw WeightFileError(path: path, underlying: error)
        }
    }

    /// Samples `range` as a batch tensor.
    public func batch(_ range: Range<Int>) -> Tensor {
        let size = sampleShape.reduce(1, *)
        return Tensor(shape: [range.count] + sampleShape, data: Array(x.data[(range.lowerBound * size)..<(range.upperBound * size)]))
    }
}
