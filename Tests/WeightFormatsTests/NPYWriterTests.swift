import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite(".npy writer")
struct NPYWriterTests {
    @Test("written files are byte-identical to np.save's", arguments: [
        "f32_2x3.npy", "f32_5.npy", "scalar_f32.npy", "empty_0x3.npy", "bool_5.npy", "i8_3.npy", "u8_3.npy", "i16_3.npy",
        "u16_3.npy", "i32_3.npy", "u32_3.npy", "i64_3.npy", "u64_3.npy", "f16_4.npy", "f64_3.npy", "c64_2.npy",
        "header_aligned_extra_padding.npy",
    ])
    func matchesNumPy(fixture: String) throws {
        let file = try NPYFile(path: numpyFixture(fixture))
        let expected = fileContents(numpyFixture(fixture))
        let header = try NPYWriter.header(for: file.tensors[0])
        #expect(header == Array(expected.prefix(header.count)))
        #expect(header.count % 64 == 0 && header.last == 0x0A)
        let directory = TemporaryDirectory()
        let out = directory.path("out.npy")
        try NPYWriter.write(to: out, info: file.tensors[0]) { _, consume in
            try file.withBytes(of: file.tensors[0].name) { try consume($0) }
        }
        #expect(fileContents(out) == expected)
    }

    @Test("headers equal NumPy's for many shapes, including the switch to version 2.0 past 65535 bytes", .tags(.interop), .requiresPython("numpy"))
    func matchesNumPyHeaders() throws {
        let shapes: [[Int]] = [
            [], [5], [0], [1], [2, 3], [3, 4], [123_456_789, 2, 3], [10_000_000_000_000_000], [7, 0, 9],
            [0, 1, 1, 100, 100, 100, 100, 100, 100, 100], [0] + [Int](repeating: 1_000_000_000_000, count: 7),
            [Int](repeating: 1, count: 21_800), [Int](repeating: 1, count: 21_817), [Int](repeating: 1, count: 21_818),
            [Int](repeating: 1, count: 30_000),
        ]
        let dtypes: [DType] = [.F32, .BOOL, .U8, .C64]
        var cases: [(TensorInfo, [UInt8])] = []
        for shape in shapes {
            for dtype in dtypes { cases.append((TensorInfo(name: "t", dtype: dtype, shape: shape), [])) }
        }
        let script = """
            import io, sys, warnings
            import numpy as np
            from numpy.lib import _format_impl as F
            warnings.simplefilter("ignore")
            for line in sys.stdin.read().splitlines():
                descr, dims = line.split(" ", 1)
                shape = tuple(int(d) for d in dims.split(",") if d)
                f = io.BytesIO()
                F._write_array_header(f, {"descr": descr, "fortran_order": False, "shape": shape}, None)
                print(f.getvalue().hex())
            """
        let directory = TemporaryDirectory()
        let input = cases.map { "\(NPYWriter.descr(for: $0.0.dtype)!) \($0.0.shape.map(String.init).joined(separator: ","))" }
        let inputPath = directory.write("shapes.txt", Array(input.joined(separator: "\n").utf8))
        let result = try ProcessRunner.python("import sys; sys.stdin = open(sys.argv[1]); exec(sys.argv[2])", [inputPath, script])
        try #require(result.status == 0, "\(result.stderr)")
        let expected = result.stdout.split(separator: "\n").map(String.init)
        try #require(expected.count == cases.count)
        for (index, (info, _)) in cases.enumerated() {
            let header = try NPYWriter.header(for: info)
            let hex = header.map { String(format: "%02x", $0) }.joined()
            #expect(hex == expected[index], "shape rank \(info.shape.count) \(info.shape.prefix(3)) \(info.dtype)")
            #expect(header[6] == (info.shape.count >= 21_818 ? 2 : 1))
        }
    }

    @Test("negative or overflowing shapes are not written")
    func invalidShapes() {
        #expect(throws: NPYError.invalidShape("(-1,)")) { try NPYWriter.header(for: TensorInfo(name: "x", dtype: .F32, shape: [-1])) }
        #expect(throws: NPYError.invalidShape("(4611686018427387904, 4)")) {
            try NPYWriter.header(for: TensorInfo(name: "x", dtype: .F32, shape: [1 << 62, 4]))
        }
    }

    @Test("a provider giving the wrong byte count, or none, leaves no file")
    func providerMistakes() throws {
        let directory = TemporaryDirectory()
        let info = TensorInfo(name: "x", dtype: .F32, shape: [2])
        #expect(throws: CheckpointError.byteCountMismatch(tensor: "x", expected: 8, actual: 4)) {
            try NPYWriter.write(to: directory.path("x.npy"), info: info, bytes: provider(["x": [0, 0, 0, 0]]))
        }
        #expect(throws: CheckpointError.byteCountMismatch(tensor: "x", expected: 8, actual: 0)) {
            try NPYWriter.write(to: directory.path("x.npy"), info: info) { _, _ in }
        }
        #expect(throws: NPYError.unwritableDType(.BF16)) {
            try NPYWriter.write(to: directory.path("x.npy"), info: TensorInfo(name: "x", dtype: .BF16, shape: [1]),
                                bytes: provider(["x": [0, 0]]))
        }
        #expect(directory.contents().isEmpty)
        // An existing file stays as it was.
        let existing = directory.write("keep.npy", [1, 2, 3])
        #expect(throws: (any Error).self) { try NPYWriter.write(to: existing, info: info) { _, _ in throw CancellationError() } }
        #expect(fileContents(existing) == [1, 2, 3] && directory.contents() == ["keep.npy"])
    }

    @Test("random tensors of every writable dtype round-trip through a file")
    func roundTrips() throws {
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: 42)
        let dtypes = DType.allCases.filter { NPYWriter.descr(for: $0) != nil }
        #expect(dtypes.count == 13)
        for trial in 0..<60 {
            let rank = Int.random(in: 0...4, using: &rng)
            let shape = (0..<rank).map { _ in Int.random(in: 0...5, using: &rng) }
            let info = TensorInfo(name: "t\(trial)", dtype: dtypes[trial % dtypes.count], shape: shape)
            let data = (0..<info.byteCount!).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let path = directory.path("t\(trial).npy")
            try NPYWriter.write(to: path, info: info, bytes: provider([info.name: data]))
            let file = try NPYFile(path: path)
            #expect(file.tensors == [info])
            #expect(try file.bytes(of: info.name) == data)
        }
    }

    @Test("files written here load in NumPy with equal values", .tags(.interop), .requiresPython("numpy"))
    func numpyInterop() throws {
        let directory = TemporaryDirectory()
        let tensors: [(TensorInfo, [UInt8])] = [
            (TensorInfo(name: "f32", dtype: .F32, shape: [2, 3]), littleEndianBytes([0, 1.5, -2, 3, 4, 5] as [Float])),
            (TensorInfo(name: "i64", dtype: .I64, shape: [3]), littleEndianBytes([Int64.min, 0, .max])),
            (TensorInfo(name: "u16", dtype: .U16, shape: [1, 2]), littleEndianBytes([UInt16(7), 65535])),
            (TensorInfo(name: "bool", dtype: .BOOL, shape: [3]), [1, 0, 1]),
            (TensorInfo(name: "f16", dtype: .F16, shape: [2]), littleEndianBytes([Float16(0.5).bitPattern, Float16(-3).bitPattern])),
            (TensorInfo(name: "c64", dtype: .C64, shape: [1]), littleEndianBytes([1, -2] as [Float])),
            (TensorInfo(name: "scalar", dtype: .F64, shape: []), littleEndianBytes([Double(2.25).bitPattern])),
            (TensorInfo(name: "empty", dtype: .I8, shape: [0, 4]), []),
        ]
        for (info, data) in tensors {
            try NPYWriter.write(to: directory.path(info.name + ".npy"), info: info, bytes: provider([info.name: data]))
        }
        let result = try ProcessRunner.python("""
            import sys, numpy as np
            d = sys.argv[1]
            def load(n): return np.load(f"{d}/{n}.npy", allow_pickle=False)
            assert np.array_equal(load("f32"), np.array([[0, 1.5, -2], [3, 4, 5]], dtype=np.float32))
            assert load("i64").tolist() == [-2**63, 0, 2**63 - 1] and load("i64").dtype == np.int64
            assert load("u16").tolist() == [[7, 65535]] and load("u16").dtype == np.uint16
            assert load("bool").tolist() == [True, False, True]
            assert load("f16").tolist() == [0.5, -3.0] and load("f16").dtype == np.float16
            assert load("c64").tolist() == [1 - 2j] and load("c64").dtype == np.complex64
            assert load("scalar").shape == () and load("scalar") == 2.25
            assert load("empty").shape == (0, 4) and load("empty").dtype == np.int8
            print("ok")
            """, [directory.path])
        #expect(result.status == 0 && result.stdout == "ok\n", "\(result.stderr)")
    }
}
