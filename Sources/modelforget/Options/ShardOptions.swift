import ArgumentParser
import Foundation
import ModelRuntime

/// `--shard i/n` and `--shards n`: which part of the data one job of a batch array collects, from
/// the flag or from the scheduler's environment.
struct ShardOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Collect part i of n of the samples (1-based; per class, WebDataset: whole tar shards). Default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, else all.",
        valueName: "i/n"))
    var shard: String?

    @Option(help: ArgumentHelp(
        "The number of parts when the part comes from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's completions); overrides SLURM_ARRAY_TASK_COUNT.",
        valueName: "n"))
    var shards: Int?

    /// The environment read for the part (the process's; tests set their own).
    @TaskLocal static var environment = ProcessInfo.processInfo.environment

    func validate() throws {
        _ = try resolve(Self.environment)
    }

    /// The part to collect and, when it came from the environment, the variables it came from.
    /// - Throws: `ValidationError` for a malformed flag or environment.
    func resolve(_ environment: [String: String]) throws -> (shard: DataShard, origin: String?) {
        if let shard {
            guard let parsed = DataShard(shard) else { throw ValidationError("--shard must be i/n with 1 ≤ i ≤ n, e.g. 2/4: \(shard)") }
            guard shards == nil || shards == parsed.count else { throw ValidationError("--shards \(shards!) contradicts --shard \(shard)") }
            return (parsed, nil)
        }
        if let shards, shards < 1 { throw ValidationError("--shards must be positive") }
        func integer(_ name: String) throws -> Int? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard let value = Int(text) else { throw ValidationError("\(name) is '\(text.prefix(20))', not a number") }
            return value
        }
        if let task = try integer("SLURM_ARRAY_TASK_ID") {
            let minimum = try integer("SLURM_ARRAY_TASK_MIN") ?? 0
            let step = max(try integer("SLURM_ARRAY_TASK_STEP") ?? 1, 1)
            guard let count = try shards ?? integer("SLURM_ARRAY_TASK_COUNT") else {
                throw ValidationError("SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give --shards N or --shard i/n")
            }
            let index = (task - minimum) / step + 1
            guard (task - minimum) % step == 0, (1...count).contains(index) else {
                throw ValidationError("array task \(task) (min \(minimum), step \(step)) is not one of \(count) parts: give --shard i/n")
            }
            return (DataShard(index, of: count), "SLURM_ARRAY_TASK_ID=\(task)")
        }
        if let index = try integer("JOB_COMPLETION_INDEX") {
            guard let count = shards else {
                throw ValidationError("JOB_COMPLETION_INDEX is set: give --shards N (the Job's completions), or --shard i/n")
            }
            guard (0..<count).contains(index) else { throw ValidationError("JOB_COMPLETION_INDEX \(index) is not in 0..<\(count) (--shards \(count))") }
            return (DataShard(index + 1, of: count), "JOB_COMPLETION_INDEX=\(index)")
        }
        if shards != nil { throw ValidationError("--shards needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID in the environment; or give --shard i/n") }
        return (.whole, nil)
    }
}
