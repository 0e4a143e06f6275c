import Foundation
import Testing
import WeightFormats
import _TestSupport

/// A file made of an 8-byte little-endian length, `header`, and `data`.
func safetensorsBytes(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    let body = Array(header.utf8)
    return withUnsafeBytes(of: (declaredLength ?? UInt64(body.count)).littleEndian) { Array($0) } + body + data
}

func openSafeTensors(_ bytes: [UInt8]) throws -> SafeTensorsFile {
    let directory = TemporaryDirectory()
    return try SafeTensorsFile(path: directory.write("t.safetensors", bytes))
}

func expectSafeTensorsError(_ expected: SafeTensorsError, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(throws: expected, sourceLocation: sourceLocation) { try openSafeTensors(bytes) }
}

@Suite("safetensors reader")
struct SafeTensorsReaderTests {
    @Test("reads tensors in offset order, metadata and zero-copy bytes")
    func readsValidFile() throws {
        let header = #"{"__metadata__":{"format":"pt"},"b":{"dtype":"I32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#
        let data: [UInt8] = [0, 0, 0x80, 0x3F, 1, 0, 0, 0, 2, 0, 0, 0]
        let file = try openSafeTensors(safetensorsBytes(header: header, data: data))
        #expect(file.metadata == ["format": "pt"])
        #expect(file.tensors == [TensorInfo(name: "a", dtype: .F32, shape: []), TensorInfo(name: "b", dtype: .I32, shape: [2])])
        #expect(try file.bytes(of: "a") == [0, 0, 0x80, 0x3F])
        #expect(try file.bytes(of: "b") == [1, 0, 0, 0, 2, 0, 0, 0])
        #expect(throws: CheckpointError.tensorNotFound(name: "c")) { try file.bytes(of: "c") }
    }

    @Test("every dtype of the format is accepted")
    func allDTypes() throws {
        for dtype in DType.allCases {
            let count = dtype.bitWidth < 8 ? 8 : 2
            let size = count * dtype.bitWidth / 8
            let header = #"{"t":{"dtype":"\#(dtype.rawValue)","shape":[\#(count)],"data_offsets":[0,\#(size)]}}"#
            let file = try openSafeTensors(safetensorsBytes(header: header, data: [UInt8](repeating: 7, count: size)))
            #expect(file.tensors.first?.dtype == dtype)
        }
    }

    @Test("leading and trailing whitespace around the header JSON is accepted")
    func whitespacePadding() throws {
        #expect(try openSafeTensors(safetensorsBytes(header: "\t\n{}\r ")).tensors.isEmpty)
        #expect(try openSafeTensors(safetensorsBytes(header: "{}      ")).tensors.isEmpty)
    }

    @Test("zero-size and 0-d tensors")
    func zeroSized() throws {
        let header = #"{"empty":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]},"scalar":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}"#
        let file = try openSafeTensors(safetensorsBytes(header: header, data: [1, 2, 3, 4]))
        #expect(try file.bytes(of: "empty").isEmpty)
        #expect(try file.bytes(of: "scalar") == [1, 2, 3, 4])
    }

    @Test("header too small") func headerTooSmall() {
        expectSafeTensorsError(.headerTooSmall(fileSize: 0), [])
        expectSafeTensorsError(.headerTooSmall(fileSize: 5), [1, 0, 0, 0, 0])
    }

    @Test("header too large") func headerTooLarge() {
        let bytes: [UInt8] = [0x3C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF] + Array("{}".utf8)
        expectSafeTensorsError(.headerTooLarge(declared: 0xFFFF_FF00_0000_003C, limit: 100_000_000), bytes)
    }

    @Test("header longer than the file") func invalidHeaderLength() {
        expectSafeTensorsError(.invalidHeaderLength(declared: 60, fileSize: 8), [0x3C, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test("non-UTF-8 header") func invalidUTF8() {
        expectSafeTensorsError(.invalidUTF8, [1, 0, 0, 0, 0, 0, 0, 0, 0xFF])
    }

    @Test("invalid JSON: syntax, truncation, trailing garbage, NUL", arguments: [
        "{", "{\"a\":1", "[1,]", "{} x", "{\"a\":{\"dtype\":\"F32\",}}", "\u{0}{}",
    ])
    func invalidJSON(header: String) throws {
        #expect {
            try openSafeTensors(safetensorsBytes(header: header))
        } throws: { error in
            if case .invalidJSON = error as? SafeTensorsError { return true }
            return false
        }
    }

    @Test("header must be an object") func notAnObject() {
        expectSafeTensorsError(.headerNotAnObject, safetensorsBytes(header: "[1, 2]"))
    }

    @Test("__metadata__ must map strings to strings") func invalidMetadata() {
        expectSafeTensorsError(.invalidMetadata(reason: "the value of 'n' is not a string"),
                               safetensorsBytes(header: #"{"__metadata__":{"n":1}}"#))
        expectSafeTensorsError(.invalidMetadata(reason: "not an object of strings"),
                               safetensorsBytes(header: #"{"__metadata__":"pt"}"#))
    }

    @Test("malformed tensor entries", arguments: [
        (#"{"t":{"shape":[1],"data_offsets":[0,4]}}"#, "missing dtype"),
        (#"{"t":{"dtype":"F32","data_offsets":[0,4]}}"#, "missing shape"),
        (#"{"t":{"dtype":"F32","shape":[1]}}"#, "missing data_offsets"),
        (#"{"t":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, "dtype is not a string"),
        (#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, "shape is not an array of non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, "shape is not an array of non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, "data_offsets is not two non-negative integers"),
        (#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}"#, "data_offsets is not two non-negative integers"),
        (#"{"t":4}"#, "not an object"),
    ])
    func malformedEntry(header: String, reason: String) {
        expectSafeTensorsError(.malformedTensorEntry(tensor: "t", reason: reason), safetensorsBytes(header: header, data: [0, 0, 0, 0]))
    }

    @Test("unknown dtype is named") func unknownDType() {
        expectSafeTensorsError(.unknownDType(tensor: "t", dtype: "f32"),
                               safetensorsBytes(header: #"{"t":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
    }

    @Test("an escaped NUL in a name is refused") func nulInName() {
        expectSafeTensorsError(.nulInTensorName,
                               safetensorsBytes(header: #"{"a\u0000b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [0]))
    }

    @Test("offsets with holes, overlaps, or not starting at 0 (the JSON attack)")
    func invalidOffsets() {
        let overlapping = (0..<10).map { #""t\#($0)":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}"# }.joined(separator: ",")
        #expect {
            try openSafeTensors(safetensorsBytes(header: "{" + overlapping + "}", data: [UInt8](repeating: 0, count: 16)))
        } throws: { error in
            if case .invalidOffset = error as? SafeTensorsError { return true }
            return false
        }
        expectSafeTensorsError(.invalidOffset(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#, data: [0, 0, 0, 0]))
        expectSafeTensorsError(.invalidOffset(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}"#, data: [0, 0, 0, 0]))
    }

    @Test("shape × dtype overflow") func overflow() {
        expectSafeTensorsError(.overflow(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"F32","shape":[2,9223372036854775806],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        expectSafeTensorsError(.overflow(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
    }

    @Test("sub-byte tensors must fill whole bytes") func misaligned() {
        expectSafeTensorsError(.misalignedSlice(tensor: "t"),
                               safetensorsBytes(header: #"{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}"#, data: [0]))
    }

    @Test("size must equal shape × dtype (reference test_invalid_info)") func sizeMismatch() {
        expectSafeTensorsError(.sizeMismatch(tensor: "t", expected: 16, actual: 4),
                               safetensorsBytes(header: #"{"t":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
    }

    @Test("trailing bytes (polyglot) and missing bytes") func incompleteBuffer() {
        let header = #"{"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#
        expectSafeTensorsError(.incompleteBuffer(expected: 4, actual: 4 + 34),
                               safetensorsBytes(header: header, data: [1, 2, 3, 4] + Array("extra_bogus_data_for_polyglot_file".utf8)))
        expectSafeTensorsError(.incompleteBuffer(expected: 4, actual: 2), safetensorsBytes(header: header, data: [1, 2]))
    }

    @Test("mutated files throw or open, never crash")
    func mutationFuzz() throws {
        let header = #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}}"#
        let valid = safetensorsBytes(header: header, data: [UInt8](repeating: 1, count: 20))
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<400 {
            var bytes = valid
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1: bytes.removeLast(Int.random(in: 1..<bytes.count, using: &rng))
            default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0..<bytes.count, using: &rng))
            }
            if let file = try? openSafeTensors(bytes) {
                for info in file.tensors { _ = try file.bytes(of: info.name) }
            }
        }
    }

    @Test("reads files written by the Python safetensors package, metadata included")
    func pythonInterop() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("py.safetensors")
        let result = try ProcessRunner.python("""
            import sys, numpy as np
            from safetensors.numpy import save_file
            save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array([-3, 7], dtype=np.int64),
                       "h": np.array([1.5, -2], dtype=np.float16)}, sys.argv[1], metadata={"format": "pt"})
            """, [path])
        try #require(result.status == 0, "\(result.stderr)")
        let file = try SafeTensorsFile(path: path)
        #expect(file.metadata == ["format": "pt"])
        #expect(file.info(named: "w") == TensorInfo(name: "w", dtype: .F32, shape: [2, 3]))
        #expect(try file.withBytes(of: "w") { Array($0.bindMemory(to: Float.self)) } == [0, 1, 2, 3, 4, 5])
        #expect(try file.withBytes(of: "n") { Array($0.bindMemory(to: Int64.self)) } == [-3, 7])
        #expect(try file.withBytes(of: "h") { $0.bindMemory(to: Float16.self).map(Float.init) } == [1.5, -2])
    }
}
