import Foundation
import Testing
import WeightFormats
import _TestSupport

/// Writes a small safetensors checkpoint with F32, BF16 and I64 tensors and `format: pt` metadata.
@discardableResult
func writeSampleCheckpoint(_ path: String) throws -> [String: [UInt8]] {
    var contents: [String: [UInt8]] = [:]
    let weights: [Float] = (0..<12).map { Float($0) * 0.25 - 1 }
    contents["fc.weight"] = weights.withUnsafeBytes { Array($0) }
    contents["fc.bias"] = [Float(0.5), -0.5, 2].withUnsafeBytes { Array($0) }
    contents["emb.weight"] = [Float(1.5), -2.25].map { DTypeConversion.floatToBFloat16($0) }.withUnsafeBytes { Array($0) }
    contents["bn.num_batches_tracked"] = [Int64(7)].withUnsafeBytes { Array($0) }
    let infos = [
        TensorInfo(name: "fc.weight", dtype: .F32, shape: [3, 4]),
        TensorInfo(name: "fc.bias", dtype: .F32, shape: [3]),
        TensorInfo(name: "emb.weight", dtype: .BF16, shape: [2]),
        TensorInfo(name: "bn.num_batches_tracked", dtype: .I64, shape: []),
    ]
    try Checkpoint.write(to: path, tensors: infos,
                         options: CheckpointWriteOptions(container: .safetensors, metadata: ["format": "pt"]),
                         bytes: { info, consume in try contents[info.name]!.withUnsafeBytes { try consume($0) } })
    return contents
}

func fileBytes(_ path: String) -> [UInt8] {
    (FileManager.default.contents(atPath: path).map { Array($0) }) ?? []
}
