import Foundation
import TensorCore
import WeightFormats

extension CheckpointDiff {
    /// One pair of same-named tensors (either may be missing), read in steps (``Stream``).
    static func compare(_ a: TensorInfo?, _ b: TensorInfo?, readers: Readers, options: Options) throws -> TensorDifference {
        let name = (a ?? b)!.name
        var result = TensorDifference(name: name, status: .same, dtypeA: a?.dtype, dtypeB: b?.dtype, shapeA: a?.shape, shapeB: b?.shape,
                                      elements: 0, changedElements: 0)
        guard let a, let b else {
            result.status = a == nil ? .added : .removed
            return result
        }
        guard a.shape == b.shape else {
            result.status = .shapeChanged
            return result
        }
        result.elements = a.shape.reduce(1, *)
        return try readers.a.withBytes(of: name) { rawA in
            try readers.b.withBytes(of: name) { rawB in
                let stream = Stream(rawA: rawA, rawB: rawB, dtypeA: a.dtype, dtypeB: b.dtype, readers: readers)
                if a.dtype == b.dtype && stream.bytesEqual() {
                    result.deltaNorm = 0
                    result.relativeChange = 0
                    result.maxAbsDelta = 0
                    return result
                }
                result.status = a.dtype == b.dtype ? .changed : .dtypeChanged
                guard stream.decodable else {
                    result.changedElements = result.elements   // packed or complex: known only to differ bytewise
                    return result
                }
                stream.measure(&result, shape: a.shape, options: options)
                return result
            }
        }
    }

    /// One tensor pair read in steps of about ``Options/chunkElements`` elements, releasing the mapped
    /// pages behind each step, so memory stays bounded however large the tensor.
    struct Stream {
        let rawA: UnsafeRawBufferPointer, rawB: UnsafeRawBufferPointer
        let dtypeA: DType, dtypeB: DType
        let readers: Readers

        var decodable: Bool { ElementCoding.isNumeric(dtypeA) && ElementCoding.isNumeric(dtypeB) }

        func release(_ elements: Range<Int>) {
            guard let wa = dtypeA.byteWidth, let wb = dtypeB.byteWidth else { return }
            readers.a.releasePages(UnsafeRawBufferPointer(rebasing: rawA[(elements.lowerBound * wa)..<(elements.upperBound * wa)]))
            readers.b.releasePages(UnsafeRawBufferPointer(rebasing: rawB[(elements.lowerBound * wb)..<(elements.upperBound * wb)]))
        }

        /// Byte equality, compared and released in 16 MiB steps.
        func bytesEqual() -> Bool {
            guard rawA.count == rawB.count else { return false }
            var offset = 0
            while offset < rawA.count {
                let length = min(1 << 24, rawA.count - offset)
                let equal = memcmp(rawA.baseAddress! + offset, rawB.baseAddress! + offset, length) == 0
                readers.a.releasePages(UnsafeRawBufferPointer(rebasing: rawA[offset..<(offset + length)]))
                readers.b.releasePages(UnsafeRawBufferPointer(rebasing: rawB[offset..<(offset + length)]))
                if !equal { return false }
                offset += length
            }
            return true
        }

        /// Decodes elements `range` of both sides into `x` and `y` as float64 (``ElementCoding``).
        func decode(_ range: Range<Int>, into x: UnsafeMutablePointer<Double>, _ y: UnsafeMutablePointer<Double>) {
            let wa = dtypeA.byteWidth!, wb = dtypeB.byteWidth!
            ElementCoding.decodeDoubles(UnsafeRawBufferPointer(rebasing: rawA[(range.lowerBound * wa)..<(range.upperBound * wa)]), dtypeA, into: x)
            ElementCoding.decodeDoubles(UnsafeRawBufferPointer(rebasing: rawB[(range.lowerBound * wb)..<(range.upperBound * wb)]), dtypeB, into: y)
        }

        /// The element statistics and, for matrices, the Gram of Δ on the smaller side (accumulated
        /// block by block), then the spectrum.
        func measure(_ r: inout TensorDifference, shape: [Int], options: Options) {
            let n = r.elements
            let m = shape.count >= 2 ? shape[0] : 1, columns = shape.count >= 2 ? n / max(shape[0], 1) : n
            let side = min(m, columns)
            let floating = dtypeA.isConvertibleFloat || dtypeB.isConvertibleFloat
            let spectrum = shape.count >= 2 && floating && n > 0 && side <= options.maxSpectrumSide
            var moments = Moments()
            var gram = spectrum ? [Double](repeating: 0, count: side * side) : []
            if !spectrum || columns <= m {
                // Whole rows per step (single elements when there is no spectrum); the Gram ΔᵀΔ
                // (columns × columns) takes each block of rows.
                let (height, length) = spectrum ? (m, columns) : (n, 1)
                let rowsPerStep = max(1, options.chunkElements / max(length, 1))
                var x = [Double](repeating: 0, count: min(height, rowsPerStep) * length), y = x
                var row = 0
                while row < height {
                    let rows = min(rowsPerStep, height - row), range = (row * length)..<((row + rows) * length)
                    x.withUnsafeMutableBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in decode(range, into: xp.baseAddress!, yp.baseAddress!) } }
                    moments.add(&x, y, count: range.count)
                    if spectrum { x.withUnsafeBufferPointer { BLAS.accumulateGram(&gram, rows: UnsafeBufferPointer(rebasing: $0[0..<range.count]), n: rows, d: columns) } }
                    release(range)
                    row += rows
                }
            } else {
                // Fewer rows than columns: blocks of whole columns, every row's segment of them, so
                // that the Gram ΔΔᵀ (m × m) is the sum of the blocks' ΔΔᵀ.
                let blockColumns = max(1, options.chunkElements / m)
                var x = [Double](repeating: 0, count: m * min(columns, blockColumns)), y = x, transposed = x
                var column = 0
                while column < columns {
                    let width = min(blockColumns, columns - column)
                    x.withUnsafeMutableBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                        for i in 0..<m {
                            decode((i * columns + column)..<(i * columns + column + width), into: xp.baseAddress! + i * width, yp.baseAddress! + i * width)
                        }
                    } }
                    moments.add(&x, y, count: m * width)
                    for i in 0..<m { for j in 0..<width { transposed[j * m + i] = x[i * width + j] } }
                    transposed.withUnsafeBufferPointer { BLAS.accumulateGram(&gram, rows: UnsafeBufferPointer(rebasing: $0[0..<(m * width)]), n: width, d: m) }
                    for i in 0..<m { release((i * columns + column)..<(i * columns + column + width)) }
                    column += width
                }
            }
            moments.finish(into: &r)
            if spectrum && (r.deltaNorm ?? 0) > 0 {
                CheckpointDiff.spectrum(&r, gram: gram, side: side, rows: m, columns: columns, dtypes: (dtypeA, dtypeB), options: options)
            } else if shape.count >= 2 && floating && side > options.maxSpectrumSide {
                r.spectrumSkipped = "smaller side \(side) exceeds the spectrum limit \(options.maxSpectrumSide)"
            }
        }
    }

    /// Running sums over A (`x`) and B (`y`): ‖A‖², ‖B‖², ⟨A, B⟩, ‖Δ‖², max |Δ| and the count of
    /// differing elements, in eight float64 lanes.
    struct Moments {
        var aa = SIMD8<Double>(), bb = SIMD8<Double>(), ab = SIMD8<Double>(), dd = SIMD8<Double>(), largest = SIMD8<Double>()
        var changed = 0

        /// Adds the first `count` elements; `x` becomes Δ = y − x there.
        mutating func add(_ x: inout [Double], _ y: [Double], count n: Int) {
            var aa = self.aa, bb = self.bb, ab = self.ab, dd = self.dd, largest = self.largest, changed = self.changed
            x.withUnsafeMutableBufferPointer { xp in
                y.withUnsafeBufferPointer { yp in
                    var i = 0
                    while i + 8 <= n {
                        let u = SIMD8<Double>(xp[i..<(i + 8)]), v = SIMD8<Double>(yp[i..<(i + 8)])
                        let d = v - u
                        for lane in 0..<8 { xp[i + lane] = d[lane] }
                        aa += u * u; bb += v * v; ab += u * v; dd += d * d
                        largest = pointwiseMax(largest, pointwiseMax(d, -d))
                        changed += (u .!= v).nonzeroBitCountOfMask
                        i += 8
                    }
                    while i < n {
                        let u = xp[i], v = yp[i], d = v - u
                        xp[i] = d
                        aa[0] += u * u; bb[0] += v * v; ab[0] += u * v; dd[0] += d * d
                        largest[0] = max(largest[0], abs(d))
                        if u != v { changed += 1 }
                        i += 1
                    }
                }
            }
            self.aa = aa; self.bb = bb; self.ab = ab; self.dd = dd; self.largest = largest; self.changed = changed
        }

        func finish(into r: inout TensorDifference) {
            let normA = aa.sum().squareRoot(), normB = bb.sum().squareRoot(), deltaNorm = dd.sum().squareRoot()
            r.changedElements = changed
            r.normA = normA
            r.deltaNorm = deltaNorm
            r.relativeChange = normA > 0 ? deltaNorm / normA : (deltaNorm > 0 ? .infinity : 0)
            r.maxAbsDelta = largest.max()
            r.cosine = normA > 0 && normB > 0 ? ab.sum() / (normA * normB) : nil
        }
    }
}

extension SIMDMask {
    var nonzeroBitCountOfMask: Int {
        var count = 0
        for i in 0..<scalarCount where self[i] { count += 1 }
        return count
    }
}
