/// Subsets of a layer's input coordinates in row-major matrices: the engines' arithmetic on the
/// coordinates some sample reached (``SVDProjection/support(_:)``, ``RetainSpace``, ``RetainDamage``).
enum Coordinates {
    /// The coordinates whose row of the row-major `d × d` `matrix` has a nonzero entry, ascending.
    /// (For a Gram, which is positive semidefinite, a zero diagonal entry already means a zero
    /// row; a difference of Grams needs the whole row.)
    static func nonzeroRows(of matrix: [Double], dimension d: Int) -> [Int] {
        (0..<d).filter { i in (0..<d).contains { matrix[i * d + $0] != 0 } }
    }

    /// The principal submatrix of the row-major `d × d` `matrix` on `subset` (row-major `|subset| × |subset|`).
    static func principalSubmatrix(_ matrix: [Double], dimension d: Int, _ subset: [Int]) -> [Double] {
        subset.flatMap { i in subset.map { j in matrix[i * d + j] } }
    }

    /// The columns `subset` of the row-major `count × d` matrix `rows`.
    static func gatheredColumns<T>(_ rows: [T], count: Int, dimension d: Int, _ subset: [Int]) -> [T] {
        var out: [T] = []
        out.reserveCapacity(count * subset.count)
        for i in 0..<count { for j in subset { out.append(rows[i * d + j]) } }
        return out
    }

    /// `rows` (row-major `count × d`) with its columns `subset` replaced by those of `compact`
    /// (row-major `count × |subset|`).
    static func scatteredColumns<T>(_ compact: [T], into rows: [T], count: Int, dimension d: Int, _ subset: [Int]) -> [T] {
        var out = rows
        let k = subset.count
        for i in 0..<count { for (c, j) in subset.enumerated() { out[i * d + j] = compact[i * k + c] } }
        return out
    }
}
