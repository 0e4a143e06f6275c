import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite(".npz writer")
struct NPZWriterTests {
    static let tensors: [(TensorInfo, [UInt8])] = [
        (TensorInfo(name: "layer.weight", dtype: .F32, shape: [3, 4]), littleEndianBytes((0..<12).map { Float($0) / 4 })),
        (TensorInfo(name: "n", dtype: .I64, shape: [2]), littleEndianBytes([Int64(5), -6])),
        (TensorInfo(name: "flags", dtype: .BOOL, shape: [3]), [1, 0, 1]),
        (TensorInfo(name: "half", dtype: .F16, shape: [2]), littleEndianBytes([Float16(0.5).bitPattern, Float16(-3).bitPattern])),
        (TensorInfo(name: "scalar", dtype: .F64, shape: []), littleEndianBytes([Double(2.25).bitPattern])),
        (TensorInfo(name: "empty", dtype: .U8, shape: [0, 2]), []),
        (TensorInfo(name: "poids_\u{E9}", dtype: .I16, shape: [1]), littleEndianBytes([Int16(-2)])),
    ]

    static func write(_ path: String, _ compression: NPZCompression) throws {
        try NPZWriter.write(to: path, tensors: tensors.map(\.0), compression: compression,
                            bytes: provider(Dictionary(uniqueKeysWithValues: tensors.map { ($0.0.name, $0.1) })))
    }

    @Test("archives written here load in NumPy with equal values, stored and deflated", .tags(.interop), .requiresPython("numpy"),
          arguments: [NPZCompression.stored, .deflated])
    func numpyInterop(compression: NPZCompression) throws {
        let directory = TemporaryDirectory()
        let path = directory.path("w.npz")
        try Self.write(path, compression)
        let result = try ProcessRunner.python("""
            import sys, zipfile, numpy as np
            z = np.load(sys.argv[1], allow_pickle=False)
            assert z.files == ["layer.weight", "n", "flags", "half", "scalar", "empty", "poids_\\u00e9"], z.files
            assert np.array_equal(z["layer.weight"], (np.arange(12, dtype=np.float32) / 4).reshape(3, 4))
            assert z["n"].dtype == np.int64 and z["n"].tolist() == [5, -6]
            assert z["flags"].tolist() == [True, False, True]
            assert z["half"].dtype == np.float16 and z["half"].tolist() == [0.5, -3.0]
            assert z["scalar"].shape == () and z["scalar"] == 2.25
            assert z["empty"].shape == (0, 2) and z["empty"].dtype == np.uint8
            assert z["poids_\\u00e9"].tolist() == [-2]
            methods = {i.compress_type for i in zipfile.ZipFile(sys.argv[1]).infolist()}
            assert methods == {int(sys.argv[2])}, methods
            assert zipfile.ZipFile(sys.argv[1]).testzip() is None
            print("ok")
            """, [path, compression == .stored ? "0" : "8"])
        #expect(result.status == 0 && result.stdout == "ok\n", "\(result.stderr)")
    }

    @Test("archives written here read back with equal bytes; stored members in place", arguments: [NPZCompression.stored, .deflated])
    func roundTrip(compression: NPZCompression) throws {
        let directory = TemporaryDirectory()
        let path = directory.path("w.npz")
        try Self.write(path, compression)
        let archive = try NPZArchive(path: path)
        #expect(archive.tensors == Self.tensors.map(\.0))
        for (info, data) in Self.tensors {
            #expect(try archive.bytes(of: info.name) == data)
            #expect(archive.readsInPlace(info.name) == (compression == .stored))
        }
    }

    @Test("random tensors round-trip, stored and deflated")
    func randomRoundTrips() throws {
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: 7)
        let dtypes = DType.allCases.filter { NPYWriter.descr(for: $0) != nil }
        for trial in 0..<12 {
            var tensors: [(TensorInfo, [UInt8])] = []
            for index in 0..<Int.random(in: 0...5, using: &rng) {
                let shape = (0..<Int.random(in: 0...3, using: &rng)).map { _ in Int.random(in: 0...70, using: &rng) }
                let info = TensorInfo(name: "t\(index)", dtype: dtypes.randomElement(using: &rng)!, shape: shape)
                tensors.append((info, (0..<info.byteCount!).map { _ in UInt8.random(in: 0...255, using: &rng) }))
            }
            let path = directory.path("r\(trial).npz")
            try NPZWriter.write(to: path, tensors: tensors.map(\.0), compression: trial % 2 == 0 ? .stored : .deflated,
                                bytes: provider(Dictionary(uniqueKeysWithValues: tensors.map { ($0.0.name, $0.1) })))
            let archive = try NPZArchive(path: path)
            #expect(archive.tensors == tensors.map(\.0))
            for (info, data) in tensors { #expect(try archive.bytes(of: info.name) == data) }
        }
    }

    @Test("an archive of no tensors is an empty zip NumPy opens", .tags(.interop), .requiresPython("numpy"))
    func emptyArchive() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("e.npz")
        try NPZWriter.write(to: path, tensors: [], compression: .stored, bytes: provider([:]))
        #expect(try NPZArchive(path: path).tensors.isEmpty)
        let result = try ProcessRunner.python("import sys, numpy as np; print(len(np.load(sys.argv[1]).files))", [path])
        #expect(result.status == 0 && result.stdout == "0\n", "\(result.stderr)")
    }

    @Test("writing the same tensors twice gives the same bytes")
    func deterministic() throws {
        let directory = TemporaryDirectory()
        for compression in [NPZCompression.stored, .deflated] {
            try Self.write(directory.path("one.npz"), compression)
            try Self.write(directory.path("two.npz"), compression)
            #expect(fileContents(directory.path("one.npz")) == fileContents(directory.path("two.npz")))
        }
    }

    @Test("a failed write leaves nothing behind and an existing file untouched")
    func noPartialOutput() throws {
        let directory = TemporaryDirectory()
        let zeros: TensorBytesProvider = { info, consume in
            try [UInt8](repeating: 0, count: info.byteCount!).withUnsafeBytes { try consume($0) }
        }
        let good = TensorInfo(name: "a", dtype: .F32, shape: [1])
        #expect(throws: NPYError.unwritableDType(.BF16)) {
            try NPZWriter.write(to: directory.path("x.npz"), tensors: [good, TensorInfo(name: "b", dtype: .BF16, shape: [1])],
                                compression: .stored, bytes: zeros)
        }
        #expect(throws: NPZError.duplicateKey("a")) {
            try NPZWriter.write(to: directory.path("x.npz"), tensors: [good, good], compression: .stored, bytes: zeros)
        }
        #expect(throws: CheckpointError.byteCountMismatch(tensor: "a", expected: 4, actual: 2)) {
            try NPZWriter.write(to: directory.path("x.npz"), tensors: [good], compression: .deflated, bytes: provider(["a": [0, 0]]))
        }
        #expect(throws: CheckpointError.byteCountMismatch(tensor: "a", expected: 4, actual: 0)) {
            try NPZWriter.write(to: directory.path("x.npz"), tensors: [good], compression: .deflated) { _, _ in }
        }
        #expect(directory.contents().isEmpty)
        let existing = directory.write("keep.npz", [1, 2, 3])
        #expect(throws: CancellationError.self) {
            try NPZWriter.write(to: existing, tensors: [good, TensorInfo(name: "c", dtype: .F32, shape: [1])], compression: .stored) { info, consume in
                if info.name == "c" { throw CancellationError() }
                try zeros(info, consume)
            }
        }
        #expect(fileContents(existing) == [1, 2, 3] && directory.contents() == ["keep.npz"])
    }
}
