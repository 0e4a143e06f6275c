import Foundation
import Testing
import WeightFormats
import _TestSupport

/// The reproducers of issue 18 (Formats/fixtures/hostile, made by its make_fixtures.py, plus
/// files only a test can make: FIFOs, symbolic and hard links, permissions, size limits,
/// signals). Every run is bounded: 2 GB of address space (`ulimit -v`), so an allocation the
/// file or graph asks for that got past the checks would crash the run instead of exiting 1,
/// and a 120 s timeout, so a hang shows as a kill. Each test checks a one-line error and exit
/// status 1, that no file was left behind, and that the inputs did not change.
@Suite("hostile inputs: one-line errors, nothing left behind, inputs untouched, bounded memory")
struct HostileInputTests {
    static let hostile = "Formats/fixtures/hostile/"

    // MARK: - Graphs

    @Test("sizes from a graph are checked before anything is allocated", arguments: [
        ("constant_of_shape_huge", "node 'huge' (ConstantOfShape): its output [100000, 100000, 100000] needs"),
        ("constant_of_shape_overflow", "node 'overflow' (ConstantOfShape): its output [4611686018427387904, 4] needs more than"),
        ("conv_pads_huge", "node 'padded' (Conv): its output ["),
        ("conv_pads_overflow", "node 'padded' (Conv): Conv pads [4611686018427387904"),
        ("maxpool_overflow", "node 'pool' (MaxPool): pooling kernel_shape [4611686018427387904"),
        ("reshape_overflow", "node 'reshape' (Reshape): cannot reshape"),
        ("reshape_float_shape", "node 'reshape' (Reshape): input 1 must hold integers that fit in 64 bits"),
        ("expand_overflow", "node 'expand' (Expand): its output [4294967296, 4294967296, 1, 10] needs more than"),
        ("broadcast_huge", "node 'outer' (Add): its output [100000, 100000] needs"),
        ("identity_graph", "the graph output 'x' has shape [2, 1, 2, 2] for a batch of 2 samples; a classifier must output [2, classes]"),
        ("control_names", #"node 'node\u{a}\u{1b}[31mred\u{202e}': operator NoSuchOperator is not supported"#),
        ("external_control_location", #"external data file 'd\u{a}\u{1b}[2J.bin' of tensor 'w' does not exist"#),
    ])
    func graphSizes(fixture: String, message: String) throws {
        let directory = try copies(fixture + ".onnx", "data.npz")
        let before = snapshot(directory)
        let result = try runBounded(["predict", directory.path(fixture + ".onnx"), "--inputs", directory.path("data.npz"),
                                     "-o", directory.path("out.npz"), "--batch-size", "2"])
        expectOneLineError(result, containing: message)
        #expect(snapshot(directory) == before)
    }

    @Test("every command that runs a graph refuses it the same way", arguments: [
        ["eval", "MODEL", "--data", "DATA"],
        ["apply", "MODEL", "--classes", "0", "--data", "DATA", "-o", "OUT/edited.onnx"],
        ["stats", "collect", "MODEL", "--data", "DATA", "-o", "OUT/stats.safetensors"],
    ])
    func everyCommand(arguments: [String]) throws {
        let directory = try copies("constant_of_shape_huge.onnx", "data.npz")
        let before = snapshot(directory)
        let resolved = arguments.map {
            $0.replacingOccurrences(of: "MODEL", with: directory.path("constant_of_shape_huge.onnx"))
                .replacingOccurrences(of: "DATA", with: directory.path("data.npz"))
                .replacingOccurrences(of: "OUT", with: directory.path)
        }
        let result = try runBounded(resolved)
        expectOneLineError(result, containing: "node 'huge' (ConstantOfShape): its output [100000, 100000, 100000] needs")
        #expect(snapshot(directory) == before)
    }

    @Test("a Concat that repeats an input past --max-memory is refused; the flag sets the limit")
    func concatRepeated() throws {
        let directory = try copies("concat_repeated.onnx", "data.npz")
        let before = snapshot(directory)
        let result = try runBounded(["eval", directory.path("concat_repeated.onnx"), "--data", directory.path("data.npz"),
                                     "--max-memory", "1GiB"])
        expectOneLineError(result, containing: "node 'repeat' (Concat): its output [1073741824] needs 4.0 GiB, more than the 1.0 GiB memory limit (--max-memory)")
        #expect(snapshot(directory) == before)
    }

    @Test("integer Div and Mod of INT64_MIN by −1 wrap, Pow by 2⁶² is quick, extreme Slice bounds clamp: each model runs",
          arguments: ["int_div_min", "int_mod_min", "int_pow_huge", "slice_extreme"])
    func integerEdges(fixture: String) throws {
        let directory = try copies(fixture + ".onnx", "data.npz")
        let result = try runBounded(["predict", directory.path(fixture + ".onnx"), "--inputs", directory.path("data.npz"),
                                     "-o", directory.path("out.npz")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(directory.contents() == ["\(fixture).onnx", "data.npz", "out.npz"].sorted())
    }

    // MARK: - Files

    @Test("defects of npz, npy and safetensors files: one line each, escaped, memory bounded", arguments: [
        ("npz_inflating_bzip2.npz", "member 'a.npy' decompresses to more than the 136 bytes its header and the archive declare"),
        ("npz_inflating_deflate.npz", "member 'a.npy' decompresses to more than the 136 bytes its header and the archive declare"),
        ("npz_member_dotdot.npz", "member name '../x.npy' is absolute or contains '..'"),
        ("npz_member_absolute.npz", "member name '/x.npy' is absolute or contains '..'"),
        ("npz_no_end_record.npz", "no end-of-central-directory record"),
        ("npz_truncated_directory.npz", "describes a central directory that is not there"),
        ("npz_control_member.npz", #"member 'a\u{a}\u{1b}[31m.npy': unsupported dtype descr 'zz'"#),
        ("npy_control_header.npy", #"unsupported dtype descr '<f4\u{a}\u{1b}[2J\u{1b}[31m'"#),
        ("safetensors_json_string.safetensors", "invalid header: not a JSON object"),
    ])
    func fileDefects(fixture: String, message: String) throws {
        let directory = try copies(fixture)
        let before = snapshot(directory)
        let result = try runBounded(["convert", directory.path(fixture), directory.path("out.safetensors")])
        expectOneLineError(result, containing: message)
        #expect(result.stderr.hasPrefix(directory.path(fixture) + ": "))
        #expect(snapshot(directory) == before)
    }

    @Test("a shard name with control characters is escaped")
    func shardNameEscaped() throws {
        let result = try runBounded(["inspect", Fixtures.path(Self.hostile + "sharded_control_name")])
        expectOneLineError(result, containing: #"shard 'x\u{a}\u{1b}[2J.safetensors' named in the index does not exist"#)
    }

    @Test("a CRC error found while converting names the input, not the output")
    func checksumNamesInput() throws {
        let directory = TemporaryDirectory()
        let input = directory.path("bad.npz")
        try FileManager.default.copyItem(atPath: Fixtures.path("Formats/fixtures/numpy/crc_mismatch_stored.npz"), toPath: input)
        let before = snapshot(directory)
        let result = try runBounded(["convert", input, directory.path("out.safetensors")])
        expectOneLineError(result, containing: "does not match its CRC-32")
        #expect(result.stderr.hasPrefix(input + ": "))
        #expect(snapshot(directory) == before)
    }

    @Test("a tensor name that would be a member outside the archive is not written to npz")
    func unsafeMemberNameNotWritten() throws {
        let directory = TemporaryDirectory()
        let input = directory.path("in.safetensors")
        try Checkpoint.write(to: input, tensors: [TensorInfo(name: "../x", dtype: .F32, shape: [1])],
                             options: CheckpointWriteOptions(container: .safetensors)) { _, consume in
            try [Float(1)].withUnsafeBytes { try consume($0) }
        }
        let before = snapshot(directory)
        let result = try runBounded(["convert", input, directory.path("out.npz")])
        expectOneLineError(result, containing: "member name '../x.npy' is absolute or contains '..'")
        #expect(snapshot(directory) == before)
    }

    @Test("a member larger than --max-memory is not decompressed")
    func memberOverBudget() throws {
        let directory = try copies()
        try FileManager.default.copyItem(atPath: Fixtures.path("Formats/fixtures/numpy/deflated.npz"), toPath: directory.path("d.npz"))
        let before = snapshot(directory)
        let result = try runBounded(["convert", directory.path("d.npz"), directory.path("out.safetensors"), "--max-memory", "16"])
        expectOneLineError(result, containing: "decompressing it needs")
        #expect(snapshot(directory) == before)
    }

    // MARK: - FIFOs

    @Test("a FIFO as the input, as a shard or as ONNX external data is refused at once", arguments: ["input", "shard", "external"])
    func fifo(role: String) throws {
        let directory = TemporaryDirectory()
        var arguments: [String]
        switch role {
        case "input":
            try makeFIFO(directory.path("model.safetensors"))
            arguments = ["convert", directory.path("model.safetensors"), directory.path("out.npz")]
        case "shard":
            try writeShardedPair(directory)
            try FileManager.default.removeItem(atPath: directory.path("model-00002-of-00002.safetensors"))
            try makeFIFO(directory.path("model-00002-of-00002.safetensors"))
            arguments = ["convert", directory.path, directory.path("out.npz")]
        default:
            try FileManager.default.copyItem(atPath: Fixtures.path("Formats/fixtures/onnx/external.onnx"), toPath: directory.path("model.onnx"))
            try makeFIFO(directory.path("external.bin"))
            arguments = ["convert", directory.path("model.onnx"), directory.path("out.npz")]
        }
        let before = snapshot(directory)
        let result = try runBounded(arguments)
        expectOneLineError(result, containing: "is a FIFO (named pipe), not a regular file")
        #expect(snapshot(directory) == before)
    }

    // MARK: - Symbolic links

    @Test("ONNX external data that is a symbolic link out of the model's folder is neither read nor copied")
    func externalSymlinkEscape() throws {
        let directory = TemporaryDirectory()
        let model = directory.path("model/model.onnx")
        try FileManager.default.createDirectory(atPath: directory.path("model"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.path("out"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("Formats/fixtures/onnx/external.onnx"), toPath: model)
        directory.write("secret.bin", [UInt8](repeating: 0x5A, count: 8192))
        try FileManager.default.createSymbolicLink(atPath: directory.path("model/external.bin"), withDestinationPath: directory.path("secret.bin"))
        let before = snapshot(directory)
        for arguments in [["convert", model, directory.path("out/model.onnx")], ["inspect", model],
                          ["convert", model, directory.path("out/model.safetensors")]] {
            let result = try runBounded(arguments)
            expectOneLineError(result, containing: "external data location 'external.bin' of tensor 'w1' must be a relative path inside the model's folder")
        }
        #expect(snapshot(directory) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path("out")).isEmpty)
    }

    @Test("a symbolic link inside the model's folder that points inside it is followed")
    func externalSymlinkInside() throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("data"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("Formats/fixtures/onnx/external.onnx"), toPath: directory.path("model.onnx"))
        try FileManager.default.copyItem(atPath: Fixtures.path("Formats/fixtures/onnx/external.bin"), toPath: directory.path("data/real.bin"))
        try FileManager.default.createSymbolicLink(atPath: directory.path("external.bin"), withDestinationPath: "data/real.bin")
        let result = try runBounded(["convert", directory.path("model.onnx"), directory.path("out.safetensors")])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test("a shard that is a symbolic link out of the index's folder is refused")
    func shardSymlinkEscape() throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("set"), withIntermediateDirectories: true)
        let set = TemporaryDirectory()
        try writeShardedPair(set)
        for name in set.contents() {
            try FileManager.default.copyItem(atPath: set.path(name), toPath: directory.path("set/" + name))
        }
        try FileManager.default.moveItem(atPath: directory.path("set/model-00002-of-00002.safetensors"), toPath: directory.path("elsewhere.safetensors"))
        try FileManager.default.createSymbolicLink(atPath: directory.path("set/model-00002-of-00002.safetensors"),
                                                   withDestinationPath: directory.path("elsewhere.safetensors"))
        let before = snapshot(directory)
        let result = try runBounded(["convert", directory.path("set"), directory.path("out.npz")])
        expectOneLineError(result, containing: "shard 'model-00002-of-00002.safetensors' is outside the index's folder")
        #expect(snapshot(directory) == before)
    }

    // MARK: - Outputs that are inputs

    @Test("convert never replaces its input, however the output names it", arguments: [
        ["X", "X"], ["X", "./X"], ["X", "ABSOLUTE"], ["X", "sub/../X"], ["X", "HARDLINK"], ["X", "X", "--dtype", "F16"],
    ])
    func outputIsInput(arguments: [String]) throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("sub"), withIntermediateDirectories: true)
        let input = directory.path("model.safetensors")
        try writeSampleCheckpoint(input)
        try FileManager.default.linkItem(atPath: input, toPath: directory.path("hard.safetensors"))
        let resolved = arguments.map { argument -> String in
            switch argument {
            case "X": "model.safetensors"
            case "./X": "./model.safetensors"
            case "sub/../X": "sub/../model.safetensors"
            case "ABSOLUTE": input
            case "HARDLINK": "hard.safetensors"
            default: argument
            }
        }
        let before = snapshot(directory)
        let result = try runBounded(["convert"] + resolved, currentDirectory: directory.path)
        expectOneLineError(result, containing: "is the same file as the input")
        #expect(snapshot(directory) == before)
    }

    @Test("an input read into memory and closed before the output is written is still never replaced")
    func closedInputNotReplaced() throws {
        let directory = try copies("int_div_min.onnx", "data.npz")
        // Deflated members are decompressed into memory, and the archive is closed after reading.
        let deflate = try runBounded(["convert", directory.path("data.npz"), directory.path("deflated.npz"), "--compress"])
        #expect(deflate.status == 0, "\(deflate.stderr)")
        let before = snapshot(directory)
        let result = try runBounded(["predict", directory.path("int_div_min.onnx"), "--inputs", directory.path("deflated.npz"),
                                     "-o", directory.path("deflated.npz")])
        expectOneLineError(result, containing: "is the same file as the input")
        #expect(snapshot(directory) == before)
    }

    @Test("a sharded convert into the folder of its own sharded input replaces nothing")
    func shardedIntoOwnFolder() throws {
        let directory = TemporaryDirectory()
        try writeShardedPair(directory)
        let before = snapshot(directory)
        let result = try runBounded(["convert", directory.path, directory.path("model.safetensors"), "--max-shard-size", "300"])
        expectOneLineError(result, containing: "is the same file as the input")
        #expect(snapshot(directory) == before)
    }

    // MARK: - Modes, atomic sets, signals

    @Test("new outputs get 0666 & ~umask; a replaced file keeps its mode")
    func outputModes() throws {
        let directory = TemporaryDirectory()
        let input = directory.path("model.safetensors")
        try writeSampleCheckpoint(input)
        for (mask, expected) in [("077", 0o600), ("022", 0o644), ("002", 0o664)] {
            let output = directory.path("out-\(mask).safetensors")
            let result = try runBounded(["convert", input, output], umask: mask)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try mode(output) == expected, "umask \(mask)")
        }
        let replaced = directory.path("private.safetensors")
        directory.write("private.safetensors", [1, 2, 3])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: replaced)
        let result = try runBounded(["convert", input, replaced], umask: "022")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try mode(replaced) == 0o600)
        #expect(fileBytes(replaced) != [1, 2, 3])
    }

    @Test("a write error in a later shard leaves no shard, index or temporary file, and names that shard")
    func shardedWriteFailure() throws {
        let directory = TemporaryDirectory()
        let input = directory.path("in.safetensors")
        // A 16 KB tensor, then a 1 MB one: with 64 KB shards, shard 1 is written before shard 2 fails.
        let small = [UInt8](repeating: 1, count: 16 << 10), large = [UInt8](repeating: 2, count: 1 << 20)
        try Checkpoint.write(to: input, tensors: [TensorInfo(name: "a", dtype: .U8, shape: [small.count]), TensorInfo(name: "b", dtype: .U8, shape: [large.count])],
                             options: CheckpointWriteOptions(container: .safetensors)) { info, consume in
            try (info.name == "a" ? small : large).withUnsafeBytes { try consume($0) }
        }
        try FileManager.default.createDirectory(atPath: directory.path("out"), withIntermediateDirectories: true)
        let before = snapshot(directory)
        // 400 blocks: 200 KB (dash, 512-byte blocks) or 400 KB (1 KiB blocks): shard 1 fits, shard 2 does not.
        let result = try runBounded(["convert", input, directory.path("out/model.safetensors"), "--max-shard-size", "64KiB"], fileSizeBlocks: 400)
        expectOneLineError(result, containing: "out/model-00002-of-00002.safetensors: cannot write: File too large; nothing was written")
        #expect(snapshot(directory) == before)
    }

    @Test("a signal while writing removes the temporary file; the process still dies of it", arguments: [SIGTERM, SIGINT, SIGHUP, SIGABRT])
    func signalledWhileWriting(signal: Int32) throws {
        let directory = TemporaryDirectory()
        let input = directory.path("big.safetensors")
        var generator = SeededGenerator(seed: 18)
        let words = (0..<(6 << 20)).map { _ in generator.next() }   // 48 MiB of noise: deflate is slow on it
        let bytes = words.withUnsafeBytes { Array($0) }
        try Checkpoint.write(to: input, tensors: [TensorInfo(name: "w", dtype: .U8, shape: [bytes.count])],
                             options: CheckpointWriteOptions(container: .safetensors)) { _, consume in
            try bytes.withUnsafeBytes { try consume($0) }
        }
        try FileManager.default.createDirectory(atPath: directory.path("out"), withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessRunner.modelforgetPath)
        process.arguments = ["convert", input, directory.path("out/big.npz"), "--compress"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        // Swift's crash reporter would take an external SIGABRT for a crash, report it and carry
        // on; this test is about modelforget's own handler.
        process.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
        // A child inherits the signal mask of the thread that starts it, and test threads block
        // signals: unblock this one for the start, as a shell's child would have it.
        var unblock = sigset_t(), previous = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, signal)
        pthread_sigmask(SIG_UNBLOCK, &unblock, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline,
              !((try? FileManager.default.contentsOfDirectory(atPath: directory.path("out"))) ?? []).contains(where: { $0.contains(".tmp-") }) {
            usleep(2_000)
        }
        let sawTemporary = process.isRunning
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path("out")) == [])
        #expect(sawTemporary, "the conversion ended before it could be interrupted")
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(process.terminationStatus == signal)
    }

    // MARK: - Fuzzing findings

    /// The inputs that made a fuzz target crash (Formats/fixtures/hostile/fuzz, named
    /// `TARGET-HASH.EXT`; see Fuzz/RESULTS.md), each run through the command that reads it the
    /// way the target did.
    static let fuzzFindings: [String] = {
        ((try? FileManager.default.contentsOfDirectory(atPath: Fixtures.path(hostile + "fuzz"))) ?? [])
            .filter { !$0.hasSuffix(".md") }.sorted()
    }()

    @Test("inputs that crashed a fuzz target now end in a result or one line", arguments: fuzzFindings)
    func fuzzFinding(name: String) throws {
        let directory = TemporaryDirectory()
        try FileManager.default.copyItem(atPath: Fixtures.path(Self.hostile + "fuzz/" + name), toPath: directory.path(name))
        try FileManager.default.copyItem(atPath: Fixtures.path(Self.hostile + "data.npz"), toPath: directory.path("data.npz"))
        let input = directory.path(name)
        let arguments: [String] = switch name.split(separator: "-").prefix(2).joined(separator: "-") {
        case "onnx-graph": ["predict", input, "--inputs", directory.path("data.npz"), "-o", directory.path("out.npz")]
        case "onnx-model": ["convert", input, directory.path("out.onnx")]
        default: ["convert", input, directory.path("out.safetensors")]
        }
        let before = snapshot(directory)
        let result = try runBounded(arguments)
        #expect(result.status == 0 || result.status == 1, "exit \(result.status): \(result.stderr)")
        #expect(!result.stderr.dropLast().contains("\n"), "\(result.stderr)")
        if result.status == 1 { #expect(snapshot(directory) == before) }
    }

    // MARK: - Helpers

    /// A temporary directory holding copies of hostile fixtures.
    func copies(_ names: String...) throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        for name in names {
            try FileManager.default.copyItem(atPath: Fixtures.path(Self.hostile + name), toPath: directory.path(name))
        }
        return directory
    }

    /// Runs modelforget in at most 2 GB of address space, for at most 120 s, with an optional
    /// umask and file size limit (`ulimit -f`, in the shell's blocks).
    func runBounded(_ arguments: [String], umask: String? = nil, fileSizeBlocks: Int? = nil,
                    currentDirectory: String? = nil) throws -> ProcessResult {
        var script = "ulimit -v 2000000"
        if let fileSizeBlocks { script += "; ulimit -f \(fileSizeBlocks)" }
        if let umask { script += "; umask \(umask)" }
        script += #"; exec timeout -s KILL 120 "$0" "$@""#
        return try ProcessRunner.run("/bin/sh", ["-c", script, ProcessRunner.modelforgetPath] + arguments, currentDirectory: currentDirectory)
    }

    func expectOneLineError(_ result: ProcessResult, containing text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasSuffix("\n") && !result.stderr.dropLast().contains("\n"), "not one line: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(text), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    /// Every file below `directory` (relative path → contents; symbolic links as their target).
    func snapshot(_ directory: TemporaryDirectory) -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        let manager = FileManager.default
        guard let enumerator = manager.enumerator(atPath: directory.path) else { return [:] }
        while let relative = enumerator.nextObject() as? String {
            let path = directory.path(relative)
            let type = (try? manager.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
            switch type {
            case .typeSymbolicLink?: files[relative] = Array(((try? manager.destinationOfSymbolicLink(atPath: path)) ?? "").utf8)
            case .typeRegular?: files[relative] = fileBytes(path)
            case .typeDirectory?: files[relative + "/"] = []
            default: files[relative] = [0xFF]   // a FIFO: never opened here
            }
        }
        return files
    }

    func makeFIFO(_ path: String) throws {
        guard mkfifo(path, 0o644) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    /// A sharded set of two shards (`model-0000k-of-00002.safetensors` + index) in `directory`.
    func writeShardedPair(_ directory: TemporaryDirectory) throws {
        try Checkpoint.write(to: directory.path("model.safetensors"),
                             tensors: [TensorInfo(name: "a", dtype: .F32, shape: [64]), TensorInfo(name: "b", dtype: .F32, shape: [64])],
                             options: CheckpointWriteOptions(container: .shardedSafetensors(maxShardSize: 300))) { info, consume in
            try [Float](repeating: info.name == "a" ? 1 : 2, count: 64).withUnsafeBytes { try consume($0) }
        }
    }
}
