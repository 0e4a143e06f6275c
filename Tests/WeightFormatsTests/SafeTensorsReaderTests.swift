import Foundation
import Testing
import WeightFormats
import _TestSupport

/// A file made of an 8-byte little-endian length (by default the header's), `header`, and `data`.
func safetensorsBytes(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    let body = Array(header.utf8)
    return withUnsafeBytes(of: (declaredLength ?? UInt64(body.count)).littleEndian) { Array($0) } + body + data
}

/// A Rust byte-string literal's bytes: `<\x00…{…}` with `\xNN` escapes, as in the reference tests.
func rustBytes(_ literal: String) -> [UInt8] {
    var result: [UInt8] = []
    var bytes = Array(literal.utf8)[...]
    while let byte = bytes.popFirst() {
        if byte == UInt8(ascii: "\\"), bytes.first == UInt8(ascii: "x"), bytes.count >= 3,
           let value = UInt8(String(decoding: bytes.dropFirst().prefix(2), as: UTF8.self), radix: 16) {
            result.append(value)
            bytes = bytes.dropFirst(3)
        } else {
            result.append(byte)
        }
    }
    return result
}

let sixteenZeros = String(repeating: "\\x00", count: 16)

func openSafeTensors(_ bytes: [UInt8]) throws -> SafeTensorsFile {
    let directory = TemporaryDirectory()
    return try SafeTensorsFile(path: directory.write("t.safetensors", bytes))
}

func expectSafeTensorsError(_ expected: SafeTensorsError, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(throws: expected, sourceLocation: sourceLocation) { try openSafeTensors(bytes) }
}

func expectInvalidJSON(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(sourceLocation: sourceLocation) { try openSafeTensors(bytes) } throws: { error in
        if case .invalidJSON = error as? SafeTensorsError { return true }
        return false
    }
}

@Suite("safetensors reader")
struct SafeTensorsReaderTests {
    // MARK: - Accepted files

    @Test("reads tensors in offset order, metadata and zero-copy bytes")
    func readsValidFile() throws {
        let header = #"{"__metadata__":{"format":"pt"},"b":{"dtype":"I32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#
        let data: [UInt8] = [0, 0, 0x80, 0x3F, 1, 0, 0, 0, 2, 0, 0, 0]
        let bytes = safetensorsBytes(header: header, data: data)
        let file = try openSafeTensors(bytes)
        #expect(file.metadata == ["format": "pt"])
        #expect(file.tensors == [TensorInfo(name: "a", dtype: .F32, shape: []), TensorInfo(name: "b", dtype: .I32, shape: [2])])
        #expect(file.headerSize == header.utf8.count && file.dataStart == 8 + header.utf8.count)
        #expect(file.dataOffsets(of: "b") == 4..<12 && file.dataOffsets(of: "c") == nil)
        #expect(try file.bytes(of: "a") == [0, 0, 0x80, 0x3F])
        #expect(try file.bytes(of: "b") == [1, 0, 0, 0, 2, 0, 0, 0])
        #expect(throws: CheckpointError.tensorNotFound(name: "c")) { try file.bytes(of: "c") }
    }

    @Test("the reference's accepted byte literals (test_deserialization, test_empty_shapes_allowed, test_zero_sized_tensor, whitespace padding)",
          arguments: [
              (#"<\x00\x00\x00\x00\x00\x00\x00{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"# + sixteenZeros, [2, 2], 16),
              (#"8\x00\x00\x00\x00\x00\x00\x00{"test":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}\x00\x00\x00\x00"#, [], 4),
              (#"<\x00\x00\x00\x00\x00\x00\x00{"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}}"#, [2, 0], 0),
          ])
    func referenceAccepted(literal: String, shape: [Int], size: Int) throws {
        let file = try openSafeTensors(rustBytes(literal))
        #expect(file.tensors == [TensorInfo(name: "test", dtype: .I32, shape: shape)])
        #expect(try file.bytes(of: "test") == [UInt8](repeating: 0, count: size))
    }

    @Test("leading and trailing JSON whitespace around the header is accepted (test_whitespace_*padded_header)")
    func whitespacePadding() throws {
        #expect(try openSafeTensors(rustBytes(#"\x06\x00\x00\x00\x00\x00\x00\x00{}\x0D\x20\x09\x0A"#)).tensors.isEmpty)
        #expect(try openSafeTensors(rustBytes(#"\x06\x00\x00\x00\x00\x00\x00\x00\x09\x0A{}\x0D\x20"#)).tensors.isEmpty)
        #expect(try openSafeTensors(safetensorsBytes(header: "{}      ")).metadata.isEmpty)
    }

    @Test("every dtype of the format is accepted, sub-byte ones in whole bytes")
    func allDTypes() throws {
        for dtype in DType.allCases {
            let count = dtype.bitWidth < 8 ? 8 : 2
            let size = count * dtype.bitWidth / 8
            let header = #"{"t":{"dtype":"\#(dtype.rawValue)","shape":[\#(count)],"data_offsets":[0,\#(size)]}}"#
            let file = try openSafeTensors(safetensorsBytes(header: header, data: [UInt8](repeating: 7, count: size)))
            #expect(file.tensors == [TensorInfo(name: "t", dtype: dtype, shape: [count])])
        }
    }

    @Test("what the reference tolerates: null __metadata__, unknown fields, any field order, a repeated tensor name (last wins)")
    func referenceTolerances() throws {
        #expect(try openSafeTensors(safetensorsBytes(header: #"{"__metadata__":null}"#)).metadata == [:])
        let extra = #"{"t":{"data_offsets":[0,1],"extra":{"k":[1,{"n":null}]},"shape":[1],"dtype":"U8"}}"#
        #expect(try openSafeTensors(safetensorsBytes(header: extra, data: [9])).tensors == [TensorInfo(name: "t", dtype: .U8, shape: [1])])
        let repeated = #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"t":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#
        #expect(try openSafeTensors(safetensorsBytes(header: repeated, data: [1, 2])).tensors == [TensorInfo(name: "t", dtype: .U8, shape: [2])])
    }

    @Test("a repeated tensor name whose earlier entry is malformed is refused, as serde reads every entry")
    func shadowedEntries() {
        let valid = #"{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#
        expectSafeTensorsError(.malformedTensorEntry(tensor: "t", reason: "not an object"),
                               safetensorsBytes(header: #"{"t":5,"t":"# + valid + "}", data: [0]))
        expectSafeTensorsError(.malformedTensorEntry(tensor: "t", reason: "missing shape"),
                               safetensorsBytes(header: #"{"t":{"dtype":"U8","data_offsets":[0,1]},"t":"# + valid + "}", data: [0]))
        expectSafeTensorsError(.unknownDType(tensor: "t", dtype: "X"),
                               safetensorsBytes(header: #"{"t":{"dtype":"X","shape":[],"data_offsets":[0,0]},"u":"#
                                   + #"{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"t":"# + valid + "}", data: [0]))
    }

    @Test("metadata is kept verbatim: escapes decoded, NUL and non-ASCII in values, '/' unescaped")
    func metadataVerbatim() throws {
        let header = #"{"__metadata__":{"format":"pt","note":"a\"b\\c\u0000d\/é\ud83d\ude00"}}"#
        let file = try openSafeTensors(safetensorsBytes(header: header))
        #expect(file.metadata == ["format": "pt", "note": "a\"b\\c\u{0}d/é😀"])
    }

    @Test("empty tensors may share an offset; order is by offsets, then header order")
    func emptyTensorsShareOffsets() throws {
        let header = #"{"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":"#
            + #"{"dtype":"I8","shape":[3,0],"data_offsets":[4,4]}}"#
        let file = try openSafeTensors(safetensorsBytes(header: header, data: [1, 2, 3, 4]))
        #expect(file.tensors.map(\.name) == ["a", "z", "y"])
        #expect(try file.bytes(of: "y").isEmpty)
    }

    @Test("opening reads only the header: a 64 GiB (sparse) file opens and its last tensor reads")
    func openingIgnoresDataSize() throws {
        let directory = TemporaryDirectory()
        let size: UInt64 = 64 << 30
        let header = #"{"big":{"dtype":"U8","shape":[\#(size - 4)],"data_offsets":[0,\#(size - 4)]},"tail":{"dtype":"U8","shape":[4],"data_offsets":[\#(size - 4),\#(size)]}}"#
        let path = directory.write("big.safetensors", safetensorsBytes(header: header))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(8 + header.utf8.count) + size)
        try handle.close()
        // How long opening takes is measured by Benchmarks/formats_bench.py ("inspect"), not here.
        let file = try SafeTensorsFile(path: path)
        #expect(file.info(named: "big")?.shape == [Int(size - 4)])
        #expect(try file.bytes(of: "tail") == [0, 0, 0, 0])
    }

    // MARK: - One test per defect

    @Test("header too small (test_header_too_small)") func headerTooSmall() {
        expectSafeTensorsError(.headerTooSmall(fileSize: 0), [])
        expectSafeTensorsError(.headerTooSmall(fileSize: 7), [2, 0, 0, 0, 0, 0, 0])
    }

    @Test("header too large (test_header_too_large) and the 100,000,000-byte limit") func headerTooLarge() {
        expectSafeTensorsError(.headerTooLarge(declared: 0xFFFF_FF00_0000_003C, limit: 100_000_000),
                               rustBytes(#"<\x00\x00\x00\x00\xff\xff\xff{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"# + sixteenZeros))
        expectSafeTensorsError(.headerTooLarge(declared: 100_000_001, limit: 100_000_000),
                               safetensorsBytes(header: "{}", declaredLength: 100_000_001))
        expectSafeTensorsError(.invalidHeaderLength(declared: 100_000_000, fileSize: 10),
                               safetensorsBytes(header: "{}", declaredLength: 100_000_000))
    }

    @Test("header longer than the file (test_invalid_header_length)") func invalidHeaderLength() {
        expectSafeTensorsError(.invalidHeaderLength(declared: 60, fileSize: 8), rustBytes(#"<\x00\x00\x00\x00\x00\x00\x00"#))
        expectSafeTensorsError(.invalidHeaderLength(declared: 3, fileSize: 10), safetensorsBytes(header: "{}", declaredLength: 3))
    }

    @Test("non-UTF-8 header (test_invalid_header_non_utf8)") func invalidUTF8() {
        expectSafeTensorsError(.invalidUTF8, rustBytes(#"\x01\x00\x00\x00\x00\x00\x00\x00\xff"#))
        expectSafeTensorsError(.invalidUTF8, [5, 0, 0, 0, 0, 0, 0, 0] + Array("{\"".utf8) + [0xED, 0xA0, 0x80])   // a UTF-8-encoded surrogate
    }

    @Test("not JSON (test_invalid_header_not_json): json-c's reason and offset, 'continue' reported as incomplete")
    func invalidJSONReasons() {
        expectSafeTensorsError(.invalidJSON(reason: "incomplete JSON (the header ends inside a value)", offset: 1),
                               rustBytes(#"\x01\x00\x00\x00\x00\x00\x00\x00{"#))
        expectSafeTensorsError(.invalidJSON(reason: "unexpected character", offset: 2), safetensorsBytes(header: "{}x"))
        expectSafeTensorsError(.invalidJSON(reason: "NUL byte (control character) in header", offset: 2), safetensorsBytes(header: "{}\u{0}"))
        expectSafeTensorsError(.invalidJSON(reason: "incomplete JSON (the header ends inside a value)", offset: 0), safetensorsBytes(header: ""))
    }

    @Test("invalid JSON, including what json-c accepts but the reference refuses", arguments: [
        "{\"a\":1", "[1,]", "{} x", "{\"a\":{\"dtype\":\"F32\",}}", "\u{0}{}", "{}\u{0B}", "\u{FEFF}{}", "{/*c*/}",
        "{'t':{}}",                                                       // single quotes
        #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":NaN}}"#,
        #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":-Infinity}}"#,
        #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1.}}"#,
        "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":\"a\tb\"}}",   // raw tab in a string
        #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"\ud800"}}"#,   // unpaired surrogates
        #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"\udc00\ud800"}}"#,
        #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"dtype":"I8"}}"#,   // repeated fields
        #"{"__metadata__":{"a":"x"},"__metadata__":{"b":"y"}}"#,
        #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"# + String(repeating: "[", count: 126) + String(repeating: "]", count: 126) + "}}",
        #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":-1e400}}"#,
        #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1"# + String(repeating: "0", count: 400) + "}}",
    ])
    func invalidJSON(header: String) {
        expectInvalidJSON(safetensorsBytes(header: header, data: [0]))
    }

    @Test("nesting up to serde_json's limit is accepted") func nestingLimit() throws {
        let header = #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"# + String(repeating: "[", count: 125) + String(repeating: "]", count: 125) + "}}"
        #expect(try openSafeTensors(safetensorsBytes(header: header, data: [0])).tensors.count == 1)
    }

    @Test("header must be an object") func notAnObject() {
        for header in ["[1, 2]", "\"x\"", " 3 ", "null "] {
            expectSafeTensorsError(.headerNotAnObject, safetensorsBytes(header: header))
        }
    }

    @Test("__metadata__ must map strings to strings") func invalidMetadata() {
        expectSafeTensorsError(.invalidMetadata(reason: "the value of 'n' is not a string"),
                               safetensorsBytes(header: #"{"__metadata__":{"n":1}}"#))
        expectSafeTensorsError(.invalidMetadata(reason: "the value of 'n' is not a string"),
                               safetensorsBytes(header: #"{"__metadata__":{"n":null}}"#))
        expectSafeTensorsError(.invalidMetadata(reason: "not an object of strings"),
                               safetensorsBytes(header: #"{"__metadata__":"pt"}"#))
        expectSafeTensorsError(.invalidMetadata(reason: "a key contains a NUL character"),
                               safetensorsBytes(header: #"{"__metadata__":{"a\u0000b":"c"}}"#))
    }

    @Test("malformed tensor entries", arguments: [
        (#"{"t":{"shape":[1],"data_offsets":[0,4]}}"#, "missing dtype"),
        (#"{"t":{"dtype":"F32","data_offsets":[0,4]}}"#, "missing shape"),
        (#"{"t":{"dtype":"F32","shape":[1]}}"#, "missing data_offsets"),
        (#"{"t":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, "dtype is not a string"),
        (#"{"t":{"dtype":null,"shape":[1],"data_offsets":[0,4]}}"#, "dtype is not a string"),
        (#"{"t":{"shape":1.5,"dtype":"F32"}}"#, "shape is not an array of non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, "shape is not an array of non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[-0],"data_offsets":[0,4]}}"#, "shape is not an array of non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, "shape is not an array of non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}"#, "shape is not an array of non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}}"#, "shape is not an array of non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}"#, "shape is not an array of non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, "data_offsets is not two non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, "data_offsets is not two non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}}"#, "data_offsets is not two non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}"#, "data_offsets is not two non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999999]}}"#, "data_offsets is not two non-negative integers"),
        (#"{"t":4}"#, "not an object"),
        (#"{"t":null}"#, "not an object"),
    ])
    func malformedEntry(header: String, reason: String) {
        expectSafeTensorsError(.malformedTensorEntry(tensor: "t", reason: reason), safetensorsBytes(header: header, data: [0, 0, 0, 0]))
    }

    @Test("unknown dtype is named; spellings are case-sensitive") func unknownDType() {
        expectSafeTensorsError(.unknownDType(tensor: "t", dtype: "f32"),
                               safetensorsBytes(header: #"{"t":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        expectSafeTensorsError(.unknownDType(tensor: "t", dtype: "F8_E4M3FN"),
                               safetensorsBytes(header: #"{"t":{"dtype":"F8_E4M3FN","shape":[1],"data_offsets":[0,1]}}"#, data: [0]))
    }

    @Test("an escaped NUL in a tensor name is refused, and in any other key (json-c would cut it short)") func nulInName() {
        expectSafeTensorsError(.nulInTensorName(tensor: "a\u{0}b"),
                               safetensorsBytes(header: #"{"a\u0000b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [0]))
        expectSafeTensorsError(.invalidJSON(reason: "NUL character in a key", offset: 6),
                               safetensorsBytes(header: #"{"t":{"dtype\u0000":"I8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [0]))
    }

    @Test("50,000 tensors declared in shuffled order come out in offset order")
    func manyTensors() throws {
        var rng = SeededGenerator(seed: 5)
        let count = 50_000
        let entries = (0..<count).shuffled(using: &rng).map { #""t\#($0)":{"dtype":"F16","shape":[2],"data_offsets":[\#(4 * $0),\#(4 * $0 + 4)]}"# }
        let file = try openSafeTensors(safetensorsBytes(header: "{" + entries.joined(separator: ",") + "}",
                                                        data: [UInt8](repeating: 0, count: 4 * count)))
        #expect(file.tensors.map(\.name) == (0..<count).map { "t\($0)" })
    }

    @Test("offsets with holes, overlaps, reversed, or not starting at 0 (test_json_attack)")
    func invalidOffsets() {
        let attack = (0..<10).map { #""weight_\#($0)":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}"# }.joined(separator: ",")
        expectSafeTensorsError(.invalidOffset(tensor: "weight_1"),
                               safetensorsBytes(header: "{" + attack + "}", data: [UInt8](repeating: 0, count: 16)))
        expectSafeTensorsError(.invalidOffset(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#, data: [0, 0, 0, 0]))
        expectSafeTensorsError(.invalidOffset(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}"#, data: [0]))
        expectSafeTensorsError(.invalidOffset(tensor: "b"),
                               safetensorsBytes(header: #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":"#
                                   + #"{"dtype":"U8","shape":[1],"data_offsets":[3,4]}}"#, data: [0, 0, 0, 0]))
    }

    @Test("shape × dtype overflow (test_validation_overflow), dimensions past Int64 included") func overflow() {
        expectSafeTensorsError(.overflow(tensor: "test"), rustBytes(
            #"O\x00\x00\x00\x00\x00\x00\x00{"test":{"dtype":"I32","shape":[2,18446744073709551614],"data_offsets":[0,16]}}"# + sixteenZeros))
        expectSafeTensorsError(.overflow(tensor: "test"), rustBytes(
            #"N\x00\x00\x00\x00\x00\x00\x00{"test":{"dtype":"I32","shape":[2,9223372036854775807],"data_offsets":[0,16]}}"# + sixteenZeros))
        expectSafeTensorsError(.overflow(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        // Valid for the reference (0 elements), but a dimension TensorInfo cannot hold.
        expectSafeTensorsError(.overflow(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"F32","shape":[0,9223372036854775808],"data_offsets":[0,0]}}"#))
    }

    @Test("sub-byte tensors must fill whole bytes") func misaligned() {
        expectSafeTensorsError(.misalignedSlice(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"F4","shape":[1,3],"data_offsets":[0,2]}}"#, data: [0, 0]))
        expectSafeTensorsError(.misalignedSlice(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"F6_E2M3","shape":[5],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
    }

    @Test("size must equal shape × dtype (test_invalid_info)") func sizeMismatch() {
        expectSafeTensorsError(.sizeMismatch(tensor: "test", expected: 16, actual: 4), rustBytes(
            #"<\x00\x00\x00\x00\x00\x00\x00{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0, 4]}}"#))
        expectSafeTensorsError(.sizeMismatch(tensor: "t", expected: 1, actual: 9_223_372_036_854_775_808),
                               safetensorsBytes(header: #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,9223372036854775808]}}"#, data: [0]))
    }

    @Test("trailing bytes (polyglot) and missing bytes (test_metadata_incomplete_buffer)") func incompleteBuffer() {
        let header = #"<\x00\x00\x00\x00\x00\x00\x00{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"#
        expectSafeTensorsError(.incompleteBuffer(expected: 16, actual: 16 + 34),
                               rustBytes(header + sixteenZeros + "extra_bogus_data_for_polyglot_file"))
        expectSafeTensorsError(.incompleteBuffer(expected: 16, actual: 14), rustBytes(header + String(repeating: "\\x00", count: 14)))
        expectSafeTensorsError(.incompleteBuffer(expected: 0, actual: 1), safetensorsBytes(header: "{}", data: [0]))
    }

    @Test("messages name the defect and the tensor, on one line")
    func messages() {
        #expect(SafeTensorsError.incompleteBuffer(expected: 16, actual: 14).description
            == "file truncated: the header needs 16 bytes of data, the file has 14")
        #expect(SafeTensorsError.incompleteBuffer(expected: 16, actual: 50).description.contains("34 bytes after the last tensor"))
        #expect(SafeTensorsError.nulInTensorName(tensor: "a\u{0}b").description.contains("a\\u{0}b"))
        #expect(SafeTensorsError.unknownDType(tensor: "w", dtype: "X").description == "unknown dtype 'X' for tensor 'w'")
    }

    // MARK: - Robustness and parity

    @Test("mutated files throw or open, never crash")
    func mutationFuzz() throws {
        let header = #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":"#
            + #"{"dtype":"BF16","shape":[2],"data_offsets":[16,20]},"q":{"dtype":"F4","shape":[2],"data_offsets":[20,21]}}"#
        let valid = safetensorsBytes(header: header, data: [UInt8](repeating: 1, count: 21))
        var rng = SeededGenerator(seed: 42)
        let directory = TemporaryDirectory()
        var opened = 0
        for trial in 0..<600 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0..<bytes.count, using: &rng))
                default:
                    guard bytes.count > 8 else { continue }
                    bytes[Int.random(in: 8..<bytes.count, using: &rng)] = Array(#"{}[]",:0-9e\ "#.utf8).randomElement(using: &rng)!
                }
                if bytes.isEmpty { break }
            }
            let path = directory.write("m\(trial).safetensors", bytes)
            if let file = try? SafeTensorsFile(path: path) {
                opened += 1
                for info in file.tensors { #expect(try file.bytes(of: info.name).count == info.byteCount) }
            }
        }
        #expect(opened < 600)
    }

    /// Inputs for the parity test: every defect above plus the json-c/serde differences.
    static let parityCorpus: [[UInt8]] = {
        let valid = #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        var corpus: [[UInt8]] = [
            [], [1, 0, 0], rustBytes(#"<\x00\x00\x00\x00\xff\xff\xff{}"#), rustBytes(#"<\x00\x00\x00\x00\x00\x00\x00"#),
            rustBytes(#"\x01\x00\x00\x00\x00\x00\x00\x00\xff"#), rustBytes(#"\x01\x00\x00\x00\x00\x00\x00\x00{"#),
            rustBytes(#"\x06\x00\x00\x00\x00\x00\x00\x00\x09\x0A{}\x0D\x20"#),
            safetensorsBytes(header: valid, data: [7]), safetensorsBytes(header: valid, data: [7, 8]), safetensorsBytes(header: valid),
        ]
        let headers = [
            "{}", "[]", "null", "{} x", "{}\u{0B}", "{'t':{}}", #"{"__metadata__":null}"#, #"{"__metadata__":{"a":1}}"#,
            #"{"__metadata__":{"a":"x"},"__metadata__":{"a":"x"}}"#, #"{"__metadata__":{"a":"1","a":"2"}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":-0}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1,"x":2}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":NaN}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1.}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"\ud800"}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"\ud83d\ude00/\/"}}"#,
            "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":\"\t\"}}",
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"dtype":"U8"}}"#,
            #"{"t":{"dtype":"U8","shape":[-0],"data_offsets":[0,1]}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,9223372036854775808]}}"#,
            #"{"t":{"dtype":"I32","shape":[2,18446744073709551614],"data_offsets":[0,1]}}"#,
            #"{"t":{"dtype":"u8","shape":[1],"data_offsets":[0,1]}}"#,
            #"{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}"#,
            #"{"t":{"dtype":"I32","shape":[2,2],"data_offsets":[0,1]}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}"#,
            #"{"t":{"shape":[1],"data_offsets":[0,1]}}"#, #"{"t":null}"#, #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":[1e400]}}"#, #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":0.1e309}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":123456789012345678901234567890}}"#,
            #"{"t":4,"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
            #"{"t":{"dtype":"F9","shape":[1],"data_offsets":[0,1]},"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[5,9]},"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"# + String(repeating: "[", count: 125) + String(repeating: "]", count: 125) + "}}",
            #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":"# + String(repeating: "[", count: 126) + String(repeating: "]", count: 126) + "}}",
        ]
        corpus += headers.map { safetensorsBytes(header: $0, data: $0.contains("\"t\"") ? [0] : []) }
        return corpus
    }()

    /// The Python safetensors package's verdict on each file: "ok", or its error message on one line.
    static func referenceVerdicts(_ paths: [String]) throws -> [String] {
        let result = try ProcessRunner.python("""
            import sys
            from safetensors import deserialize
            for path in sys.argv[1:]:
                try:
                    deserialize(open(path, "rb").read()); print("ok")
                except Exception as e:
                    print(str(e).replace("\\n", " "))
            """, paths)
        try #require(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    @Test("accepts and refuses exactly what the Python safetensors package does, with the same kind of error", .tags(.interop), .requiresPython("safetensors"))
    func referenceParity() throws {
        let directory = TemporaryDirectory()
        var paths: [String] = []
        for (index, bytes) in Self.parityCorpus.enumerated() { paths.append(directory.write("p\(index).safetensors", bytes)) }
        let verdicts = try Self.referenceVerdicts(paths)
        for (index, path) in paths.enumerated() {
            let reference = verdicts[index]
            do {
                _ = try SafeTensorsFile(path: path)
                #expect(reference == "ok", "case \(index): Swift accepts, the reference says \(reference)")
            } catch let error as SafeTensorsError {
                #expect(reference.contains(Self.referenceMessage(for: error)), "case \(index): Swift says \(error), the reference says \(reference)")
            }
        }
    }

    @Test("randomly mutated headers get the Python package's verdict", .tags(.interop), .requiresPython("safetensors"))
    func mutationParity() throws {
        let header = #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":"#
            + #"{"dtype":"BF16","shape":[2],"data_offsets":[16,20]},"q":{"dtype":"F4","shape":[2],"data_offsets":[20,21]}}"#
        var rng = SeededGenerator(seed: 2024)
        let alphabet = Array(#"{}[]",:0123456789-+.eE\u tnfalsrN"#.utf8) + [0x09, 0x0A, 0xC3, 0xA9]
        let directory = TemporaryDirectory()
        var paths: [String] = []
        for trial in 0..<400 {
            var body = Array(header.utf8)
            for _ in 0..<Int.random(in: 1...2, using: &rng) {
                let at = Int.random(in: 0..<body.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: body[at] = alphabet.randomElement(using: &rng)!
                case 1: body.remove(at: at)
                default: body.insert(alphabet.randomElement(using: &rng)!, at: at)
                }
            }
            let bytes = withUnsafeBytes(of: UInt64(body.count).littleEndian) { Array($0) } + body + [UInt8](repeating: 1, count: 21)
            paths.append(directory.write("r\(trial).safetensors", bytes))
        }
        let verdicts = try Self.referenceVerdicts(paths)
        for (index, path) in paths.enumerated() {
            do {
                _ = try SafeTensorsFile(path: path)
                #expect(verdicts[index] == "ok", "\(path): Swift accepts, the reference says \(verdicts[index])")
            } catch let error as SafeTensorsError {
                if case .nulInTensorName = error { continue }
                #expect(verdicts[index].contains(Self.referenceMessage(for: error)),
                        "\(String(decoding: fileContents(path).dropFirst(8).prefix(220), as: UTF8.self)): Swift says \(error), the reference says \(verdicts[index])")
            }
        }
    }

    /// The part of the reference's message for the error that `error` corresponds to.
    static func referenceMessage(for error: SafeTensorsError) -> String {
        switch error {
        case .headerTooSmall: "header too small"
        case .headerTooLarge: "header too large"
        case .invalidHeaderLength: "invalid header length"
        case .invalidUTF8: "invalid UTF-8"
        case .invalidJSON, .headerNotAnObject, .invalidMetadata, .malformedTensorEntry, .unknownDType: "invalid JSON in header"
        case .invalidOffset(let tensor): "invalid offset for tensor `\(tensor)`"
        case .overflow: "overflow computing buffer size"
        case .misalignedSlice: "does not end up at a byte boundary"
        case .sizeMismatch: "invalid shape, data type, or offset for tensor"
        case .incompleteBuffer: "incomplete metadata, file not fully covered"
        case .nulInTensorName, .headerTooLargeToWrite, .duplicateTensorName: "(no reference error)"
        }
    }

    @Test("reads files written by the Python safetensors package: equal bytes for every dtype, metadata included", .tags(.interop), .requiresPython("numpy", "safetensors"))
    func pythonInterop() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("py.safetensors")
        let result = try ProcessRunner.python("""
            import sys, numpy as np
            from safetensors.numpy import save_file
            rng = np.random.default_rng(3)
            t = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array([-3, 7], dtype=np.int64),
                 "h": np.array([1.5, -2], dtype=np.float16), "b": np.array([True, False, True]),
                 "u": rng.integers(0, 2**32, size=(2, 2), dtype=np.uint32), "c": np.array([1 + 2j], dtype=np.complex64),
                 "d": np.array(2.5, dtype=np.float64), "e": np.zeros((3, 0), dtype=np.int16), "i8": np.array([-128, 127], dtype=np.int8)}
            save_file(t, sys.argv[1], metadata={"format": "pt"})
            for k in sorted(t): print(k, t[k].dtype.str, ",".join(map(str, t[k].shape)), t[k].tobytes().hex())
            """, [path])
        try #require(result.status == 0, "\(result.stderr)")
        let file = try SafeTensorsFile(path: path)
        #expect(file.metadata == ["format": "pt"])
        let dtypes = ["<f4": DType.F32, "<i8": .I64, "<f2": .F16, "|b1": .BOOL, "<u4": .U32, "<c8": .C64, "<f8": .F64, "<i2": .I16, "|i1": .I8]
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == file.tensors.count)
        for line in lines {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            let shape = fields[2].split(separator: ",").compactMap { Int($0) }
            #expect(file.info(named: fields[0]) == TensorInfo(name: fields[0], dtype: dtypes[fields[1]]!, shape: shape))
            #expect(try file.bytes(of: fields[0]) == hexBytes(fields.count > 3 ? fields[3] : ""))
        }
        // The reference's writer puts the strictest alignment first.
        #expect(file.tensors.first?.dtype == .C64 || file.tensors.first?.dtype == .F64 || file.tensors.first?.dtype == .I64)
    }
}

/// Bytes from a lowercase hex string.
func hexBytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count - 1, by: 2).map {
        UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)!
    }
}
