/// A `TensorProto` of an ONNX file (an initializer or the tensor of a node attribute): its
/// description and where its elements are stored.
///
/// Parsing records spans only; element data is reached through ``ONNXModel/withBytes(of:_:)`` of
/// the model the tensor came from: zero-copy for `raw_data` and external data, one decoded
/// buffer for the typed fields.
public struct ONNXTensor: Sendable {
    public let info: TensorInfo
    /// The ONNX `data_type` code.
    public let dataType: Int
    /// Byte range of the whole `TensorProto` message in the model file.
    let messageRange: Range<Int>
    let storage: Storage

    enum Storage: Sendable {
        /// `raw_data`: the span of its bytes in the model file.
        case raw(Range<Int>)
        /// The typed field the data type uses: each occurrence's wire type and span (the packed
        /// payload for wire type 2, the value itself otherwise).
        case typed(field: Int, occurrences: [Occurrence])
        /// `data_location` = EXTERNAL: `length` is the tensor's byte count (checked against an
        /// explicit `length` entry).
        case external(location: String, offset: Int, length: Int)
        /// No data and no elements.
        case empty
    }

    struct Occurrence: Sendable {
        let wireType: Int
        let range: Range<Int>
    }

    /// The external data file holding the elements, relative to the model's folder; `nil` when
    /// they are stored in the model file.
    public var externalLocation: String? {
        if case .external(let location, _, _) = storage { return location }
        return nil
    }

    /// The byte range of the elements inside ``externalLocation``.
    var externalRange: Range<Int>? {
        if case .external(_, let offset, let length) = storage { return offset..<(offset + length) }
        return nil
    }
}

// MARK: - Data types

extension ONNXTensor {
    /// ONNX `TensorProto.DataType` → dtype; `nil` for the types modelforget refuses (STRING,
    /// COMPLEX128, 4- and 2-bit integers, 6-bit floats, UNDEFINED, unknown codes).
    public static func dtype(forDataType code: Int) -> DType? {
        switch code {
        case 1: .F32
        case 2: .U8
        case 3: .I8
        case 4: .U16
        case 5: .I16
        case 6: .I32
        case 7: .I64
        case 9: .BOOL
        case 10: .F16
        case 11: .F64
        case 12: .U32
        case 13: .U64
        case 14: .C64
        case 16: .BF16
        case 17: .F8_E4M3
        case 18: .F8_E4M3FNUZ
        case 19: .F8_E5M2
        case 20: .F8_E5M2FNUZ
        case 23: .F4
        case 24: .F8_E8M0
        default: nil
        }
    }

    /// dtype → ONNX data type code; `nil` for dtypes ONNX has no code modelforget writes (F6).
    public static func dataType(for dtype: DType) -> Int? {
        switch dtype {
        case .F32: 1
        case .U8: 2
        case .I8: 3
        case .U16: 4
        case .I16: 5
        case .I32: 6
        case .I64: 7
        case .BOOL: 9
        case .F16: 10
        case .F64: 11
        case .U32: 12
        case .U64: 13
        case .C64: 14
        case .BF16: 16
        case .F8_E4M3: 17
        case .F8_E4M3FNUZ: 18
        case .F8_E5M2: 19
        case .F8_E5M2FNUZ: 20
        case .F4: 23
        case .F8_E8M0: 24
        case .F6_E2M3, .F6_E3M2: nil
        }
    }

    private static let dataTypeNames = [
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL",
        "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN",
        "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1", "FLOAT8E8M0",
        "UINT2", "INT2", "FLOAT6E2M3", "FLOAT6E3M2",
    ]

    /// The name of an ONNX data type code, e.g. `STRING (8)`.
    static func dataTypeName(_ code: Int) -> String {
        dataTypeNames.indices.contains(code) ? "\(dataTypeNames[code]) (\(code))" : "\(code)"
    }

    /// The typed field that holds elements of `dtype` when `raw_data` is not used
    /// (float_data 4, int32_data 5, int64_data 7, double_data 10, uint64_data 11).
    static func typedField(for dtype: DType) -> Int {
        switch dtype {
        case .F32, .C64: 4
        case .F64: 10
        case .I64: 7
        case .U32, .U64: 11
        default: 5
        }
    }

    /// Bytes one entry of `field` contributes to the little-endian element data of `dtype`.
    static func entryWidth(field: Int, dtype: DType) -> Int {
        switch field {
        case 4: 4
        case 7, 10: 8
        case 11: dtype == .U32 ? 4 : 8
        default: dtype == .F4 ? 1 : (dtype.byteWidth ?? 1)   // int32_data: 4-bit types hold a packed pair
        }
    }
}

// MARK: - Parsing

extension ONNXTensor {
    /// Parses the `TensorProto` occupying `range` of `bytes`. Element data is not read, only
    /// counted (for typed fields) and range-checked (for `raw_data`).
    static func parse(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(ONNXError) -> ONNXTensor {
        var reader = ProtobufReader(bytes, range: range)
        var dims: [UInt64] = []
        var dataType = 0
        var name = ""
        var raw: Range<Int>?
        var typed: [Int: [Occurrence]] = [:]
        var external: [String: String] = [:]
        var location = 0
        var segmented = false
        var strings = false
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, _): try reader.appendVarints(wireType: field.wireType, fieldStart: field.start, to: &dims)
            case (2, 0): dataType = Int(truncatingIfNeeded: try reader.varint())
            case (3, _): segmented = true; try reader.skip(wireType: field.wireType)
            case (6, _): strings = true; try reader.skip(wireType: field.wireType)
            case (8, 2): name = try reader.string()
            case (9, 2): raw = try reader.lengthDelimited()
            case (4, _), (5, _), (7, _), (10, _), (11, _):
                let allowed = switch field.number { case 4: [2, 5]; case 10: [1, 2]; default: [0, 2] }
                let kind = switch field.number { case 4: "fixed32"; case 10: "fixed64"; default: "varint" }
                try reader.expect(field.wireType, in: allowed, kind, fieldStart: field.start)
                let payload: Range<Int>
                if field.wireType == 2 {
                    payload = try reader.lengthDelimited()
                } else {
                    let start = reader.position
                    try reader.skip(wireType: field.wireType)
                    payload = start..<reader.position
                }
                typed[field.number, default: []].append(Occurrence(wireType: field.wireType, range: payload))
            case (13, 2):
                let (key, value) = try ProtobufReader.stringEntry(bytes, range: try reader.lengthDelimited())
                                external[key] = value
            case (14, 0): location = Int(truncatingIfNeeded: try reader.varint())
            default: try reader.skip(wireType: field.wireType)
            }
        }
        if segmented { throw .segmentedTensor(tensor: name) }
        guard !strings, let dtype = dtype(forDataType: dataType) else {
            throw .unsupportedDataType(tensor: name, dataType: dataType)
        }
        guard dims.allSatisfy({ $0 <= UInt64(Int.max) }) else { throw .invalidDims(tensor: name) }
        let info = TensorInfo(name: name, dtype: dtype, shape: dims.map { Int($0) })
        guard let byteCount = info.byteCount, let elementCount = info.elementCount, info.hasBoundedShape else {
            throw .invalidDims(tensor: name)
        }
        let storage: Storage
        if location == 1 {
            storage = try externalStorage(external, tensor: name, byteCount: byteCount)
        } else if let raw {
            guard raw.count == byteCount else {
                throw .dataSizeMismatch(tensor: name, expected: byteCount, actual: raw.count)
            }
            storage = .raw(raw)
        } else if let occurrences = typed[typedField(for: dtype)] {
            let field = typedField(for: dtype)
            let entries = try countEntries(bytes, field: field, occurrences: occurrences)
            let width = entryWidth(field: field, dtype: dtype)
            guard entries.multipliedReportingOverflow(by: width) == (byteCount, false) else {
                throw .dataSizeMismatch(tensor: name, expected: byteCount, actual: entries &* width)
            }
            storage = .typed(field: field, occurrences: occurrences)
        } else {
            guard elementCount == 0 else { throw .noData(tensor: name) }
            storage = .empty
        }
        return ONNXTensor(info: info, dataType: dataType, messageRange: range, storage: storage)
    }

    /// Validates the `external_data` entries (location, offset, length; others are ignored).
    private static func externalStorage(_ entries: [String: String], tensor: String, byteCount: Int)
        throws(ONNXError) -> Storage
    {
        guard let path = entries["location"], !path.isEmpty else {
            throw .invalidExternalDataEntry(tensor: tensor, key: "location")
        }
        guard isAllowedLocation(path) else {
            throw .externalPathNotAllowed(tensor: tensor, location: path)
        }
        guard let offset = Int(entries["offset"] ?? "0"), offset >= 0 else {
            throw .invalidExternalDataEntry(tensor: tensor, key: "offset")
        }
        if let text = entries["length"] {
            guard let length = Int(text), length >= 0 else {
                throw .invalidExternalDataEntry(tensor: tensor, key: "length")
            }
            guard length == byteCount else { throw .dataSizeMismatch(tensor: tensor, expected: byteCount, actual: length) }
        }
        guard offset.addingReportingOverflow(byteCount).overflow == false else {
            throw .externalDataOutOfRange(tensor: tensor, location: path)
        }
        return .external(location: path, offset: offset, length: byteCount)
    }

    /// The number of entries in the occurrences of a typed field (checks packed payloads).
    private static func countEntries(_ bytes: UnsafeRawBufferPointer, field: Int, occurrences: [Occurrence])
        throws(ONNXError) -> Int
    {
        var count = 0
        for occurrence in occurrences {
            guard occurrence.wireType == 2 else {
                count += 1
                continue
            }
            switch field {
            case 4, 10:
                let width = field == 4 ? 4 : 8
                guard occurrence.range.count % width == 0 else { throw .truncated(offset: occurrence.range.upperBound) }
                count += occurrence.range.count / width
            default:
                var reader = ProtobufReader(bytes, range: occurrence.range)
                while !reader.atEnd {
                    _ = try reader.varint()
                    count += 1
                }
            }
        }
        return count
    }

    /// Decodes the typed field into little-endian element bytes (`info.byteCount` of them).
    func decodeTyped(_ bytes: UnsafeRawBufferPointer) throws(ONNXError) -> [UInt8] {
        guard case .typed(let field, let occurrences) = storage else { return [] }
        var out: [UInt8] = []
        out.reserveCapacity(info.byteCount ?? 0)
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
        }
        let width = ONNXTensor.entryWidth(field: field, dtype: info.dtype)
        for occurrence in occurrences {
            var reader = ProtobufReader(bytes, range: occurrence.range)
            while !reader.atEnd {
                switch field {
                case 4: append(try reader.fixed32())
                case 10: append(try reader.fixed64())
                default:
                    // Varints: int64/uint64 values, or int32_data entries holding a value or the
                    // bit pattern of a narrower type in their low bits.
                    let value = try reader.varint()
                    switch width {
                    case 8: append(value)
                    case 4: append(UInt32(truncatingIfNeeded: value))
                    case 2: append(UInt16(truncatingIfNeeded: value))
                    default: append(UInt8(truncatingIfNeeded: value))
                    }
                }
            }
        }
        return out
    }
}
