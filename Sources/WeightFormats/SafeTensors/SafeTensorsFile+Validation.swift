import CJSONC

extension SafeTensorsFile {
    /// One tensor of a validated header.
    struct Entry {
        var info: TensorInfo
        /// `data_offsets`, relative to the data buffer.
        var range: Range<Int>
    }

    /// A validated header.
    struct Header {
        var metadata: [String: String]
        /// In data-offset order.
        var tensors: [Entry]
        var headerSize: Int
    }

    /// A tensor entry as declared, before validation: integers as the reference reads them (u64).
    private struct DeclaredEntry {
        var name: String
        var dtype: DType
        var shape: [UInt64]
        var begin: UInt64
        var end: UInt64
    }

    static let shapeReason = "shape is not an array of non-negative integers"
    static let offsetsReason = "data_offsets is not two non-negative integers"

    /// Validates a whole file's bytes in the reference implementation's order
    /// (`SafeTensors::read_metadata`), touching only the length field and the header.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(SafeTensorsError) -> Header {
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
        let (metadata, declaredEntries) = try parseHeaderJSON(headerBytes)

        // `TryFrom<HashMetadata>` sorts by data_offsets, then `Metadata::validate`.
        let sorted = declaredEntries.enumerated().sorted {
            ($0.element.begin, $0.element.end, $0.offset) < ($1.element.begin, $1.element.end, $1.offset)
        }.map(\.element)
        var start: UInt64 = 0
        for entry in sorted {
            guard entry.begin == start, entry.end >= entry.begin else { throw .invalidOffset(tensor: entry.name) }
            start = entry.end
            var elements: UInt64 = 1
            for dim in entry.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw .overflow(tensor: entry.name) }
                elements = product
            }
            let (bits, overflow) = elements.multipliedReportingOverflow(by: UInt64(entry.dtype.bitWidth))
            guard !overflow else { throw .overflow(tensor: entry.name) }
            guard bits % 8 == 0 else { throw .misalignedSlice(tensor: entry.name) }
            guard entry.end - entry.begin == bits / 8 else {
                throw .sizeMismatch(tensor: entry.name, expected: bits / 8, actual: entry.end - entry.begin)
            }
        }
        let dataSize = UInt64(bytes.count - 8 - n)
        guard start == dataSize else { throw .incompleteBuffer(expected: start, actual: dataSize) }

        // Every offset is now within the file; in an empty tensor, dimensions can still exceed
        // `Int`, or multiply past it (refused: see TensorInfo.hasBoundedShape).
        var entries: [Entry] = []
        entries.reserveCapacity(sorted.count)
        for entry in sorted {
            var shape: [Int] = []
            for dim in entry.shape {
                guard let value = Int(exactly: dim) else { throw .overflow(tensor: entry.name) }
                shape.append(value)
            }
            let info = TensorInfo(name: entry.name, dtype: entry.dtype, shape: shape)
            guard info.hasBoundedShape else { throw .overflow(tensor: entry.name) }
            entries.append(Entry(info: info, range: Int(entry.begin)..<Int(entry.end)))
        }
        return Header(metadata: metadata, tensors: entries, headerSize: n)
    }

    /// Parses the header with json-c (strict, UTF-8 validating, serde_json's nesting limit), checks
    /// what json-c lets through (``SafeTensorsHeaderSyntax``), then reads metadata and tensor entries
    /// in header order.
    private static func parseHeaderJSON(_ header: UnsafeRawBufferPointer) throws(SafeTensorsError)
        -> ([String: String], [DeclaredEntry])
    {
        // json-c stops at a NUL byte as if the text ended there.
        if let nul = header.firstIndex(of: 0) {
            throw .invalidJSON(reason: "NUL byte (control character) in header", offset: nul)
        }
        guard let tokener = json_tokener_new_ex(Int32(SafeTensorsHeaderSyntax.maximumDepth + 1)) else {
            throw .invalidJSON(reason: "out of memory", offset: 0)
        }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8))
        let root = header.withMemoryRebound(to: CChar.self) {
            json_tokener_parse_ex(tokener, $0.baseAddress, Int32($0.count))
        }
        let error = json_tokener_get_error(tokener)
        let end = json_tokener_get_parse_end(tokener)
        if root == nil, error == json_tokener_success { throw .headerNotAnObject }   // the text `null`
        guard let root else {
            let reason = error == json_tokener_continue
                ? "incomplete JSON (the header ends inside a value)"
                : String(cString: json_tokener_error_desc(error))
            throw .invalidJSON(reason: reason, offset: end)
        }
        defer { json_object_put(root) }
        if end < header.count, !header[end...].allSatisfy(isJSONWhitespace) {
            throw .invalidJSON(reason: "trailing characters", offset: end)
        }
        let shadowed = try SafeTensorsHeaderSyntax.check(header)
        guard json_object_is_type(root, json_type_object) != 0 else { throw .headerNotAnObject }
        var metadata: [String: String] = [:]
        var entries: [DeclaredEntry] = []
        for (key, value) in JSONObjectMembers(root) {
            if key == "__metadata__" {
                metadata = try parseMetadata(value)
            } else {
                entries.append(try parseTensor(name: key, value))
            }
        }
        for (name, range) in shadowed {
            try checkShadowedEntry(name: name, UnsafeRawBufferPointer(rebasing: header[range]), tokener: tokener)
        }
        return (metadata, entries)
    }

    /// An entry hidden by a later one of the same name (json-c kept only the last) must still be a
    /// well-formed entry, as serde deserializes every one.
    private static func checkShadowedEntry(
        name: String, _ text: UnsafeRawBufferPointer, tokener: UnsafeMutablePointer<json_tokener>
    ) throws(SafeTensorsError) {
        guard text.first == UInt8(ascii: "{") else { throw .malformedTensorEntry(tensor: name, reason: "not an object") }
        json_tokener_reset(tokener)
        let value = text.withMemoryRebound(to: CChar.self) { json_tokener_parse_ex(tokener, $0.baseAddress, Int32($0.count)) }
        defer { if let value { json_object_put(value) } }
        _ = try parseTensor(name: name, value)
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// `__metadata__`: an object of strings, or `null` (the reference reads an `Option`).
    private static func parseMetadata(_ value: OpaquePointer?) throws(SafeTensorsError) -> [String: String] {
        if value == nil { return [:] }   // json-c represents `null` as a NULL object
        guard json_object_is_type(value, json_type_object) != 0 else {
            throw .invalidMetadata(reason: "not an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, entry) in JSONObjectMembers(value) {
            guard json_object_is_type(entry, json_type_string) != 0 else {
                throw .invalidMetadata(reason: "the value of '\(SafeTensorsError.printable(key))' is not a string")
            }
            metadata[key] = jsonString(entry)
        }
        return metadata
    }

    /// A tensor entry, its fields checked in header order as serde does, then the missing ones.
    private static func parseTensor(name: String, _ value: OpaquePointer?) throws(SafeTensorsError) -> DeclaredEntry {
        guard json_object_is_type(value, json_type_object) != 0 else {
            throw .malformedTensorEntry(tensor: name, reason: "not an object")
        }
        var dtype: DType?
        var shape: [UInt64]?
        var offsets: [UInt64]?
        for (key, field) in JSONObjectMembers(value) {
            switch key {
            case "dtype":
                guard json_object_is_type(field, json_type_string) != 0 else {
                    throw .malformedTensorEntry(tensor: name, reason: "dtype is not a string")
                }
                let spelling = jsonString(field)
                guard let known = DType(rawValue: spelling) else { throw .unknownDType(tensor: name, dtype: spelling) }
                dtype = known
            case "shape":
                guard let dims = unsignedIntegers(field) else { throw .malformedTensorEntry(tensor: name, reason: shapeReason) }
                shape = dims
            case "data_offsets":
                guard let pair = unsignedIntegers(field), pair.count == 2 else {
                    throw .malformedTensorEntry(tensor: name, reason: offsetsReason)
                }
                offsets = pair
            default:
                continue   // the reference ignores unknown fields
            }
        }
        guard let dtype else { throw .malformedTensorEntry(tensor: name, reason: "missing dtype") }
        guard let shape else { throw .malformedTensorEntry(tensor: name, reason: "missing shape") }
        guard let offsets else { throw .malformedTensorEntry(tensor: name, reason: "missing data_offsets") }
        return DeclaredEntry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    /// An array of JSON integers in [0, 2^64 − 1], or `nil`. (Texts json-c would clamp or misread,
    /// like `-0` or 2^64, were refused by ``SafeTensorsHeaderSyntax``.)
    private static func unsignedIntegers(_ value: OpaquePointer?) -> [UInt64]? {
        guard json_object_is_type(value, json_type_array) != 0 else { return nil }
        let count = json_object_array_length(value)
        var result: [UInt64] = []
        result.reserveCapacity(count)
        for i in 0..<count {
            let element = json_object_array_get_idx(value, i)
            guard json_object_is_type(element, json_type_int) != 0 else { return nil }
            let signed = json_object_get_int64(element)
            guard signed >= 0 else { return nil }
            // json-c holds values above Int64.max as uint64; get_int64 clamps them to Int64.max.
            result.append(signed == Int64.max ? json_object_get_uint64(element) : UInt64(signed))
        }
        return result
    }
}
