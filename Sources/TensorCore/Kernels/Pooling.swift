/// Max and average pooling over the last two axes of `[N, C, H, W]` (1-D as height 1).
public struct PoolGeometry: Sendable, Equatable {
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

    private func outSize(_ size: Int, _ padA: Int, _ padB: Int, _ kernel: Int, _ stride: Int, _ dilation: Int) -> Int {
        let span = size + padA + padB - dilation * (kernel - 1) - 1
        var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
        // With ceil mode, the last window must start inside the input or the leading padding.
        if ceilMode && (out - 1) * stride >= size + padA { out -= 1 }
        return out
    }

    public var outHeight: Int { outSize(height, padTop, padBottom, kernelH, strideH, dilationH) }
    public var outWidth: Int { outSize(width, padLeft, padRight, kernelW, strideW, dilationW) }
}

public enum Pooling {
    /// Max pooling; also returns, per output, the flat input index of its maximum (for backward).
    public static func maxForward(_ x: Tensor, _ g: PoolGeometry) -> (Tensor, [Int]) {
        let oh = g.outHeight, ow = g.outWidth
        var y = Tensor(zeros: [g.batch, g.channels, oh, ow])
        var argmax = [Int](repeating: -1, count: y.count)
        for plane in 0..<(g.batch * g.channels) {
            let base = plane * g.height * g.width
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var best = -Float.infinity, bestIndex = -1
                    for ki in 0..<g.kernelH {
                        let iy = oy * g.strideH - g.padTop + ki * g.dilationH
                        if iy < 0 || iy >= g.height { continue }
                        for kj in 0..<g.kernelW {
                            let ix = ox * g.strideW - g.padLeft + kj * g.dilationW
                            if ix < 0 || ix >= g.width { continue }
                            let v = x.data[base + iy * g.width + ix]
                            if v > best || bestIndex < 0 { best = v; bestIndex = base + iy * g.width + ix }
                        }
                    }
                    let o = (plane * oh + oy) * ow + ox
                    y.data[o] = best
                    argmax[o] = bestIndex
                }
            }
        }
        return (y, argmax)
    }

    public static func maxBackward(inputShape: [Int], argmax: [Int], outputGradient dy: Tensor) -> Tensor {
        var dx = Tensor(zeros: inputShape)
        for (o, i) in argmax.enumerated() where i >= 0 { dx.data[i] += dy.data[o] }
        return dx
    }

    /// Average pooling; `countIncludePad` divides by the full kernel size including padding.
    public static func averageForward(_ x: Tensor, _ g: PoolGeometry, countIncludePad: Bool) -> Tensor {
        let oh = g.outHeight, ow = g.outWidth
        var y = Tensor(zeros: [g.batch, g.channels, oh, ow])
        forEachWindow(g) { plane, o, inputs, divisor in
            var sum: Float = 0
            for i in inputs { sum += x.data[plane * g.height * g.width + i] }
            y.data[o] = sum / Float(countIncludePad ? divisor.padded : divisor.valid)
        }
        return y
    }

    public static func averageBackward(inputShape: [Int], _ g: PoolGeometry, countIncludePad: Bool, outputGradient dy: Tensor) -> Tensor {
        var dx = Tensor(zeros: inputShape)
        forEachWindow(g) { plane, o, inputs, divisor in
            let share = dy.data[o] / Float(countIncludePad ? divisor.padded : divisor.valid)
            for i in inputs { dx.data[plane * g.height * g.width + i] += share }
        }
        return dx
    }

    private static func forEachWindow(_ g: PoolGeometry, _ body: (Int, Int, [Int], (valid: Int, padded: Int)) -> Void) {
        let oh = g.outHeight, ow = g.outWidth
        for plane in 0..<(g.batch * g.channels) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var inputs: [Int] = []
                    var padded = 0
                    for ki in 0..<g.kernelH {
                        let iy = oy * g.strideH - g.padTop + ki * g.dilationH
                        for kj in 0..<g.kernelW {
                            let ix = ox * g.strideW - g.padLeft + kj * g.dilationW
                            // positions inside input + explicit padding count toward "padded"
                            if iy >= -g.padTop && iy < g.height + g.padBottom && ix >= -g.padLeft && ix < g.width + g.padRight { padded += 1 }
                            if iy >= 0 && iy < g.height && ix >= 0 && ix < g.width { inputs.append(iy * g.width + ix) }
                        }
                    }
                    body(plane, (plane * oh + oy) * ow + ox, inputs, (max(1, inputs.count), max(1, padded)))
                }
            }
        }
    }
}
