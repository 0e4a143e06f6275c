/// The parsed header of a `.npy` array: its dtype, byte order, memory order and shape.
public struct NPYHeader: Equatable, Sendable {
    /// Whether the data must be byte-swapped or transposed to become little-endian C order.
    public var needsConversion: Bool { (bigEndian && (dtype.byteWidth ?? 1) > 1) || (fortranOrder && shape.filter { $0 > 1 }.count > 1) }

    public var dtype: DType
    public var bigEndian: Bool
    public var fortranOrder: Bool
    public var shape: [Int]
    /// The format version the header was read with (1, 2 or 3).
    public var majorVersion: UInt8

    /// The longest header accepted; NumPy refuses more than 10,000 characters by default, this
    /// allows the ~65 KiB a 1.0 header can hold and the larger 2.0 headers of many-field dtypes.
    public static let maximumHeaderLength = 1 << 20

    /// Parses the magic, version and header dict at the start of `bytes`.
    /// - Returns: the header and the offset of the array data.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(NPYError) -> (NPYHeader, dataOffset: Int) {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 6, bytes.prefix(6).elementsEqual(magic) else { throw .badMagic }
        guard bytes.count >= 8 else { throw .truncatedHeader(expected: 8, actual: bytes.count) }
        let major = bytes[6], minor = bytes[7]
        guard minor == 0, (1...3).contains(major) else { throw .unsupportedVersion(major: major, minor: minor) }
        let lengthSize = major == 1 ? 2 : 4
        guard bytes.count >= 8 + lengthSize else {
            throw .truncatedHeader(expected: 8 + lengthSize, actual: bytes.count)
        }
        var length = 0
        for i in 0..<lengthSize { length |= Int(bytes[8 + i]) << (8 * i) }
        guard length <= maximumHeaderLength else { throw .headerTooLong(length: length, limit: maximumHeaderLength) }
        let start = 8 + lengthSize
        guard bytes.count >= start + length else {
            throw .truncatedHeader(expected: start + length, actual: bytes.count)
        }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
        let text: String
        if major == 3 {
            guard let utf8 = String(validating: raw, as: UTF8.self) else { throw .invalidHeader(reason: "not UTF-8") }
            text = utf8
        } else {
            text = String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) }))   // latin-1
        }
        var header = try parseDictionary(text)
        header.majorVersion = major
        return (header, start + length)
    }

    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` with any key order,
    /// either quote, optional trailing comma and any whitespace.
    static func parseDictionary(_ text: String) throws(NPYError) -> NPYHeader {
        var scanner = HeaderScanner(Array(text.unicodeScalars))
        scanner.skipWhitespace()
        guard scanner.consume("{") else { throw .invalidHeader(reason: "not a dictionary") }
        var values: [String: String] = [:]
        var order: [String] = []
        while true {
            scanner.skipWhitespace()
            if scanner.consume("}") { break }
            guard let key = scanner.quotedString() else { throw .invalidHeader(reason: "expected a quoted key") }
            scanner.skipWhitespace()
            guard scanner.consume(":") else { throw .invalidHeader(reason: "expected ':' after '\(key)'") }
            scanner.skipWhitespace()
            guard let value = scanner.value() else { throw .invalidHeader(reason: "cannot read the value of '\(key)'") }
            guard values[key] == nil else { throw .invalidHeader(reason: "duplicate key '\(key)'") }
            values[key] = value
            order.append(key)
            scanner.skipWhitespace()
            if scanner.consume(",") { continue }
            scanner.skipWhitespace()
            guard scanner.consume("}") else { throw .invalidHeader(reason: "expected ',' or '}'") }
            break
        }
        scanner.skipWhitespace()
        guard scanner.atEnd else { throw .invalidHeader(reason: "characters after the dictionary") }
        let required = ["descr", "fortran_order", "shape"]
        let missing = required.filter { values[$0] == nil }
        guard missing.isEmpty else { throw .missingKeys(missing) }
        let extra = order.filter { !required.contains($0) }
        guard extra.isEmpty else { throw .extraKeys(extra) }

        let descrText = values["descr"]!
        guard let descr = unquote(descrText) else {
            // A structured dtype: a list of (name, descr) tuples. With an object field its records
            // are pickles too.
            if descrText.hasPrefix("["), containsObjectField(descrText) { throw .objectArray }
            throw .unsupportedDescr(descrText)
        }
        let (dtype, bigEndian) = try parseDescr(descr)
        let fortran: Bool
        switch values["fortran_order"]! {
        case "True": fortran = true
        case "False": fortran = false
        case let other: throw .invalidFortranOrder(other)
        }
        return NPYHeader(dtype: dtype, bigEndian: bigEndian, fortranOrder: fortran,
                         shape: try parseShape(values["shape"]!), majorVersion: 1)
    }

    /// A shape as Python's `repr` of a tuple: `()`, `(5,)`, `(2, 3)`.
    static func pythonTuple(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    static func parseShape(_ text: String) throws(NPYError) -> [Int] {
        guard text.hasPrefix("("), text.hasSuffix(")") else { throw .invalidShape(text) }
        let inner = trimmed(Substring(text.dropFirst().dropLast()))
        if inner.isEmpty { return [] }
        var parts = inner.split(separator: ",", omittingEmptySubsequences: false).map { trimmed($0) }
        if parts.count == 1 { throw .invalidShape(text) }   // "(5)" is a number, not a tuple
        if parts.last?.isEmpty == true { parts.removeLast() }
        var dims: [Int] = []
        for part in parts {
            let digits = part.hasSuffix("L") ? part.dropLast() : Substring(part)
            guard let value = Int(digits), value >= 0 else { throw .invalidShape(text) }
            dims.append(value)
        }
        return dims
    }

    private static func trimmed(_ text: Substring) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(text.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }

    /// Maps a NumPy type string to a dtype and byte order.
    static func parseDescr(_ descr: String) throws(NPYError) -> (DType, bigEndian: Bool) {
        if descr == "bfloat16" { return (.BF16, false) }
        var code = Substring(descr)
        var bigEndian = false
        if let first = code.first, "<>|=".contains(first) {
            bigEndian = first == ">"
            code = code.dropFirst()
        }
        switch code {
        case "b1", "?": return (.BOOL, false)
        case "i1", "b": return (.I8, false)
        case "u1", "B": return (.U8, false)
        case "i2", "h": return (.I16, bigEndian)
        case "u2", "H": return (.U16, bigEndian)
        case "i4", "i": return (.I32, bigEndian)
        case "u4", "I": return (.U32, bigEndian)
        case "i8", "q", "l": return (.I64, bigEndian)
        case "u8", "Q", "L": return (.U64, bigEndian)
        case "f2", "e": return (.F16, bigEndian)
        case "f4", "f": return (.F32, bigEndian)
        case "f8", "d": return (.F64, bigEndian)
        case "c8", "F": return (.C64, bigEndian)
        case "O": throw .objectArray
        default:
            if code.hasPrefix("V") { throw .voidDescr(descr) }
            throw .unsupportedDescr(descr)
        }
    }

    /// Whether a structured descr such as `[('a', '<f4'), ('b', '|O')]` has an object field.
    private static func containsObjectField(_ descr: String) -> Bool {
        var scanner = HeaderScanner(Array(descr.unicodeScalars))
        while !scanner.atEnd {
            if let text = scanner.quotedString() {
                if ["O", "|O", "<O", ">O", "=O"].contains(text) || text.hasPrefix("|O") { return true }
            } else {
                scanner.position += 1
            }
        }
        return false
    }

    private static func unquote(_ text: String) -> String? {
        guard text.count >= 2, let first = text.first, first == "'" || first == "\"", text.last == first else { return nil }
        return String(text.dropFirst().dropLast())
    }
}

/// A cursor over the header text.
private struct HeaderScanner {
    let scalars: [Unicode.Scalar]
    var position = 0

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var atEnd: Bool { position >= scalars.count }

    mutating func skipWhitespace() {
        while position < scalars.count, [" ", "\t", "\n", "\r"].contains(scalars[position]) { position += 1 }
    }

    mutating func consume(_ scalar: Unicode.Scalar) -> Bool {
        guard position < scalars.count, scalars[position] == scalar else { return false }
        position += 1
        return true
    }

    mutating func quotedString() -> String? {
        guard position < scalars.count, scalars[position] == "'" || scalars[position] == "\"" else { return nil }
        let quote = scalars[position]
        var end = position + 1
        while end < scalars.count, scalars[end] != quote { end += 1 }
        guard end < scalars.count else { return nil }
        let text = String(String.UnicodeScalarView(scalars[(position + 1)..<end]))
        position = end + 1
        return text
    }

    /// A value as its source text: a quoted string, a parenthesised tuple, a bracketed list, or a word.
    mutating func value() -> String? {
        guard position < scalars.count else { return nil }
        let start = position
        switch scalars[position] {
        case "'", "\"":
            guard quotedString() != nil else { return nil }
        case "(", "[":
            let close: Unicode.Scalar = scalars[position] == "(" ? ")" : "]"
            var depth = 0
            while position < scalars.count {
                if scalars[position] == scalars[start] { depth += 1 }
                if scalars[position] == close { depth -= 1; if depth == 0 { break } }
                position += 1
            }
            guard position < scalars.count else { return nil }
            position += 1
        default:
            while position < scalars.count, !([",", "}", " ", "\t", "\n", "\r"] as [Unicode.Scalar]).contains(scalars[position]) {
                position += 1
            }
        }
        guard position > start else { return nil }
        return String(String.UnicodeScalarView(scalars[start..<position]))
    }
}
