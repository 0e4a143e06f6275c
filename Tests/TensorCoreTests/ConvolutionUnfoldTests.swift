import Testing
import TensorCore
import _TestSupport

@Suite("convolution unfolding: im2col against per-patch unfolding, col2im as its adjoint")
struct ConvolutionUnfoldTests {
    /// Geometries with and without the same-grid fast path: 3×3 and 5×5 "same", dilation 2,
    /// uneven padding, a 1-pixel-wide input, 1×1 kernels, stride 2 and a valid convolution.
    static let geometries: [(label: String, geometry: ConvolutionGeometry)] = [
        ("3x3 same", ConvolutionGeometry(batch: 3, channels: 2, height: 5, width: 4, outChannels: 2, kernelH: 3, kernelW: 3,
                                         padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
        ("5x5 same", ConvolutionGeometry(batch: 2, channels: 2, height: 3, width: 6, outChannels: 2, kernelH: 5, kernelW: 5,
                                         padTop: 2, padLeft: 2, padBottom: 2, padRight: 2)),
        ("3x3 dilation 2 same", ConvolutionGeometry(batch: 2, channels: 3, height: 4, width: 5, outChannels: 3, kernelH: 3, kernelW: 3,
                                                    dilationH: 2, dilationW: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2, groups: 3)),
        ("3x3 uneven same", ConvolutionGeometry(batch: 2, channels: 2, height: 4, width: 4, outChannels: 2, kernelH: 3, kernelW: 3,
                                                padTop: 0, padLeft: 2, padBottom: 2, padRight: 0)),
        ("width 1", ConvolutionGeometry(batch: 2, channels: 1, height: 6, width: 1, outChannels: 1, kernelH: 3, kernelW: 3,
                                        padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
        ("1x1", ConvolutionGeometry(batch: 2, channels: 4, height: 3, width: 3, outChannels: 2, kernelH: 1, kernelW: 1)),
        ("3x3 stride 2", ConvolutionGeometry(batch: 2, channels: 2, height: 5, width: 6, outChannels: 2, kernelH: 3, kernelW: 3,
                                             strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
        ("3x3 valid", ConvolutionGeometry(batch: 2, channels: 2, height: 5, width: 5, outChannels: 2, kernelH: 3, kernelW: 3)),
    ]

    @Test("im2col equals unfolding each patch; col2im satisfies ⟨col2im(C), X⟩ = ⟨C, im2col(X)⟩ and adds only inside",
          arguments: 0..<geometries.count)
    func unfoldAndAdjoint(_ index: Int) {
        let (label, gm) = Self.geometries[index]
        var rng = SeededGenerator(seed: UInt64(40 + index))
        let x = Tensor.random([gm.batch, gm.channels, gm.height, gm.width], using: &rng).data
        let k = gm.patchLength, p = gm.positions
        #expect(gm.preservesGrid == (label.hasSuffix("same") || label == "width 1" || label == "1x1"), "\(label)")
        for n in 0..<gm.batch {
            for g in 0..<gm.groups {
                // im2col into a wider matrix (leading dimension p + 3) against unfoldPatch.
                let ld = p + 3
                var columns = [Float](repeating: .nan, count: k * ld)
                var patch = [Float](repeating: .nan, count: k)
                x.withUnsafeBufferPointer { xp in
                    columns.withUnsafeMutableBufferPointer { gm.im2col(xp.baseAddress!, sample: n, group: g, into: $0.baseAddress!, leadingDimension: ld) }
                    for position in 0..<p {
                        patch.withUnsafeMutableBufferPointer { gm.unfoldPatch(xp.baseAddress!, sample: n, group: g, position: position, into: $0.baseAddress!) }
                        #expect((0..<k).map { columns[$0 * ld + position] } == patch, "\(label): sample \(n), group \(g), position \(position)")
                    }
                }
                // Adjoint: with C random, ⟨col2im(C), X⟩ = ⟨C, im2col(X)⟩ (in float64), and
                // elements of other samples and groups stay untouched (NaN-free zeros).
                var c = Tensor.random([k, ld], using: &rng).data
                let inner = (0..<k).reduce(0.0) { sum, r in (0..<p).reduce(sum) { $0 + Double(c[r * ld + $1]) * Double(columns[r * ld + $1]) } }
                var gradient = [Float](repeating: 0, count: x.count)
                c.withUnsafeMutableBufferPointer { cp in
                    gradient.withUnsafeMutableBufferPointer { gm.col2im(cp.baseAddress!, sample: n, group: g, into: $0.baseAddress!, leadingDimension: ld) }
                }
                let adjoint = zip(gradient, x).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                #expect(abs(adjoint - inner) <= 1e-5 * max(1, abs(inner)), "\(label): sample \(n), group \(g)")
                let plane = gm.height * gm.width
                for (i, value) in gradient.enumerated() where value != 0 {
                    let channel = (i / plane) % gm.channels, sample = i / (plane * gm.channels)
                    #expect(sample == n && channel / gm.groupChannels == g, "\(label): wrote outside sample \(n) group \(g)")
                }
            }
        }
    }

    @Test("depthwise convolutions (direct loops) equal the per-patch sum of weights × unfolded inputs, plus the bias",
          arguments: [(3, 1, 1, 1, 1), (3, 2, 1, 1, 1), (3, 1, 2, 2, 2), (5, 2, 1, 2, 1), (1, 1, 1, 0, 0), (3, 1, 1, 0, 2)])
    func depthwiseForward(_ shape: (kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int)) {
        let gm = ConvolutionGeometry(batch: 2, channels: 3, height: 7, width: 6, outChannels: 3, kernelH: shape.kernel, kernelW: shape.kernel,
                                     strideH: shape.stride, strideW: shape.stride, dilationH: shape.dilation, dilationW: shape.dilation,
                                     padTop: shape.padBegin, padLeft: shape.padBegin, padBottom: shape.padEnd, padRight: shape.padEnd, groups: 3)
        #expect(gm.isDepthwise)
        var rng = SeededGenerator(seed: 7)
        let x = Tensor.random([gm.batch, gm.channels, gm.height, gm.width], using: &rng)
        let w = Tensor.random([gm.outChannels, 1, gm.kernelH, gm.kernelW], using: &rng)
        let bias = Tensor.random([gm.outChannels], using: &rng)
        let y = Convolution.forward(x, weight: w, bias: bias, geometry: gm)
        #expect(y.shape == [gm.batch, gm.outChannels, gm.outHeight, gm.outWidth])
        let worst = Self.largestDifferenceFromPatchSums(y, x: x, weight: w, bias: bias, geometry: gm)
        #expect(worst <= 1e-5, "largest difference \(worst)")
    }

    @Test("depthwise convolutions channels-last (SIMD over channels) equal the plane loops bit for bit, and the per-patch sum",
          arguments: [(7, 1, 1, 3, 3, 11, 8), (7, 1, 1, 3, 3, 16, 4), (3, 2, 1, 1, 0, 19, 9), (3, 1, 2, 2, 1, 8, 6), (5, 1, 1, 2, 2, 24, 1)])
    func depthwiseChannelsLast(_ shape: (kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int, channels: Int, size: Int)) {
        let gm = ConvolutionGeometry(batch: 3, channels: shape.channels, height: shape.size, width: shape.size, outChannels: shape.channels,
                                     kernelH: shape.kernel, kernelW: shape.kernel, strideH: shape.stride, strideW: shape.stride,
                                     dilationH: shape.dilation, dilationW: shape.dilation, padTop: shape.padBegin, padLeft: shape.padBegin,
                                     padBottom: shape.padEnd, padRight: shape.padEnd, groups: shape.channels)
        #expect(gm.isDepthwise && Convolution.usesChannelsLastDepthwise(gm))
        var rng = SeededGenerator(seed: 8)
        let x = Tensor.random([gm.batch, gm.channels, gm.height, gm.width], using: &rng)
        let w = Tensor.random([gm.outChannels, 1, gm.kernelH, gm.kernelW], using: &rng)
        let bias = Tensor.random([gm.outChannels], using: &rng)
        let last = Convolution.depthwiseForward(x, weight: w, bias: bias, geometry: gm, channelsLast: true)
        let planes = Convolution.depthwiseForward(x, weight: w, bias: bias, geometry: gm, channelsLast: false)
        #expect(last.shape == [gm.batch, gm.outChannels, gm.outHeight, gm.outWidth] && last.shape == planes.shape)
        #expect(last.data == planes.data)
        let worst = Self.largestDifferenceFromPatchSums(last, x: x, weight: w, bias: bias, geometry: gm)
        #expect(worst <= 1e-5, "largest difference \(worst)")
    }

    /// The largest difference between the depthwise output `y` and, per sample, channel and
    /// position, the bias plus the float64 sum of the channel's weights times its unfolded patch.
    static func largestDifferenceFromPatchSums(_ y: Tensor, x: Tensor, weight w: Tensor, bias: Tensor, geometry gm: ConvolutionGeometry) -> Float {
        var patch = [Float](repeating: .nan, count: gm.patchLength)
        var worst: Float = 0
        x.data.withUnsafeBufferPointer { xp in
            for n in 0..<gm.batch {
                for c in 0..<gm.channels {
                    for position in 0..<gm.positions {
                        gm.unfoldPatch(xp.baseAddress!, sample: n, group: c, position: position, into: &patch)
                        var expected = Double(bias.data[c])
                        for t in 0..<gm.patchLength { expected += Double(w.data[c * gm.patchLength + t]) * Double(patch[t]) }
                        worst = max(worst, abs(y.data[(n * gm.channels + c) * gm.positions + position] - Float(expected)))
                    }
                }
            }
        }
        return worst
    }

    @Test("1 × 1 convolutions (their input planes copied as columns) equal the float64 sum over channels plus the bias, with groups and odd sizes",
          arguments: [(1, 7, 5), (2, 3, 1), (4, 1, 1)])
    func pointwiseForward(_ shape: (groups: Int, height: Int, width: Int)) {
        let channels = 8, outChannels = 12, g = shape.groups
        let gm = ConvolutionGeometry(batch: 5, channels: channels, height: shape.height, width: shape.width, outChannels: outChannels,
                                     kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1,
                                     padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, groups: g)
        var rng = SeededGenerator(seed: 9)
        let x = Tensor.random([gm.batch, channels, gm.height, gm.width], using: &rng)
        let w = Tensor.random([outChannels, channels / g, 1, 1], using: &rng)
        let bias = Tensor.random([outChannels], using: &rng)
        let y = Convolution.forward(x, weight: w, bias: bias, geometry: gm)
        let p = gm.height * gm.width, cg = channels / g, mg = outChannels / g
        var worst: Float = 0
        for n in 0..<gm.batch {
            for m in 0..<outChannels {
                for position in 0..<p {
                    var expected = Double(bias.data[m])
                    for c in 0..<cg { expected += Double(w.data[m * cg + c]) * Double(x.data[(n * channels + (m / mg) * cg + c) * p + position]) }
                    worst = max(worst, abs(y.data[(n * outChannels + m) * p + position] - Float(expected)))
                }
            }
        }
        #expect(worst <= 1e-5, "largest difference \(worst)")
    }
}

