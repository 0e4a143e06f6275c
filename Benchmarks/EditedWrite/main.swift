// The output-writing step of `modelforget apply`, alone: opens a checkpoint, replaces its first
// float32 tensor (values halved) and writes the rest unchanged through `EditedCheckpoint.write`,
// as `apply` does after its update. The counterpart of `cp` in copy_bench.py.
//
//   .build-rel/release/edited-write INPUT OUTPUT
import Foundation
import TensorCore
import Unlearning
import WeightFormats

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: edited-write INPUT OUTPUT\n".utf8))
    exit(64)
}
do {
    let reader = try Checkpoint.open(arguments[1])
    guard let first = reader.tensors.first(where: { $0.dtype == .F32 }) else {
        FileHandle.standardError.write(Data("edited-write: no float32 tensor\n".utf8))
        exit(1)
    }
    let values = try reader.withBytes(of: first.name) { raw in raw.bindMemory(to: Float.self).map { $0 * 0.5 } }
    let edited = Tensor(shape: first.shape, data: values)
    try EditedCheckpoint.write(reader, edits: [first.name: edited], to: arguments[2], provenance: ["modelforget.bench": "edited-write"])
} catch {
    FileHandle.standardError.write(Data("edited-write: \(error)\n".utf8))
    exit(1)
}
