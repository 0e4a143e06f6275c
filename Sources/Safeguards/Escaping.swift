/// Text taken from a file, made safe to print inside a one-line message.
///
/// Every name and piece of text that comes from a file (tensor and node names, shard names,
/// archive member names, external data locations, header text) goes through ``printable(_:)``
/// before it appears in an error, so that a message stays one line and cannot drive the
/// terminal it is printed on.
public enum Escaping {
    /// `text` with every character that could break a one-line message or act on a terminal
    /// shown as `\u{…}` (hexadecimal code point):
    /// - the C0 controls U+0000–U+001F (NUL, newline, carriage return, escape, …) and DEL;
    /// - the C1 controls U+0080–U+009F (U+009B is a control-sequence introducer on some
    ///   terminals);
    /// - the line and paragraph separators U+2028, U+2029 and U+0085 (next line);
    /// - the bidirectional formatting characters U+061C, U+200E, U+200F, U+202A–U+202E and
    ///   U+2066–U+2069, which reorder the text that follows them.
    ///
    /// Everything else, including other non-ASCII letters and the backslash, is kept as it is.
    /// Bytes that are not UTF-8 reach here already decoded as U+FFFD.
    public static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            if needsEscape(scalar) {
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// ``printable(_:)`` of raw bytes decoded as UTF-8 (invalid sequences become U+FFFD).
    public static func printable<Bytes: Collection>(bytes: Bytes) -> String where Bytes.Element == UInt8 {
        printable(String(decoding: bytes, as: UTF8.self))
    }

    /// Whether `scalar` is shown escaped by ``printable(_:)``.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x2028, 0x2029: true
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}
