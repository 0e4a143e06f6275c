import Foundation
import Testing
import TensorCore
import WeightFormats
@testable import ModelRuntime
import _TestSupport

/// A committed folder of the real-library zoo (`Tests/Fixtures/RealModels/<name>`, made by
/// `Benchmarks/real_models/make_real_models.py` with each library's own code): its path and
/// PyTorch's input `x` and eval-mode `logits` (`expected.npz`).
struct ZooFolder {
    let name: String
    let path: String
    let x: Tensor
    let logits: Tensor

    init(_ name: String) throws {
        self.name = name
        path = Fixtures.path("Tests/Fixtures/RealModels/\(name)")
        let file = try Checkpoint.open(path + "/expected.npz")
        x = try TensorLoading.floatTensor(file, try #require(file.info(named: "x")))
        logits = try TensorLoading.floatTensor(file, try #require(file.info(named: "logits")))
    }

    /// The recognition context of the folder's checkpoint and config.
    func context() throws -> LayoutContext {
        LayoutContext(checkpoint: try Checkpoint.open(path + "/model.safetensors"), config: try ModelConfig.find(besides: path), sampleShape: nil)
    }
}

/// Writes `source`'s tensors to a safetensors file at `path`, renamed by `rename` (`nil` drops
/// a tensor), plus copies of tensors under new names (`adding`: new name → source tensor).
func rewriteTensors(of source: String, to path: String, adding: [String: String] = [:], rename: (String) -> String? = { $0 }) throws {
    let checkpoint = try Checkpoint.open(source)
    var tensors: [TensorInfo] = []
    var origin: [String: String] = [:]
    for info in checkpoint.tensors {
        guard let name = rename(info.name) else { continue }
        var copy = info
        copy.name = name
        origin[name] = info.name
        tensors.append(copy)
    }
    for (name, from) in adding.sorted(by: { $0.key < $1.key }) {
        var copy = try #require(checkpoint.info(named: from))
        copy.name = name
        origin[name] = from
        tensors.append(copy)
    }
    try Checkpoint.write(to: path, tensors: tensors, options: CheckpointWriteOptions(container: .safetensors)) { info, consume in
        try checkpoint.withBytes(of: origin[info.name]!) { try consume($0) }
    }
}

/// Writes a JSON object to `path`.
func writeJSON(_ object: [String: Any], to path: String) throws {
    try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
}

/// The message of `body`'s error (its `description`), or `nil` when it does not throw.
func errorMessage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}

/// Every layout and whether it claims the checkpoint of `context`: the descriptions of the
/// layouts whose reading is not `nil` (a throwing layout counts as claiming).
func claimingLayouts(_ context: LayoutContext) -> [String] {
    RecognizedLayouts.layouts.compactMap { layout in
        do {
            return try layout.read(context) == nil ? nil : layout.description
        } catch {
            return layout.description
        }
    }
}
