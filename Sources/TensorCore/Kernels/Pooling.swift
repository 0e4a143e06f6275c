/// Max and average pooling over the spatial axes of `[N, C, H, W]` (1-D as height 1).
///
/// Output size per axis: `⌊(in + padBegin + padEnd − dilation·(k − 1) − 1) / stride⌋ + 1`, or with
/// `ceilMode` rounded up, dropping a last window that would start in the trailing padding
/// (PyTorch's rule).
package struct PoolGeometry: Sendable, Equatable {
    public var batch, channels, height, width: Int
    public var kernelH, kernelW, strideH, strideW: Int
    public var padTop, padLeft, padBottom, padRight: Int
    public var dilationH = 1, dilationW = 1
    public var ceilMode = false

    public init(batch: Int, channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int, strideH: Int, strideW: Int,
                padTop: Int, padLeft: Int, padBottom: Int, padRight: Int, dilationH: Int = 1, dilationW: Int = 1, ceilMode: Bool = false) {
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW; self.strideH = strideH; self.strideW = strideW
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
        self.dilationH = dilationH; self.dilationW = dilationW; self.ceilMode = ceilMode
    }

    /// The geometry of pooling on `[N, C, W]` or `[N, C, H, W]`, or why it does not fit.
    public static func resolve(input x: [Int], _ a: PoolAttributes) -> Result<PoolGeometry, ShapeMismatch> {
        guard x.count == 3 || x.count == 4 else { return .failure(ShapeMismatch("pooling needs a 3-D or 4-D input, got \(x)")) }
        if let violation = SpatialWindow.rangeViolation(kernel: a.kernelShape, strides: a.strides, pads: a.pads, dilations: a.dilations) {
            return .failure(ShapeMismatch("pooling \(violation)"))
        }
        guard let w = SpatialWindow.resolve(input: Array(x.dropFirst(2)), kernel: a.kernelShape, strides: a.strides, pads: a.pads,
                                            dilations: a.dilations, autoPad: a.autoPad, ceilMode: a.ceilMode) else {
            return .failure(ShapeMismatch("pooling attributes do not fit \(x.count - 2) spatial axes"))
        }
        let g = PoolGeometry(batch: x[0], channels: x[1], height: w.size(0), width: w.size(1), kernelH: w.kernelSize(0), kernelW: w.kernelSize(1),
                             strideH: w.stride(0), strideW: w.stride(1), padTop: w.padBegin(0), padLeft: w.padBegin(1),
                             padBottom: w.padEnd(0), padRight: w.padEnd(1), dilationH: w.dilation(0), dilationW: w.dilation(1),
                             ceilMode: a.ceilMode)
        guard g.outHeight > 0, g.outWidth > 0 else { return .failure(ShapeMismatch("the pooling window does not fit the padded input \(x)")) }
        guard g.padTop < g.kernelH * g.dilationH, g.padLeft < g.kernelW * g.dilationW else {
            return .failure(ShapeMismatch("padding must be smaller than the window"))
        }
        return .success(g)
    }

    private func outSize(_ size: Int, _ padA: Int, _ padB: Int, _ kernel: Int, _ stride: Int, _ dilation: Int) -> Int {
        let span = size + padA + padB - dilation * (kernel - 1) - 1
        guard span >= 0 else { return 0 }
        var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
        if ceilMode && (out - 1) * stride >= size + padA { out -= 1 }
        return out
    }

    public var outHeight: Int { outSize(height, padTop, padBottom, kernelH, strideH, dilationH) }
    public var outWidth: Int { outSize(width, padLeft, padRight, kernelW, strideW, dilationW) }

    /// `[N, C, OW]` for rank 3, `[N, C, OH, OW]` for rank 4.
    public func outputShape(rank: Int) -> [Int] {
        rank == 3 ? [batch, channels, outWidth] : [batch, channels, outHeight, outWidth]
    }
}

package enum Pooling {
    /// Max pooling (padding never wins); also returns, per output, the flat input index of its
    /// maximum (the first one on ties) for backward; no indices when `argmax` is false (inference).
    public static func maxForward(_ x: Tensor, _ g: PoolGeometry, argmax recordArgmax: Bool = true) -> (Tensor, [Int]) {
        let oh = g.outHeight, ow = g.outWidth, height = g.height, width = g.width, plane = height * width
        let kh = g.kernelH, kw = g.kernelW, sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
        let padTop = g.padTop, padLeft = g.padLeft
        var y = Tensor(shape: [g.batch, g.channels, oh, ow], data: uninitializedFloats(g.batch * g.channels * oh * ow))
        var argmax = recordArgmax ? [Int](repeating: -1, count: y.count) : []
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in argmax.withUnsafeMutableBufferPointer { ap in
            if kh == 2, kw == 2, sh == 2, sw == 2, dh == 1, dw == 1, padTop == 0, padLeft == 0, 2 * oh <= height, 2 * ow <= width {
                // The common 2 × 2 / stride 2 window without padding: no bounds to check. Same
                // comparisons in the same order as the general loop, so the same result and argmax.
                for c in 0..<(g.batch * g.channels) {
                    let base = c * plane
                    for oy in 0..<oh {
                        let top = base + 2 * oy * width, bottom = top + width
                        for ox in 0..<ow {
                            var bestIndex = top + 2 * ox, best = xp[bestIndex]
                            if xp[top + 2 * ox + 1] > best { bestIndex = top + 2 * ox + 1; best = xp[bestIndex] }
                            if xp[bottom + 2 * ox] > best { bestIndex = bottom + 2 * ox; best = xp[bestIndex] }
                            if xp[bottom + 2 * ox + 1] > best { bestIndex = bottom + 2 * ox + 1; best = xp[bestIndex] }
                            let o = (c * oh + oy) * ow + ox
                            yp[o] = best
                            if recordArgmax { ap[o] = bestIndex }
                        }
                    }
                }
                return
            }
            for c in 0..<(g.batch * g.channels) {
                let base = c * plane
                for oy in 0..<oh {
                    // The kernel rows and columns inside the input, hoisted out of the inner loops.
                    var firstRow = 0, lastRow = kh
                    while firstRow < kh && oy * sh - padTop + firstRow * dh < 0 { firstRow += 1 }
                    while lastRow > firstRow && oy * sh - padTop + (lastRow - 1) * dh >= height { lastRow -= 1 }
                    for ox in 0..<ow {
                        var best = -Float.infinity, bestIndex = -1
                        for ki in firstRow..<lastRow {
                            let rowStart = base + (oy * sh - padTop + ki * dh) * width
                            for kj in 0..<kw {
                                let ix = ox * sw - padLeft + kj * dw
                                if ix < 0 || ix >= width { continue }
                                let v = xp[rowStart + ix]
                                if v > best || bestIndex < 0 { best = v; bestIndex = rowStart + ix }
                            }
                        }
                        let o = (c * oh + oy) * ow + ox
                        yp[o] = best
                        if recordArgmax { ap[o] = bestIndex }
                    }
                }
            }
        } } }
        return (y, argmax)
    }

    /// Routes each output gradient to its argmax.
    public static func maxBackward(inputShape: [Int], argmax: [Int], outputGradient dy: Tensor) -> Tensor {
        var dx = Tensor(zeros: inputShape)
        dx.data.withUnsafeMutableBufferPointer { dp in dy.data.withUnsafeBufferPointer { gp in
            for (o, i) in argmax.enumerated() where i >= 0 { dp[i] += gp[o] }
        } }
        return dx
    }

    /// Average pooling. The divisor is the number of window positions inside the input, or with
    /// `countIncludePad` inside the input plus its explicit padding (positions beyond that, which
    /// only ceil mode creates, never count).
    public static func averageForward(_ x: Tensor, _ g: PoolGeometry, countIncludePad: Bool) -> Tensor {
        var y = Tensor(zeros: [g.batch, g.channels, g.outHeight, g.outWidth])
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            forEachWindow(g, countIncludePad: countIncludePad) { input, output, y0, y1, x0, x1, divisor in
                var sum: Float = 0
                for iy in y0..<y1 { for ix in x0..<x1 { sum += xp[input + iy * g.width + ix] } }
                yp[output] = sum / divisor
            }
        } }
        return y
    }

    /// The adjoint of ``averageForward(_:_:countIncludePad:)``.
    public static func averageBackward(inputShape: [Int], _ g: PoolGeometry, countIncludePad: Bool, outputGradient dy: Tensor) -> Tensor {
        var dx = Tensor(zeros: inputShape)
        dx.data.withUnsafeMutableBufferPointer { dp in dy.data.withUnsafeBufferPointer { gp in
            forEachWindow(g, countIncludePad: countIncludePad) { input, output, y0, y1, x0, x1, divisor in
                let share = gp[output] / divisor
                for iy in y0..<y1 { for ix in x0..<x1 { dp[input + iy * g.width + ix] += share } }
            }
        } }
        return dx
    }

    /// For every window with dilation 1 (average pooling has none): plane offset, output index,
    /// the clipped input rows `y0..<y1` and columns `x0..<x1`, and the divisor.
    private static func forEachWindow(_ g: PoolGeometry, countIncludePad: Bool,
                                      _ body: (Int, Int, Int, Int, Int, Int, Float) -> Void) {
        let oh = g.outHeight, ow = g.outWidth
        for c in 0..<(g.batch * g.channels) {
            for oy in 0..<oh {
                let start = oy * g.strideH - g.padTop
                let y0 = max(start, 0), y1 = min(start + g.kernelH * g.dilationH, g.height)
                let paddedRows = min(start + g.kernelH, g.height + g.padBottom) - max(start, -g.padTop)
                for ox in 0..<ow {
                    let left = ox * g.strideW - g.padLeft
                    let x0 = max(left, 0), x1 = min(left + g.kernelW * g.dilationW, g.width)
                    let paddedColumns = min(left + g.kernelW, g.width + g.padRight) - max(left, -g.padLeft)
                    let count = countIncludePad ? paddedRows * paddedColumns : max(y1 - y0, 0) * max(x1 - x0, 0)
                    body(c * g.height * g.width, (c * oh + oy) * ow + ox, y0, max(y1, y0), x0, max(x1, x0), Float(max(count, 1)))
                }
            }
        }
    }

    /// Mean over every axis after the first two: `[N, C, …]` → `[N, C, 1, …]`.
    public static func globalAverage(_ x: Tensor) -> Tensor {
        let planes = x.shape[0] * x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
        var y = Tensor(zeros: Array(x.shape.prefix(2)) + [Int](repeating: 1, count: x.rank - 2))
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            for p in 0..<planes {
                var sum: Float = 0
                for i in 0..<inner { sum += xp[p * inner + i] }
                yp[p] = sum / Float(max(inner, 1))
            }
        } }
        return y
    }

    /// The adjoint of ``globalAverage(_:)``.
    public static func globalAverageBackward(inputShape: [Int], outputGradient dy: Tensor) -> Tensor {
        let inner = inputShape.dropFirst(2).reduce(1, *)
        var dx = Tensor(zeros: inputShape)
        dx.data.withUnsafeMutableBufferPointer { dp in dy.data.withUnsafeBufferPointer { gp in
            for p in 0..<gp.count {
                let share = gp[p] / Float(max(inner, 1))
                for i in 0..<inner { dp[p * inner + i] = share }
            }
        } }
        return dx
    }
}
