import Foundation
import Testing
import WeightFormats
import _TestSupport

func writeSafeTensors(_ path: String, _ tensors: [(TensorInfo, [UInt8])], metadata: [String: String]? = nil) throws {
    let contents = Dictionary(uniqueKeysWithValues: tensors.map { ($0.0.name, $0.1) })
    try SafeTensorsWriter.write(to: path, tensors: tensors.map(\.0), metadata: metadata) { info, consume in
        try contents[info.name]!.withUnsafeBytes { try consume($0) }
    }
}

@Suite("safetensors writer")
struct SafeTensorsWriterTests {
    @Test("an empty file is the reference's golden bytes")
    func emptyGolden() throws {
        let directory = TemporaryDirectory()
        try writeSafeTensors(directory.path("e.safetensors"), [])
        #expect(fileContents(directory.path("e.safetensors")) == [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
    }

    @Test("alignment order: I32 before F16, header padded to 8 (python test_serialization_forces_alignment)")
    func alignmentGolden() throws {
        let directory = TemporaryDirectory()
        try writeSafeTensors(directory.path("a.safetensors"), [
            (TensorInfo(name: "test2", dtype: .F16, shape: [2, 2]), [UInt8](repeating: 0, count: 8)),
            (TensorInfo(name: "test1", dtype: .I32, shape: [2, 2]), [UInt8](repeating: 0, count: 16)),
        ])
        let expected: [UInt8] = [0x80, 0, 0, 0, 0, 0, 0, 0]
            + Array(#"{"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},"test2":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]}}"#.utf8)
            + Array("      ".utf8) + [UInt8](repeating: 0, count: 24)
        #expect(fileContents(directory.path("a.safetensors")) == expected)
    }

    @Test("metadata comes first and is kept verbatim")
    func metadataGolden() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("m.safetensors")
        try writeSafeTensors(path, [(TensorInfo(name: "test1", dtype: .I32, shape: [2, 2]), [UInt8](repeating: 0, count: 16))],
                             metadata: ["framework": "pt"])
        let text = String(decoding: fileContents(path)[8..<88], as: UTF8.self)
        #expect(text.hasPrefix(#"{"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32""#))
        #expect(try SafeTensorsFile(path: path).metadata == ["framework": "pt"])
    }

    @Test("names with quotes, backslashes, control characters and non-ASCII round-trip")
    func escaping() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("n.safetensors")
        let names = ["a\"b", "c\\d", "e/f", "tab\there", "bell\u{7}", "é.weight"]
        try writeSafeTensors(path, names.map { (TensorInfo(name: $0, dtype: .U8, shape: [1]), [1]) })
        #expect(Set(try SafeTensorsFile(path: path).tensors.map(\.name)) == Set(names))
    }

    @Test("random tensor sets round-trip byte for byte, every tensor aligned to its element size")
    func randomRoundTrip() throws {
        var rng = SeededGenerator(seed: 7)
        let directory = TemporaryDirectory()
        for trial in 0..<25 {
            var tensors: [(TensorInfo, [UInt8])] = []
            for index in 0..<Int.random(in: 0..<8, using: &rng) {
                let dtype = DType.allCases.filter { $0.byteWidth != nil }.randomElement(using: &rng)!
                let shape = (0..<Int.random(in: 0..<4, using: &rng)).map { _ in Int.random(in: 0..<4, using: &rng) }
                let info = TensorInfo(name: "t\(index).\(trial)", dtype: dtype, shape: shape)
                tensors.append((info, (0..<info.byteCount!).map { _ in UInt8.random(in: 0...255, using: &rng) }))
            }
            let path = directory.path("r\(trial).safetensors")
            try writeSafeTensors(path, tensors, metadata: trial % 2 == 0 ? ["format": "pt", "k": "v\(trial)"] : nil)
            let file = try SafeTensorsFile(path: path)
            #expect(file.headerSize % 8 == 0)
            for (info, bytes) in tensors {
                #expect(file.info(named: info.name) == info)
                #expect(try file.bytes(of: info.name) == bytes)
                #expect(file.dataOffsets(of: info.name)!.lowerBound % info.dtype.byteWidth! == 0)
            }
        }
    }

    @Test("a provider that gives the wrong byte count fails and leaves no file")
    func wrongByteCount() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("x.safetensors")
        #expect(throws: CheckpointError.byteCountMismatch(tensor: "w", expected: 16, actual: 3)) {
            try writeSafeTensors(path, [(TensorInfo(name: "w", dtype: .F32, shape: [4]), [1, 2, 3])])
        }
        #expect(directory.contents().isEmpty)
    }

    @Test("files written here load in the Python safetensors package with equal values")
    func pythonInterop() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("s.safetensors")
        let weights: [Float] = [0.5, -1, 2, 3.25, 0, -0.125]
        try writeSafeTensors(path, [
            (TensorInfo(name: "w", dtype: .F32, shape: [2, 3]), weights.withUnsafeBytes { Array($0) }),
            (TensorInfo(name: "i", dtype: .I64, shape: []), [Int64(-9)].withUnsafeBytes { Array($0) }),
        ], metadata: ["format": "pt"])
        let result = try ProcessRunner.python("""
            import sys, numpy as np
            from safetensors import safe_open
            with safe_open(sys.argv[1], "np") as f:
                assert f.metadata() == {"format": "pt"}, f.metadata()
                assert np.array_equal(f.get_tensor("w"), np.array([[0.5, -1, 2], [3.25, 0, -0.125]], np.float32))
                assert f.get_tensor("i").shape == () and int(f.get_tensor("i")) == -9
            print("ok")
            """, [path])
        #expect(result.status == 0 && result.stdout == "ok\n", "\(result.stderr)")
    }
}

func fileContents(_ path: String) -> [UInt8] {
    FileManager.default.contents(atPath: path).map { Array($0) } ?? []
}
