import CJSONC

/// The members of a json-c object, in file order (a repeated key appears once, with its last value).
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
