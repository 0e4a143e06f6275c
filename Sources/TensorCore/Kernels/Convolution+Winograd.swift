#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// 3 × 3 convolutions of stride 1 by Winograd's minimal filtering F(2 × 2, 3 × 3) (Lavin & Gray,
/// "Fast Algorithms for Convolutional Neural Networks", 2016).
///
/// Each output tile `Y` of 2 × 2 positions is computed from the 4 × 4 input tile `d` that covers it
/// and each 3 × 3 kernel `g` as
/// ```
/// Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A
///
///      ⎡1  0 −1  0⎤        ⎡ 1    0    0 ⎤
/// Bᵀ = ⎢0  1  1  0⎥    G = ⎢1/2  1/2  1/2⎥    Aᵀ = ⎡1  1  1  0⎤
///      ⎢0 −1  1  0⎥        ⎢1/2 −1/2  1/2⎥         ⎣0  1 −1 −1⎦
///      ⎣0  1  0 −1⎦        ⎣ 0    0    1 ⎦
/// ```
/// The sum over input channels `c` is, for each of the 16 elements ξ of the transformed tiles, one
/// matrix product `P_ξ = U_ξ · V_ξ` (`[M, C] · [C, tiles]`, `cblas_sgemm`), where `U_ξ` holds
/// element ξ of every transformed kernel and `V_ξ` element ξ of every transformed input tile.
/// That is 16 multiply-adds per tile and channel pair where im2col + sgemm does 36 (4 positions ×
/// 9 taps): 2.25× fewer, for two passes of additions over the data.
///
/// **Numerics.** The transforms are exact in binary floating point up to the rounding of their
/// additions (the only non-integer factor, 1/2, is exact), so the result differs from the direct
/// sum by a few units in the last place of the intermediate magnitudes, i.e. about
/// `4 · 2⁻²⁴ · Σ |w| |x|` per output; outputs within 1e-5 of the im2col path (relative to the
/// largest output) on the test geometries. Padding is read as zeros from a padded copy of each
/// input plane; positions beyond the output in the last tile row or column are computed and dropped.
extension Convolution {
    /// Whether ``forward(_:weight:bias:geometry:winogradKernels:)`` uses ``winogradForward(_:weight:bias:geometry:kernels:)``:
    /// 3 × 3 kernels, stride and dilation 1, one group, at least ``winogradMinimumChannels`` input
    /// and output channels (below that the 16 products are too thin to run near the BLAS peak) and
    /// outputs of at least 2 × 2. `MODELFORGET_CONVOLUTION=im2col` in the environment turns it off
    /// for the process (for comparisons).
    public static func usesWinograd(_ gm: ConvolutionGeometry) -> Bool {
        winogradEnabled && gm.kernelH == 3 && gm.kernelW == 3 && gm.strideH == 1 && gm.strideW == 1 && gm.dilationH == 1
            && gm.dilationW == 1 && gm.groups == 1 && gm.channels >= winogradMinimumChannels
            && gm.outChannels >= winogradMinimumChannels && gm.outHeight >= 2 && gm.outWidth >= 2
    }

    static let winogradMinimumChannels = 16

    static let winogradEnabled: Bool = {
        guard let value = getenv("MODELFORGET_CONVOLUTION") else { return true }
        return String(cString: value) != "im2col"
    }()

    /// The transformed kernels `U` of a `[M, C, 3, 3]` weight: 16 matrices `[M, C]`, element
    /// ξ = 4i + j of `G g Gᵀ` at `ξ · M · C + m · C + c`.
    public static func winogradKernels(_ weight: Tensor) -> [Float] {
        weight.data.withUnsafeBufferPointer { winogradKernels($0.baseAddress!, outChannels: weight.shape[0], channels: weight.shape[1]) }
    }

    static func winogradKernels(_ weight: UnsafePointer<Float>, outChannels: Int, channels: Int) -> [Float] {
        let mc = outChannels * channels
        var u = uninitializedFloats(16 * mc)
        u.withUnsafeMutableBufferPointer { up in
            let u = up.baseAddress!
            for index in 0..<mc {
                let g = weight + index * 9
                // u = (G g) Gᵀ: each row (a, b, c) of G g becomes (a, (a + b + c)/2, (a − b + c)/2, c).
                @inline(__always) func store(_ i: Int, _ a: Float, _ b: Float, _ c: Float) {
                    u[(4 * i) * mc + index] = a
                    u[(4 * i + 1) * mc + index] = 0.5 * (a + b + c)
                    u[(4 * i + 2) * mc + index] = 0.5 * (a - b + c)
                    u[(4 * i + 3) * mc + index] = c
                }
                // The rows of G g: g₀, (g₀ + g₁ + g₂)/2, (g₀ − g₁ + g₂)/2, g₂ (gᵢ the rows of g).
                store(0, g[0], g[1], g[2])
                store(1, 0.5 * (g[0] + g[3] + g[6]), 0.5 * (g[1] + g[4] + g[7]), 0.5 * (g[2] + g[5] + g[8]))
                store(2, 0.5 * (g[0] - g[3] + g[6]), 0.5 * (g[1] - g[4] + g[7]), 0.5 * (g[2] - g[5] + g[8]))
                store(3, g[6], g[7], g[8])
            }
        }
        return u
    }

    /// Forward convolution by F(2 × 2, 3 × 3) for a geometry where ``usesWinograd(_:)`` holds; same
    /// contract as ``forward(_:weight:bias:geometry:winogradKernels:)``; `kernels` is ``winogradKernels(_:)``
    /// of `weight` when the caller keeps it, else it is computed here. Samples are transformed in chunks so that
    /// the transformed tiles and products stay within ``chunkFloats`` each.
    public static func winogradForward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry gm: ConvolutionGeometry,
                                       kernels given: [Float]? = nil) -> Tensor {
        let c = gm.channels, m = gm.outChannels, oh = gm.outHeight, ow = gm.outWidth
        let tilesH = (oh + 1) / 2, tilesW = (ow + 1) / 2, tilesPerSample = tilesH * tilesW
        // The padded plane: every tile's 4 × 4 window lies inside it.
        let paddedH = 2 * tilesH + 2, paddedW = 2 * tilesW + 2
        let chunk = max(1, min(gm.batch, chunkFloats / (16 * max(c, m) * tilesPerSample)))
        var y = Tensor(shape: [gm.batch, m, oh, ow], data: uninitializedFloats(gm.batch * m * oh * ow))
        let kernels = given ?? winogradKernels(weight)
        precondition(kernels.count == 16 * m * c, "Winograd kernels for \(m) × \(c) weights have \(16 * m * c) values, got \(kernels.count)")
        var transformed = uninitializedFloats(16 * c * chunk * tilesPerSample)
        var products = uninitializedFloats(16 * m * chunk * tilesPerSample)
        var padded = [Float](repeating: 0, count: paddedH * paddedW)
        let biasValues = bias?.data
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in kernels.withUnsafeBufferPointer { up in
            transformed.withUnsafeMutableBufferPointer { vp in products.withUnsafeMutableBufferPointer { pp in
                padded.withUnsafeMutableBufferPointer { padp in
                    var start = 0
                    while start < gm.batch {
                        let count = min(chunk, gm.batch - start), tiles = count * tilesPerSample
                        let v = vp.baseAddress!, p = pp.baseAddress!, plane = padp.baseAddress!
                        // V: element ξ of tile t of channel ch at ξ · C · tiles + ch · tiles + t.
                        // Rows and columns of the padded plane outside the input stay 0 from the start.
                        let columns = min(gm.width, paddedW - gm.padLeft)
                        for s in 0..<count {
                            for ch in 0..<c {
                                let input = xp.baseAddress! + ((start + s) * c + ch) * gm.height * gm.width
                                for row in 0..<gm.height where row + gm.padTop < paddedH {
                                    (plane + (row + gm.padTop) * paddedW + gm.padLeft).update(from: input + row * gm.width, count: columns)
                                }
                                winogradInputTiles(plane, paddedWidth: paddedW, tilesH: tilesH, tilesW: tilesW,
                                                   into: v + ch * tiles + s * tilesPerSample, stride: c * tiles)
                            }
                        }
                        for xi in 0..<16 {
                            BLAS.sgemm(transA: false, transB: false, m: m, n: tiles, k: c, a: up.baseAddress! + xi * m * c, lda: c,
                                       b: v + xi * c * tiles, ldb: tiles, beta: 0, c: p + xi * m * tiles, ldc: tiles)
                        }
                        for s in 0..<count {
                            for channel in 0..<m {
                                winogradOutputTiles(p + channel * tiles + s * tilesPerSample, stride: m * tiles, tilesH: tilesH, tilesW: tilesW,
                                                    bias: biasValues?[channel] ?? 0,
                                                    into: yp.baseAddress! + ((start + s) * m + channel) * oh * ow, height: oh, width: ow)
                            }
                        }
                        start += count
                    }
                }
            } }
        } } }
        return y
    }

    /// `Bᵀ d B` of every 4 × 4 tile (origin `(2·ty, 2·tx)`) of a padded plane; element ξ of tile
    /// `ty · tilesW + tx` goes to `out[ξ · stride + tile]`. Four tiles of a row at a time (one per
    /// vector lane), the row's last `tilesW mod 4` one at a time. (Eight lanes measured no faster:
    /// without AVX in the build, a `SIMD8` is two SSE registers and a tile's 16 elements spill.)
    @inline(__always)
    private static func winogradInputTiles(_ plane: UnsafePointer<Float>, paddedWidth w: Int, tilesH: Int, tilesW: Int,
                                           into out: UnsafeMutablePointer<Float>, stride: Int) {
        for ty in 0..<tilesH {
            let row = plane + 2 * ty * w, tiles = out + ty * tilesW
            var tx = 0
            while tx + SIMD4<Float>.lanes <= tilesW {
                winogradInputTile(SIMD4<Float>.self, row, paddedWidth: w, column: tx, into: tiles, stride: stride)
                tx += SIMD4<Float>.lanes
            }
            while tx < tilesW {
                winogradInputTile(Float.self, row, paddedWidth: w, column: tx, into: tiles, stride: stride)
                tx += 1
            }
        }
    }

    /// ``winogradInputTiles(_:paddedWidth:tilesH:tilesW:into:stride:)`` for the `V.lanes` tiles from
    /// tile column `tx` of the tile row whose first input row is `row`.
    @inline(__always)
    private static func winogradInputTile<V: WinogradLanes>(_: V.Type, _ row: UnsafePointer<Float>, paddedWidth w: Int, column tx: Int,
                                                            into tiles: UnsafeMutablePointer<Float>, stride: Int) {
        let o = 2 * tx, t = tiles + tx
        let d0 = V.tileColumns(row + o), d1 = V.tileColumns(row + w + o), d2 = V.tileColumns(row + 2 * w + o), d3 = V.tileColumns(row + 3 * w + o)
        // Each row (a, b, c, d) of Bᵀ d becomes (a − c, b + c, c − b, b − d) in (Bᵀ d) B.
        @inline(__always) func store(_ i: Int, _ a: V, _ b: V, _ c: V, _ d: V) {
            (a - c).store(to: t + (4 * i) * stride)
            (b + c).store(to: t + (4 * i + 1) * stride)
            (c - b).store(to: t + (4 * i + 2) * stride)
            (b - d).store(to: t + (4 * i + 3) * stride)
        }
        // The rows of Bᵀ d: d₀ − d₂, d₁ + d₂, d₂ − d₁, d₁ − d₃ (dᵢ the rows of the tile).
        store(0, d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
        store(1, d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
        store(2, d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
        store(3, d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
    }

    /// `Aᵀ P A` + bias of every tile of one output channel (element ξ of tile t at
    /// `products[ξ · stride + t]`), written to the 2 × 2 positions of the tile that lie inside the
    /// `height × width` output plane: four tiles at a time while their 8 columns lie inside, the
    /// rest one at a time.
    @inline(__always)
    private static func winogradOutputTiles(_ products: UnsafePointer<Float>, stride: Int, tilesH: Int, tilesW: Int, bias: Float,
                                            into out: UnsafeMutablePointer<Float>, height: Int, width: Int) {
        for ty in 0..<tilesH {
            let p = products + ty * tilesW, top = out + 2 * ty * width, bottom = 2 * ty + 1 < height
            var tx = 0
            while 2 * (tx + SIMD4<Float>.lanes) <= width {
                winogradOutputTile(SIMD4<Float>.self, p, stride: stride, column: tx, bias: bias, into: top, width: width, bottom: bottom)
                tx += SIMD4<Float>.lanes
            }
            while tx < tilesW {
                winogradOutputTile(Float.self, p, stride: stride, column: tx, bias: bias, into: top, width: width, bottom: bottom)
                tx += 1
            }
        }
    }

    /// ``winogradOutputTiles(_:stride:tilesH:tilesW:bias:into:height:width:)`` for the `V.lanes`
    /// tiles from tile column `tx` of one tile row (`top`: its first output row; `bottom`: whether
    /// its second row lies inside).
    @inline(__always)
    private static func winogradOutputTile<V: WinogradLanes>(_: V.Type, _ products: UnsafePointer<Float>, stride: Int, column tx: Int,
                                                             bias: Float, into top: UnsafeMutablePointer<Float>, width: Int, bottom: Bool) {
        let p = products + tx, b = V(repeating: bias)
        @inline(__always) func e(_ xi: Int) -> V { V(loading: p + xi * stride) }
        // Aᵀ P: two rows of four.
        let a0 = e(0) + e(4) + e(8), a1 = e(1) + e(5) + e(9), a2 = e(2) + e(6) + e(10), a3 = e(3) + e(7) + e(11)
        let c0 = e(4) - e(8) - e(12), c1 = e(5) - e(9) - e(13), c2 = e(6) - e(10) - e(14), c3 = e(7) - e(11) - e(15)
        let first = top + 2 * tx, columns = width - 2 * tx
        V.storeInterleaved(a0 + a1 + a2 + b, a1 - a2 - a3 + b, to: first, columns: columns)
        if bottom { V.storeInterleaved(c0 + c1 + c2 + b, c1 - c2 - c3 + b, to: first + width, columns: columns) }
    }
}

/// The element types the Winograd tile transforms run on: `Float` (one tile at a time) and
/// float vectors (one tile per lane, tiles consecutive along a row).
protocol WinogradLanes {
    static var lanes: Int { get }
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    init(repeating value: Float)
    /// `lanes` consecutive floats.
    init(loading pointer: UnsafePointer<Float>)
    func store(to pointer: UnsafeMutablePointer<Float>)
    /// Columns 0…3 of the tiles whose rows start at `row`, `row + 2`, …: lane k of column j is `row[2k + j]`.
    static func tileColumns(_ row: UnsafePointer<Float>) -> (Self, Self, Self, Self)
    /// `row[2k] = even[k]`, `row[2k + 1] = odd[k]` for the lanes, skipping columns at or beyond `columns`.
    static func storeInterleaved(_ even: Self, _ odd: Self, to row: UnsafeMutablePointer<Float>, columns: Int)
}

extension Float: WinogradLanes {
    static var lanes: Int { 1 }
    init(repeating value: Float) { self = value }
    init(loading pointer: UnsafePointer<Float>) { self = pointer.pointee }
    func store(to pointer: UnsafeMutablePointer<Float>) { pointer.pointee = self }
    static func tileColumns(_ row: UnsafePointer<Float>) -> (Float, Float, Float, Float) { (row[0], row[1], row[2], row[3]) }
    static func storeInterleaved(_ even: Float, _ odd: Float, to row: UnsafeMutablePointer<Float>, columns: Int) {
        row[0] = even
        if columns > 1 { row[1] = odd }
    }
}

extension SIMD4: WinogradLanes where Scalar == Float {
    static var lanes: Int { 4 }
    init(loading pointer: UnsafePointer<Float>) { self = UnsafeRawPointer(pointer).loadUnaligned(as: Self.self) }
    func store(to pointer: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: Self.self) }
    static func tileColumns(_ row: UnsafePointer<Float>) -> (Self, Self, Self, Self) {
        let a = UnsafeRawPointer(row).loadUnaligned(as: SIMD8<Float>.self), b = UnsafeRawPointer(row + 2).loadUnaligned(as: SIMD8<Float>.self)
        return (a.evenHalf, a.oddHalf, b.evenHalf, b.oddHalf)
    }
    /// Only where the four tiles' 8 columns lie inside the row: `columns` is not checked.
    static func storeInterleaved(_ even: Self, _ odd: Self, to row: UnsafeMutablePointer<Float>, columns: Int) {
        var both = SIMD8<Float>()
        both.evenHalf = even
        both.oddHalf = odd
        UnsafeMutableRawPointer(row).storeBytes(of: both, as: SIMD8<Float>.self)
    }
}
