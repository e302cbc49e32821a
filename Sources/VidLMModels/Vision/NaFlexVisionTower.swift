import Foundation
import VidLMTensor

/// The SigLIP-2 NaFlex image tower's configuration (`Siglip2VisionConfig`, transformers 5.23, with
/// its defaults): no fixed image size; a learned square grid of `num_patches` position embeddings
/// that is resized to each image's patch grid.
public struct NaFlexVisionConfig: Decodable, Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var patchSize: Int
    public var hiddenAct: String
    public var layerNormEps: Float
    public var visionUseHead: Bool
    /// Learned position embeddings: a √n × √n grid.
    public var numPatches: Int

    enum CodingKeys: String, CodingKey {
        case hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numChannels, patchSize
        case hiddenAct, layerNormEps, visionUseHead, numPatches
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.optional(.hiddenSize) ?? 768
        intermediateSize = try c.optional(.intermediateSize) ?? 3072
        numHiddenLayers = try c.optional(.numHiddenLayers) ?? 12
        numAttentionHeads = try c.optional(.numAttentionHeads) ?? 12
        numChannels = try c.optional(.numChannels) ?? 3
        patchSize = try c.optional(.patchSize) ?? 16
        hiddenAct = try c.optional(.hiddenAct) ?? "gelu_pytorch_tanh"
        layerNormEps = try c.optional(.layerNormEps) ?? 1e-6
        visionUseHead = try c.optional(.visionUseHead) ?? true
        numPatches = try c.optional(.numPatches) ?? 256
        func check(_ ok: Bool, _ key: CodingKeys, _ why: String) throws {
            if !ok { throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why) }
        }
        try check(hiddenSize > 0, .hiddenSize, "must be positive")
        try check(intermediateSize > 0, .intermediateSize, "must be positive")
        try check(numHiddenLayers >= 0, .numHiddenLayers, "must not be negative")
        try check(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0, .numAttentionHeads, "must divide hidden_size \(hiddenSize)")
        try check(numChannels > 0, .numChannels, "must be positive")
        try check(patchSize > 0, .patchSize, "must be positive")
        try check(Activation(configName: hiddenAct) != nil, .hiddenAct, "unsupported activation '\(hiddenAct)'")
        try check(layerNormEps > 0, .layerNormEps, "must be positive")
        // transformers reshapes the embedding table to int(√n) × int(√n): anything else cannot load there.
        let side = Self.gridSide(numPatches)
        try check(numPatches > 0 && side * side == numPatches, .numPatches, "must be a square number (the position embeddings form a square grid), got \(numPatches)")
    }

    /// int(√n), exact for perfect squares.
    static func gridSide(_ n: Int) -> Int {
        guard n > 0 else { return 0 }
        var s = Int(Double(n).squareRoot())
        while s * s > n { s -= 1 }
        while (s + 1) * (s + 1) <= n { s += 1 }
        return s
    }

    /// Side of the learned position grid.
    public var positionGridSide: Int { Self.gridSide(numPatches) }
    /// Values in one flattened patch (`num_channels · patch_size²`).
    public var patchValues: Int { numChannels * patchSize * patchSize }
}

/// SigLIP-2's NaFlex image tower (`Siglip2VisionModel` with its head). An image arrives as its own
/// patch grid (h × w patches, each flattened row by row, pixel by pixel, channel last — the image
/// processor's layout), goes through a linear patch embedding plus the learned position grid
/// resized to h × w (bilinear with antialias, as transformers does), the SigLIP encoder, the
/// post-norm and the attention-pooling head.
///
/// transformers pads every image to `max_num_patches` rows and masks the padding out of every
/// attention (the encoder's keys and the head's); masked keys get exactly zero weight, so running
/// an image on its real patches alone gives the same values — that is what this does (and images
/// of one grid shape are batched together).
public struct NaFlexVisionTower: Sendable {
    public let config: NaFlexVisionConfig
    let patchEmbedding: Linear          // [D, C·p·p]
    let positionGrid: Tensor            // [s·s, D], row-major grid
    let layers: [Layer]
    let postNorm: LayerNorm
    public let head: AttentionPoolingHead?

    struct Layer: Sendable {
        let block: PreNormBlock<LayerNorm, FeedForward>
        let attention: BidirectionalSelfAttention
    }

    /// Binds `prefix + "embeddings.patch_embedding"`, `"embeddings.position_embedding.weight"`,
    /// `"encoder.layers.N.…"`, `"post_layernorm"` and (with `vision_use_head`) `"head.…"`.
    public init(config: NaFlexVisionConfig, weights: ParameterSource, prefix: String) throws {
        self.config = config
        let d = config.hiddenSize, inter = config.intermediateSize
        let name = { (s: String) in prefix + s }
        let activation = Activation(configName: config.hiddenAct) ?? .geluTanh
        patchEmbedding = try Linear(weights, name("embeddings.patch_embedding"), input: config.patchValues, output: d, widen: true)
        positionGrid = try weights.take(name("embeddings.position_embedding.weight"), shape: [config.numPatches, d]).toF32()
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let l = { (s: String) in name("encoder.layers.\(i).\(s)") }
            let qkv = try ["q_proj", "k_proj", "v_proj"].map { try Linear(weights, l("self_attn.\($0)"), input: d, output: d) }
            let out = try Linear(weights, l("self_attn.out_proj"), input: d, output: d)
            let mlp = FeedForward(up: try Linear(weights, l("mlp.fc1"), input: d, output: inter),
                                  down: try Linear(weights, l("mlp.fc2"), input: inter, output: d), activation: activation)
            layers.append(Layer(
                block: PreNormBlock(attentionNorm: try LayerNorm(weights, l("layer_norm1"), width: d, eps: config.layerNormEps),
                                    mlpNorm: try LayerNorm(weights, l("layer_norm2"), width: d, eps: config.layerNormEps), mlp: mlp),
                attention: BidirectionalSelfAttention(qkv: FusedLinear(qkv), output: out, heads: config.numAttentionHeads)))
        }
        self.layers = layers
        postNorm = try LayerNorm(weights, name("post_layernorm"), width: d, eps: config.layerNormEps)
        head = config.visionUseHead
            ? try AttentionPoolingHead(width: d, intermediate: inter, heads: config.numAttentionHeads, eps: config.layerNormEps,
                                       activation: activation, weights: weights, prefix: name("head."))
            : nil
    }

    /// The position embeddings of an h × w patch grid [h·w, D]: the learned s × s grid resized
    /// (`F.interpolate(mode="bilinear", align_corners=False, antialias=True)`), row-major.
    public func positions(height h: Int, width w: Int) -> Tensor {
        let s = config.positionGridSide, d = config.hiddenSize
        return AntialiasedBilinear.resize(positionGrid, channels: d, from: (s, s), to: (h, w))
    }

    /// Patch rows [B, h·w, C·p·p] of B images with the same h × w grid → the last hidden state
    /// (after `post_layernorm`) [B, h·w, D].
    public func lastHiddenState(_ patches: Tensor, height h: Int, width w: Int) throws(VisionError) -> Tensor {
        guard h > 0, w > 0 else { throw .badInput("the patch grid must have at least one patch, got \(h)x\(w)") }
        guard patches.rank == 3, patches.shape[1] == h * w, patches.shape[2] == config.patchValues else {
            throw .badInput("NaFlex patches must be [images, \(h * w), \(config.patchValues)], got \(patches.shape)")
        }
        let b = patches.shape[0], n = h * w, d = config.hiddenSize
        let embedded = patchEmbedding(patches.toF32().reshaped([b * n, config.patchValues]))
        let pos = positions(height: h, width: w)
        var x = Tensor.make(shape: [b, n, d], uninitialized: true) { out in
            embedded.withFloats { e in
                pos.withFloats { p in
                    for bi in 0..<b {
                        for i in 0..<(n * d) { out[bi * n * d + i] = e[bi * n * d + i] + p[i] }
                    }
                }
            }
        }
        for layer in layers { x = layer.block(x, selfAttention: layer.attention) }
        return postNorm(x)
    }

    /// Patch rows of B same-grid images → pooled outputs [B, D] (the head's; nil without a head).
    public func pooled(_ patches: Tensor, height h: Int, width w: Int) throws(VisionError) -> Tensor? {
        let last = try lastHiddenState(patches, height: h, width: w)
        return head.map { $0(last) }
    }
}

/// PyTorch's `F.interpolate(mode="bilinear", align_corners=False, antialias=True)` on float
/// values (`_upsample_bilinear2d_aa`): a separable triangle filter whose support widens by the
/// scale when shrinking (so every source row counts), weights normalised per output; the width
/// is resampled first, then the height; an axis whose size does not change is copied.
public enum AntialiasedBilinear {
    /// One axis: for each output index, the first input index and the weights.
    static func taps(input: Int, output: Int) -> [(start: Int, weights: [Float])] {
        let scale = Float(input) / Float(output)
        let support: Float = scale >= 1 ? scale : 1
        let invScale: Float = scale >= 1 ? 1 / scale : 1
        return (0..<output).map { i in
            let center = scale * (Float(i) + 0.5)
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), input)
            var weights = (lo..<max(hi, lo)).map { j -> Float in
                let x = abs((Float(j) - center + 0.5) * invScale)
                return x < 1 ? 1 - x : 0
            }
            let total = weights.reduce(0, +)
            if total != 0 { weights = weights.map { $0 / total } }
            return (lo, weights)
        }
    }

    /// `values` [H·W, C] (row-major grid, channels last) → [h·w, C].
    public static func resize(_ values: Tensor, channels c: Int, from: (height: Int, width: Int), to: (height: Int, width: Int)) -> Tensor {
        var grid = values.floats()
        var (hh, ww) = from
        if to.width != ww {
            let taps = taps(input: ww, output: to.width)
            var out = [Float](repeating: 0, count: hh * to.width * c)
            for y in 0..<hh {
                for (x, tap) in taps.enumerated() {
                    let o = (y * to.width + x) * c
                    for (k, wgt) in tap.weights.enumerated() {
                        let src = (y * ww + tap.start + k) * c
                        for ch in 0..<c { out[o + ch] += wgt * grid[src + ch] }
                    }
                }
            }
            grid = out
            ww = to.width
        }
        if to.height != hh {
            let taps = taps(input: hh, output: to.height)
            var out = [Float](repeating: 0, count: to.height * ww * c)
            for (y, tap) in taps.enumerated() {
                for x in 0..<ww {
                    let o = (y * ww + x) * c
                    for (k, wgt) in tap.weights.enumerated() {
                        let src = ((tap.start + k) * ww + x) * c
                        for ch in 0..<c { out[o + ch] += wgt * grid[src + ch] }
                    }
                }
            }
            grid = out
            hh = to.height
        }
        return Tensor(shape: [hh * ww, c], values: grid)
    }
}
