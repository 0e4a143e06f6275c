extension ComputeGraph {
    /// A layer whose weight the engines edit: a Conv, a Linear, a Gemm or MatMul whose weight is a
    /// parameter (possibly through Identity or a 2-D Transpose), or one of the projections of a
    /// multi-head attention (in and out, or query, key, value and out).
    ///
    /// The weight flattened to `W ∈ ℝ^{out × d}` (``WeightLayout/outputsByInputs``) or stored as
    /// `Wᵀ` (``WeightLayout/inputsByOutputs``) acts on the input vectors this layer's capture
    /// reports (``LayerInput``).
    public struct WeightLayer: Sendable, Equatable {
        public enum Kind: Sendable, Equatable { case linear, convolution }
        public typealias Layout = WeightLayout

        /// The node's name (attention: the node name plus `.in_proj` or `.out_proj`; separate
        /// query, key, value and out weights `M.weight`: their module `M`).
        public var nodeName: String
        public var nodeIndex: Int
        /// The parameter holding the weight.
        public var weight: String
        public var kind: Kind
        /// How the stored weight (after any Transpose between it and the node) is laid out.
        public var layout: Layout
        /// Convolution groups: one input space per group (1 for linear layers).
        public var groups: Int
        /// How the rows of a linear layer's input belong to samples (convolutions: always
        /// ``RowOrder/sampleMajor``); see ``ComputeGraph/orderingRows(probe:inputName:)``.
        public var rowOrder: RowOrder = .sampleMajor
    }

    /// How the rows a linear layer multiplies (its input with the leading axes flattened) belong
    /// to the samples of a batch of `N`, each contributing `P` vectors (tokens).
    public enum RowOrder: Sendable, Equatable {
        /// Row `s · P + j` is vector `j` of sample `s`: the batch is the leading axis (`[N, P, d]`).
        case sampleMajor
        /// Row `j · N + s` is vector `j` of sample `s`: the batch comes second, as in the
        /// sequence-first `[P, N, d]` input of an exported `nn.MultiheadAttention` projection.
        case positionMajor
    }

    /// The input vectors one weight layer multiplies during a forward pass.
    ///
    /// Conceptually a `[count, dimension]` matrix: for linear layers every input row (leading axes
    /// flattened, so each token is a row); for convolutions the unfolded patches of group `group`
    /// in OIHW order (channel, kernel row, kernel column) taken with the layer's own stride,
    /// padding and dilation, one per sample and output position. Patches are not materialised:
    /// ``copyVectors(sample:positions:into:)`` unfolds only the ones asked for, so a consumer that
    /// subsamples never pays for the full unfolded matrix (`positions × patch length` per sample).
    public struct LayerInput: Sendable {
        /// Index into ``ComputeGraph/weightLayers``.
        public var layer: Int
        public var group: Int
        /// The layer's ``WeightLayer/nodeName``.
        public var name: String
        /// The layer's weight parameter name.
        public var weight: String
        let source: Source

        enum Source: Sendable {
            /// Rows of a `[samples · perSample, d]` matrix: vector `j` of sample `s` is row
            /// `s · perSample + j` (``RowOrder/sampleMajor``) or `j · samples + s`.
            case rows(Tensor, samples: Int, order: RowOrder = .sampleMajor)
            /// Patches of a convolution input.
            case patches(Tensor, ConvolutionGeometry)
        }

        init(layer: Int, group: Int, name: String, weight: String, source: Source) {
            self.layer = layer; self.group = group; self.name = name; self.weight = weight; self.source = source
        }

        /// Samples in the batch.
        public var samples: Int {
            switch source {
            case .rows(_, let samples, _): samples
            case .patches(_, let g): g.batch
            }
        }

        /// Vectors per sample: output positions of a convolution, tokens of a sequence, else 1.
        public var vectorsPerSample: Int {
            switch source {
            case .rows(let t, let samples, _): samples == 0 ? 0 : t.shape[0] / samples
            case .patches(_, let g): g.positions
            }
        }

        /// Length of one vector (`d`).
        public var dimension: Int {
            switch source {
            case .rows(let t, _, _): t.shape[1]
            case .patches(_, let g): g.patchLength
            }
        }

        /// Copies the vectors at `positions` (each in `0..<vectorsPerSample`) of sample `sample`
        /// into consecutive rows of `destination` (`positions.count × dimension` floats).
        public func copyVectors(sample: Int, positions: some Collection<Int>, into destination: UnsafeMutablePointer<Float>) {
            let d = dimension
            switch source {
            case .rows(let t, _, let order):
                t.data.withUnsafeBufferPointer { rp in
                    for (offset, j) in positions.enumerated() {
                        (destination + offset * d).update(from: rp.baseAddress! + row(sample: sample, position: j, order) * d, count: d)
                    }
                }
            case .patches(let x, let g):
                x.data.withUnsafeBufferPointer { xp in
                    for (offset, j) in positions.enumerated() {
                        g.unfoldPatch(xp.baseAddress!, sample: sample, group: group, position: j, into: destination + offset * d)
                    }
                }
            }
        }

        /// The positions grouped by the coordinates their vectors can be nonzero on.
        ///
        /// A convolution patch at the border of the input has taps in the padding, which read 0 for
        /// every sample: the patch's Gram `x xᵀ` is zero outside `S × S`, with `S` the coordinates of
        /// the taps inside. Grouping positions by `S` lets a consumer accumulate each group's Gram
        /// over `|S|` coordinates only (an 8 × 8 output with a 3 × 3 kernel and padding 1 needs 74 %
        /// of the flops of the full Gram, a 2 × 2 output 20 %) and add it into the `S × S` block.
        /// Linear layers, and convolutions without padding, form one class of every coordinate.
        public var supportClasses: SupportClasses {
            switch source {
            case .rows:
                return SupportClasses(coordinates: [Array(0..<dimension)], taps: [[]], classOfPosition: [Int](repeating: 0, count: vectorsPerSample))
            case .patches(_, let g):
                var index: [[Int]: Int] = [:]
                var taps: [[Int]] = []
                var classOf = [Int](repeating: 0, count: g.positions)
                for position in 0..<g.positions {
                    let inside = g.tapsInside(position: position)
                    if let known = index[inside] { classOf[position] = known; continue }
                    index[inside] = taps.count
                    classOf[position] = taps.count
                    taps.append(inside)
                }
                let window = g.kernelH * g.kernelW
                let coordinates = taps.map { inside in (0..<g.groupChannels).flatMap { c in inside.map { c * window + $0 } } }
                return SupportClasses(coordinates: coordinates, taps: taps, classOfPosition: classOf)
            }
        }

        /// Copies the vectors of `(sample, position)` pairs, all in class `supportClass` of
        /// `classes` (from ``supportClasses``), into consecutive rows of `destination`, widened to
        /// float64 and restricted to the class's coordinates (`pairs.count × coordinates.count`).
        public func copyVectors(_ pairs: ArraySlice<(sample: Int, position: Int)>, supportClass: Int, of classes: SupportClasses,
                                into destination: UnsafeMutablePointer<Double>) {
            copyCompactVectors(pairs, supportClass: supportClass, of: classes, into: destination)
        }

        /// ``copyVectors(_:supportClass:of:into:)`` without widening: float32 rows.
        public func copyVectors(_ pairs: ArraySlice<(sample: Int, position: Int)>, supportClass: Int, of classes: SupportClasses,
                                into destination: UnsafeMutablePointer<Float>) {
            copyCompactVectors(pairs, supportClass: supportClass, of: classes, into: destination)
        }

        @inline(__always)
        private func copyCompactVectors<T: BinaryFloatingPoint>(_ pairs: ArraySlice<(sample: Int, position: Int)>, supportClass: Int,
                                                                of classes: SupportClasses, into destination: UnsafeMutablePointer<T>) {
            let width = classes.coordinates[supportClass].count
            switch source {
            case .rows(let t, _, let order):
                let d = dimension
                t.data.withUnsafeBufferPointer { rp in
                    for (row, pair) in pairs.enumerated() {
                        let from = rp.baseAddress! + self.row(sample: pair.sample, position: pair.position, order) * d, to = destination + row * width
                        for i in 0..<d { to[i] = T(from[i]) }
                    }
                }
            case .patches(let x, let g):
                let taps = classes.taps[supportClass]
                x.data.withUnsafeBufferPointer { xp in
                    for (row, pair) in pairs.enumerated() {
                        g.unfoldPatchTaps(xp.baseAddress!, sample: pair.sample, group: group, position: pair.position, taps: taps,
                                          into: destination + row * width)
                    }
                }
            }
        }

        /// The row of the captured matrix holding vector `position` of sample `sample`.
        @inline(__always)
        func row(sample: Int, position: Int, _ order: RowOrder) -> Int {
            order == .sampleMajor ? sample * vectorsPerSample + position : position * samples + sample
        }

        /// Every vector as a `[samples · vectorsPerSample, dimension]` tensor, sample-major.
        public var rows: Tensor {
            let perSample = vectorsPerSample, d = dimension
            var result = Tensor(zeros: [samples * perSample, d])
            result.data.withUnsafeMutableBufferPointer { out in
                for s in 0..<samples { copyVectors(sample: s, positions: 0..<perSample, into: out.baseAddress! + s * perSample * d) }
            }
            return result
        }
    }

    /// Vector positions of one ``LayerInput`` grouped by the coordinates that can be nonzero
    /// (see ``LayerInput/supportClasses``).
    public struct SupportClasses: Sendable {
        /// Per class, the coordinates (ascending indices into `0..<dimension`) that can be nonzero.
        public let coordinates: [[Int]]
        /// Per class, the kernel taps inside the input (empty for linear layers).
        let taps: [[Int]]
        /// The class of each position in `0..<vectorsPerSample`.
        public let classOfPosition: [Int]
    }

    /// Follows Identity nodes and 2-D Transposes back to a parameter: (name, transposed).
    func resolveParameter(_ name: String, producers: [String: Int]) -> (String, Bool)? {
        var current = name
        var transposed = false
        for _ in 0..<8 {
            if parameters[current] != nil { return (current, transposed) }
            guard let index = producers[current] else { return nil }
            let node = nodes[index]
            switch node.operation {
            case .identity: current = node.inputs[0]
            case .transpose(let perm) where perm == nil || perm == [1, 0]:
                transposed.toggle()
                current = node.inputs[0]
            default: return nil
            }
        }
        return nil
    }

    func findWeightLayers() -> [WeightLayer] {
        var producers: [String: Int] = [:]
        for (index, node) in nodes.enumerated() { for output in node.outputs { producers[output] = index } }
        func weight(_ node: GraphNode, _ input: Int) -> (String, Bool)? {
            guard input < node.inputs.count, !node.inputs[input].isEmpty else { return nil }
            return resolveParameter(node.inputs[input], producers: producers)
        }
        var layers: [WeightLayer] = []
        for (index, node) in nodes.enumerated() {
            switch node.operation {
            case .convolution(let attributes):
                if let (w, transposed) = weight(node, 1), !transposed {
                    layers.append(WeightLayer(nodeName: node.name, nodeIndex: index, weight: w, kind: .convolution,
                                              layout: .outputsByInputs, groups: attributes.groups))
                }
            case .gemm(let attributes):
                if let (w, transposed) = weight(node, 1) {
                    let rowsAreOutputs = attributes.transB != transposed
                    layers.append(WeightLayer(nodeName: node.name, nodeIndex: index, weight: w, kind: .linear,
                                              layout: rowsAreOutputs ? .outputsByInputs : .inputsByOutputs, groups: 1))
                }
            case .linear(let layout):
                if let (w, transposed) = weight(node, 1) {
                    let flipped: WeightLayout = layout == .outputsByInputs ? .inputsByOutputs : .outputsByInputs
                    layers.append(WeightLayer(nodeName: node.name, nodeIndex: index, weight: w, kind: .linear,
                                              layout: transposed ? flipped : layout, groups: 1))
                }
            case .matMul:
                if let (w, transposed) = weight(node, 1), parameters[w]?.rank == 2 {
                    layers.append(WeightLayer(nodeName: node.name, nodeIndex: index, weight: w, kind: .linear,
                                              layout: transposed ? .outputsByInputs : .inputsByOutputs, groups: 1))
                }
            case .multiHeadAttention:
                let separate = GraphOperation.separateAttentionProjections(node)
                let projections = separate ? [(1, "query"), (3, "key"), (5, "value"), (7, "out_proj")] : [(1, "in_proj"), (3, "out_proj")]
                for (input, suffix) in projections {
                    if let (w, transposed) = weight(node, input) {
                        // Separate projections are modules of their own: named as their weight's module when it has one.
                        let module = separate && w.hasSuffix(".weight") ? String(w.dropLast(".weight".count)) : "\(node.name).\(suffix)"
                        layers.append(WeightLayer(nodeName: module, nodeIndex: index, weight: w, kind: .linear,
                                                  layout: transposed ? .inputsByOutputs : .outputsByInputs, groups: 1))
                    }
                }
            default: break
            }
        }
        return layers
    }
}

extension ComputeGraph {
    /// The graph with every linear layer's ``WeightLayer/rowOrder`` found on `probe` (a batch of
    /// at least two samples for the graph input `inputName`).
    ///
    /// A forward pass of the first two samples captures each layer's rows; where a layer has
    /// several vectors per sample, a pass of each sample alone tells which rows are its own: the
    /// layer is ``RowOrder/sampleMajor`` if rows `s · P ..< (s + 1) · P` of the pair are sample
    /// `s`'s rows, else ``RowOrder/positionMajor`` if rows `j · 2 + s` are, within
    /// `10⁻³ · max(1, max |row|)` (the passes differ by float rounding only); a layer matching
    /// neither (its rows mix samples) stays sample-major. Layers with one vector per sample, and
    /// convolutions, need no pass of their own. Returns `self` when no layer needs a change.
    /// - Throws: what the forward passes throw.
    public func orderingRows(probe: Tensor, inputName: String) throws -> ComputeGraph {
        guard probe.rank >= 1, probe.shape[0] >= 2, weightLayers.contains(where: { $0.kind == .linear }) else { return self }
        let sampleCount = probe.count / probe.shape[0]
        func batch(_ samples: Range<Int>) -> Tensor {
            Tensor(shape: [samples.count] + probe.shape.dropFirst(),
                   data: Array(probe.data[(samples.lowerBound * sampleCount)..<(samples.upperBound * sampleCount)]))
        }
        /// Each linear layer's captured rows (the first capture of the layer, slot by slot).
        func rows(_ x: Tensor) throws -> [Int: Tensor] {
            var found: [Int: Tensor] = [:]
            _ = try forward([inputName: x], capture: { input in
                if found[input.layer] == nil, case .rows(let t, _, _) = input.source { found[input.layer] = t }
            })
            return found
        }
        let pair = try rows(batch(0..<2))
        let ambiguous = pair.filter { $0.value.shape[0] > 2 && $0.value.shape[0] % 2 == 0 }
        guard !ambiguous.isEmpty else { return self }
        let single = [try rows(batch(0..<1)), try rows(batch(1..<2))]
        var orders: [Int: RowOrder] = [:]
        for (layer, both) in ambiguous {
            guard let own = single[0][layer], let other = single[1][layer], own.shape[0] * 2 == both.shape[0] else { continue }
            let p = own.shape[0], d = both.shape[1]
            let scale = max(1, both.data.reduce(0) { max($0, abs($1)) })
            func matches(_ rowOf: (Int, Int) -> Int) -> Bool {
                for (s, alone) in [own, other].enumerated() {
                    for j in 0..<p {
                        let r = rowOf(s, j)
                        for k in 0..<d where abs(both.data[r * d + k] - alone.data[j * d + k]) > 1e-3 * scale { return false }
                    }
                }
                return true
            }
            if !matches({ s, j in s * p + j }) && matches({ s, j in j * 2 + s }) { orders[layer] = .positionMajor }
        }
        guard !orders.isEmpty else { return self }
        let graph = ComputeGraph(nodes: nodes, parameters: parameters, constants: constants, inputNames: inputNames, outputNames: outputNames)
        for (layer, order) in orders { graph.weightLayers[layer].rowOrder = order }
        return graph
    }
}
