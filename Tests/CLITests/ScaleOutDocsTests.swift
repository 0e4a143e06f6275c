import Foundation
import Testing
import _TestSupport
@testable import modelforget

@Suite("docs/scale-out.md: the Slurm scripts and Kubernetes Jobs")
struct ScaleOutDocsTests {
    static let files = ["collect-stats.sbatch", "merge-stats.sbatch", "stats-collect-job.yaml", "stats-merge-job.yaml"]

    @Test("the guide shows each script and manifest exactly as the files that are tested")
    func guideShowsTheFiles() throws {
        let guide = try String(contentsOfFile: Fixtures.path("docs/scale-out.md"), encoding: .utf8)
        for file in Self.files {
            let contents = try String(contentsOfFile: Fixtures.path("docs/scale-out/\(file)"), encoding: .utf8)
            #expect(guide.contains("\n" + contents + "```\n"), "docs/scale-out.md does not show docs/scale-out/\(file) as it is")
        }
    }

    @Test("the Kubernetes manifests are valid batch/v1 Jobs, and their modelforget command lines parse with the completion index set",
          .tags(.interop), .requiresPython("yaml"))
    func kubernetesManifests() throws {
        let result = try ProcessRunner.run("/usr/bin/env", ["python3", Fixtures.path("Tests/ScaleOut/check_job_manifest.py"),
                                                            Fixtures.path("docs/scale-out/stats-collect-job.yaml"),
                                                            Fixtures.path("docs/scale-out/stats-merge-job.yaml")])
        try #require(result.status == 0, "\(result.stderr)")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let commands = try #require(output["commands"] as? [[String: Any]])
        #expect(commands.count == 2)
        for command in commands {
            let argv = try #require(command["argv"] as? [String])
            let completions = command["completions"] as? Int ?? 1
            for index in 0..<completions {
                let parsed = try ShardOptions.$environment.withValue(["JOB_COMPLETION_INDEX": String(index)]) {
                    try ModelForget.parseAsRoot(Array(argv.dropFirst()))
                }
                if let collect = parsed as? Stats.Collect {
                    #expect(command["indexed"] as? Bool == true)
                    let shard = try collect.sharding.resolve(["JOB_COMPLETION_INDEX": String(index)]).shard
                    #expect(shard.index == index + 1 && shard.count == completions, "--shards must equal the Job's completions")
                    #expect(collect.output.contains("{shard}"), "every part needs its own file")
                } else {
                    #expect(parsed is Stats.Merge, "\(argv)")
                }
            }
        }
    }

    @Test("the checker finds unknown fields, wrong types, missing required fields and a completion index outside an Indexed Job",
          .tags(.interop), .requiresPython("yaml"))
    func checkerFindsDefects() throws {
        let directory = TemporaryDirectory()
        let manifest = try String(contentsOfFile: Fixtures.path("docs/scale-out/stats-collect-job.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "completionMode: Indexed", with: "completionMod: Indexed")
            .replacingOccurrences(of: "completions: 4", with: "completions: \"4\"")
            .replacingOccurrences(of: "mountPath:", with: "mountpath:")
        try manifest.write(toFile: directory.path("bad.yaml"), atomically: true, encoding: .utf8)
        let result = try ProcessRunner.run("/usr/bin/env", ["python3", Fixtures.path("Tests/ScaleOut/check_job_manifest.py"), directory.path("bad.yaml")])
        #expect(result.status == 1)
        let path = directory.path("bad.yaml")
        #expect(result.stderr == """
            \(path)#0.spec.completionMod: no such field in V1JobSpec
            \(path)#0.spec.completions: expected int, found str '4'
            \(path)#0.spec.template.spec.containers[0].volumeMounts[0].mountpath: no such field in V1VolumeMount
            \(path)#0.spec.template.spec.containers[0].volumeMounts[0]: V1VolumeMount needs mountPath
            \(path)#0: JOB_COMPLETION_INDEX needs completionMode: Indexed

            """)
    }
}
