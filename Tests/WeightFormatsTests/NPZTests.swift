import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite(".npz reader and writer")
struct NPZTests {
    @Test("stored (np.savez) and deflated (np.savez_compressed) archives", arguments: ["stored.npz", "deflated.npz"])
    func readsArchives(name: String) throws {
        let archive = try NPZArchive(path: numpyFixture(name))
        #expect(archive.tensors == [TensorInfo(name: "a", dtype: .F32, shape: [4]), TensorInfo(name: "b", dtype: .I64, shape: [2, 3])])
        #expect(try values(archive, "a", as: Float.self) == [0, 1, 2, 3])
        #expect(try values(archive, "b", as: Int64.self) == [0, 1, 2, 3, 4, 5])
        #expect(try Checkpoint.open(numpyFixture(name)).format == .npz)
    }

    @Test("an empty archive has no tensors")
    func empty() throws {
        #expect(try NPZArchive(path: numpyFixture("empty.npz")).tensors.isEmpty)
    }

    @Test("members that are not arrays, and pickled members, are refused by name")
    func refusedMembers() {
        #expect(throws: NPZError.notAnArray(member: "readme.txt")) { try NPZArchive(path: numpyFixture("not_npy_member.npz")) }
        #expect(throws: NPZError.member("o.npy", .objectArray)) { try NPZArchive(path: numpyFixture("object_member.npz")) }
    }

    @Test("a damaged archive is an error, not a crash")
    func damaged() throws {
        let directory = TemporaryDirectory()
        var bytes = fileContents(numpyFixture("deflated.npz"))
        var rng = SeededGenerator(seed: 11)
        for trial in 0..<200 {
            var mutated = bytes
            if trial % 2 == 0 {
                mutated[Int.random(in: 0..<mutated.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            } else {
                mutated.removeLast(Int.random(in: 1..<mutated.count, using: &rng))
            }
            if let archive = try? NPZArchive(path: directory.write("d.npz", mutated)) {
                for info in archive.tensors { _ = try? archive.bytes(of: info.name) }
            }
        }
        bytes[bytes.count / 2] ^= 0xFF
        let path = directory.write("bad.npz", Array(bytes))
        #expect(throws: (any Error).self) {
            let archive = try NPZArchive(path: path)
            for info in archive.tensors { _ = try archive.bytes(of: info.name) }
        }
    }

    @Test("archives written here load in NumPy with equal values, stored and deflated", arguments: [NPZCompression.stored, .deflated])
    func numpyInterop(compression: NPZCompression) throws {
        let directory = TemporaryDirectory()
        let path = directory.path("w.npz")
        let weights: [Float] = (0..<12).map { Float($0) / 4 }
        let counts: [Int64] = [5, -6]
        try NPZWriter.write(to: path, tensors: [TensorInfo(name: "layer.weight", dtype: .F32, shape: [3, 4]),
                                                TensorInfo(name: "n", dtype: .I64, shape: [2])],
                            compression: compression) { info, consume in
            if info.name == "n" { try counts.withUnsafeBytes { try consume($0) } } else { try weights.withUnsafeBytes { try consume($0) } }
        }
        let result = try ProcessRunner.python("""
            import sys, numpy as np
            z = np.load(sys.argv[1])
            assert sorted(z.files) == ["layer.weight", "n"], z.files
            assert np.array_equal(z["layer.weight"], (np.arange(12, dtype=np.float32) / 4).reshape(3, 4))
            assert np.array_equal(z["n"], np.array([5, -6], dtype=np.int64))
            print("ok")
            """, [path])
        #expect(result.status == 0 && result.stdout == "ok\n", "\(result.stderr)")
        let back = try NPZArchive(path: path)
        #expect(try values(back, "layer.weight", as: Float.self) == weights)
    }

    @Test("writing the same tensors twice gives the same bytes")
    func deterministic() throws {
        let directory = TemporaryDirectory()
        let archive = try NPZArchive(path: numpyFixture("stored.npz"))
        for name in ["one.npz", "two.npz"] {
            try NPZWriter.write(to: directory.path(name), tensors: archive.tensors, compression: .deflated) { info, consume in
                try archive.withBytes(of: info.name) { try consume($0) }
            }
        }
        #expect(fileContents(directory.path("one.npz")) == fileContents(directory.path("two.npz")))
    }

    @Test("a failed write leaves nothing behind")
    func noPartialOutput() throws {
        let directory = TemporaryDirectory()
        #expect(throws: NPYError.unwritableDType(.BF16)) {
            try NPZWriter.write(to: directory.path("x.npz"), tensors: [TensorInfo(name: "a", dtype: .F32, shape: [1]),
                                                                       TensorInfo(name: "b", dtype: .BF16, shape: [1])],
                                compression: .stored) { info, consume in try [UInt8](repeating: 0, count: info.byteCount!).withUnsafeBytes { try consume($0) } }
        }
        #expect(directory.contents().isEmpty)
    }
}
