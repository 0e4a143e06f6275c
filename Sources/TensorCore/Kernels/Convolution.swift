import Safeguards

/// 2-D convolution (1-D as height 1) as im2col + `cblas_sgemm`, with its backward pass.
///
/// Input `[N, C, H, W]`, weight `[M, C/groups, kh, kw]`, output `[N, M, OH, OW]` with
/// `OH = (H + padTop + padBottom − dilationH·(kh − 1) − 1) / strideH + 1`. Patches are unfolded in
/// OIHW order (channel, then kernel row, then kernel column), the order of the flattened weight.
package struct ConvolutionGeometry: Sendable, Equatable {
    public var batch, channels, height, width: Int
    public var outChannels, kernelH, kernelW: Int
    public var strideH, strideW, dilationH, dilationW: Int
    public var padTop, padLeft, padBottom, padRight: Int
    public var groups: Int

    public init(batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, kernelH: Int, kernelW: Int,
                strideH: Int = 1, strideW: Int = 1, dilationH: Int = 1, dilationW: Int = 1,
                padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0, groups: Int = 1) {
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.outChannels = outChannels; self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW; self.dilationH = dilationH; self.dilationW = dilationW
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
        self.groups = groups
    }

    /// The geometry of a convolution on input `[N, C, W]` or `[N, C, H, W]` with weight
    /// `[M, C/groups, (kh,) kw]`, or the reason the shapes and attributes do not fit.
    public static func resolve(input x: [Int], weight w: [Int], _ a: ConvolutionAttributes) -> Result<ConvolutionGeometry, ShapeMismatch> {
        guard x.count == 4 || x.count == 3, w.count == x.count else {
            return .failure(ShapeMismatch("Conv needs 3-D or 4-D input and weight of the same rank, got \(x) and \(w)"))
        }
        let spatial = x.count - 2
        if let violation = SpatialWindow.rangeViolation(kernel: a.kernelShape ?? Array(w.dropFirst(2)), strides: a.strides, pads: a.pads,
                                                        dilations: a.dilations) {
            return .failure(ShapeMismatch("Conv \(violation)"))
        }
        guard let window = SpatialWindow.resolve(input: Array(x.dropFirst(2)), kernel: a.kernelShape ?? Array(w.dropFirst(2)),
                                                 strides: a.strides, pads: a.pads, dilations: a.dilations, autoPad: a.autoPad,
                                                 ceilMode: false) else {
            return .failure(ShapeMismatch("Conv attributes do not fit \(spatial) spatial axes"))
        }
        guard window.kernel == Array(w.dropFirst(2)) else { return .failure(ShapeMismatch("kernel_shape \(window.kernel) differs from the weight \(w)")) }
        guard a.groups >= 1, Checked.multiply(w[1], a.groups) == x[1], w[0] % a.groups == 0 else {
            return .failure(ShapeMismatch("input channels \(x[1]) do not match weight \(w) with \(a.groups) group(s)"))
        }
        let g = ConvolutionGeometry(batch: x[0], channels: x[1], height: window.size(0), width: window.size(1), outChannels: w[0],
                                    kernelH: window.kernelSize(0), kernelW: window.kernelSize(1),
                                    strideH: window.stride(0), strideW: window.stride(1), dilationH: window.dilation(0), dilationW: window.dilation(1),
                                    padTop: window.padBegin(0), padLeft: window.padBegin(1), padBottom: window.padEnd(0), padRight: window.padEnd(1),
                                    groups: a.groups)
        guard g.outHeight > 0, g.outWidth > 0 else { return .failure(ShapeMismatch("the kernel does not fit the padded input \(x)")) }
        return .success(g)
    }

    /// `[N, M, OW]` for rank 3, `[N, M, OH, OW]` for rank 4.
    public func outputShape(rank: Int) -> [Int] {
        rank == 3 ? [batch, outChannels, outWidth] : [batch, outChannels, outHeight, outWidth]
    }

    public var outHeight: Int { (height + padTop + padBottom - dilationH * (kernelH - 1) - 1) / strideH + 1 }
    public var outWidth: Int { (width + padLeft + padRight - dilationW * (kernelW - 1) - 1) / strideW + 1 }
    /// Input channels per group.
    public var groupChannels: Int { channels / groups }
    /// Output channels per group.
    public var groupOutChannels: Int { outChannels / groups }
    /// Length of one unfolded patch: (C/groups)·kh·kw.
    public var patchLength: Int { groupChannels * kernelH * kernelW }
    public var positions: Int { outHeight * outWidth }

    /// Unfolds group `g` of sample `n` into `columns`: a [patchLength, positions] block of a
    /// row-major matrix whose rows are `leadingDimension` floats apart (default: `positions`).
    public func im2col(_ input: UnsafePointer<Float>, sample n: Int, group g: Int, into columns: UnsafeMutablePointer<Float>,
                       leadingDimension: Int? = nil) {
        let oh = outHeight, ow = outWidth, ld = leadingDimension ?? oh * ow
        var row = 0
        if preservesGrid {
            let spans = (0..<(kernelH * kernelW)).map { SameGridSpan(self, tap: $0) }
            for c in 0..<groupChannels {
                let plane = input + ((n * channels) + g * groupChannels + c) * height * width
                for span in spans {
                    let out = columns + row * ld
                    for t in 0..<span.before { out[t] = 0 }
                    let count = span.after - span.before
                    let from = plane + (span.source + span.before), to = out + span.before
                    for t in 0..<count { to[t] = from[t] }
                    for t in span.after..<(oh * ow) { out[t] = 0 }
                    span.forEachWrapped { out[$0] = 0 }
                    row += 1
                }
            }
            return
        }
        for c in 0..<groupChannels {
            let plane = input + ((n * channels) + g * groupChannels + c) * height * width
            for ki in 0..<kernelH {
                for kj in 0..<kernelW {
                    let offset = kj * dilationW - padLeft
                    let (first, last) = inputColumns(offset: offset)
                    let out = columns + row * ld
                    for y in 0..<oh {
                        let line = out + y * ow
                        let iy = y * strideH - padTop + ki * dilationH
                        guard iy >= 0, iy < height, first < last else {
                            for x in 0..<ow { line[x] = 0 }
                            continue
                        }
                        // Plain loops: rows of small images are a few floats, where calls to
                        // memset/memmove cost more than the copy.
                        for x in 0..<first { line[x] = 0 }
                        let source = plane + iy * width + offset
                        if strideW == 1 {
                            for x in first..<last { line[x] = source[x] }
                        } else {
                            for x in first..<last { line[x] = source[x * strideW] }
                        }
                        for x in last..<ow { line[x] = 0 }
                    }
                    row += 1
                }
            }
        }
    }

    /// The output columns `first..<last` whose input column `x·strideW + offset` (`offset` = kernel
    /// column × dilation − left padding) lies inside `[0, width)`; empty when `first >= last`. Shared
    /// by the unfolding (im2col) and its adjoint (col2im), which must agree on it exactly.
    @inline(__always)
    func inputColumns(offset: Int) -> (first: Int, last: Int) {
        Self.insideOutputs(offset: offset, stride: strideW, input: width, output: outWidth)
    }

    /// The output rows `first..<last` whose input row `y·strideH + offset` (`offset` = kernel row
    /// × dilation − top padding) lies inside `[0, height)`: ``inputColumns(offset:)`` along the height.
    @inline(__always)
    func inputRows(offset: Int) -> (first: Int, last: Int) {
        Self.insideOutputs(offset: offset, stride: strideH, input: height, output: outHeight)
    }

    /// The outputs `first..<last` of one axis whose input `o·stride + offset` lies in `[0, input)`.
    @inline(__always)
    static func insideOutputs(offset: Int, stride: Int, input: Int, output: Int) -> (first: Int, last: Int) {
        let first = offset >= 0 ? 0 : min(output, (-offset + stride - 1) / stride)
        let last = input - 1 - offset < 0 ? 0 : min(output, (input - 1 - offset) / stride + 1)
        return (first, last)
    }

    /// Unfolds the patch of group `g` of sample `n` at output position `position` (row-major over
    /// the output grid) into `patch` (``patchLength`` floats, OIHW order); padding reads as 0.
    public func unfoldPatch(_ input: UnsafePointer<Float>, sample n: Int, group g: Int, position: Int, into patch: UnsafeMutablePointer<Float>) {
        let y = position / outWidth, x = position % outWidth
        var index = 0
        for c in 0..<groupChannels {
            let plane = input + ((n * channels) + g * groupChannels + c) * height * width
            for ki in 0..<kernelH {
                let iy = y * strideH - padTop + ki * dilationH
                let rowInside = iy >= 0 && iy < height
                for kj in 0..<kernelW {
                    let ix = x * strideW - padLeft + kj * dilationW
                    patch[index] = rowInside && ix >= 0 && ix < width ? plane[iy * width + ix] : 0
                    index += 1
                }
            }
        }
    }

    /// One input channel and one output channel per group (MobileNet's and EfficientNet's
    /// depthwise convolutions): each output plane depends on one input plane only.
    public var isDepthwise: Bool { groups > 1 && groups == channels && groups == outChannels }

    /// One kernel tap of a depthwise convolution and the outputs whose window it reads inside the
    /// input: output (row, column) reads input element `offset + row · strideH · width + column · strideW`
    /// of its channel's plane.
    struct TapRead {
        var tap: Int, offset: Int, rows: Range<Int>, columns: Range<Int>
    }

    /// The taps that read inside the input (row-major tap order), the same for every channel:
    /// the direct depthwise loops visit these instead of unfolding windows with their padding.
    var depthwiseReads: [TapRead] {
        var reads: [TapRead] = []
        for ki in 0..<kernelH {
            let shift = ki * dilationH - padTop
            let (firstRow, endRow) = inputRows(offset: shift)
            for kj in 0..<kernelW {
                let columnOffset = kj * dilationW - padLeft
                let (first, last) = inputColumns(offset: columnOffset)
                guard first < last, firstRow < endRow else { continue }
                reads.append(TapRead(tap: ki * kernelW + kj, offset: shift * width + columnOffset, rows: firstRow..<endRow, columns: first..<last))
            }
        }
        return reads
    }

    /// Stride 1 and an output grid the size of the input ("same" padding): a kernel tap then
    /// reads the input plane shifted by a fixed offset, so its im2col row is one contiguous run of
    /// the plane with the columns that wrap around a row edge set to 0 (``SameGridSpan``).
    public var preservesGrid: Bool {
        strideH == 1 && strideW == 1 && outHeight == height && outWidth == width
    }

    /// The kernel taps (`ki · kernelW + kj`, ascending) of output position `position` that read
    /// inside the input; the others read padding, so the patch is 0 there for every channel.
    public func tapsInside(position: Int) -> [Int] {
        let y = position / outWidth, x = position % outWidth
        var taps: [Int] = []
        taps.reserveCapacity(kernelH * kernelW)
        for ki in 0..<kernelH {
            let iy = y * strideH - padTop + ki * dilationH
            guard iy >= 0, iy < height else { continue }
            for kj in 0..<kernelW {
                let ix = x * strideW - padLeft + kj * dilationW
                if ix >= 0, ix < width { taps.append(ki * kernelW + kj) }
            }
        }
        return taps
    }

    /// Unfolds only the taps `taps` (all inside the input at `position`, as from
    /// ``tapsInside(position:)``) of the patch of group `g` of sample `n`, widened to float64:
    /// `groupChannels × taps.count` values, channel-major, so element `c · taps.count + t` is
    /// patch element `c · kernelH · kernelW + taps[t]`.
    public func unfoldPatch(_ input: UnsafePointer<Float>, sample n: Int, group g: Int, position: Int, taps: [Int],
                            into patch: UnsafeMutablePointer<Double>) {
        unfoldPatchTaps(input, sample: n, group: g, position: position, taps: taps, into: patch)
    }

    /// ``unfoldPatch(_:sample:group:position:taps:into:)`` without widening (float32 values).
    public func unfoldPatch(_ input: UnsafePointer<Float>, sample n: Int, group g: Int, position: Int, taps: [Int],
                            into patch: UnsafeMutablePointer<Float>) {
        unfoldPatchTaps(input, sample: n, group: g, position: position, taps: taps, into: patch)
    }

    @inline(__always)
    func unfoldPatchTaps<T: BinaryFloatingPoint>(_ input: UnsafePointer<Float>, sample n: Int, group g: Int, position: Int, taps: [Int],
                                                         into patch: UnsafeMutablePointer<T>) {
        let y = position / outWidth, x = position % outWidth
        let top = y * strideH - padTop, left = x * strideW - padLeft
        withUnsafeTemporaryAllocation(of: Int.self, capacity: taps.count) { offsets in
            for (t, tap) in taps.enumerated() {
                offsets[t] = (top + (tap / kernelW) * dilationH) * width + left + (tap % kernelW) * dilationW
            }
            var index = 0
            for c in 0..<groupChannels {
                let plane = input + ((n * channels) + g * groupChannels + c) * height * width
                for offset in offsets {
                    patch[index] = T(plane[offset])
                    index += 1
                }
            }
        }
    }

    /// Adds `columns` back into the input gradient (the adjoint of ``im2col``, over the same
    /// column ranges).
    ///
    /// With ``preservesGrid`` the entries of `columns` that ``im2col`` sets to 0 (taps in the
    /// padding) are overwritten with 0 first, so each kernel tap is added as one contiguous run.
    public func col2im(_ columns: UnsafeMutablePointer<Float>, sample n: Int, group g: Int, into gradient: UnsafeMutablePointer<Float>,
                       leadingDimension: Int? = nil) {
        let oh = outHeight, ow = outWidth, ld = leadingDimension ?? oh * ow
        var row = 0
        if preservesGrid {
            let spans = (0..<(kernelH * kernelW)).map { SameGridSpan(self, tap: $0) }
            for c in 0..<groupChannels {
                let plane = gradient + ((n * channels) + g * groupChannels + c) * height * width
                for span in spans {
                    let col = columns + row * ld
                    span.forEachWrapped { col[$0] = 0 }
                    let count = span.after - span.before
                    let from = col + span.before, to = plane + (span.source + span.before)
                    for t in 0..<count { to[t] += from[t] }
                    row += 1
                }
            }
            return
        }
        for c in 0..<groupChannels {
            let plane = gradient + ((n * channels) + g * groupChannels + c) * height * width
            for ki in 0..<kernelH {
                for kj in 0..<kernelW {
                    let offset = kj * dilationW - padLeft
                    let (first, last) = inputColumns(offset: offset)
                    let col = columns + row * ld
                    row += 1
                    guard first < last else { continue }
                    for y in 0..<oh {
                        let iy = y * strideH - padTop + ki * dilationH
                        guard iy >= 0, iy < height else { continue }
                        let target = plane + iy * width + offset, line = col + y * ow
                        if strideW == 1 {
                            for x in first..<last { target[x] += line[x] }
                        } else {
                            for x in first..<last { target[x * strideW] += line[x] }
                        }
                    }
                }
            }
        }
    }
}

/// Convolution kernels (see ``ConvolutionGeometry``): forward as im2col + sgemm over chunks of
/// samples, backward as two sgemms + col2im over the same chunks.
package enum Convolution {
    /// Unfolded floats per forward chunk: samples are unfolded together (up to this many floats)
    /// so that each sgemm is wide enough to run near peak even when a sample has few positions.
    /// Three quarters of ``Allocator/reusedBlockBytes``, so the buffer is reused, not re-faulted.
    static let chunkFloats = Allocator.reusedBlockBytes / MemoryLayout<Float>.stride * 3 / 4

    /// Samples per chunk: as many as keep the unfolded columns within ``chunkFloats``.
    static func chunkSize(_ gm: ConvolutionGeometry) -> Int {
        max(1, min(gm.batch, chunkFloats / max(1, gm.patchLength * gm.positions)))
    }

    /// Calls `body(start, count)` for consecutive chunks of ``chunkSize(_:)`` samples.
    static func forEachChunk(_ gm: ConvolutionGeometry, _ body: (_ start: Int, _ count: Int) -> Void) {
        let chunk = chunkSize(gm)
        var start = 0
        while start < gm.batch {
            let count = min(chunk, gm.batch - start)
            body(start, count)
            start += count
        }
    }

    /// Forward convolution of `x` (`[N, C, (H,) W]`) by `weight` (`[M, C/groups, (kh,) kw]`); the
    /// result is `[N, M, OH, OW]` (reshape for 1-D). Depthwise convolutions run as direct loops
    /// (``depthwiseForward(_:weight:bias:geometry:)``), 3 × 3 stride-1 ones by Winograd's F(2 × 2, 3 × 3)
    /// (``winogradForward(_:weight:bias:geometry:kernels:)``, where ``usesWinograd(_:)``), the rest by
    /// ``im2colForward(_:weight:bias:geometry:)``.
    ///
    /// `winogradKernels`, when given, supplies ``winogradKernels(_:)`` of `weight` (kept by the caller
    /// across passes) instead of transforming the weight on every call.
    public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry gm: ConvolutionGeometry,
                               winogradKernels: (() -> [Float])? = nil) -> Tensor {
        guard gm.batch > 0, gm.positions > 0 else { return Tensor(zeros: [gm.batch, gm.outChannels, gm.outHeight, gm.outWidth]) }
        if gm.isDepthwise { return depthwiseForward(x, weight: weight, bias: bias, geometry: gm) }
        if usesWinograd(gm) {
            return winogradForward(x, weight: weight, bias: bias, geometry: gm, kernels: winogradKernels?() ?? Self.winogradKernels(weight))
        }
        return im2colForward(x, weight: weight, bias: bias, geometry: gm)
    }

    /// ``forward(_:weight:bias:geometry:winogradKernels:)`` by unfolding: for each chunk of S samples and each group:
    /// `cols = im2col` (`[k, S·p]`), `Y = W_g · cols` (`[M/groups, S·p]`), then each sample's `[M/groups, p]` block is copied into place with the bias.
    public static func im2colForward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry gm: ConvolutionGeometry) -> Tensor {
        let k = gm.patchLength, p = gm.positions, mg = gm.groupOutChannels
        guard gm.batch > 0, p > 0 else { return Tensor(zeros: [gm.batch, gm.outChannels, gm.outHeight, gm.outWidth]) }
        // Every element of y, columns (im2col writes padding zeros too) and products (sgemm with
        // β = 0) is written before it is read, so none is cleared first.
        var y = Tensor(shape: [gm.batch, gm.outChannels, gm.outHeight, gm.outWidth], data: uninitializedFloats(gm.batch * gm.outChannels * p))
        let chunk = chunkSize(gm)
        var columns = uninitializedFloats(k * chunk * p)
        var products = uninitializedFloats(mg * chunk * p)
        let biasValues = bias?.data
        let pointwise = gm.kernelH == 1 && gm.kernelW == 1 && gm.preservesGrid
        x.data.withUnsafeBufferPointer { xp in weight.data.withUnsafeBufferPointer { wp in y.data.withUnsafeMutableBufferPointer { yp in
            columns.withUnsafeMutableBufferPointer { cp in products.withUnsafeMutableBufferPointer { pp in
                forEachChunk(gm) { start, count in
                    let width = count * p
                    for g in 0..<gm.groups {
                        for s in 0..<count {
                            if pointwise {
                                // A 1 × 1 convolution's columns are the input planes themselves: one copy per channel.
                                let planes = xp.baseAddress! + ((start + s) * gm.channels + g * gm.groupChannels) * p
                                for c in 0..<gm.groupChannels { (cp.baseAddress! + c * width + s * p).update(from: planes + c * p, count: p) }
                            } else {
                                gm.im2col(xp.baseAddress!, sample: start + s, group: g, into: cp.baseAddress! + s * p, leadingDimension: width)
                            }
                        }
                        BLAS.sgemm(transA: false, transB: false, m: mg, n: width, k: k, a: wp.baseAddress! + g * mg * k, lda: k,
                                   b: cp.baseAddress!, ldb: width, beta: 0, c: pp.baseAddress!, ldc: width)
                        for s in 0..<count {
                            for m in 0..<mg {
                                let channel = g * mg + m
                                let target = yp.baseAddress! + ((start + s) * gm.outChannels + channel) * p
                                let source = pp.baseAddress! + m * width + s * p
                                if let biasValues {
                                    let b = biasValues[channel]
                                    for i in 0..<p { target[i] = source[i] + b }
                                } else {
                                    target.update(from: source, count: p)
                                }
                            }
                        }
                    }
                }
            } }
        } } }
        return y
    }

    /// ``forward`` of a depthwise convolution (``ConvolutionGeometry/isDepthwise``) as direct loops:
    /// each output plane is the bias plus, kernel tap by kernel tap (row-major), the tap's weight
    /// times the input plane shifted by the tap (padding reads 0). Unfolding a single-channel
    /// group for a one-row product cost more than the product (52 % of MobileNetV3's passes).
    ///
    /// `channelsLast` chooses the loop order (default: ``usesChannelsLastDepthwise(_:)``); both
    /// give the same bits.
    public static func depthwiseForward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry gm: ConvolutionGeometry,
                                        channelsLast: Bool? = nil) -> Tensor {
        let oh = gm.outHeight, ow = gm.outWidth, taps = gm.kernelH * gm.kernelW, plane = gm.height * gm.width
        var y = Tensor(shape: [gm.batch, gm.outChannels, oh, ow], data: uninitializedFloats(gm.batch * gm.outChannels * oh * ow))
        let reads = gm.depthwiseReads
        let rowStep = gm.strideH * gm.width, columnStep = gm.strideW
        if channelsLast ?? usesChannelsLastDepthwise(gm) {
            depthwiseChannelsLast(x, weight: weight, bias: bias, geometry: gm, reads: reads, into: &y)
            return y
        }
        x.data.withUnsafeBufferPointer { xp in weight.data.withUnsafeBufferPointer { wp in y.data.withUnsafeMutableBufferPointer { yp in
            for n in 0..<gm.batch {
                for c in 0..<gm.channels {
                    let input = xp.baseAddress! + (n * gm.channels + c) * plane, out = yp.baseAddress! + (n * gm.channels + c) * oh * ow
                    out.update(repeating: bias?.data[c] ?? 0, count: oh * ow)
                    let weights = wp.baseAddress! + c * taps
                    for read in reads {
                        let w = weights[read.tap]
                        for row in read.rows {
                            let source = input + read.offset + row * rowStep, line = out + row * ow
                            if columnStep == 1 {
                                for col in read.columns { line[col] += w * source[col] }
                            } else {
                                for col in read.columns { line[col] += w * source[col * columnStep] }
                            }
                        }
                    }
                }
            }
        } } }
        return y
    }

    /// Whether ``depthwiseForward(_:weight:bias:geometry:)`` runs channels-last: output rows shorter
    /// than 16 (a row loop of a few elements per tap costs more in loop overhead than in
    /// arithmetic) and at least 8 channels (one SIMD vector).
    public static func usesChannelsLastDepthwise(_ gm: ConvolutionGeometry) -> Bool {
        gm.outWidth < 16 && gm.channels >= 8
    }

    /// The depthwise convolution with the channels innermost: each sample's planes are transposed
    /// to `[H, W, C]`, every output position adds, tap by tap, the tap's `C` weights times the
    /// `C` inputs it reads (one SIMD vector op per 8 channels), and the result is transposed back.
    /// Each output element sums the bias and the taps in the same order as the plane loops of
    /// ``depthwiseForward(_:weight:bias:geometry:)``, so the two agree bit for bit.
    private static func depthwiseChannelsLast(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry gm: ConvolutionGeometry,
                                              reads: [ConvolutionGeometry.TapRead], into y: inout Tensor) {
        let c = gm.channels, oh = gm.outHeight, ow = gm.outWidth, taps = gm.kernelH * gm.kernelW
        let plane = gm.height * gm.width, outPlane = oh * ow
        let rowStep = gm.strideH * gm.width, columnStep = gm.strideW
        // Weights as [taps, C] and the bias as one row of C.
        let tapWeights = channelsLast(weight.data, channels: c, positions: taps)
        let biasRow = bias?.data ?? [Float](repeating: 0, count: c)
        var input = uninitializedFloats(plane * c), output = uninitializedFloats(outPlane * c)
        let vectors = c / 8 * 8
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
            tapWeights.withUnsafeBufferPointer { wp in biasRow.withUnsafeBufferPointer { bp in
                input.withUnsafeMutableBufferPointer { ip in output.withUnsafeMutableBufferPointer { op in
                    let inputs = ip.baseAddress!, outputs = op.baseAddress!
                    for n in 0..<gm.batch {
                        let planes = xp.baseAddress! + n * c * plane
                        toChannelsLast(planes, channels: c, positions: plane, into: inputs)
                        for position in 0..<outPlane { (outputs + position * c).update(from: bp.baseAddress!, count: c) }
                        for read in reads {
                            let w = wp.baseAddress! + read.tap * c
                            for row in read.rows {
                                for column in read.columns {
                                    let out = outputs + (row * ow + column) * c
                                    let source = inputs + (read.offset + row * rowStep + column * columnStep) * c
                                    var k = 0
                                    while k < vectors {
                                        let sum = UnsafeRawPointer(out + k).loadUnaligned(as: SIMD8<Float>.self)
                                            + UnsafeRawPointer(w + k).loadUnaligned(as: SIMD8<Float>.self)
                                            * UnsafeRawPointer(source + k).loadUnaligned(as: SIMD8<Float>.self)
                                        UnsafeMutableRawPointer(out + k).storeBytes(of: sum, as: SIMD8<Float>.self)
                                        k += 8
                                    }
                                    while k < c { out[k] += w[k] * source[k]; k += 1 }
                                }
                            }
                        }
                        let target = yp.baseAddress! + n * c * outPlane
                        fromChannelsLast(outputs, channels: c, positions: outPlane, into: target)
                    }
                } }
            } }
        } }
    }

    /// `channels` planes of `positions` floats (`[C, P]`) copied channels innermost (`[P, C]`).
    static func toChannelsLast(_ planes: UnsafePointer<Float>, channels c: Int, positions: Int, into out: UnsafeMutablePointer<Float>) {
        for channel in 0..<c { for i in 0..<positions { out[i * c + channel] = planes[channel * positions + i] } }
    }

    /// The inverse of ``toChannelsLast(_:channels:positions:into:)``: `[P, C]` back to `[C, P]`.
    static func fromChannelsLast(_ rows: UnsafePointer<Float>, channels c: Int, positions: Int, into planes: UnsafeMutablePointer<Float>) {
        for channel in 0..<c { for i in 0..<positions { planes[channel * positions + i] = rows[i * c + channel] } }
    }

    /// ``toChannelsLast(_:channels:positions:into:)`` of a whole array.
    static func channelsLast(_ planes: [Float], channels: Int, positions: Int) -> [Float] {
        var out = [Float](repeating: 0, count: planes.count)
        planes.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { toChannelsLast(p.baseAddress!, channels: channels, positions: positions, into: $0.baseAddress!) }
        }
        return out
    }

    /// Gradients with respect to input, weight and bias (shapes as given to ``forward``).
    /// Without `inputGradient` the returned input gradient is all zeros and costs nothing (for
    /// graph inputs whose gradient nobody asked for). Depthwise convolutions run as direct loops
    /// (``depthwiseBackward(_:weight:geometry:outputGradient:inputGradient:channelsLast:)``), the rest
    /// by ``im2colBackward(_:weight:geometry:outputGradient:inputGradient:)``.
    public static func backward(_ x: Tensor, weight: Tensor, geometry gm: ConvolutionGeometry, outputGradient dy: Tensor,
                                inputGradient: Bool = true) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        gm.isDepthwise ? depthwiseBackward(x, weight: weight, geometry: gm, outputGradient: dy, inputGradient: inputGradient)
            : im2colBackward(x, weight: weight, geometry: gm, outputGradient: dy, inputGradient: inputGradient)
    }

    /// ``backward(_:weight:geometry:outputGradient:inputGradient:)`` by unfolding, for any groups:
    /// per chunk of samples and group, `dW_g += dY_g · colsᵀ` and `dcols = W_gᵀ · dY_g` folded back by col2im.
    public static func im2colBackward(_ x: Tensor, weight: Tensor, geometry gm: ConvolutionGeometry, outputGradient dy: Tensor,
                                      inputGradient: Bool = true) -> (input: Tensor, weight: Tensor, bias: Tensor)
    {
        var dx = Tensor(zeros: x.shape)
        var dw = Tensor(zeros: weight.shape)
        let k = gm.patchLength, p = gm.positions, mg = gm.groupOutChannels
        guard gm.batch > 0, p > 0 else { return (dx, dw, Tensor(zeros: [gm.outChannels])) }
        // Chunks of samples as in forward: cols [k, S·p], dY_g gathered to [mg, S·p], so that each
        // sgemm is wide; all three buffers are fully written before they are read.
        let chunk = chunkSize(gm)
        var columns = uninitializedFloats(k * chunk * p)
        var gathered = uninitializedFloats(mg * chunk * p)
        var unfoldedGradient = inputGradient ? uninitializedFloats(k * chunk * p) : []
        x.data.withUnsafeBufferPointer { xp in weight.data.withUnsafeBufferPointer { wp in dy.data.withUnsafeBufferPointer { gp in
            dx.data.withUnsafeMutableBufferPointer { dxp in dw.data.withUnsafeMutableBufferPointer { dwp in
                columns.withUnsafeMutableBufferPointer { cp in gathered.withUnsafeMutableBufferPointer { yp in
                    unfoldedGradient.withUnsafeMutableBufferPointer { up in
                        forEachChunk(gm) { start, count in
                            let width = count * p
                            for g in 0..<gm.groups {
                                for s in 0..<count {
                                    gm.im2col(xp.baseAddress!, sample: start + s, group: g, into: cp.baseAddress! + s * p, leadingDimension: width)
                                    for m in 0..<mg {
                                        (yp.baseAddress! + m * width + s * p).update(from: gp.baseAddress! + ((start + s) * gm.outChannels + g * mg + m) * p, count: p)
                                    }
                                }
                                // dW_g += dY_g [mg, S·p] · colsᵀ [S·p, k]
                                BLAS.sgemm(transA: false, transB: true, m: mg, n: k, k: width, a: yp.baseAddress!, lda: width,
                                           b: cp.baseAddress!, ldb: width, beta: 1, c: dwp.baseAddress! + g * mg * k, ldc: k)
                                // dcols = W_gᵀ [k, mg] · dY_g [mg, S·p], folded back into dX
                                guard inputGradient else { continue }
                                BLAS.sgemm(transA: true, transB: false, m: k, n: width, k: mg, a: wp.baseAddress! + g * mg * k, lda: k,
                                           b: yp.baseAddress!, ldb: width, beta: 0, c: up.baseAddress!, ldc: width)
                                for s in 0..<count {
                                    gm.col2im(up.baseAddress! + s * p, sample: start + s, group: g, into: dxp.baseAddress!, leadingDimension: width)
                                }
                            }
                        }
                    }
                } }
            } }
        } } }
        return (dx, dw, biasGradient(dy, geometry: gm))
    }

    /// The bias gradient `∂L/∂b_m = Σ_n Σ_positions dy[n, m, ·]` (per sample, then over samples in order).
    static func biasGradient(_ dy: Tensor, geometry gm: ConvolutionGeometry) -> Tensor {
        var db = [Float](repeating: 0, count: gm.outChannels)
        let p = gm.positions
        dy.data.withUnsafeBufferPointer { gp in
            for n in 0..<gm.batch {
                for m in 0..<gm.outChannels {
                    let row = gp.baseAddress! + (n * gm.outChannels + m) * p
                    var sum: Float = 0
                    for i in 0..<p { sum += row[i] }
                    db[m] += sum
                }
            }
        }
        return Tensor(shape: [gm.outChannels], data: db)
    }
}

/// Resolved sliding-window parameters for 1 or 2 spatial axes (always reported as 2: a 1-D
/// window has height 1), shared by convolution and pooling.
struct SpatialWindow {
    var input: [Int], kernel: [Int], strides: [Int], dilations: [Int], begin: [Int], end: [Int]

    private func at(_ values: [Int], _ axis: Int, _ fallback: Int) -> Int {
        values.count == 1 ? (axis == 0 ? fallback : values[0]) : values[axis]
    }
    func size(_ axis: Int) -> Int { at(input, axis, 1) }
    func kernelSize(_ axis: Int) -> Int { at(kernel, axis, 1) }
    func stride(_ axis: Int) -> Int { at(strides, axis, 1) }
    func dilation(_ axis: Int) -> Int { at(dilations, axis, 1) }
    func padBegin(_ axis: Int) -> Int { at(begin, axis, 0) }
    func padEnd(_ axis: Int) -> Int { at(end, axis, 0) }

    /// The largest kernel size, stride, dilation or pad accepted (2³¹ − 1). With every such value
    /// at most this and every input dimension a real tensor's, all window arithmetic (padded
    /// extents, `dilation · (kernel − 1)`, `y · stride − pad + k · dilation`) fits in `Int`.
    static let largestAttribute = Int(Int32.max)

    /// Why the attributes are out of range, or `nil` when they are within ``largestAttribute``.
    static func rangeViolation(kernel: [Int], strides: [Int]?, pads: [Int]?, dilations: [Int]?) -> String? {
        for (name, values) in [("kernel_shape", kernel), ("strides", strides ?? []), ("pads", pads ?? []), ("dilations", dilations ?? [])]
        where values.contains(where: { $0 > largestAttribute }) {
            return "\(name) \(values) holds a value above \(largestAttribute)"
        }
        return nil
    }

    /// ONNX defaults and auto_pad; `nil` if list lengths do not match the spatial rank or a value
    /// is out of range (negative, zero where it must be positive, or above ``largestAttribute``).
    static func resolve(input: [Int], kernel: [Int], strides: [Int]?, pads: [Int]?, dilations: [Int]?, autoPad: AutoPad,
                        ceilMode: Bool) -> SpatialWindow? {
        let r = input.count
        guard r == 1 || r == 2, kernel.count == r else { return nil }
        let s = strides ?? Array(repeating: 1, count: r), d = dilations ?? Array(repeating: 1, count: r)
        var p = pads ?? Array(repeating: 0, count: 2 * r)
        guard s.count == r, d.count == r, p.count == 2 * r, s.allSatisfy({ $0 > 0 }), d.allSatisfy({ $0 > 0 }),
              kernel.allSatisfy({ $0 > 0 }), p.allSatisfy({ $0 >= 0 }),
              rangeViolation(kernel: kernel, strides: s, pads: p, dilations: d) == nil,
              input.allSatisfy({ $0 >= 0 && $0 <= 1 << 48 }) else { return nil }
        switch autoPad {
        case .notSet: break
        case .valid: p = Array(repeating: 0, count: 2 * r)
        case .sameUpper, .sameLower:
            for axis in 0..<r {
                let out = (input[axis] + s[axis] - 1) / s[axis]
                let total = max(0, (out - 1) * s[axis] + d[axis] * (kernel[axis] - 1) + 1 - input[axis])
                let small = total / 2, large = total - small
                (p[axis], p[r + axis]) = autoPad == .sameUpper ? (small, large) : (large, small)
            }
        }
        return SpatialWindow(input: input, kernel: kernel, strides: s, dilations: d, begin: Array(p[..<r]), end: Array(p[r...]))
    }
}

/// A float buffer of `count` elements that the caller overwrites entirely before reading.
@inline(__always)
func uninitializedFloats(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}

/// For a ``ConvolutionGeometry/preservesGrid`` convolution and one kernel tap: output index `t`
/// (row-major over the grid, which is the input's) reads plane index `source + t`. Indices in
/// `before..<after` read inside the plane; outside that range, and at the ``forEachWrapped(_:)``
/// indices (a column shift that crosses a row edge), the tap reads padding (0).
struct SameGridSpan {
    let source: Int, before: Int, after: Int
    private let columnShift: Int, width: Int, firstRow: Int, endRow: Int

    init(_ gm: ConvolutionGeometry, tap: Int) {
        let rowShift = (tap / gm.kernelW) * gm.dilationH - gm.padTop
        columnShift = (tap % gm.kernelW) * gm.dilationW - gm.padLeft
        width = gm.width
        let plane = gm.height * gm.width
        source = rowShift * width + columnShift
        // Rows y with 0 ≤ y + rowShift < height, clipped to the plane at both ends.
        firstRow = min(gm.height, max(0, -rowShift))
        endRow = max(firstRow, min(gm.height, gm.height - rowShift))
        before = min(plane, max(firstRow * width, -source))
        after = max(before, min(endRow * width, plane - source))
    }

    /// Calls `body(t)` for every index inside `before..<after` whose column shift leaves its row.
    func forEachWrapped(_ body: (Int) -> Void) {
        guard columnShift != 0 else { return }
        let columns = columnShift < 0 ? 0..<min(width, -columnShift) : max(0, width - columnShift)..<width
        for y in firstRow..<endRow {
            for x in columns where (before..<after).contains(y * width + x) { body(y * width + x) }
        }
    }
}
