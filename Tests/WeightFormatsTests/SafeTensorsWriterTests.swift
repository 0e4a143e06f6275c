import Foundation
import Testing
import WeightFormats
import _TestSupport

/// Writes `tensors` (each with its bytes) with ``SafeTensorsWriter``.
func writeSafeTensors(_ path: String, _ tensors: [(TensorInfo, [UInt8])], metadata: [String: String]? = nil) throws {
    let contents = Dictionary(tensors.map { ($0.0.name, $0.1) }, uniquingKeysWith: { first, _ in first })
    try SafeTensorsWriter.write(to: path, tensors: tensors.map(\.0), metadata: metadata) { info, consume in
        try contents[info.name]!.withUnsafeBytes { try consume($0) }
    }
}

/// The bytes of a file written with ``SafeTensorsWriter``.
func safetensorsOutput(_ tensors: [(TensorInfo, [UInt8])], metadata: [String: String]? = nil) throws -> [UInt8] {
    let directory = TemporaryDirectory()
    try writeSafeTensors(directory.path("out.safetensors"), tensors, metadata: metadata)
    return fileContents(directory.path("out.safetensors"))
}

func littleEndianBytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

/// Random bytes of the right size for `info`.
func randomBytes(for info: TensorInfo, using rng: inout SeededGenerator) -> [UInt8] {
    (0..<info.byteCount!).map { _ in UInt8.random(in: 0...255, using: &rng) }
}

@Suite("safetensors writer")
struct SafeTensorsWriterTests {
    // MARK: - Golden bytes from the reference's tests

    @Test("test_empty: no tensors, with and without metadata")
    func emptyGolden() throws {
        #expect(try safetensorsOutput([]) == [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
        #expect(try safetensorsOutput([], metadata: ["framework": "pt"]) == [
            40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
            95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
            116, 34, 125, 125, 32, 32, 32, 32, 32,
        ])
    }

    @Test("test_serialization: F32 [1,2,3] needs no padding")
    func serializationGolden() throws {
        let data = littleEndianBytes([Float(0), 1, 2, 3, 4, 5])
        #expect(try safetensorsOutput([(TensorInfo(name: "attn.0", dtype: .F32, shape: [1, 2, 3]), data)]) == [
            64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
            116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
            58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
            101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
            0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
        ])
    }

    @Test("test_serialization_fp4: two F4 values in one byte")
    func fp4Golden() throws {
        #expect(try safetensorsOutput([(TensorInfo(name: "attn.0", dtype: .F4, shape: [1, 2]), [0])]) == [
            64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
            116, 121, 112, 101, 34, 58, 34, 70, 52, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
            91, 49, 44, 50, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115, 101, 116,
            115, 34, 58, 91, 48, 44, 49, 93, 125, 125, 32, 32, 32, 32, 0,
        ])
    }

    @Test("test_serialization_forced_alignement: the header is padded so the data starts 8-aligned")
    func forcedAlignmentGolden() throws {
        let data = littleEndianBytes([Float(0), 1, 2, 3, 4, 5])
        #expect(try safetensorsOutput([(TensorInfo(name: "attn0", dtype: .F32, shape: [1, 1, 2, 3]), data)]) == [
            72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
            121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
            91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
            115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
            32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
            160, 64,
        ])
    }

    @Test("python test_serialization_forces_alignment: I32 before F16 whatever the input order")
    func alignmentGolden() throws {
        let i32 = (TensorInfo(name: "test1", dtype: .I32, shape: [2, 2]), [UInt8](repeating: 0, count: 16))
        let f16 = (TensorInfo(name: "test2", dtype: .F16, shape: [2, 2]), [UInt8](repeating: 0, count: 8))
        let expected: [UInt8] = [0x80, 0, 0, 0, 0, 0, 0, 0]
            + Array(#"{"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},"test2":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]}}"#.utf8)
            + Array("      ".utf8) + [UInt8](repeating: 0, count: 24)
        #expect(try safetensorsOutput([f16, i32]) == expected)
        #expect(try safetensorsOutput([i32, f16]) == expected)
    }

    @Test("python test_serialization_metadata: __metadata__ first")
    func metadataGolden() throws {
        let expected: [UInt8] = [0x60, 0, 0, 0, 0, 0, 0, 0]
            + Array(#"{"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"#.utf8)
            + [0x20] + [UInt8](repeating: 0, count: 16)
        #expect(try safetensorsOutput([(TensorInfo(name: "test1", dtype: .I32, shape: [2, 2]), [UInt8](repeating: 0, count: 16))],
                                      metadata: ["framework": "pt"]) == expected)
    }

    @Test("metadata keys are sorted; an empty metadata dictionary is written as {}")
    func metadataOrder() throws {
        let output = try safetensorsOutput([], metadata: ["b": "2", "a": "1", "format": "pt"])
        #expect(String(decoding: output[8...], as: UTF8.self).hasPrefix(#"{"__metadata__":{"a":"1","b":"2","format":"pt"}}"#))
        #expect(String(decoding: try safetensorsOutput([], metadata: [:])[8...], as: UTF8.self) == #"{"__metadata__":{}}     "#)
    }

    @Test("names and metadata with quotes, backslashes, control characters, '/' and non-ASCII: identical to the Python package's bytes", .tags(.interop), .requiresPython("json"))
    func escapingMatchesReference() throws {
        let names = ["a\"b", "c\\d", "e/f", "tab\there", "bell\u{7}", "nl\n", "us\u{1F}", "del\u{7F}", "é.weight", "😀", "ff\u{C}bs\u{8}cr\r"]
        let tensors = names.enumerated().map { index, name in
            (TensorInfo(name: name, dtype: index % 2 == 0 ? .F32 : .U8, shape: [index % 3]),
             [UInt8](repeating: UInt8(index), count: (index % 2 == 0 ? 4 : 1) * (index % 3)))
        }
        let metadata = ["format": "p\"t/é\n\u{1}"]
        let swift = try safetensorsOutput(tensors, metadata: metadata)
        let namesJSON = String(decoding: try JSONSerialization.data(withJSONObject: names), as: UTF8.self)
        let result = try ProcessRunner.python("""
            import sys, json, numpy as np
            from safetensors.numpy import save
            names = json.loads(sys.argv[1])
            t = {n: (np.frombuffer(bytes([i]) * 4 * (i % 3), dtype=np.float32) if i % 2 == 0 else np.full((i % 3,), i, dtype=np.uint8))
                 for i, n in enumerate(names)}
            sys.stdout.write(save(t, metadata={"format": json.loads(sys.argv[2])}).hex())
            """, [namesJSON, String(decoding: try JSONSerialization.data(withJSONObject: metadata["format"]!, options: .fragmentsAllowed), as: UTF8.self)])
        try #require(result.status == 0, "\(result.stderr)")
        #expect(swift == hexBytes(result.stdout))
        #expect(Set(try openSafeTensors(swift).tensors.map(\.name)) == Set(names))
    }

    // MARK: - Round trips

    @Test("every dtype round-trips, including 0-d, zero-size and sub-byte tensors", arguments: DType.allCases)
    func allDTypesRoundTrip(dtype: DType) throws {
        var rng = SeededGenerator(seed: UInt64(dtype.alignmentRank))
        let shapes: [[Int]] = dtype.bitWidth % 8 == 0 ? [[], [0], [3], [2, 0, 5], [2, 3]] : [[0], [8], [2, 4], [3, 0]]
        let tensors = shapes.enumerated().map { index, shape in
            let info = TensorInfo(name: "t\(index)", dtype: dtype, shape: shape)
            return (info, randomBytes(for: info, using: &rng))
        }
        let file = try openSafeTensors(try safetensorsOutput(tensors))
        #expect(Set(file.tensors) == Set(tensors.map(\.0)))
        for (info, bytes) in tensors { #expect(try file.bytes(of: info.name) == bytes) }
    }

    @Test("random tensor sets round-trip byte for byte, in reference layout, each tensor aligned to its element size")
    func randomRoundTrip() throws {
        var rng = SeededGenerator(seed: 7)
        let namePool = ["w", "layer.0.weight", "b\"q", "é", "z/y", "0", "", "tab\t", "A", "a", "😀", "long." + String(repeating: "x", count: 40)]
        for trial in 0..<40 {
            var tensors: [(TensorInfo, [UInt8])] = []
            for name in namePool.shuffled(using: &rng).prefix(Int.random(in: 0...8, using: &rng)) {
                let dtype = DType.allCases.randomElement(using: &rng)!
                var shape = (0..<Int.random(in: 0...3, using: &rng)).map { _ in Int.random(in: 0...4, using: &rng) }
                if dtype.bitWidth % 8 != 0 { shape.append(8) }
                let info = TensorInfo(name: name, dtype: dtype, shape: shape)
                tensors.append((info, randomBytes(for: info, using: &rng)))
            }
            let metadata: [String: String]? = trial % 3 == 0 ? nil : ["format": "pt", "trial": "\(trial)"]
            let bytes = try safetensorsOutput(tensors, metadata: metadata)
            let file = try openSafeTensors(bytes)
            #expect(file.headerSize % 8 == 0)
            #expect(file.metadata == (metadata ?? [:]))
            #expect(file.tensors == SafeTensorsWriter.layoutOrder(tensors.map(\.0)))
            for (info, data) in tensors {
                #expect(file.info(named: info.name) == info)
                #expect(try file.bytes(of: info.name) == data)
                if let width = info.dtype.byteWidth { #expect(file.dataOffsets(of: info.name)!.lowerBound % width == 0) }
            }
            // Writing what was read gives the same bytes.
            let copy = try safetensorsOutput(try file.tensors.map { ($0, try file.bytes(of: $0.name)) }, metadata: metadata)
            #expect(copy == bytes)
        }
    }

    @Test("an open input file is never rewritten: same path, another spelling, a hard link")
    func rewriteMappedInputRefused() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("m.safetensors")
        let weights = (0..<4096).map { Float($0) }
        try writeSafeTensors(path, [(TensorInfo(name: "w", dtype: .F32, shape: [4096]), littleEndianBytes(weights))])
        let before = fileContents(path)
        try FileManager.default.linkItem(atPath: path, toPath: directory.path("hard.safetensors"))
        let input = try SafeTensorsFile(path: path)
        for destination in [path, directory.path("./m.safetensors"), directory.path("sub/../m.safetensors"), directory.path("hard.safetensors")] {
            try? FileManager.default.createDirectory(atPath: directory.path("sub"), withIntermediateDirectories: true)
            #expect(throws: WeightFileError.self) {
                try SafeTensorsWriter.write(to: destination, tensors: input.tensors, metadata: nil) { info, consume in
                    try input.withBytes(of: info.name, consume)
                }
            }
        }
        #expect(fileContents(path) == before)
        #expect(directory.contents() == ["hard.safetensors", "m.safetensors", "sub"])
        // Once the input is closed, the path is an ordinary destination again.
        _ = consume input
        try SafeTensorsWriter.write(to: path, tensors: [TensorInfo(name: "x", dtype: .U8, shape: [1])], metadata: nil) { _, consume in
            try [UInt8(1)].withUnsafeBytes { try consume($0) }
        }
        #expect(try SafeTensorsFile(path: path).tensors.map(\.name) == ["x"])
    }

    // MARK: - Refusals

    @Test("tensors that cannot be written are refused and nothing is written", arguments: [
        ([TensorInfo(name: "a", dtype: .F32, shape: [1]), TensorInfo(name: "a", dtype: .U8, shape: [1])],
         SafeTensorsError.duplicateTensorName(tensor: "a")),
        ([TensorInfo(name: "a\u{0}b", dtype: .F32, shape: [1])], .nulInTensorName(tensor: "a\u{0}b")),
        ([TensorInfo(name: "n", dtype: .F32, shape: [2, -1])], .malformedTensorEntry(tensor: "n", reason: "negative dimension in shape [2, -1]")),
        ([TensorInfo(name: "q", dtype: .F4, shape: [3])], .misalignedSlice(tensor: "q")),
        ([TensorInfo(name: "o", dtype: .F64, shape: [1 << 40, 1 << 30])], .overflow(tensor: "o")),
        ((0..<9).map { TensorInfo(name: "p\($0)", dtype: .U8, shape: [Int.max / 8]) }, .overflow(tensor: "p8")),   // offsets overflow
    ])
    func refusals(tensors: [TensorInfo], expected: SafeTensorsError) throws {
        let directory = TemporaryDirectory()
        #expect(throws: expected) {
            try SafeTensorsWriter.write(to: directory.path("x.safetensors"), tensors: tensors, metadata: nil) { _, _ in
                Issue.record("asked for bytes")
            }
        }
        #expect(directory.contents().isEmpty)
    }

    @Test("a metadata key with NUL is refused")
    func nulMetadataKey() {
        #expect(throws: SafeTensorsError.invalidMetadata(reason: "a key contains a NUL character")) {
            try SafeTensorsWriter.header(for: [], metadata: ["a\u{0}": "b"])
        }
    }

    @Test("a header over 100,000,000 bytes is refused (test_invalid_header_size_serialization)")
    func headerTooLarge() throws {
        let directory = TemporaryDirectory()
        #expect(throws: SafeTensorsError.headerTooLargeToWrite(size: 100_000_048)) {
            try SafeTensorsWriter.write(to: directory.path("big.safetensors"), tensors: [],
                                        metadata: ["very_large_metadata": String(repeating: "a", count: 100_000_000)]) { _, _ in }
        }
        #expect(directory.contents().isEmpty)
    }

    @Test("a provider that gives the wrong byte count, none, or twice fails and leaves no file")
    func wrongByteCount() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("x.safetensors")
        let info = TensorInfo(name: "w", dtype: .F32, shape: [4])
        #expect(throws: CheckpointError.byteCountMismatch(tensor: "w", expected: 16, actual: 3)) {
            try writeSafeTensors(path, [(info, [1, 2, 3])])
        }
        #expect(throws: CheckpointError.byteCountMismatch(tensor: "w", expected: 16, actual: 0)) {
            try SafeTensorsWriter.write(to: path, tensors: [info], metadata: nil) { _, _ in }
        }
        #expect(throws: CheckpointError.byteCountMismatch(tensor: "w", expected: 16, actual: 32)) {
            try SafeTensorsWriter.write(to: path, tensors: [info], metadata: nil) { _, consume in
                let bytes = [UInt8](repeating: 0, count: 16)
                try bytes.withUnsafeBytes { try consume($0); try consume($0) }
            }
        }
        #expect(directory.contents().isEmpty)
    }

    @Test("a failed write leaves an existing file untouched")
    func failedWriteKeepsOldFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.write("keep.safetensors", [1, 2, 3])
        struct Failure: Error {}
        #expect(throws: Failure.self) {
            try SafeTensorsWriter.write(to: path, tensors: [TensorInfo(name: "w", dtype: .U8, shape: [1])], metadata: nil) { _, _ in
                throw Failure()
            }
        }
        #expect(fileContents(path) == [1, 2, 3] && directory.contents() == ["keep.safetensors"])
    }

    // MARK: - Interoperability

    @Test("files written here load in the Python safetensors package: load_file gives equal values, every dtype equal bytes",
          .tags(.interop), .requiresPython("numpy", "safetensors"))
    func pythonInterop() throws {
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: 11)
        var tensors: [(TensorInfo, [UInt8])] = []
        for (index, dtype) in DType.allCases.enumerated() {
            let shape = dtype.bitWidth % 8 == 0 ? [[], [2, 3], [0, 2]][index % 3] : [4]
            let info = TensorInfo(name: "t.\(dtype.rawValue)", dtype: dtype, shape: shape)
            var bytes = randomBytes(for: info, using: &rng)
            if dtype == .BOOL { bytes = bytes.map { $0 & 1 } }
            tensors.append((info, bytes))
        }
        let numpyDTypes: Set<DType> = [.BOOL, .U8, .I8, .I16, .U16, .F16, .I32, .U32, .F32, .C64, .F64, .I64, .U64]
        let everything = directory.path("all.safetensors"), numpyOnly = directory.path("np.safetensors")
        try writeSafeTensors(everything, tensors, metadata: ["format": "pt"])
        try writeSafeTensors(numpyOnly, tensors.filter { numpyDTypes.contains($0.0.dtype) }, metadata: ["format": "pt"])
        let result = try ProcessRunner.python("""
            import sys, numpy as np
            from safetensors import safe_open, deserialize
            from safetensors.numpy import load_file
            for path in sys.argv[1:]:
                with safe_open(path, "np") as f:
                    assert f.metadata() == {"format": "pt"}, f.metadata()
            for name, view in deserialize(open(sys.argv[1], "rb").read()):
                print("raw", name, view["dtype"], ",".join(map(str, view["shape"])), bytes(view["data"]).hex())
            for name, array in load_file(sys.argv[2]).items():
                print("np", name, array.dtype.str, ",".join(map(str, array.shape)), array.tobytes().hex())
            """, [everything, numpyOnly])
        try #require(result.status == 0, "\(result.stderr)")
        var seen: [String: Int] = [:]
        for line in result.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            let (info, bytes) = try #require(tensors.first { $0.0.name == fields[1] })
            if fields[0] == "raw" { #expect(fields[2] == info.dtype.rawValue) }
            #expect(fields[3] == info.shape.map(String.init).joined(separator: ","), "shape of \(info.name)")
            #expect(hexBytes(fields[4]) == bytes, "\(fields[0]) values of \(info.name)")
            seen[fields[0], default: 0] += 1
        }
        #expect(seen == ["raw": DType.allCases.count, "np": numpyDTypes.count])
    }
}
