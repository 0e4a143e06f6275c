import Dispatch
import Synchronization

/// Data parallelism over a fixed number of workers.
///
/// TensorCore runs OpenBLAS on one thread (``BLAS``) and parallelises itself: work is cut into
/// pieces whose results do not depend on which thread computes them or when, so outputs are the
/// same bytes on every run and machine, whatever the core count.
package enum Parallel {
    /// Workers used by ``map(_:_:)`` (the machines this tool targets have two cores).
    public static let workers = 2

    /// `body(0) … body(count − 1)`, run by ``workers`` threads (worker w takes w, w + workers, …);
    /// the results in index order. The first error thrown (by index) is rethrown.
    public static func map<T>(_ count: Int, _ body: (Int) throws -> T) throws -> [T] {
        guard count > 1 else { return try (0..<count).map(body) }
        let slots = Slots<T>(count: count)
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: min(workers, count)) { worker in
                for index in stride(from: worker, to: count, by: workers) {
                    slots.set(index, Result { try shared.value(index) })
                }
            }
        }
        return try (0..<count).map { try slots.get($0) }
    }

    /// A lock for progress reports and other small shared state of parallel work (a
    /// `Synchronization.Mutex` in the class's storage, whose address is stable).
    public final class Lock: Sendable {
        private let mutex = Mutex<Void>(())
        public init() {}
        /// Runs `body` while holding the lock.
        public func withLock<R>(_ body: () throws -> R) rethrows -> R {
            try mutex.withLock { _ in try body() }
        }
    }

    private final class Slots<T>: @unchecked Sendable {
        private var results: [Result<T, any Error>?]
        private let lock = Lock()
        init(count: Int) { results = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ result: Result<T, any Error>) { lock.withLock { results[index] = result } }
        func get(_ index: Int) throws -> T { try results[index]!.get() }
    }

    private struct UncheckedBox<T>: @unchecked Sendable {
        let value: T
        init(_ value: T) { self.value = value }
    }
}
