extension ComputeGraph {
    /// What a forward pass keeps for backward (opaque).
    public struct Record: Sendable {
        var steps: [Step] = []
    }

    struct Step: Sendable {
        var node: Int
        var inputs: [Value?]
        var outputs: [Value]
        var saved: Saved
    }

    enum Saved: Sendable {
        case none
        case indices([Int])
        case layerNorm(mean: [Float], invStd: [Float])
        case convolution(ConvolutionGeometry)
        case pool(PoolGeometry)
        case attention(Attention.Saved)
    }

    /// Gradients of a scalar loss with respect to parameters and graph inputs, by name.
    public struct Gradients: Sendable {
        public var parameters: [String: Tensor]
        public var inputs: [String: Tensor]
    }
}
