extension Model {
    /// Class indices for `tokens` as a user gives them (`5,7` or `cat,dog`): a whole number is a
    /// class index; anything else is a class name, looked up in ``labelNames`` (exactly, else
    /// ignoring case when that is unique).
    /// - Throws: ``ModelError/unknownClass(_:available:)`` for a name the model does not have, or
    ///   any name when the model has no class names.
    public func classIndices(_ tokens: [String]) throws -> [Int] {
        try tokens.map { token in
            if let index = Int(token), index >= 0 { return index }
            let names = labelNames ?? []
            if let index = names.firstIndex(of: token) { return index }
            let folded = names.indices.filter { names[$0].lowercased() == token.lowercased() }
            if folded.count == 1 { return folded[0] }
            throw ModelError.unknownClass(token, available: names)
        }
    }

    /// Index → name for `indices` that have a name, or `nil` when the model has no class names.
    public func classNames(_ indices: some Sequence<Int>) -> [String: String]? {
        guard labelNames != nil else { return nil }
        var names: [String: String] = [:]
        for index in indices where className(index) != String(index) { names[String(index)] = className(index) }
        return names
    }
}
