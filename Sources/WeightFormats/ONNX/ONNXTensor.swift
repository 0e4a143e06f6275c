/// A `TensorProto` of an ONNX file: its description and where its elements are stored.
///
/// Parsing records spans only; element data is decoded on access (zero-copy for `raw_data`).
public struct ONNXTensor: Sendable {
    public let info: TensorInfo
    /// The ONNX `data_type` code.
    public let dataType: Int
    /// Byte range of the whole `TensorProto` message in the file.
    let messageRange: Range<Int>
    let storage: Storage

    enum Storage: Sendable {
        case raw(Range<Int>)
        /// Repeated typed fields: the field number and each occurrence's (wire type, payload span or value start).
        case typed(field: Int, occurrences: [(wireType: Int, range: Range<Int>)])
        case external(location: String, offset: Int, length: Int?)
        case empty
    }

    /// ONNX data type → dtype (`Formats/onnx.md`).
    static func dtype(forDataType code: Int) -> DType? {
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

    static func dataType(for dtype: DType) -> Int? {
        (0...30).first { ONNXTensor.dtype(forDataType: $0) == dtype }
    }

    /// Parses a `TensorProto` occupying `range` of `bytes`.
    static func parse(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(ONNXError) -> ONNXTensor {
        var reader = ProtobufReader(bytes, range: range)
        var dims: [UInt64] = []
        var dataType = 0
        var name = ""
        var raw: Range<Int>?
        var typed: [Int: [(Int, Range<Int>)]] = [:]
        var external: [String: String] = [:]
        var location = 0
        var segmented = false
        var strings = false
        while let field = try reader.nextField() {
            switch (field.number, field.wireType) {
            case (1, _): try reader.appendVarints(wireType: field.wireType, to: &dims)
            case (2, 0): dataType = Int(truncatingIfNeeded: try reader.varint())
            case (3, 2): segmented = true; try reader.skip(wireType: 2)
            case (6, _): strings = true; try reader.skip(wireType: field.wireType)
            case (8, 2): name = try reader.string()
            case (9, 2): raw = try reader.lengthDelimited()
            case (4, _), (5, _), (7, _), (10, _), (11, _):
                let start = reader.position
                try reader.skip(wireType: field.wireType)
                let payload: Range<Int>
                if field.wireType == 2 {
                    var inner = ProtobufReader(bytes, range: start..<reader.position)
                    payload = try inner.lengthDelimited()
                } else {
                    payload = start..<reader.position
                }
                typed[field.number, default: []].append((field.wireType, payload))
            case (13, 2):
                var entry = ProtobufReader(bytes, range: try reader.lengthDelimited())
                var key = "", value = ""
                while let inner = try entry.nextField() {
                    switch (inner.number, inner.wireType) {
                    case (1, 2): key = try entry.string()
                    case (2, 2): value = try entry.string()
                    default: try entry.skip(wireType: inner.wireType)
                    }
                }
                external[key] = value
            case (14, 0): location = Int(truncatingIfNeeded: try reader.varint())
            default: try reader.skip(wireType: field.wireType)
            }
        }
        if segmented { throw .segmentedTensor(tensor: name) }
        guard !strings, let dtype = dtype(forDataType: dataType) else {
            throw .unsupportedDataType(tensor: name, dataType: dataType)
        }
        let shape = dims.map { Int(truncatingIfNeeded: $0) }
        let info = TensorInfo(name: name, dtype: dtype, shape: shape)
        guard let byteCount = info.byteCount, let elementCount = info.elementCount else {
            throw .dataSizeMismatch(tensor: name, expected: -1, actual: 0)
        }
        let storage: Storage
        if location == 1 {
            guard let path = external["location"] else { throw .invalidExternalDataEntry(tensor: name, key: "location") }
            guard !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw .externalPathNotAllowed(tensor: name, location: path)
            }
            guard let offset = Int(external["offset"] ?? "0"), offset >= 0 else {
                throw .invalidExternalDataEntry(tensor: name, key: "offset")
            }
            var length: Int?
            if let text = external["length"] {
                guard let value = Int(text), value >= 0 else { throw .invalidExternalDataEntry(tensor: name, key: "length") }
                guard value == byteCount else { throw .dataSizeMismatch(tensor: name, expected: byteCount, actual: value) }
                length = value
            }
            storage = .external(location: path, offset: offset, length: length)
        } else if let raw {
            guard raw.count == byteCount else { throw .dataSizeMismatch(tensor: name, expected: byteCount, actual: raw.count) }
            storage = .raw(raw)
        } else if let (field, occurrences) = typed.first {
            var tensor = ONNXTensor(info: info, dataType: dataType, messageRange: range,
                                    storage: .typed(field: field, occurrences: occurrences))
            let count = try tensor.decodeTyped(bytes).count / max(1, dtype.byteWidth ?? 1)
            guard count == elementCount || (dtype.byteWidth == nil && count * 8 / dtype.bitWidth == elementCount) else {
                throw .dataSizeMismatch(tensor: name, expected: byteCount, actual: count * (dtype.byteWidth ?? 1))
            }
            tensor = ONNXTensor(info: info, dataType: dataType, messageRange: range, storage: tensor.storage)
            return tensor
        } else {
            guard elementCount == 0 else { throw .noData(tensor: name) }
            storage = .empty
        }
        return ONNXTensor(info: info, dataType: dataType, messageRange: range, storage: storage)
    }

    /// Decodes typed fields into little-endian element bytes.
    func decodeTyped(_ bytes: UnsafeRawBufferPointer) throws(ONNXError) -> [UInt8] {
        guard case .typed(let field, let occurrences) = storage else { return [] }
        var out: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
        }
        for (wireType, range) in occurrences {
            var reader = ProtobufReader(bytes, range: range)
            switch field {
            case 4:   // float_data: fixed32, packed or not
                while !reader.atEnd { append(try reader.fixed32()) }
            case 10:  // double_data: fixed64
                while !reader.atEnd { append(try reader.fixed64()) }
            case 7, 11:   // int64_data, uint64_data: varints
                while !reader.atEnd { append(try reader.varint()) }
            default:  // int32_data: varints holding the value or its bit pattern
                while !reader.atEnd {
                    let value = try reader.varint()
                    switch info.dtype.byteWidth {
                    case 4: append(UInt32(truncatingIfNeeded: value))
                    case 2: append(UInt16(truncatingIfNeeded: value))
                    default: out.append(UInt8(truncatingIfNeeded: value))
                    }
                }
            }
            _ = wireType
        }
        return out
    }
}
