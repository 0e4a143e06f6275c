import CJSONC

/// A memory-mapped safetensors file: validated on open, tensors read zero-copy.
///
/// Opening reads only the 8-byte length and the JSON header, and checks them exactly as the
/// reference implementation does (see `Formats/safetensors.md`); tensor bytes are views into the
/// mapping, so opening takes the same time whatever the size of the data.
public final class SafeTensorsFile: CheckpointReader, @unchecked Sendable {
    /// The reference implementation's header size limit, in bytes.
    public static let maximumHeaderSize = 100_000_000

    public let path: String
    public var format: WeightFormat { .safetensors }
    public let metadata: [String: String]
    /// Tensors in data-offset order.
    public let tensors: [TensorInfo]
    /// The header length N (the data buffer starts at 8 + N).
    public let headerSize: Int
    private let file: MappedFile
    private let ranges: [String: Range<Int>]

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        let header = try Self.parse(file.bytes)
        metadata = header.metadata
        tensors = header.tensors.map(\.info)
        headerSize = header.headerSize
        var ranges: [String: Range<Int>] = [:]
        for entry in header.tensors { ranges[entry.info.name] = entry.range }
        self.ranges = ranges
    }

    /// Byte range of a tensor's data, relative to the start of the data buffer.
    public func dataOffsets(of name: String) -> Range<Int>? { ranges[name] }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let range = ranges[name] else { throw CheckpointError.tensorNotFound(name: name) }
        let start = 8 + headerSize
        let fileRange = (start + range.lowerBound)..<(start + range.upperBound)
        defer { file.release(fileRange) }
        return try body(UnsafeRawBufferPointer(rebasing: file.bytes[fileRange]))
    }

    struct Entry {
        var info: TensorInfo
        var range: Range<Int>
    }

    /// Validates a whole file's bytes; returns the header's contents in offset order.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(SafeTensorsError)
        -> (metadata: [String: String], tensors: [Entry], headerSize: Int)
    {
        guard bytes.count >= 8 else { throw .headerTooSmall(fileSize: bytes.count) }
        var declared: UInt64 = 0
        for i in 0..<8 { declared |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard declared <= UInt64(maximumHeaderSize) else {
            throw .headerTooLarge(declared: declared, limit: maximumHeaderSize)
        }
        let n = Int(declared)
        guard 8 + n <= bytes.count else { throw .invalidHeaderLength(declared: declared, fileSize: bytes.count) }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw .invalidUTF8 }
        let (metadata, unsorted) = try parseHeaderJSON(headerBytes)
        let entries = unsorted.sorted {
            ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound)
        }
        var start = 0
        for entry in entries {
            let name = entry.info.name
            guard entry.range.lowerBound == start, entry.range.upperBound >= entry.range.lowerBound else {
                throw .invalidOffset(tensor: name)
            }
            var elements = 1
            for dim in entry.info.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw .overflow(tensor: name) }
                elements = product
            }
            let (bits, overflow) = elements.multipliedReportingOverflow(by: entry.info.dtype.bitWidth)
            guard !overflow else { throw .overflow(tensor: name) }
            guard bits % 8 == 0 else { throw .misalignedSlice(tensor: name) }
            guard entry.range.count == bits / 8 else {
                throw .sizeMismatch(tensor: name, expected: bits / 8, actual: entry.range.count)
            }
            start = entry.range.upperBound
        }
        let dataSize = bytes.count - 8 - n
        guard start == dataSize else { throw .incompleteBuffer(expected: start, actual: dataSize) }
        return (metadata, entries, n)
    }

    /// Parses the header with json-c (strict, UTF-8 validating) into metadata and tensor entries.
    static func parseHeaderJSON(_ header: UnsafeRawBufferPointer) throws(SafeTensorsError)
        -> ([String: String], [Entry])
    {
        // json-c stops at a NUL byte; the reference refuses such headers as invalid JSON.
        if let nul = header.firstIndex(of: 0) { throw .invalidJSON(reason: "NUL byte in header", offset: nul) }
        // json-c keeps keys as C strings: a `\u0000` escape would silently truncate a name.
        if containsEscapedNUL(header) { throw .nulInTensorName }
        guard let tokener = json_tokener_new_ex(8) else { throw .invalidJSON(reason: "out of memory", offset: 0) }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8))
        let root = header.withMemoryRebound(to: CChar.self) {
            json_tokener_parse_ex(tokener, $0.baseAddress, Int32($0.count))
        }
        let error = json_tokener_get_error(tokener)
        let end = json_tokener_get_parse_end(tokener)
        guard let root else {
            let reason = error == json_tokener_continue
                ? "incomplete JSON (the header ends inside a value)"
                : String(cString: json_tokener_error_desc(error))
            throw .invalidJSON(reason: reason, offset: end)
        }
        defer { json_object_put(root) }
        if end < header.count,
           !header[end...].allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            throw .invalidJSON(reason: "trailing characters after the JSON object", offset: end)
        }
        guard json_object_is_type(root, json_type_object) != 0 else { throw .headerNotAnObject }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (key, value) in JSONObjectMembers(root) {
            if key == "__metadata__" {
                metadata = try parseMetadata(value)
                continue
            }
            entries.append(try parseTensor(name: key, value))
        }
        return (metadata, entries)
    }

    private static func parseMetadata(_ value: OpaquePointer?) throws(SafeTensorsError) -> [String: String] {
        guard json_object_is_type(value, json_type_object) != 0 else {
            throw .invalidMetadata(reason: "not an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, entry) in JSONObjectMembers(value) {
            guard json_object_is_type(entry, json_type_string) != 0 else {
                throw .invalidMetadata(reason: "the value of '\(key)' is not a string")
            }
            metadata[key] = jsonString(entry)
        }
        return metadata
    }

    private static func parseTensor(name: String, _ value: OpaquePointer?) throws(SafeTensorsError) -> Entry {
        guard json_object_is_type(value, json_type_object) != 0 else {
            throw .malformedTensorEntry(tensor: name, reason: "not an object")
        }
        var dtypeObject: OpaquePointer?, shapeObject: OpaquePointer?, offsetsObject: OpaquePointer?
        guard json_object_object_get_ex(value, "dtype", &dtypeObject) != 0 else {
            throw .malformedTensorEntry(tensor: name, reason: "missing dtype")
        }
        guard json_object_object_get_ex(value, "shape", &shapeObject) != 0 else {
            throw .malformedTensorEntry(tensor: name, reason: "missing shape")
        }
        guard json_object_object_get_ex(value, "data_offsets", &offsetsObject) != 0 else {
            throw .malformedTensorEntry(tensor: name, reason: "missing data_offsets")
        }
        guard json_object_is_type(dtypeObject, json_type_string) != 0 else {
            throw .malformedTensorEntry(tensor: name, reason: "dtype is not a string")
        }
        let dtypeName = jsonString(dtypeObject)
        guard let dtype = DType(rawValue: dtypeName) else { throw .unknownDType(tensor: name, dtype: dtypeName) }
        guard let shape = nonNegativeIntegers(shapeObject) else {
            throw .malformedTensorEntry(tensor: name, reason: "shape is not an array of non-negative integers")
        }
        guard let offsets = nonNegativeIntegers(offsetsObject), offsets.count == 2 else {
            throw .malformedTensorEntry(tensor: name, reason: "data_offsets is not two non-negative integers")
        }
        guard offsets[1] >= offsets[0] else { throw .invalidOffset(tensor: name) }
        return Entry(info: TensorInfo(name: name, dtype: dtype, shape: shape), range: offsets[0]..<offsets[1])
    }

    /// An array of JSON integers in [0, Int64.max), or `nil` (json-c clamps out-of-range values to the
    /// extremes, so those are refused too).
    private static func nonNegativeIntegers(_ value: OpaquePointer?) -> [Int]? {
        guard json_object_is_type(value, json_type_array) != 0 else { return nil }
        let count = json_object_array_length(value)
        var result: [Int] = []
        result.reserveCapacity(count)
        for i in 0..<count {
            let element = json_object_array_get_idx(value, i)
            guard json_object_is_type(element, json_type_int) != 0 else { return nil }
            let number = json_object_get_int64(element)
            guard number >= 0, number < Int64.max, json_object_get_uint64(element) < UInt64(Int64.max) else { return nil }
            result.append(Int(number))
        }
        return result
    }
}

/// Whether the JSON text contains the escape `\u0000`.
func containsEscapedNUL(_ text: UnsafeRawBufferPointer) -> Bool {
    let pattern = Array("\\u0000".utf8)
    guard text.count >= pattern.count else { return false }
    for i in 0...(text.count - pattern.count) where text[i] == pattern[0] {
        var backslashes = 0
        var j = i
        while j > 0, text[j - 1] == UInt8(ascii: "\\") { backslashes += 1; j -= 1 }
        if backslashes % 2 == 0, (1..<pattern.count).allSatisfy({ text[i + $0] == pattern[$0] }) { return true }
    }
    return false
}

/// The members of a json-c object, in file order.
struct JSONObjectMembers: Sequence {
    let object: OpaquePointer?
    init(_ object: OpaquePointer?) { self.object = object }

    func makeIterator() -> AnyIterator<(String, OpaquePointer?)> {
        var iterator = json_object_iter_begin(object)
        var end = json_object_iter_end(object)
        return AnyIterator {
            guard json_object_iter_equal(&iterator, &end) == 0 else { return nil }
            let key = String(cString: json_object_iter_peek_name(&iterator))
            let value = json_object_iter_peek_value(&iterator)
            json_object_iter_next(&iterator)
            return (key, value)
        }
    }
}

/// A json-c string value, including any embedded `\u0000`.
func jsonString(_ value: OpaquePointer?) -> String {
    let length = Int(json_object_get_string_len(value))
    guard let pointer = json_object_get_string(value) else { return "" }
    return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
}
