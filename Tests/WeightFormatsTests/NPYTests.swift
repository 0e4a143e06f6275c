import Foundation
import Testing
import WeightFormats
import _TestSupport

func numpyFixture(_ name: String) -> String { Fixtures.path("Formats/fixtures/numpy/\(name)") }

func values<T>(_ reader: any CheckpointReader, _ name: String, as type: T.Type) throws -> [T] {
    try reader.withBytes(of: name) { raw in (0..<(raw.count / MemoryLayout<T>.size)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) } }
}

func npyBytes(_ header: String, version: UInt8 = 1, data: [UInt8] = []) -> [UInt8] {
    let body = Array(header.utf8)
    var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
    if version == 1 {
        bytes += [UInt8(body.count & 0xFF), UInt8(body.count >> 8)]
    } else {
        bytes += withUnsafeBytes(of: UInt32(body.count).littleEndian) { Array($0) }
    }
    return bytes + body + data
}

func expectNPYError(_ expected: NPYError, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    let directory = TemporaryDirectory()
    #expect(throws: expected, sourceLocation: sourceLocation) { try NPYFile(path: directory.write("x.npy", bytes)) }
}

@Suite(".npy reader and writer")
struct NPYTests {
    @Test("reads NumPy-written arrays of every supported dtype")
    func readsFixtures() throws {
        let f32 = try NPYFile(path: numpyFixture("f32_2x3.npy"))
        #expect(f32.tensors == [TensorInfo(name: "f32_2x3", dtype: .F32, shape: [2, 3])])
        #expect(try values(f32, "f32_2x3", as: Float.self) == [0, 1, 2, 3, 4, 5])
        #expect(try values(NPYFile(path: numpyFixture("bool_5.npy")), "bool_5", as: UInt8.self) == [1, 0, 1, 1, 0])
        #expect(try values(NPYFile(path: numpyFixture("f16_4.npy")), "f16_4", as: Float16.self) == [1.5, -2, 0.25, 65504])
        #expect(try values(NPYFile(path: numpyFixture("u64_3.npy")), "u64_3", as: UInt64.self) == [0, 1, .max])
        #expect(try values(NPYFile(path: numpyFixture("i8_3.npy")), "i8_3", as: Int8.self) == [-128, 0, 127])
        let scalar = try NPYFile(path: numpyFixture("scalar_f32.npy"))
        #expect(scalar.tensors[0].shape == [])
        #expect(try values(scalar, "scalar_f32", as: Float.self) == [3.5])
        let empty = try NPYFile(path: numpyFixture("empty_0x3.npy"))
        #expect(empty.tensors[0].shape == [0, 3])
        #expect(try empty.bytes(of: "empty_0x3").isEmpty)
    }

    @Test("big-endian data is byte-swapped and Fortran order transposed on access")
    func bigEndianFortran() throws {
        let file = try NPYFile(path: numpyFixture("f64_big_endian_fortran_3x4.npy"))
        #expect(file.header.bigEndian && file.header.fortranOrder)
        #expect(try values(file, "f64_big_endian_fortran_3x4", as: Double.self) == (0..<12).map(Double.init))
        #expect(try values(NPYFile(path: numpyFixture("i16_big_endian.npy")), "i16_big_endian", as: Int16.self) == [-3, -2, -1, 0, 1, 2])
        #expect(try values(NPYFile(path: numpyFixture("f32_fortran_2x3x4.npy")), "f32_fortran_2x3x4", as: Float.self) == (0..<24).map(Float.init))
    }

    @Test("format versions 2.0 and 3.0")
    func versions() throws {
        let v2 = try NPYFile(path: numpyFixture("v2_header.npy"))
        #expect(v2.header.majorVersion == 2)
        #expect(try values(v2, "v2_header", as: Int32.self) == [0, 1, 2, 3])
        let v3 = try NPYFile(path: numpyFixture("v3_header.npy"))
        #expect(v3.header.majorVersion == 3)
        #expect(try values(v3, "v3_header", as: Int64.self) == [0, 1, 2, 3])
    }

    @Test("headers are parsed leniently as NumPy does: key order, quotes, trailing comma, old 'L' suffix")
    func lenientHeader() throws {
        let directory = TemporaryDirectory()
        let path = directory.write("x.npy", npyBytes(#"{"shape": (2L,), 'fortran_order': False, "descr": "<i4"}"#, data: [1, 0, 0, 0, 2, 0, 0, 0]))
        #expect(try NPYFile(path: path).tensors[0] == TensorInfo(name: "x", dtype: .I32, shape: [2]))
    }

    @Test("bad magic (numpy's malformed_magic cases)", arguments: [
        [0x92] + Array("NUMPY".utf8) + [1, 0], [0x00] + Array("NUMPY".utf8) + [1, 0],
        [0x93] + Array("numpy".utf8) + [1, 0], [0x93] + Array("MATLB".utf8) + [1, 0], [], [0x93, 0x4E],
    ] as [[UInt8]])
    func badMagic(bytes: [UInt8]) {
        expectNPYError(.badMagic, bytes)
    }

    @Test("unsupported versions (numpy's bad_version_magic cases)", arguments: [(1, 1), (0, 0), (0, 1), (2, 2), (255, 255)] as [(UInt8, UInt8)])
    func badVersion(major: UInt8, minor: UInt8) {
        expectNPYError(.unsupportedVersion(major: major, minor: minor), [0x93] + Array("NUMPY".utf8) + [major, minor, 0, 0])
    }

    @Test("header defects")
    func headerDefects() {
        expectNPYError(.truncatedHeader(expected: 10, actual: 9), [0x93] + Array("NUMPY".utf8) + [1, 0, 5])
        expectNPYError(.truncatedHeader(expected: 10 + 70, actual: 10 + 4), [0x93] + Array("NUMPY".utf8) + [1, 0, 70, 0] + Array("{'de".utf8))
        expectNPYError(.missingKeys(["shape"]), npyBytes("{'descr': '<f4', 'fortran_order': False}"))
        expectNPYError(.extraKeys(["extra"]), npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}"))
        expectNPYError(.invalidHeader(reason: "not a dictionary"), npyBytes("[1, 2]"))
        expectNPYError(.invalidShape("(-1,)"), npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}"))
        expectNPYError(.invalidShape("(5)"), npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (5)}"))
        expectNPYError(.invalidFortranOrder("1"), npyBytes("{'descr': '<f4', 'fortran_order': 1, 'shape': ()}"))
        expectNPYError(.unsupportedDescr("<U3"), npyBytes("{'descr': '<U3', 'fortran_order': False, 'shape': ()}"))
        expectNPYError(.unsupportedDescr("[('a', '<f4')]"), npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}"))
    }

    @Test("object arrays are refused, never unpickled; untyped voids are refused")
    func refusedDTypes() throws {
        #expect(throws: NPYError.objectArray) { try NPYFile(path: numpyFixture("object_array.npy")) }
        #expect(throws: NPYError.voidDescr("|V2")) { try NPYFile(path: numpyFixture("void_v2.npy")) }
    }

    @Test("truncated data and extra bytes")
    func dataSize() {
        #expect(throws: NPYError.truncatedData(expected: 24, actual: 20)) { try NPYFile(path: numpyFixture("truncated_data.npy")) }
        #expect(throws: NPYError.extraBytes(count: 2)) { try NPYFile(path: numpyFixture("extra_bytes.npy")) }
    }

    @Test("written headers are byte-identical to np.save's", arguments: [
        "f32_2x3.npy", "f32_5.npy", "scalar_f32.npy", "empty_0x3.npy", "bool_5.npy", "u64_3.npy", "i8_3.npy", "f16_4.npy",
    ])
    func headerMatchesNumPy(fixture: String) throws {
        let file = try NPYFile(path: numpyFixture(fixture))
        let expected = fileContents(numpyFixture(fixture))
        let header = try NPYWriter.header(for: file.tensors[0])
        #expect(header == Array(expected.prefix(header.count)))
        #expect(header.count % 64 == 0)
        let directory = TemporaryDirectory()
        let out = directory.path("out.npy")
        try NPYWriter.write(to: out, info: file.tensors[0]) { info, consume in try file.withBytes(of: file.tensors[0].name) { try consume($0) } }
        #expect(fileContents(out) == expected)
    }

    @Test("dtypes NumPy cannot represent are not written")
    func unwritable() {
        #expect(throws: NPYError.unwritableDType(.BF16)) { try NPYWriter.header(for: TensorInfo(name: "b", dtype: .BF16, shape: [2])) }
    }

    @Test("mutated files throw or open, never crash")
    func mutationFuzz() throws {
        let valid = fileContents(numpyFixture("f64_big_endian_fortran_3x4.npy"))
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: 3)
        for trial in 0..<300 {
            var bytes = valid
            if trial % 2 == 0 {
                for _ in 0..<3 { bytes[Int.random(in: 0..<128, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
            }
            if let file = try? NPYFile(path: directory.write("m.npy", bytes)) {
                _ = try file.bytes(of: file.tensors[0].name)
            }
        }
    }
}
