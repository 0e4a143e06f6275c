import Testing
import TensorCore
import _TestSupport

@Suite("depthwise convolution backward: direct loops against the unfolded (im2col) gradients")
struct DepthwiseBackwardTests {
    /// (kernel, stride, dilation, pad begin, pad end, channels, size): plane loops (wide rows,
    /// few channels) and channels-last (short rows, 8 or more channels, with a tail past the
    /// last SIMD vector), stride 2, dilation 2, uneven and zero padding, a 1 × 1 kernel.
    static let shapes: [(Int, Int, Int, Int, Int, Int, Int)] = [
        (3, 1, 1, 1, 1, 3, 17), (3, 2, 1, 1, 0, 4, 19), (5, 1, 2, 4, 4, 2, 16), (1, 1, 1, 0, 0, 3, 16),
        (7, 1, 1, 3, 3, 11, 8), (3, 2, 1, 1, 1, 19, 9), (3, 1, 2, 2, 1, 8, 6), (5, 1, 1, 2, 2, 24, 1), (3, 1, 1, 0, 2, 16, 5),
    ]

    @Test("each loop order's input, weight and bias gradients equal im2col's to float rounding; without the input gradient, zeros and the same rest",
          arguments: 0..<shapes.count)
    func matchesUnfolded(_ index: Int) {
        let (kernel, stride, dilation, padBegin, padEnd, channels, size) = Self.shapes[index]
        let gm = ConvolutionGeometry(batch: 3, channels: channels, height: size, width: size + 1, outChannels: channels,
                                     kernelH: kernel, kernelW: kernel, strideH: stride, strideW: stride, dilationH: dilation, dilationW: dilation,
                                     padTop: padBegin, padLeft: padBegin, padBottom: padEnd, padRight: padEnd, groups: channels)
        #expect(gm.isDepthwise)
        var rng = SeededGenerator(seed: UInt64(90 + index))
        let x = Tensor.random([gm.batch, gm.channels, gm.height, gm.width], using: &rng)
        let w = Tensor.random([gm.outChannels, 1, gm.kernelH, gm.kernelW], using: &rng)
        let dy = Tensor.random([gm.batch, gm.outChannels, gm.outHeight, gm.outWidth], using: &rng)
        let reference = Convolution.im2colBackward(x, weight: w, geometry: gm, outputGradient: dy)
        for channelsLast in [false, true] {
            let direct = Convolution.depthwiseBackward(x, weight: w, geometry: gm, outputGradient: dy, channelsLast: channelsLast)
            let label = "shape \(index), channels-last \(channelsLast)"
            #expect(direct.input.shape == x.shape && direct.weight.shape == w.shape && direct.bias.shape == [gm.outChannels], "\(label)")
            #expect(Self.relativeDifference(direct.input, reference.input) <= 1e-5, "\(label): input")
            #expect(Self.relativeDifference(direct.weight, reference.weight) <= 1e-5, "\(label): weight")
            #expect(Self.relativeDifference(direct.bias, reference.bias) <= 1e-5, "\(label): bias")
            let noInput = Convolution.depthwiseBackward(x, weight: w, geometry: gm, outputGradient: dy, inputGradient: false,
                                                        channelsLast: channelsLast)
            #expect(noInput.input.data.allSatisfy { $0 == 0 }, "\(label)")
            #expect(noInput.weight.data == direct.weight.data && noInput.bias.data == direct.bias.data, "\(label)")
        }
        // The dispatching backward takes the direct loops for depthwise geometries.
        let dispatched = Convolution.backward(x, weight: w, geometry: gm, outputGradient: dy)
        let chosen = Convolution.depthwiseBackward(x, weight: w, geometry: gm, outputGradient: dy)
        #expect(dispatched.input.data == chosen.input.data && dispatched.weight.data == chosen.weight.data)
    }

    /// ‖a − b‖_∞ / max(1, ‖b‖_∞).
    static func relativeDifference(_ a: Tensor, _ b: Tensor) -> Float {
        let worst = zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
        return worst / max(1, b.data.map(abs).max() ?? 0)
    }
}
