extension Convolution {
    /// ``backward(_:weight:geometry:outputGradient:inputGradient:)`` of a depthwise convolution
    /// (``ConvolutionGeometry/isDepthwise``) as direct loops over the taps that read inside the
    /// input (``ConvolutionGeometry/depthwiseReads``). With `y[n,c,o] = b_c + Σ_t w[c,t] · x[n,c,i(o,t)]`,
    /// `i(o,t)` the input element tap `t` of output `o` reads (taps reading padding add nothing):
    /// ```
    /// ∂L/∂w[c,t] = Σ_n Σ_o dy[n,c,o] · x[n,c,i(o,t)]
    /// ∂L/∂x[n,c,i] = Σ_{(o,t): i(o,t) = i} w[c,t] · dy[n,c,o]
    /// ∂L/∂b_c   = Σ_n Σ_o dy[n,c,o]
    /// ```
    /// Unfolding each single-channel group for two one-row products (``im2colBackward(_:weight:geometry:outputGradient:inputGradient:)``)
    /// cost more than the products: im2col and col2im were 13 % of ConvNeXt-atto's `apply`.
    ///
    /// `channelsLast` chooses the loop order as in ``depthwiseForward(_:weight:bias:geometry:channelsLast:)``
    /// (default: ``usesChannelsLastDepthwise(_:)``); the two sum in different orders, so they agree
    /// to rounding, not bit for bit. Either is deterministic. Without `inputGradient` the input
    /// gradient is all zeros and costs nothing.
    public static func depthwiseBackward(_ x: Tensor, weight: Tensor, geometry gm: ConvolutionGeometry, outputGradient dy: Tensor,
                                         inputGradient: Bool = true, channelsLast: Bool? = nil) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        var dx = Tensor(zeros: x.shape)
        var dw = [Float](repeating: 0, count: weight.count)
        guard gm.batch > 0, gm.positions > 0 else { return (dx, Tensor(shape: weight.shape, data: dw), Tensor(zeros: [gm.outChannels])) }
        let reads = gm.depthwiseReads
        if channelsLast ?? usesChannelsLastDepthwise(gm) {
            depthwiseBackwardChannelsLast(x, weight: weight, geometry: gm, outputGradient: dy, reads: reads, inputGradient: inputGradient,
                                          dx: &dx, dw: &dw)
        } else {
            depthwiseBackwardPlanes(x, weight: weight, geometry: gm, outputGradient: dy, reads: reads, inputGradient: inputGradient,
                                    dx: &dx, dw: &dw)
        }
        return (dx, Tensor(shape: weight.shape, data: dw), biasGradient(dy, geometry: gm))
    }

    /// The plane loops: per sample and channel, per tap, the rows of outputs it reads inside.
    private static func depthwiseBackwardPlanes(_ x: Tensor, weight: Tensor, geometry gm: ConvolutionGeometry, outputGradient dy: Tensor,
                                                reads: [ConvolutionGeometry.TapRead], inputGradient: Bool,
                                                dx: inout Tensor, dw: inout [Float]) {
        let ow = gm.outWidth, taps = gm.kernelH * gm.kernelW, plane = gm.height * gm.width, outPlane = gm.positions
        let rowStep = gm.strideH * gm.width, columnStep = gm.strideW
        x.data.withUnsafeBufferPointer { xp in weight.data.withUnsafeBufferPointer { wp in dy.data.withUnsafeBufferPointer { gp in
            dx.data.withUnsafeMutableBufferPointer { dxp in dw.withUnsafeMutableBufferPointer { dwp in
                for n in 0..<gm.batch {
                    for c in 0..<gm.channels {
                        let input = xp.baseAddress! + (n * gm.channels + c) * plane, gradient = gp.baseAddress! + (n * gm.channels + c) * outPlane
                        let target = dxp.baseAddress! + (n * gm.channels + c) * plane
                        let weights = wp.baseAddress! + c * taps, weightGradient = dwp.baseAddress! + c * taps
                        for read in reads {
                            let w = weights[read.tap]
                            var sum: Float = 0
                            for row in read.rows {
                                let source = input + read.offset + row * rowStep, line = gradient + row * ow
                                let into = target + read.offset + row * rowStep
                                for col in read.columns {
                                    let g = line[col]
                                    sum += g * source[col * columnStep]
                                    if inputGradient { into[col * columnStep] += w * g }
                                }
                            }
                            weightGradient[read.tap] += sum
                        }
                    }
                }
            } }
        } } }
    }

    /// The channels innermost: each sample's input and output-gradient planes transposed to
    /// `[positions, C]`, then per tap and output position one SIMD vector op per 8 channels for
    /// the weight gradient (kept as `[taps, C]` over the batch) and for the input gradient
    /// (transposed back per sample).
    private static func depthwiseBackwardChannelsLast(_ x: Tensor, weight: Tensor, geometry gm: ConvolutionGeometry, outputGradient dy: Tensor,
                                                      reads: [ConvolutionGeometry.TapRead], inputGradient: Bool,
                                                      dx: inout Tensor, dw: inout [Float]) {
        let c = gm.channels, ow = gm.outWidth, taps = gm.kernelH * gm.kernelW
        let plane = gm.height * gm.width, outPlane = gm.positions
        let rowStep = gm.strideH * gm.width, columnStep = gm.strideW
        let tapWeights = channelsLast(weight.data, channels: c, positions: taps)
        var tapGradients = [Float](repeating: 0, count: taps * c)
        var inputs = uninitializedFloats(plane * c), gradients = uninitializedFloats(outPlane * c)
        var inputGradients = [Float](repeating: 0, count: inputGradient ? plane * c : 0)
        let vectors = c / 8 * 8
        x.data.withUnsafeBufferPointer { xp in dy.data.withUnsafeBufferPointer { gp in dx.data.withUnsafeMutableBufferPointer { dxp in
            tapWeights.withUnsafeBufferPointer { wp in tapGradients.withUnsafeMutableBufferPointer { twp in
                inputs.withUnsafeMutableBufferPointer { ip in gradients.withUnsafeMutableBufferPointer { gradp in
                    inputGradients.withUnsafeMutableBufferPointer { dip in
                        let ins = ip.baseAddress!, grads = gradp.baseAddress!
                        for n in 0..<gm.batch {
                            let planes = xp.baseAddress! + n * c * plane, gradientPlanes = gp.baseAddress! + n * c * outPlane
                            toChannelsLast(planes, channels: c, positions: plane, into: ins)
                            toChannelsLast(gradientPlanes, channels: c, positions: outPlane, into: grads)
                            if inputGradient { dip.baseAddress!.update(repeating: 0, count: plane * c) }
                            for read in reads {
                                let w = wp.baseAddress! + read.tap * c, acc = twp.baseAddress! + read.tap * c
                                for row in read.rows {
                                    for column in read.columns {
                                        let g = grads + (row * ow + column) * c
                                        let at = (read.offset + row * rowStep + column * columnStep) * c
                                        let source = ins + at
                                        var k = 0
                                        while k < vectors {
                                            let gv = UnsafeRawPointer(g + k).loadUnaligned(as: SIMD8<Float>.self)
                                            let sum = UnsafeRawPointer(acc + k).loadUnaligned(as: SIMD8<Float>.self)
                                                + gv * UnsafeRawPointer(source + k).loadUnaligned(as: SIMD8<Float>.self)
                                            UnsafeMutableRawPointer(acc + k).storeBytes(of: sum, as: SIMD8<Float>.self)
                                            if inputGradient {
                                                let into = dip.baseAddress! + at + k
                                                let added = UnsafeRawPointer(into).loadUnaligned(as: SIMD8<Float>.self)
                                                    + UnsafeRawPointer(w + k).loadUnaligned(as: SIMD8<Float>.self) * gv
                                                UnsafeMutableRawPointer(into).storeBytes(of: added, as: SIMD8<Float>.self)
                                            }
                                            k += 8
                                        }
                                        while k < c {
                                            acc[k] += g[k] * source[k]
                                            if inputGradient { dip.baseAddress![at + k] += w[k] * g[k] }
                                            k += 1
                                        }
                                    }
                                }
                            }
                            guard inputGradient else { continue }
                            let target = dxp.baseAddress! + n * c * plane
                            fromChannelsLast(dip.baseAddress!, channels: c, positions: plane, into: target)
                        }
                    }
                } }
            } }
        } } }
        tapGradients.withUnsafeBufferPointer { g in dw.withUnsafeMutableBufferPointer { fromChannelsLast(g.baseAddress!, channels: c, positions: taps, into: $0.baseAddress!) } }
    }
}
