import Foundation
import Testing
import WeightFormats
import _TestSupport

/// One test per `NPYError` case, from minimal bytes; the magic and version cases are numpy's own
/// (`numpy/lib/tests/test_format.py`: `malformed_magic`, `bad_version_magic`, `test_bad_header`).
@Suite(".npy errors")
struct NPYErrorTests {
    @Test("bad magic (numpy's malformed_magic cases)", arguments: [
        [0x92] + Array("NUMPY".utf8) + [1, 0], [0x00] + Array("NUMPY".utf8) + [1, 0],
        [0x93] + Array("numpy".utf8) + [1, 0], [0x93] + Array("MATLB".utf8) + [1, 0], [], [0x93, 0x4E],
    ] as [[UInt8]])
    func badMagic(bytes: [UInt8]) {
        expectNPYError(.badMagic, bytes)
    }

    @Test("unsupported versions (numpy's bad_version_magic cases)", arguments: [(1, 1), (0, 0), (0, 1), (2, 2), (255, 255), (4, 0)] as [(UInt8, UInt8)])
    func badVersion(major: UInt8, minor: UInt8) {
        expectNPYError(.unsupportedVersion(major: major, minor: minor), npyMagic([major, minor, 0, 0]))
        #expect(NPYError.unsupportedVersion(major: major, minor: minor).description.contains("\(major).\(minor)"))
    }

    @Test("truncated header: in the magic, the length field or the dict")
    func truncatedHeader() {
        expectNPYError(.truncatedHeader(expected: 8, actual: 7), npyMagic([1]))           // numpy's "\x93NUMPY\x01"
        expectNPYError(.truncatedHeader(expected: 8, actual: 6), npyMagic([]))            // numpy's "\x93NUMPY"
        expectNPYError(.truncatedHeader(expected: 10, actual: 9), npyMagic([1, 0, 5]))
        expectNPYError(.truncatedHeader(expected: 12, actual: 8), npyMagic([2, 0]))       // numpy's (2, 0) case
        expectNPYError(.truncatedHeader(expected: 12, actual: 11), npyMagic([3, 0, 1, 0, 0]))
        expectNPYError(.truncatedHeader(expected: 80, actual: 14), npyMagic([1, 0, 70, 0] + Array("{'de".utf8)))
    }

    @Test("a header longer than the 1 MiB cap is refused before it is read")
    func headerTooLong() {
        expectNPYError(.headerTooLong(length: 0x20_0000, limit: 1 << 20), npyMagic([2, 0, 0, 0, 0x20, 0]))
        expectNPYError(.headerTooLong(length: 0xFFFF_FFFF, limit: 1 << 20), npyMagic([3, 0, 0xFF, 0xFF, 0xFF, 0xFF]))
        #expect(NPYHeader.maximumHeaderLength == 1 << 20)
    }

    @Test("headers that are not a dict of the accepted grammar", arguments: [
        ("", "not a dictionary"),
        ("[1, 2]", "not a dictionary"),
        ("{descr: '<f4'}", "expected a quoted key"),
        ("{'descr' '<f4'}", "expected ':' after 'descr'"),
        ("{'descr': }", "cannot read the value of 'descr'"),
        ("{'descr': '<f4' 'shape': ()}", "expected ',' or '}'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': ()", "expected ',' or '}'"),
        ("{'descr': '<f4', 'shape': (), 'fortran_order': False} x", "characters after the dictionary"),
        ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", "duplicate key 'descr'"),
        ("{'descr': '<f4, 'fortran_order': False, 'shape': ()}", "expected ',' or '}'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3}", "cannot read the value of 'shape'"),
    ] as [(String, String)])
    func invalidHeader(header: String, reason: String) {
        expectNPYError(.invalidHeader(reason: reason), npyBytes(header))
    }

    @Test("a 3.0 header that is not UTF-8")
    func notUTF8() {
        var bytes = npyBytes(npyDict(), version: 3)
        bytes[bytes.firstIndex(of: UInt8(ascii: "<"))!] = 0xFF
        expectNPYError(.invalidHeader(reason: "not UTF-8"), bytes)
    }

    @Test("missing and extra keys are named (numpy's test_bad_header)")
    func keys() {
        expectNPYError(.missingKeys(["shape"]), npyBytes("{'descr': '<f4', 'fortran_order': False}"))
        expectNPYError(.missingKeys(["descr", "fortran_order", "shape"]), npyBytes("{}"))
        expectNPYError(.extraKeys(["extra"]), npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}"))
        expectNPYError(.extraKeys(["a", "b"]), npyBytes("{'a': 1, 'descr': '<f4', 'fortran_order': False, 'shape': (), 'b': ''}"))
    }

    @Test("shapes that are not tuples of non-negative integers, or too large", arguments: [
        "(-1,)", "(5)", "[2, 3]", "(2.5,)", "('a',)", "(,)", "(1,,2)", "(2 3,)", "None", "(99999999999999999999,)",
    ])
    func invalidShape(shape: String) {
        expectNPYError(.invalidShape(shape), npyBytes(npyDict(shape: shape)))
    }

    @Test("a shape whose byte size overflows")
    func overflowingShape() {
        expectNPYError(.invalidShape("(4611686018427387904, 4) holds more bytes than a file can"),
                       npyBytes(npyDict(shape: "(4611686018427387904, 4)")))
    }

    @Test("fortran_order must be True or False", arguments: ["1", "'True'", "true", "None"])
    func invalidFortranOrder(value: String) {
        expectNPYError(.invalidFortranOrder(value), npyBytes(npyDict(fortran: value)))
    }

    @Test("descrs without a dtype here are quoted", arguments: [
        ("'<U3'", "<U3"), ("'|S4'", "|S4"), ("'<c16'", "<c16"), ("'<f16'", "<f16"), ("'<f1'", "<f1"),
        ("'float32'", "float32"), ("5", "5"), ("[('a', '<f4')]", "[('a', '<f4')]"),
    ] as [(String, String)])
    func unsupportedDescr(text: String, descr: String) {
        expectNPYError(.unsupportedDescr(descr), npyBytes(npyDict(descr: text)))
    }

    @Test("untyped voids are refused; a 2-byte one is probably bfloat16 and should be saved as float32")
    func voids() throws {
        expectNPYError(.voidDescr("<V2"), npyBytes(npyDict(descr: "'<V2'")))
        #expect(throws: NPYError.voidDescr("|V2")) { try NPYFile(path: numpyFixture("void_v2.npy")) }
        #expect(throws: NPYError.voidDescr("|V4")) { try NPYFile(path: numpyFixture("void_v4.npy")) }
        let message = NPYError.voidDescr("|V2").description
        #expect(message.contains("2-byte void") && message.contains("bfloat16") && message.contains("float32"))
        #expect(!NPYError.voidDescr("|V4").description.contains("bfloat16"))
    }

    @Test("object arrays, and structured dtypes with object fields, are pickles: refused, never unpickled")
    func objectArrays() {
        expectNPYError(.objectArray, npyBytes(npyDict(descr: "'|O'")))
        expectNPYError(.objectArray, npyBytes(npyDict(descr: "'O'")))
        #expect(throws: NPYError.objectArray) { try NPYFile(path: numpyFixture("object_array.npy")) }
        #expect(throws: NPYError.objectArray) { try NPYFile(path: numpyFixture("structured_object_field.npy")) }
        #expect(NPYError.objectArray.description.contains("object arrays are pickles and are never loaded"))
    }

    @Test("truncated data and extra bytes after it")
    func dataSize() {
        #expect(throws: NPYError.truncatedData(expected: 24, actual: 20)) { try NPYFile(path: numpyFixture("truncated_data.npy")) }
        #expect(throws: NPYError.extraBytes(count: 2)) { try NPYFile(path: numpyFixture("extra_bytes.npy")) }
        expectNPYError(.truncatedData(expected: 4, actual: 0), npyBytes(npyDict()))
        expectNPYError(.truncatedData(expected: 8, actual: 7), npyBytes(npyDict(descr: "'<f8'", shape: "(1,)"), data: [0, 0, 0, 0, 0, 0, 0]))
        expectNPYError(.extraBytes(count: 1), npyBytes(npyDict(shape: "(0,)"), data: [0]))
    }

    @Test("dtypes NumPy cannot represent are not written", arguments: [DType.BF16, .F8_E4M3, .F8_E5M2, .F8_E8M0, .F4, .F6_E2M3, .F6_E3M2])
    func unwritableDType(dtype: DType) {
        #expect(throws: NPYError.unwritableDType(dtype)) { try NPYWriter.header(for: TensorInfo(name: "b", dtype: dtype, shape: [2])) }
        #expect(NPYError.unwritableDType(dtype).description.contains("convert it to F32"))
    }

    @Test("messages are short, lowercase and name the problem")
    func messages() {
        let all: [NPYError] = [
            .badMagic, .unsupportedVersion(major: 1, minor: 1), .truncatedHeader(expected: 10, actual: 9),
            .headerTooLong(length: 2, limit: 1), .invalidHeader(reason: "x"), .missingKeys(["shape"]), .extraKeys(["x"]),
            .invalidShape("(5)"), .invalidFortranOrder("1"), .unsupportedDescr("<U3"), .voidDescr("|V2"), .objectArray,
            .truncatedData(expected: 2, actual: 1), .extraBytes(count: 1), .unwritableDType(.BF16),
        ]
        for error in all {
            let text = error.description
            #expect(!text.isEmpty && !text.first!.isUppercase && !text.contains("\n"), "\(text)")
        }
        #expect(NPYError.missingKeys(["shape"]).description.contains("shape"))
        #expect(NPYError.unsupportedDescr("<U3").description.contains("'<U3'"))
        #expect(NPYError.truncatedData(expected: 24, actual: 20).description.contains("24") )
        #expect(NPYError.extraBytes(count: 7).description.contains("7"))
    }
}
