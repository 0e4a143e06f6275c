/// The header checks that json-c cannot make, run on a header json-c has already parsed.
///
/// json-c, even with `JSON_TOKENER_STRICT`, accepts text that the reference implementation's
/// parser (serde_json) refuses, and it forgets things the reference looks at. This pass walks the
/// text once more with the JSON grammar of RFC 8259 and serde_json's rules so that modelforget
/// accepts and refuses the same headers as the reference:
/// - single-quoted strings, `NaN`/`Infinity`, numbers such as `1.`, raw control characters in
///   strings and unpaired UTF-16 surrogate escapes are invalid JSON;
/// - nesting deeper than 127 levels is refused (serde_json's recursion limit);
/// - `__metadata__` twice, or `dtype`/`shape`/`data_offsets` twice in one tensor entry, is refused
///   (json-c keeps the last silently); a repeated tensor name keeps the last, as the reference does;
/// - `-0` and integers above 2^64 − 1 in `shape`/`data_offsets` are refused (json-c reads them as 0
///   and 2^64 − 1);
/// - a key containing `\u0000` is refused: json-c keeps keys as C strings and would cut it short;
/// - numbers beyond the range of a double (`1e400`) are refused ("number out of range").
/// It also reports where the earlier entries of a repeated tensor name are: the reference keeps the
/// last but still requires every one to be a well-formed entry.
struct SafeTensorsHeaderSyntax {
    /// serde_json refuses the 128th level of nesting.
    static let maximumDepth = 127

    private let text: UnsafeRawBufferPointer
    private var position = 0
    /// Root members: where the value of each tensor name's latest entry is.
    private var latestEntry: [String: Range<Int>] = [:]
    /// The values of entries superseded by a later entry of the same name, in header order.
    private var shadowedEntries: [(name: String, value: Range<Int>)] = []

    private enum Context {
        case root, metadata, tensorEntry(name: String), integerArray(tensor: String, field: String), other
    }

    /// Checks `header`; returns the entries hidden by a later entry of the same tensor name.
    static func check(_ header: UnsafeRawBufferPointer) throws(SafeTensorsError) -> [(name: String, value: Range<Int>)] {
        var syntax = SafeTensorsHeaderSyntax(text: header)
        syntax.skipWhitespace()
        try syntax.value(depth: 0, context: .root)
        syntax.skipWhitespace()
        if syntax.position < header.count { throw syntax.invalid("trailing characters") }
        return syntax.shadowedEntries
    }

    private init(text: UnsafeRawBufferPointer) { self.text = text }

    private func invalid(_ reason: String) -> SafeTensorsError {
        .invalidJSON(reason: reason, offset: position)
    }

    private var current: UInt8? { position < text.count ? text[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    private mutating func value(depth: Int, context: Context) throws(SafeTensorsError) {
        guard let byte = current else { throw invalid("EOF while parsing a value") }
        switch byte {
        case UInt8(ascii: "{"): try object(depth: depth + 1, context: context)
        case UInt8(ascii: "["): try array(depth: depth + 1, context: context)
        case UInt8(ascii: "\""): _ = try string(decoding: false)
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number(context: context)
        default: throw invalid("expected value")
        }
    }

    private mutating func literal(_ word: StaticString) throws(SafeTensorsError) {
        let bytes = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard position + bytes.count <= text.count,
              (0..<bytes.count).allSatisfy({ text[position + $0] == bytes[$0] }) else {
            throw invalid("expected value")
        }
        position += bytes.count
    }

    private mutating func object(depth: Int, context: Context) throws(SafeTensorsError) {
        guard depth <= Self.maximumDepth else { throw invalid("recursion limit exceeded") }
        position += 1
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return }
        var seenFields: Set<String> = []
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw invalid("key must be a string") }
            let keyStart = position
            let (key, hasNUL) = try string(decoding: true)
            let childContext = try memberContext(key: key, hasNUL: hasNUL, in: context, at: keyStart, seen: &seenFields)
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw invalid("expected ':'") }
            position += 1
            skipWhitespace()
            let valueStart = position
            try value(depth: depth, context: childContext)
            if case .tensorEntry(let name) = childContext, case .root = context {
                if let earlier = latestEntry.updateValue(valueStart..<position, forKey: name) {
                    shadowedEntries.append((name, earlier))
                }
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return
            case nil: throw invalid("EOF while parsing an object")
            default: throw invalid("expected ',' or '}'")
            }
        }
    }

    /// What the value of `key` is, given the object it is in; refuses repeated fields the
    /// reference refuses and keys json-c would truncate.
    private func memberContext(
        key: String, hasNUL: Bool, in context: Context, at keyStart: Int, seen: inout Set<String>
    ) throws(SafeTensorsError) -> Context {
        switch context {
        case .root:
            if key == "__metadata__" {
                guard seen.insert(key).inserted else {
                    throw .invalidJSON(reason: "duplicate field `__metadata__`", offset: keyStart)
                }
                return .metadata
            }
            if hasNUL { throw .nulInTensorName(tensor: key) }
            return .tensorEntry(name: key)
        case .metadata:
            if hasNUL { throw .invalidMetadata(reason: "a key contains a NUL character") }
            return .other
        case .tensorEntry(let name):
            if hasNUL { throw .invalidJSON(reason: "NUL character in a key", offset: keyStart) }
            guard key == "dtype" || key == "shape" || key == "data_offsets" else { return .other }
            guard seen.insert(key).inserted else {
                throw .invalidJSON(reason: "duplicate field `\(key)`", offset: keyStart)
            }
            return key == "dtype" ? .other : .integerArray(tensor: name, field: key)
        case .integerArray, .other:
            if hasNUL { throw .invalidJSON(reason: "NUL character in a key", offset: keyStart) }
            return .other
        }
    }

    private mutating func array(depth: Int, context: Context) throws(SafeTensorsError) {
        guard depth <= Self.maximumDepth else { throw invalid("recursion limit exceeded") }
        position += 1
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return }
        // Only the direct elements of `shape`/`data_offsets` are the integers the reference reads.
        let elementContext: Context
        if case .integerArray = context { elementContext = context } else { elementContext = .other }
        while true {
            skipWhitespace()
            try value(depth: depth, context: elementContext)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return
            case nil: throw invalid("EOF while parsing a list")
            default: throw invalid("expected ',' or ']'")
            }
        }
    }

    private mutating func number(context: Context) throws(SafeTensorsError) {
        let start = position
        let negative = current == UInt8(ascii: "-")
        if negative { position += 1 }
        let integerStart = position
        guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw invalid("invalid number")
        }
        position += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        let integerEnd = position
        var isInteger = true
        if current == UInt8(ascii: ".") {
            position += 1
            guard requireDigits() else { throw invalid("invalid number") }
            isInteger = false
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard requireDigits() else { throw invalid("invalid number") }
            isInteger = false
        }
        if let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            throw invalid("invalid number")   // a leading zero followed by digits
        }
        if !isInteger || integerEnd - integerStart > 20 {
            let token = String(decoding: text[start..<position], as: UTF8.self)
            guard let number = Double(token), number.isFinite else { throw invalid("number out of range") }
        }
        guard case .integerArray(let tensor, let field) = context, isInteger else { return }
        // serde_json reads `-0` as a float and integers beyond u64 as floats: not a usize.
        let digits = integerEnd - integerStart
        let tooLarge = digits > 20 || (digits == 20 && !lexicographicallyAtMost(
            text[integerStart..<integerEnd], Array("18446744073709551615".utf8)))
        if (negative && text[integerStart] == UInt8(ascii: "0")) || tooLarge {
            throw .malformedTensorEntry(tensor: tensor, reason: field == "shape"
                ? SafeTensorsFile.shapeReason : SafeTensorsFile.offsetsReason)
        }
    }

    private func lexicographicallyAtMost(_ digits: Slice<UnsafeRawBufferPointer>, _ limit: [UInt8]) -> Bool {
        for (digit, bound) in zip(digits, limit) where digit != bound { return digit < bound }
        return true
    }

    private mutating func skipDigits() {
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
    }

    private mutating func requireDigits() -> Bool {
        let start = position
        skipDigits()
        return position > start
    }

    /// Scans a string starting at its opening quote; returns its decoded value when `decoding`
    /// (otherwise an empty string) and whether it contains U+0000.
    private mutating func string(decoding: Bool) throws(SafeTensorsError) -> (String, Bool) {
        position += 1
        var decoded: [UInt8] = []
        var hasNUL = false
        var runStart = position
        while true {
            guard let byte = current else { throw invalid("EOF while parsing a string") }
            switch byte {
            case UInt8(ascii: "\""):
                if decoding { decoded.append(contentsOf: text[runStart..<position]) }
                position += 1
                return (decoding ? String(decoding: decoded, as: UTF8.self) : "", hasNUL)
            case UInt8(ascii: "\\"):
                if decoding { decoded.append(contentsOf: text[runStart..<position]) }
                position += 1
                let scalar = try escape()
                if scalar == 0 { hasNUL = true }
                if decoding, let character = Unicode.Scalar(scalar) { decoded.append(contentsOf: String(character).utf8) }
                runStart = position
            case 0..<0x20:
                throw invalid("control character (\\u0000-\\u001F) found while parsing a string")
            default:
                position += 1
            }
        }
    }

    /// Reads the escape after a backslash; returns the Unicode scalar it stands for.
    private mutating func escape() throws(SafeTensorsError) -> UInt32 {
        guard let byte = current else { throw invalid("EOF while parsing a string") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""): return 0x22
        case UInt8(ascii: "\\"): return 0x5C
        case UInt8(ascii: "/"): return 0x2F
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        case UInt8(ascii: "u"):
            let unit = try hexQuad()
            switch unit {
            case 0xD800..<0xDC00:
                guard current == UInt8(ascii: "\\"), position + 1 < text.count, text[position + 1] == UInt8(ascii: "u") else {
                    throw invalid("unpaired surrogate in \\u escape")
                }
                position += 2
                let low = try hexQuad()
                guard (0xDC00..<0xE000).contains(low) else { throw invalid("unpaired surrogate in \\u escape") }
                return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            case 0xDC00..<0xE000:
                throw invalid("unpaired surrogate in \\u escape")
            default:
                return unit
            }
        default:
            throw invalid("invalid escape")
        }
    }

    private mutating func hexQuad() throws(SafeTensorsError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw invalid("EOF while parsing a string") }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw invalid("invalid escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}
