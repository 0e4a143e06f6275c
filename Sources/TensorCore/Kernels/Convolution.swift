/// 2-D convolution (1-D as height 1) as im2col + `cblas_sgemm`, with its backward pass.
///
/// Input `[N, C, H, W]`, weight `[M, C/groups, kh, kw]`, output `[N, M, OH, OW]` with
/// `OH = (H + padTop + padBottom − dilationH·(kh − 1) − 1) / strideH + 1`. Patches are unfolded in
/// OIHW order (channel, then kernel row, then kernel column), the order of the flattened weight.
public struct ConvolutionGeometry: Sendable, Equatable {
    public var batch, channels, height, width: Int
    public var outChannels, kernelH, kernelW: Int
    public var strideH, strideW, dilationH, dilationW: Int
    public var padTop, padLeft, padBottom, padRight: Int
    public var groups: Int

    public var outHeight: Int { (height + padTop + padBottom - dilationH * (kernelH - 1) - 1) / strideH + 1 }
    public var outWidth: Int { (width + padLeft + padRight - dilationW * (kernelW - 1) - 1) / strideW + 1 }
    /// Input channels per group.
    public var groupChannels: Int { channels / groups }
    /// Output channels per group.
    public var groupOutChannels: Int { outChannels / groups }
    /// Length of one unfolded patch: (C/groups)·kh·kw.
    public var patchLength: Int { groupChannels * kernelH * kernelW }
    public var positions: Int { outHeight * outWidth }

    /// Unfolds group `g` of sample `n` into `columns` ([patchLength, positions], row-major, rows
    /// `rowStride` apart; the default packs them).
    public func im2col(_ input: UnsafePointer<Float>, sample n: Int, group g: Int, into columns: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
        let oh = outHeight, ow = outWidth
        let stride = rowStride ?? oh * ow
        var row = 0
        for c in 0..<groupChannels {
            let plane = input + ((n * channels) + g * groupChannels + c) * height * width
            for ki in 0..<kernelH {
                for kj in 0..<kernelW {
                    let out = columns + row * stride
                    for y in 0..<oh {
                        let iy = y * strideH - padTop + ki * dilationH
                        if iy < 0 || iy >= height {
                            (out + y * ow).update(repeating: 0, count: ow)
                            continue
                        }
                        for x in 0..<ow {
                            let ix = x * strideW - padLeft + kj * dilationW
                            out[y * ow + x] = ix < 0 || ix >= width ? 0 : plane[iy * width + ix]
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// Adds `columns` back into the input gradient (the adjoint of ``im2col``).
    public func col2im(_ columns: UnsafePointer<Float>, sample n: Int, group g: Int, into gradient: UnsafeMutablePointer<Float>) {
        let oh = outHeight, ow = outWidth
        var row = 0
        for c in 0..<groupChannels {
            let plane = gradient + ((n * channels) + g * groupChannels + c) * height * width
            for ki in 0..<kernelH {
                for kj in 0..<kernelW {
                    let col = columns + row * oh * ow
                    for y in 0..<oh {
                        let iy = y * strideH - padTop + ki * dilationH
                        if iy < 0 || iy >= height { continue }
                        for x in 0..<ow {
                            let ix = x * strideW - padLeft + kj * dilationW
                            if ix >= 0 && ix < width { plane[iy * width + ix] += col[y * ow + x] }
                        }
                    }
                    row += 1
                }
            }
        }
    }
}

public enum Convolution {
    /// Forward convolution. All samples of a group are unfolded side by side and multiplied in one
    /// `sgemm`; `patches`, when given, receives every group's unfolded patches as a
    /// `[patchLength, N·OH·OW]` tensor whose columns are the patches (for activation statistics).
    public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry gm: ConvolutionGeometry,
                               patches: ((Int, Tensor) -> Void)? = nil) -> Tensor {
        var y = Tensor(zeros: [gm.batch, gm.outChannels, gm.outHeight, gm.outWidth])
        let k = gm.patchLength, p = gm.positions, n = gm.batch, mg = gm.groupOutChannels
        let columnsWide = n * p
        var columns = [Float](repeating: 0, count: k * columnsWide)
        var product = [Float](repeating: 0, count: mg * columnsWide)
        x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    for g in 0..<gm.groups {
                        columns.withUnsafeMutableBufferPointer { cp in
                            for sample in 0..<n {
                                gm.im2col(xp.baseAddress!, sample: sample, group: g, into: cp.baseAddress! + sample * p, rowStride: columnsWide)
                            }
                            product.withUnsafeMutableBufferPointer { pp in
                                BLAS.sgemm(transA: false, transB: false, m: mg, n: columnsWide, k: k,
                                           a: wp.baseAddress! + g * mg * k, lda: k, b: cp.baseAddress!, ldb: columnsWide,
                                           beta: 0, c: pp.baseAddress!, ldc: columnsWide)
                                for m in 0..<mg {
                                    let b = bias?.data[g * mg + m] ?? 0
                                    for sample in 0..<n {
                                        let source = pp.baseAddress! + m * columnsWide + sample * p
                                        let target = yp.baseAddress! + (sample * gm.outChannels + g * mg + m) * p
                                        for i in 0..<p { target[i] = source[i] + b }
                                    }
                                }
                            }
                        }
                        if let patches { patches(g, Tensor(shape: [k, columnsWide], data: columns)) }
                    }
                }
            }
        }
        return y
    }

    /// Gradients of the convolution with respect to input, weight and bias.
    public static func backward(_ x: Tensor, weight: Tensor, geometry gm: ConvolutionGeometry, outputGradient dy: Tensor)
        -> (input: Tensor, weight: Tensor, bias: Tensor)
    {
        var dx = Tensor(zeros: x.shape)
        var dw = Tensor(zeros: weight.shape)
        var db = Tensor(zeros: [gm.outChannels])
        let k = gm.patchLength, p = gm.positions, mg = gm.groupOutChannels
        var columns = [Float](repeating: 0, count: k * p)
        var dcolumns = [Float](repeating: 0, count: k * p)
        x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                dy.data.withUnsafeBufferPointer { gp in
                    dx.data.withUnsafeMutableBufferPointer { dxp in
                        dw.data.withUnsafeMutableBufferPointer { dwp in
                            for n in 0..<gm.batch {
                                for g in 0..<gm.groups {
                                    let dyg = gp.baseAddress! + (n * gm.outChannels + g * mg) * p
                                    columns.withUnsafeMutableBufferPointer { cp in
                                        gm.im2col(xp.baseAddress!, sample: n, group: g, into: cp.baseAddress!)
                                        // dW_g += dY_g [mg, p] · colsᵀ [p, k]
                                        BLAS.sgemm(transA: false, transB: true, m: mg, n: k, k: p, a: dyg, lda: p,
                                                   b: cp.baseAddress!, ldb: p, beta: 1, c: dwp.baseAddress! + g * mg * k, ldc: k)
                                    }
                                    dcolumns.withUnsafeMutableBufferPointer { dcp in
                                        // dcols = W_gᵀ [k, mg] · dY_g [mg, p]
                                        BLAS.sgemm(transA: true, transB: false, m: k, n: p, k: mg, a: wp.baseAddress! + g * mg * k, lda: k,
                                                   b: dyg, ldb: p, beta: 0, c: dcp.baseAddress!, ldc: p)
                                        gm.col2im(dcp.baseAddress!, sample: n, group: g, into: dxp.baseAddress!)
                                    }
                                }
                            }
                        }
                    }
                }
                for n in 0..<gm.batch {
                    for m in 0..<gm.outChannels {
                        var sum: Float = 0
                        let base = (n * gm.outChannels + m) * p
                        for i in 0..<p { sum += dy.data[base + i] }
                        db.data[m] += sum
                    }
                }
            }
        }
        return (dx, dw, db)
    }
}
