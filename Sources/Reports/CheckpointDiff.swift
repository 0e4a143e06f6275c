import Foundation
import TensorCore
import WeightFormats

/// Compares two checkpoints tensor by tensor (see ``TensorDifference``), streaming: each pair is
/// read in steps of ``Options/chunkElements`` elements, the Gram of Δ is accumulated step by step,
/// and the mapped pages of each step are released, so memory is bounded by the step size and the
/// Gram (at most `maxSpectrumSide²` doubles), not by the checkpoint or its largest tensor. Two
/// workers each take the next pair when free.
public enum CheckpointDiff {
    public struct Options: Sendable {
        /// Largest smaller side of Δ whose spectrum is computed (the Gram eigensolve is O(side³)).
        public var maxSpectrumSide = 4096
        /// Elements decoded per step when streaming through one tensor (default 1 Mi: 8 MiB of
        /// float64 per side and worker).
        public var chunkElements = 1 << 20
        /// Singular values reported per tensor.
        public var singularValues = 5
        /// Which tensors to compare (all by default).
        public var include: @Sendable (String) -> Bool = { _ in true }
        public init() {}
    }

    public static func compare(_ a: any CheckpointReader, _ b: any CheckpointReader, options: Options = Options(),
                               progress: ((Int, Int) -> Void)? = nil) throws -> CheckpointDifference {
        let infoB = Dictionary(b.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let namesA = Set(a.tensors.map(\.name))
        let pairs: [(TensorInfo?, TensorInfo?)] = a.tensors.filter { options.include($0.name) }.map { ($0, infoB[$0.name]) }
            + b.tensors.filter { !namesA.contains($0.name) && options.include($0.name) }.map { (nil, $0) }
        let readers = Readers(a: a, b: b)
        let lock = Parallel.Lock()
        var done = 0
        let workers = min(Parallel.workers, max(pairs.count, 1))
        var next = 0
        // Workers take the next pair when free (sizes vary by orders of magnitude); the results are
        // put back in order, so the scheduling never shows in the output.
        let parts = try Parallel.map(workers) { _ -> [(Int, TensorDifference)] in
            var results: [(Int, TensorDifference)] = []
            while true {
                let index: Int = lock.withLock {
                    defer { next += 1 }
                    return next
                }
                guard index < pairs.count else { break }
                let (ia, ib) = pairs[index]
                results.append((index, try compare(ia, ib, readers: readers, options: options)))
                lock.withLock {
                    done += 1
                    progress?(done, pairs.count)
                }
            }
            return results
        }
        let tensors = parts.flatMap { $0 }.sorted { $0.0 < $1.0 }.map(\.1)
        return CheckpointDifference(a: a.path, b: b.path, tensors: tensors, summary: summary(tensors))
    }

    /// Lets the two workers share the readers (each call maps its own range; readers are not mutated).
    final class Readers: @unchecked Sendable {
        let a: any CheckpointReader, b: any CheckpointReader
        init(a: any CheckpointReader, b: any CheckpointReader) { self.a = a; self.b = b }
    }

    static func summary(_ tensors: [TensorDifference]) -> CheckpointDifference.Summary {
        let changed = tensors.filter { $0.status != .same }
        let largest = tensors.filter { $0.relativeChange != nil && $0.status != .same }.max { $0.relativeChange! < $1.relativeChange! }
        return .init(tensors: tensors.count, tensorsChanged: changed.count,
                     parameters: tensors.reduce(0) { $0 + max($1.elements, ($1.shapeB ?? $1.shapeA ?? []).reduce(1, *)) },
                     parametersChanged: tensors.reduce(0) { total, t in
                         switch t.status {
                         case .same: total
                         case .changed, .dtypeChanged: total + t.changedElements
                         case .added, .shapeChanged: total + (t.shapeB ?? []).reduce(1, *)
                         case .removed: total + (t.shapeA ?? []).reduce(1, *)
                         }
                     },
                     largestRelativeChange: largest?.relativeChange, largestRelativeChangeTensor: largest?.name)
    }
}
