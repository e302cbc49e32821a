import VidLMTensor

/// The shared vision core: one ViT for BLIP-2's EVA, CLIP and SigLIP. Projection weights stay in
/// their stored dtype (`Linear`): f32 through OpenBLAS, bf16 through the AVX-512 BF16 GEMM where
/// the CPU has it (activations rounded to bf16 at each product, f32 sums — PyTorch's bf16
/// matmul) or widened block by block; with bf16 projections attention is bf16 too (q, k,
/// probabilities and v rounded, f32 sums); norms and activations are f32.
///
/// Outputs follow transformers: `hiddenStates[0]` is the embedding output (after CLIP's
/// `pre_layrnorm`), `hiddenStates[i]` the output of layer i; `lastHiddenState` is the last layer
/// with `post_layernorm` for EVA (LAVIS `ln_vision`) and without it for CLIP; `pooled` is
/// `post_layernorm` of the class token.
public struct VisionTransformer: Sendable {
    public let config: VisionConfig
    let patchWeight: Tensor
    let patchBias: Tensor?
    let classEmbedding: Tensor?     // [D] (none for SigLIP)
    let positionEmbedding: Tensor   // [tokenCount, D]
    let preNorm: LayerNorm?
    let layers: [Layer]
    let postNorm: LayerNorm
    let activation: Activation

    /// A pre-norm encoder block: LayerNorm → self-attention (q, k, v from one fused [3D, D]
    /// weight for EVA or three [D, D] for CLIP / SigLIP, one [.., 3D] output either way) →
    /// residual → LayerNorm → MLP → residual.
    struct Layer: Sendable {
        let block: PreNormBlock<LayerNorm, FeedForward>
        let attention: BidirectionalSelfAttention
    }

    public struct Output: Sendable {
        public let lastHiddenState: Tensor
        public let pooled: Tensor
        /// Every hidden state when asked for (`hiddenStates.count == layers + 1`), else empty.
        public let hiddenStates: [Tensor]
    }

    /// Binds weights named as transformers saves `Blip2VisionModel` / `CLIPVisionModel`
    /// (`embeddings.…`, `encoder.layers.N.…`, `post_layernorm.…`); `prefix` is prepended
    /// (e.g. "vision_model." inside a full BLIP-2 checkpoint).
    public init(config: VisionConfig, weights: ParameterSource, prefix: String = "") throws {
        self.config = config
        let d = config.hiddenSize, p = config.patchSize, c = config.numChannels
        let name = { (s: String) in prefix + s }
        activation = Activation(configName: config.hiddenAct) ?? .gelu
        patchWeight = try weights.take(name("embeddings.patch_embedding.weight"), shape: [d, c, p, p]).toF32()
        switch config.kind {
        case .eva:
            patchBias = try weights.take(name("embeddings.patch_embedding.bias"), shape: [d]).toF32()
            classEmbedding = try weights.take(name("embeddings.class_embedding"), shape: [1, 1, d]).toF32().reshaped([d])
            positionEmbedding = try weights.take(name("embeddings.position_embedding"), shape: [1, config.tokenCount, d])
                .toF32().reshaped([config.tokenCount, d])
            preNorm = nil
        case .clip:
            patchBias = nil
            classEmbedding = try weights.take(name("embeddings.class_embedding"), shape: [d]).toF32()
            positionEmbedding = try weights.take(name("embeddings.position_embedding.weight"), shape: [config.tokenCount, d]).toF32()
            preNorm = try LayerNorm(weights, name("pre_layrnorm"), width: d, eps: config.layerNormEps)
        case .siglip:
            patchBias = try weights.take(name("embeddings.patch_embedding.bias"), shape: [d]).toF32()
            classEmbedding = nil
            positionEmbedding = try weights.take(name("embeddings.position_embedding.weight"), shape: [config.tokenCount, d]).toF32()
            preNorm = nil
        }
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let l = { (s: String) in name("encoder.layers.\(i).\(s)") }
            let qkv: [Linear], out: Linear
            switch config.kind {
            case .eva:
                let qkvWeight = TextForward.matrix(try weights.take(l("self_attn.qkv.weight"), shape: [3 * d, d]))
                let qkvBias: Tensor?
                if config.qkvBias {
                    // transformers ≥ 5 stores the fused bias; older checkpoints q_bias + v_bias.
                    if let fused = try weights.takeIfPresent(l("self_attn.qkv.bias"), shape: [3 * d]) {
                        qkvBias = fused.toF32()
                    } else {
                        let q = try weights.take(l("self_attn.q_bias"), shape: [d]).toF32()
                        let v = try weights.take(l("self_attn.v_bias"), shape: [d]).toF32()
                        qkvBias = Tensor.concatenate([q, Tensor.zeros([d]), v])
                    }
                } else {
                    qkvBias = nil
                }
                qkv = [Linear(weight: ComputePrecision.projectionWeight(qkvWeight), bias: qkvBias)]
                out = try Linear(weights, l("self_attn.projection"), input: d, output: d)
            case .clip, .siglip:
                qkv = try ["q_proj", "k_proj", "v_proj"].map { try Linear(weights, l("self_attn.\($0)"), input: d, output: d) }
                out = try Linear(weights, l("self_attn.out_proj"), input: d, output: d)
            }
            let inter = config.intermediateSize
            let mlp = FeedForward(up: try Linear(weights, l("mlp.fc1"), input: d, output: inter),
                                  down: try Linear(weights, l("mlp.fc2"), input: inter, output: d),
                                  activation: activation)
            layers.append(Layer(
                block: PreNormBlock(attentionNorm: try LayerNorm(weights, l("layer_norm1"), width: d, eps: config.layerNormEps),
                                    mlpNorm: try LayerNorm(weights, l("layer_norm2"), width: d, eps: config.layerNormEps),
                                    mlp: mlp),
                attention: BidirectionalSelfAttention(qkv: FusedLinear(qkv), output: out, heads: config.numAttentionHeads)))
        }
        self.layers = layers
        postNorm = try LayerNorm(weights, name("post_layernorm"), width: d, eps: config.layerNormEps)
    }

    /// Encodes images [B, C, H, W] (H = W = `imageSize`). `keepHiddenStates` keeps every layer's
    /// output; `stopAfterLayer` ends early (e.g. LLaVA's penultimate layer) — then
    /// `lastHiddenState` is that layer's raw output.
    public func callAsFunction(_ pixels: Tensor, keepHiddenStates: Bool = false, stopAfterLayer: Int? = nil) throws(VisionError) -> Output {
        let cfg = config
        guard pixels.rank == 4, pixels.shape[1] == cfg.numChannels else {
            throw .badInput("pixel values must be [frames, \(cfg.numChannels), height, width], got \(pixels.shape)")
        }
        let (h, w) = (pixels.shape[2], pixels.shape[3])
        guard h >= cfg.patchSize, w >= cfg.patchSize else {
            throw .badInput("the image (\(w)x\(h)) is smaller than one \(cfg.patchSize)x\(cfg.patchSize) patch")
        }
        guard h == cfg.imageSize, w == cfg.imageSize else {
            throw .badInput("the model expects \(cfg.imageSize)x\(cfg.imageSize) pixels, got \(w)x\(h)")
        }
        if let stop = stopAfterLayer, stop < 0 || stop > layers.count {
            throw .badInput("layer \(stop) does not exist (the model has \(layers.count))")
        }
        let b = pixels.shape[0], d = cfg.hiddenSize, n = cfg.tokenCount
        let patches = pixels.toF32().patchEmbedding(weight: patchWeight, bias: patchBias, patch: cfg.patchSize)
        // [CLS;] patches + positions
        let first = classEmbedding == nil ? 0 : 1
        let cls = classEmbedding ?? Tensor.zeros([d])
        var x = Tensor.make(shape: [b, n, d], uninitialized: true) { out in
            cls.withFloats { cls in
                patches.withFloats { pt in
                    positionEmbedding.withFloats { pos in
                        ParallelLoop.forEachChunk(b * n, minimumPerChunk: 64) { rows in
                            for row in rows {
                                let bi = row / n, t = row % n
                                let o = out.baseAddress! + row * d
                                if t < first {
                                    for j in 0..<d { o[j] = cls[j] + pos[j] }
                                } else {
                                    let src = pt.baseAddress! + (bi * (n - first) + t - first) * d
                                    for j in 0..<d { o[j] = src[j] + pos[t * d + j] }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let preNorm { x = preNorm(x) }
        var hidden: [Tensor] = keepHiddenStates ? [x] : []
        let last = stopAfterLayer ?? layers.count
        for layer in layers.prefix(last) {
            x = forward(layer, x)
            if keepHiddenStates { hidden.append(x) }
        }
        let final = (cfg.kind != .clip && stopAfterLayer == nil) ? postNorm(x) : x
        // The class token's post-norm (EVA, CLIP); SigLIP has none: its first token stands in.
        let pooledRows = Tensor.make(shape: [b, d], uninitialized: true) { out in
            final.withFloats { f in
                for bi in 0..<b { (out.baseAddress! + bi * d).update(from: f.baseAddress! + bi * n * d, count: d) }
            }
        }
        return Output(lastHiddenState: final, pooled: cfg.kind == .siglip ? pooledRows : postNorm(pooledRows), hiddenStates: hidden)
    }

    private func forward(_ layer: Layer, _ x: Tensor) -> Tensor {
        layer.block(x, selfAttention: layer.attention)
    }
}

public enum VisionError: Error, Equatable, Sendable, CustomStringConvertible {
    case badInput(String)
    public var description: String {
        switch self { case .badInput(let why): return "Invalid vision input: \(why)." }
    }
}
