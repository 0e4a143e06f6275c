/// Column subsets of row-major matrices: the engines' arithmetic on the input coordinates some
/// sample reached (``SVDProjection/support(_:)``, ``RetainSpace``).
enum Columns {
    /// The columns `subset` of the row-major `count × d` matrix `rows`.
    static func gathered<T>(_ rows: [T], count: Int, dimension d: Int, _ subset: [Int]) -> [T] {
        var out: [T] = []
        out.reserveCapacity(count * subset.count)
        for i in 0..<count { for j in subset { out.append(rows[i * d + j]) } }
        return out
    }

    /// `rows` (row-major `count × d`) with its columns `subset` replaced by those of `compact`
    /// (row-major `count × |subset|`).
    static func scattered<T>(_ compact: [T], into rows: [T], count: Int, dimension d: Int, _ subset: [Int]) -> [T] {
        var out = rows
        let k = subset.count
        for i in 0..<count { for (c, j) in subset.enumerated() { out[i * d + j] = compact[i * k + c] } }
        return out
    }
}
