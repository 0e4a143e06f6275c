import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite(".npy reader")
struct NPYReaderTests {
    @Test("reads NumPy-written arrays of every supported dtype")
    func everyDType() throws {
        func open(_ name: String) throws -> NPYFile { try NPYFile(path: numpyFixture(name + ".npy")) }
        #expect(try open("bool_5").tensors == [TensorInfo(name: "bool_5", dtype: .BOOL, shape: [5])])
        #expect(try values(open("bool_5"), "bool_5", as: UInt8.self) == [1, 0, 1, 1, 0])
        #expect(try open("i8_3").tensors[0].dtype == .I8)
        #expect(try values(open("i8_3"), "i8_3", as: Int8.self) == [-128, 0, 127])
        #expect(try open("u8_3").tensors[0].dtype == .U8)
        #expect(try values(open("u8_3"), "u8_3", as: UInt8.self) == [0, 1, 255])
        #expect(try open("i16_3").tensors[0].dtype == .I16)
        #expect(try values(open("i16_3"), "i16_3", as: Int16.self) == [.min, 0, .max])
        #expect(try open("u16_3").tensors[0].dtype == .U16)
        #expect(try values(open("u16_3"), "u16_3", as: UInt16.self) == [0, 1, .max])
        #expect(try open("i32_3").tensors[0].dtype == .I32)
        #expect(try values(open("i32_3"), "i32_3", as: Int32.self) == [.min, 0, .max])
        #expect(try open("u32_3").tensors[0].dtype == .U32)
        #expect(try values(open("u32_3"), "u32_3", as: UInt32.self) == [0, 1, .max])
        #expect(try open("i64_3").tensors[0].dtype == .I64)
        #expect(try values(open("i64_3"), "i64_3", as: Int64.self) == [.min, 0, .max])
        #expect(try open("u64_3").tensors[0].dtype == .U64)
        #expect(try values(open("u64_3"), "u64_3", as: UInt64.self) == [0, 1, .max])
        #expect(try open("f16_4").tensors[0].dtype == .F16)
        #expect(try values(open("f16_4"), "f16_4", as: Float16.self) == [1.5, -2, 0.25, 65504])
        #expect(try open("f32_5").tensors == [TensorInfo(name: "f32_5", dtype: .F32, shape: [5])])
        #expect(try values(open("f32_5"), "f32_5", as: Float.self) == [0, 1, 2, 3, 4])
        #expect(try open("f32_2x3").tensors == [TensorInfo(name: "f32_2x3", dtype: .F32, shape: [2, 3])])
        #expect(try values(open("f32_2x3"), "f32_2x3", as: Float.self) == [0, 1, 2, 3, 4, 5])
        #expect(try open("f64_3").tensors[0].dtype == .F64)
        #expect(try values(open("f64_3"), "f64_3", as: Double.self) == [0.1, -2.5, 1e300])
        #expect(try open("c64_2").tensors == [TensorInfo(name: "c64_2", dtype: .C64, shape: [2])])
        #expect(try values(open("c64_2"), "c64_2", as: Float.self) == [1, 2, 3, -4])
        // 'bfloat16' is what some tools write for raw bfloat16 bits.
        #expect(try open("bfloat16_descr").tensors == [TensorInfo(name: "bfloat16_descr", dtype: .BF16, shape: [3])])
        #expect(try values(open("bfloat16_descr"), "bfloat16_descr", as: UInt16.self) == [0x3F80, 0xC000, 0x7F80])
    }

    @Test("0-d arrays have one element, zero-size arrays none")
    func degenerateShapes() throws {
        let scalar = try NPYFile(path: numpyFixture("scalar_f32.npy"))
        #expect(scalar.tensors == [TensorInfo(name: "scalar_f32", dtype: .F32, shape: [])])
        #expect(try values(scalar, "scalar_f32", as: Float.self) == [3.5])
        let empty = try NPYFile(path: numpyFixture("empty_0x3.npy"))
        #expect(empty.tensors[0].shape == [0, 3])
        #expect(try empty.bytes(of: "empty_0x3").isEmpty)
        let wide = try NPYFile(path: numpyFixture("header_aligned_extra_padding.npy"))
        #expect(wide.tensors[0].shape == [0, 1, 1, 100, 100, 100, 100, 100, 100, 100])
        #expect(try wide.bytes(of: wide.tensors[0].name).isEmpty)
    }

    @Test("big-endian data is byte-swapped and Fortran order transposed on access")
    func bigEndianFortran() throws {
        let file = try NPYFile(path: numpyFixture("f64_big_endian_fortran_3x4.npy"))
        #expect(file.header.bigEndian && file.header.fortranOrder)
        #expect(file.tensors[0].shape == [3, 4])
        #expect(try values(file, "f64_big_endian_fortran_3x4", as: Double.self) == (0..<12).map(Double.init))
        #expect(try values(NPYFile(path: numpyFixture("f32_big_endian_fortran_2x3.npy")), "f32_big_endian_fortran_2x3",
                           as: Float.self) == [0, 1, 2, 3, 4, 5])
        #expect(try values(NPYFile(path: numpyFixture("i16_big_endian.npy")), "i16_big_endian", as: Int16.self)
                == [-3, -2, -1, 0, 1, 2])
        #expect(try values(NPYFile(path: numpyFixture("f32_fortran_2x3x4.npy")), "f32_fortran_2x3x4", as: Float.self)
                == (0..<24).map(Float.init))
        // Real and imaginary halves are swapped separately.
        #expect(try values(NPYFile(path: numpyFixture("c64_big_endian.npy")), "c64_big_endian", as: Float.self) == [1, 2, 3, -4])
    }

    @Test("Fortran order with one long axis, or with a zero-length axis, needs no transposition")
    func trivialFortran() throws {
        let directory = TemporaryDirectory()
        let column = directory.write("column.npy", npyBytes(npyDict(descr: "'<i2'", fortran: "True", shape: "(3, 1)"),
                                                           data: littleEndianBytes([Int16(7), 8, 9])))
        #expect(try values(NPYFile(path: column), "column", as: Int16.self) == [7, 8, 9])
        let empty = directory.write("empty.npy", npyBytes(npyDict(descr: "'>f8'", fortran: "True", shape: "(0, 4)")))
        #expect(try NPYFile(path: empty).bytes(of: "empty").isEmpty)
    }

    @Test("format versions 2.0 and 3.0")
    func versions() throws {
        let v2 = try NPYFile(path: numpyFixture("v2_header.npy"))
        #expect(v2.header.majorVersion == 2)
        #expect(try values(v2, "v2_header", as: Int32.self) == [0, 1, 2, 3])
        let v3 = try NPYFile(path: numpyFixture("v3_header.npy"))
        #expect(v3.header.majorVersion == 3)
        #expect(try values(v3, "v3_header", as: Int64.self) == [0, 1, 2, 3])
        let scalar = try NPYFile(path: numpyFixture("f32_0d_v2.npy"))
        #expect(scalar.header.majorVersion == 2 && scalar.tensors[0].shape == [])
        #expect(try values(scalar, "f32_0d_v2", as: Float.self) == [-1.25])
    }

    @Test("a 3.0 header is UTF-8, a 1.0 or 2.0 header latin-1")
    func headerEncodings() {
        let header = npyDict(descr: "'\u{E9}'")   // é: C3 A9 in UTF-8, "Ã©" read as latin-1
        expectNPYError(.unsupportedDescr("\u{E9}"), npyBytes(header, version: 3))
        expectNPYError(.unsupportedDescr("\u{C3}\u{A9}"), npyBytes(header, version: 2))
        expectNPYError(.unsupportedDescr("\u{C3}\u{A9}"), npyBytes(header, version: 1))
    }

    @Test("headers are parsed as NumPy does: any key order, either quote, optional trailing comma, any whitespace, no padding", arguments: [
        "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '<i4', 'fortran_order': False, 'shape': (2,)}",
        #"{"shape": (2,), "fortran_order": False, "descr": "<i4"}"#,
        "{'fortran_order': False, 'shape': (2L,), 'descr': '<i4'}",
        " \n{ 'descr' : '<i4' ,\t'fortran_order':False,'shape':( 2 , ) , } \r\n",
        "{'descr': 'i4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '=i4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<i', 'fortran_order': False, 'shape': (2,)}",
    ])
    func lenientHeader(header: String) throws {
        let directory = TemporaryDirectory()
        let path = directory.write("x.npy", npyBytes(header, data: littleEndianBytes([Int32(1), 2])))
        let file = try NPYFile(path: path)
        #expect(file.tensors == [TensorInfo(name: "x", dtype: .I32, shape: [2])])
        #expect(try values(file, "x", as: Int32.self) == [1, 2])
    }

    @Test("descr spellings map to dtypes and byte orders", arguments: [
        ("|b1", DType.BOOL, false), ("?", .BOOL, false), ("<b1", .BOOL, false),
        ("|i1", .I8, false), ("i1", .I8, false), ("|u1", .U8, false), ("<u1", .U8, false),
        ("<i2", .I16, false), (">i2", .I16, true), ("<u2", .U16, false), (">u2", .U16, true),
        ("<i4", .I32, false), ("=i4", .I32, false), (">u4", .U32, true), ("<i8", .I64, false), (">u8", .U64, true),
        ("<f2", .F16, false), ("<e", .F16, false), (">f2", .F16, true), ("f4", .F32, false), (">f4", .F32, true),
        ("<f8", .F64, false), (">f8", .F64, true), ("<c8", .C64, false), (">c8", .C64, true), ("bfloat16", .BF16, false),
    ] as [(String, DType, Bool)])
    func descrSpellings(descr: String, dtype: DType, bigEndian: Bool) throws {
        let bytes = npyBytes(npyDict(descr: "'\(descr)'"))
        let (header, offset) = try bytes.withUnsafeBytes { try NPYHeader.parse($0) }
        #expect(header.dtype == dtype && header.bigEndian == bigEndian && offset == bytes.count)
    }

    @Test("the tensor is named after the file without .npy")
    func naming() {
        #expect(NPYFile.tensorName(forPath: "/a/b/layer.0.weight.npy") == "layer.0.weight")
        #expect(NPYFile.tensorName(forPath: "weights") == "weights")
    }

    @Test("little-endian C-order data is handed out in place, without a copy")
    func zeroCopy() throws {
        let file = try NPYFile(path: numpyFixture("f32_2x3.npy"))
        let first = try file.withBytes(of: "f32_2x3") { $0.baseAddress }
        let second = try file.withBytes(of: "f32_2x3") { $0.baseAddress }
        #expect(first != nil && first == second)   // the same mapped bytes both times
        #expect(throws: CheckpointError.tensorNotFound(name: "other")) { try file.bytes(of: "other") }
    }

    @Test("mutated fixtures throw or open, never crash", arguments: [
        "f64_big_endian_fortran_3x4.npy", "f32_2x3.npy", "v2_header.npy", "v3_header.npy", "scalar_f32.npy", "c64_big_endian.npy",
    ])
    func mutations(fixture: String) throws {
        let valid = fileContents(numpyFixture(fixture))
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: UInt64(fixture.utf8.count))
        for trial in 0..<200 {
            var bytes = valid
            switch trial % 3 {
            case 0:
                for _ in 0..<3 { bytes[Int.random(in: 0..<min(bytes.count, 140), using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 1:
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
            default:
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            }
            do {
                let file = try NPYFile(path: directory.write("m.npy", bytes))
                let data = try file.bytes(of: file.tensors[0].name)
                #expect(data.count == file.tensors[0].byteCount)
            } catch {
                #expect(error is NPYError, "\(error)")
            }
        }
    }
}
