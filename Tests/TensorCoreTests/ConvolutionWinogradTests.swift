import Testing
import TensorCore
import _TestSupport

@Suite("Winograd F(2×2, 3×3) convolutions against the direct sum and the im2col path")
struct ConvolutionWinogradTests {
    /// Output widths that take each path of the tile transforms (4 tiles per vector; the tiles
    /// left over in a row, or a row too short for a vector, one at a time, including a half last
    /// tile column), odd output heights (a half last tile row), no padding, and uneven padding.
    static let geometries: [(label: String, geometry: ConvolutionGeometry)] = [
        ("8 x 16 same (4 tiles per vector, 2 vectors per row)", ConvolutionGeometry(batch: 2, channels: 16, height: 8, width: 16, outChannels: 16, kernelH: 3, kernelW: 3,
                                                                  padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
        ("7 x 8 same (4 tiles per vector, odd height)", ConvolutionGeometry(batch: 2, channels: 20, height: 7, width: 8, outChannels: 16, kernelH: 3,
                                                                             kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
        ("9 x 9 same (4 tiles per vector, then one)", ConvolutionGeometry(batch: 1, channels: 16, height: 9, width: 9, outChannels: 24, kernelH: 3, kernelW: 3,
                                                                 padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)),
        ("10 x 7 valid (3 tiles a row: one at a time)", ConvolutionGeometry(batch: 2, channels: 16, height: 10, width: 7, outChannels: 17, kernelH: 3, kernelW: 3)),
        ("6 x 10 uneven padding", ConvolutionGeometry(batch: 1, channels: 16, height: 6, width: 10, outChannels: 16, kernelH: 3, kernelW: 3,
                                                      padTop: 2, padLeft: 0, padBottom: 0, padRight: 2)),
    ]

    @Test("outputs equal the float64 sum of weights × unfolded patches plus the bias, within 1e-5 of the output scale",
          arguments: geometries.indices)
    func againstDirectSum(_ index: Int) {
        let (label, gm) = Self.geometries[index]
        #expect(Convolution.usesWinograd(gm), "\(label): expected the Winograd path")
        var rng = SeededGenerator(seed: 11)
        let x = Tensor.random([gm.batch, gm.channels, gm.height, gm.width], using: &rng)
        let w = Tensor.random([gm.outChannels, gm.channels, 3, 3], using: &rng)
        let bias = Tensor.random([gm.outChannels], using: &rng)
        let y = Convolution.winogradForward(x, weight: w, bias: bias, geometry: gm)
        #expect(y.shape == [gm.batch, gm.outChannels, gm.outHeight, gm.outWidth])
        var patch = [Float](repeating: .nan, count: gm.patchLength)
        var worst = 0.0, scale = 1.0
        x.data.withUnsafeBufferPointer { xp in
            for n in 0..<gm.batch {
                for position in 0..<gm.positions {
                    gm.unfoldPatch(xp.baseAddress!, sample: n, group: 0, position: position, into: &patch)
                    for m in 0..<gm.outChannels {
                        var expected = Double(bias.data[m])
                        for t in 0..<gm.patchLength { expected += Double(w.data[m * gm.patchLength + t]) * Double(patch[t]) }
                        scale = max(scale, abs(expected))
                        worst = max(worst, abs(Double(y.data[(n * gm.outChannels + m) * gm.positions + position]) - expected))
                    }
                }
            }
        }
        #expect(worst <= 1e-5 * scale, "\(label): largest difference \(worst), output scale \(scale)")
    }

    @Test("a batch split into several chunks of transformed tiles gives the im2col path's outputs, and forward dispatches to it")
    func chunkedBatch() {
        // 16 · 64 channels · 256 tiles per sample: 12 samples fit a chunk, so 13 take two.
        let gm = ConvolutionGeometry(batch: 13, channels: 64, height: 32, width: 32, outChannels: 16, kernelH: 3, kernelW: 3,
                                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        var rng = SeededGenerator(seed: 12)
        let x = Tensor.random([gm.batch, gm.channels, gm.height, gm.width], using: &rng)
        let w = Tensor.random([gm.outChannels, gm.channels, 3, 3], using: &rng)
        let winograd = Convolution.forward(x, weight: w, bias: nil, geometry: gm)
        let unfolded = Convolution.im2colForward(x, weight: w, bias: nil, geometry: gm)
        let scale = unfolded.data.map(abs).max() ?? 1
        let worst = zip(winograd.data, unfolded.data).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5 * scale, "largest difference \(worst), output scale \(scale)")
    }

    @Test("stride 2, dilation 2, groups, 1×1 kernels and thin channel counts keep the im2col path")
    func eligibility() {
        func geometry(channels: Int = 16, out: Int = 16, kernel: Int = 3, stride: Int = 1, dilation: Int = 1, groups: Int = 1, size: Int = 8) -> ConvolutionGeometry {
            ConvolutionGeometry(batch: 1, channels: channels, height: size, width: size, outChannels: out, kernelH: kernel, kernelW: kernel,
                                strideH: stride, strideW: stride, dilationH: dilation, dilationW: dilation,
                                padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: groups)
        }
        #expect(Convolution.usesWinograd(geometry()))
        #expect(!Convolution.usesWinograd(geometry(stride: 2)))
        #expect(!Convolution.usesWinograd(geometry(dilation: 2)))
        #expect(!Convolution.usesWinograd(geometry(groups: 2)))
        #expect(!Convolution.usesWinograd(geometry(kernel: 1)))
        #expect(!Convolution.usesWinograd(geometry(channels: 3)))
        #expect(!Convolution.usesWinograd(geometry(out: 8)))
        #expect(!Convolution.usesWinograd(geometry(size: 1)))
    }
}
