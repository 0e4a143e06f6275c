import ArgumentParser
import Foundation
import Testing
import WeightFormats
import _TestSupport
@testable import modelforget

@Suite("stats collect --shard and stats merge")
struct StatsShardCommandTests {
    static let model = Fixtures.path("Samples/mlp.onnx")
    static let data = Fixtures.path("Samples/digits-train.npz")

    @Test("the part comes from --shard, a Slurm array task or a Kubernetes completion index",
          arguments: [
            ([], [:], "1/1"),
            (["--shard", "2/4"], ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3"], "2/4"),
            ([], ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"], "3/4"),
            ([], ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4"], "1/4"),
            ([], ["SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_STEP": "2", "SLURM_ARRAY_TASK_COUNT": "4"], "4/4"),
            (["--shards", "8"], ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"], "5/8"),
            (["--shards", "3"], ["JOB_COMPLETION_INDEX": "0"], "1/3"),
            (["--shards", "3"], ["JOB_COMPLETION_INDEX": "2"], "3/3"),
          ] as [([String], [String: String], String)])
    func resolution(flags: [String], environment: [String: String], expected: String) throws {
        let options = try ShardOptions.$environment.withValue(environment) { try ShardOptions.parse(flags) }
        #expect(try options.resolve(environment).shard.description == expected)
    }

    @Test("malformed parts are usage errors that say what to give",
          arguments: [
            (["--shard", "0/4"], [:], "--shard must be i/n with 1 ≤ i ≤ n, e.g. 2/4: 0/4"),
            (["--shard", "2/4", "--shards", "3"], [:], "--shards 3 contradicts --shard 2/4"),
            (["--shards", "3"], [:], "--shards needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID in the environment; or give --shard i/n"),
            ([], ["JOB_COMPLETION_INDEX": "1"], "JOB_COMPLETION_INDEX is set: give --shards N (the Job's completions), or --shard i/n"),
            (["--shards", "2"], ["JOB_COMPLETION_INDEX": "2"], "JOB_COMPLETION_INDEX 2 is not in 0..<2 (--shards 2)"),
            ([], ["SLURM_ARRAY_TASK_ID": "1"], "SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give --shards N or --shard i/n"),
            ([], ["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"], "SLURM_ARRAY_TASK_ID is 'x', not a number"),
            ([], ["SLURM_ARRAY_TASK_ID": "6", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"],
             "array task 6 (min 1, step 1) is not one of 4 parts: give --shard i/n"),
          ] as [([String], [String: String], String)])
    func resolutionErrors(flags: [String], environment: [String: String], message: String) throws {
        let run = ShardOptions.$environment.withValue(environment) {
            runInProcess(["stats", "collect", Self.model, "--data", Self.data, "-o", "/nonexistent/x.safetensors"] + flags)
        }
        #expect(run.status == 64)
        #expect(run.stderr.hasPrefix("Error: \(message)\n"))
    }

    @Test("a completion index collects its part into {shard}, says where the part came from, and prints a JSON line")
    func collectFromEnvironment() throws {
        let directory = TemporaryDirectory()
        let run = ShardOptions.$environment.withValue(["JOB_COMPLETION_INDEX": "1"]) {
            runInProcess(["stats", "collect", Self.model, "--data", Self.data, "--shards", "3", "--json", "-o", directory.path("part-{shard}.stats.safetensors")])
        }
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr == "note: collecting part 2/3 (from JOB_COMPLETION_INDEX=1)\n")
        #expect(run.stdout.split(separator: "\n").count == 1)
        let line = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(line["shard"] as? String == "2/3")
        #expect(line["output"] as? String == directory.path("part-2.stats.safetensors"))
        #expect(line["data_samples"] as? Int == 1257)
        #expect((line["samples"] as? Int).map { (418...420).contains($0) } == true)
        #expect(line["model_sha256"] as? String == (try SHA256.hex(ofFile: Self.model)))
        #expect(line["bytes"] as? Int == (try FileManager.default.attributesOfItem(atPath: directory.path("part-2.stats.safetensors"))[.size] as? Int))
        for key in ["seconds", "collect_seconds", "samples_per_second", "data_fingerprint", "classes", "max_patches", "seed"] {
            #expect(line[key] != nil, "\(key)")
        }
    }

    @Test("merge: the parts in any order give the same bytes; a missing part is refused with the flag that allows it; apply notes partial statistics")
    func merge() throws {
        let directory = TemporaryDirectory()
        var parts: [String] = []
        for i in 1...3 {
            let run = try ProcessRunner.modelforget(["stats", "collect", Self.model, "--data", Self.data, "--shard", "\(i)/3", "--quiet",
                                                     "-o", directory.path("p\(i).stats.safetensors")])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stderr.isEmpty)
            parts.append(directory.path("p\(i).stats.safetensors"))
        }
        let forward = runInProcess(["stats", "merge"] + parts + ["-o", directory.path("a.stats.safetensors")])
        #expect(forward.status == 0)
        #expect(forward.stdout == "wrote \(directory.path("a.stats.safetensors")): parts 1-3/3, 1257 of 1257 samples, 10 classes\n")
        #expect(runInProcess(["stats", "merge", parts[2], parts[0], parts[1], "-o", directory.path("b.stats.safetensors")]).status == 0)
        #expect(fileBytes(directory.path("a.stats.safetensors")) == fileBytes(directory.path("b.stats.safetensors")))

        let missing = runInProcess(["stats", "merge", parts[0], parts[2], "-o", directory.path("c.stats.safetensors")])
        #expect(missing.status == 1)
        #expect(missing.stderr == "\(parts[0]), \(parts[2]): part 2 of 3 missing; collect the missing parts, or pass --allow-partial to merge these\n")
        #expect(!FileManager.default.fileExists(atPath: directory.path("c.stats.safetensors")))
        let partial = runInProcess(["stats", "merge", parts[0], parts[2], "--allow-partial", "-o", directory.path("c.stats.safetensors")])
        #expect(partial.stdout.contains("parts 1,3/3 (missing 2: partial), "))

        let duplicate = runInProcess(["stats", "merge", parts[0], parts[1], parts[1], parts[2], "-o", directory.path("d.stats.safetensors")])
        #expect(duplicate.status == 1)
        #expect(duplicate.stderr == "\(parts[1]): holds part 2/3, as does \(parts[1]); give each part once\n")
        let seeded = directory.path("seed.stats.safetensors")
        #expect(try ProcessRunner.modelforget(["stats", "collect", Self.model, "--data", Self.data, "--shard", "2/3", "--seed", "5", "--quiet", "-o", seeded]).status == 0)
        let otherSeed = runInProcess(["stats", "merge", parts[0], seeded, parts[2], "-o", directory.path("d.stats.safetensors")])
        #expect(otherSeed.stderr == "\(seeded): collected with seed 5, \(parts[0]) with 0; collect every part with the same settings\n")

        let apply = try ProcessRunner.modelforget(["apply", Self.model, "--method", "svd", "--classes", "3", "--data", Self.data, "--stats", directory.path("c.stats.safetensors"),
                                                   "-o", directory.path("out.onnx")])
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stderr.contains("note: \(directory.path("c.stats.safetensors")): statistics of parts 1,3/3 only (missing 2)\n"))
    }

    @Test("a Slurm array task's environment picks the part in the real executable")
    func slurmEnvironment() throws {
        let directory = TemporaryDirectory()
        let run = try ProcessRunner.run(ProcessRunner.modelforgetPath,
                                        ["stats", "collect", Self.model, "--data", Self.data, "-o", directory.path("part-{shard}.stats.safetensors")],
                                        environment: ["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "2", "SLURM_ARRAY_TASK_COUNT": "3"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("note: collecting part 3/3 (from SLURM_ARRAY_TASK_ID=4)\n"))
        #expect(run.stdout.hasPrefix("wrote \(directory.path("part-3.stats.safetensors")): part 3/3, "))
        let metadata = try Checkpoint.open(directory.path("part-3.stats.safetensors")).metadata
        #expect(metadata["shards"] == "3/3")
        #expect(metadata["data_samples"] == "1257")
        #expect(metadata["seed"] == "0" && metadata["max_patches"] == "10000")
        #expect(metadata["model_sha256"] == (try SHA256.hex(ofFile: Self.model)))
        #expect(metadata["data_fingerprint"]?.count == 64)
    }
}
