import TensorCore

/// A ConvNeXt (Liu et al. 2022) as the three ConvNeXt layouts read it (torchvision, timm,
/// transformers), in library-neutral terms.
///
/// The network on `[N, C, H, W]`:
/// ```
/// x = LN_c(conv_p×p/p(x))                                  stem: patchify convolution, LayerNorm over channels
/// per stage:  x = conv_2×2/2(LN_c(x))                      downsampling (every stage after the first)
///             per block: x = x + γ ⊙ W₂ act(W₁ LN(dwconv_7×7(x)))   LN, W₁, W₂ on each pixel's channels
/// y = H · LN(mean over H, W of x) + c                      (timm head_norm_first: the LN before the mean)
/// ```
/// `LN_c` normalises each pixel's channel vector (LayerNorm2d): a transpose to channels-last,
/// LayerNorm over the last axis, and back. The block's Linears W₁, W₂ are PyTorch Linears on the
/// channels-last pixels (torchvision, transformers, timm without `conv_mlp`) or 1×1 convolutions
/// on `[N, C, H, W]` (timm `conv_mlp`, e.g. `convnext_atto`); either way their weight is the
/// checkpoint's tensor, a weight layer the engines edit.
struct ConvNeXtPlan {
    /// How a block's layer scale γ is stored.
    enum Scale {
        /// `[C]`, applied to the channels-last MLP output (timm `gamma`, transformers `layer_scale_parameter`).
        case vector(String)
        /// `[C, 1, 1]`, applied to the channels-first block output (torchvision `layer_scale`).
        case channelsFirst(String)
    }

    struct Block {
        /// The depthwise convolution (`channels` groups) and its kernel size.
        var depthwise: String
        var channels: Int
        var kernel: Int
        var norm: String
        var fc1: String
        var fc2: String
        /// fc1/fc2 are 1×1 convolutions (timm `conv_mlp`) rather than Linears.
        var convolutionMLP: Bool
        var scale: Scale?
    }

    struct Stage {
        /// LayerNorm2d and the strided convolution (kernel = stride) before the blocks.
        var downsample: (norm: String, conv: String, kernel: Int)?
        var blocks: [Block]
    }

    /// Where the head's LayerNorm is: after the global average pool (every library's default),
    /// or before it over the channels of every pixel (timm `head_norm_first`, `norm_pre`).
    enum HeadNorm {
        case afterPool(String)
        case beforePool(String)
    }

    var stem: (conv: String, patch: Int, norm: String)
    var stages: [Stage]
    var headNorm: HeadNorm
    /// timm's `head.pre_logits.fc` (Linear + GELU), when the model has a head hidden size.
    var preLogits: String?
    var head: String
    var headBias: Bool
    /// The LayerNorm ε of the stem, downsampling and blocks, and of the head's norm.
    var epsilon: Float
    var headEpsilon: Float
    var activation: Activation

    func build(_ b: inout GraphBuilder) -> String {
        var x = b.conv("x", weight: "\(stem.conv).weight", bias: "\(stem.conv).bias", name: stem.conv, stride: stem.patch, padding: 0)
        x = b.channelLayerNorm(x, prefix: stem.norm, epsilon: epsilon)
        for stage in stages {
            if let downsample = stage.downsample {
                x = b.channelLayerNorm(x, prefix: downsample.norm, epsilon: epsilon)
                x = b.conv(x, weight: "\(downsample.conv).weight", bias: "\(downsample.conv).bias", name: downsample.conv,
                           stride: downsample.kernel, padding: 0)
            }
            for block in stage.blocks { x = b.residual(x, self.block(block, x, &b)) }
        }
        if case .beforePool(let norm) = headNorm { x = b.channelLayerNorm(x, prefix: norm, epsilon: headEpsilon) }
        x = b.flatten(b.add("GlobalAveragePool", [x]))
        if case .afterPool(let norm) = headNorm { x = b.layerNorm(x, prefix: norm, epsilon: headEpsilon) }
        if let preLogits {
            x = b.activation(b.linear(x, weight: "\(preLogits).weight", bias: "\(preLogits).bias", name: preLogits), .gelu)
        }
        return b.linear(x, weight: "\(head).weight", bias: headBias ? "\(head).bias" : nil, name: head)
    }

    /// The residual branch of one block (without the residual sum).
    private func block(_ block: Block, _ x: String, _ b: inout GraphBuilder) -> String {
        var y = b.conv(x, weight: "\(block.depthwise).weight", bias: "\(block.depthwise).bias", name: block.depthwise, stride: 1,
                       padding: block.kernel / 2, groups: block.channels)
        if block.convolutionMLP {
            y = b.channelLayerNorm(y, prefix: block.norm, epsilon: epsilon)
            y = b.conv(y, weight: "\(block.fc1).weight", bias: "\(block.fc1).bias", name: block.fc1, stride: 1, padding: 0)
            y = b.activation(y, activation)
            y = b.conv(y, weight: "\(block.fc2).weight", bias: "\(block.fc2).bias", name: block.fc2, stride: 1, padding: 0)
            if case .vector(let gamma)? = block.scale { y = b.scaled(y, by: b.node(.reshape(shape: [-1, 1, 1], allowZero: false), [gamma])) }
        } else {
            y = b.layerNorm(b.toChannelsLast(y), prefix: block.norm, epsilon: epsilon)
            y = b.activation(b.tokenLinear(y, prefix: block.fc1, bias: true), activation)
            y = b.tokenLinear(y, prefix: block.fc2, bias: true)
            if case .vector(let gamma)? = block.scale { y = b.scaled(y, by: gamma) }
            y = b.toChannelsFirst(y)
        }
        if case .channelsFirst(let gamma)? = block.scale { y = b.scaled(y, by: gamma) }
        return y
    }
}
