import VidLMTensor

/// Where a decoder's weights live in a checkpoint: the base model's prefix and the LM head's
/// name. `LlamaForCausalLM` saves `model.…` + `lm_head.weight`; a VLM nests the whole causal LM
/// (`language_model.model.…`, `language_model.lm_head.weight`: `.causalLM(prefix: "language_model.")`).
public struct TextWeightNames: Sendable, Equatable {
    /// Prefix of the base model's weights (`model.` for LLaMA, `model.decoder.` for OPT).
    public var base: String
    /// The LM head's weight (used unless the embeddings are tied).
    public var lmHead: String

    public init(base: String, lmHead: String) {
        self.base = base
        self.lmHead = lmHead
    }
}

/// LLaMA-family decoder (LLaMA 1/2/3, Vicuna, TinyLlama, Mistral with its sliding window, Qwen2): RMSNorm, RoPE (default, linear,
/// llama3), SwiGLU MLP, grouped-query attention. Weights stay in their stored dtype (f32, bf16 or
/// f16; see `mixedLinear`); activations, the KV cache and logits are f32.
public struct LlamaModel: LanguageModel {
    public let config: LlamaConfig
    let embedTokens: Tensor        // [V, D], stored dtype
    let layers: [Layer]
    let norm: RMSNorm
    let lmHead: Linear             // [V, D], stored dtype (embedTokens when tied)
    let rotary: RotaryEmbedding

    /// RMSNorm → causal self-attention with rotary positions → residual → RMSNorm → SwiGLU.
    struct Layer: Sendable {
        let block: PreNormBlock<RMSNorm, GatedFeedForward>
        let attention: CausalSelfAttention

        /// The q, k, v projections' weights and biases (as stored).
        var qkv: [(weight: Tensor, bias: Tensor?)] { attention.qkv.parts.map { ($0.weight, $0.bias) } }
    }

    public var cachePrecision: KVCache.Precision {
        Self.cachePrecision(attentionWeights: layers.flatMap { $0.attention.qkv.parts.map(\.weight) })
    }

    public static func names(prefix: String = "") -> TextWeightNames {
        TextWeightNames(base: prefix + "model.", lmHead: prefix + "lm_head.weight")
    }

    /// Binds weights named as transformers saves `LlamaForCausalLM`, each name prefixed with
    /// `prefix` (e.g. "language_model." inside a VLM checkpoint).
    public init(config: LlamaConfig, weights: ParameterSource, prefix: String = "") throws {
        try self.init(config: config, weights: weights, names: Self.names(prefix: prefix))
    }

    public init(config: LlamaConfig, weights: ParameterSource, names: TextWeightNames) throws {
        self.config = config
        let d = config.hiddenSize, v = config.vocabSize, inter = config.intermediateSize
        let qw = config.numAttentionHeads * config.headDim, kvw = config.keyValueWidth
        let base = { (s: String) in names.base + s }
        let activation = Activation(configName: config.hiddenAct) ?? .silu
        embedTokens = TextForward.matrix(try weights.take(base("embed_tokens.weight"), shape: [v, d]))
        try TextForward.checkFinite(embedTokens, base("embed_tokens.weight"), full: true)
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let l = { (s: String) in base("layers.\(i).\(s)") }
            func linear(_ name: String, _ input: Int, _ output: Int, bias: Bool) throws -> Linear {
                try Linear(weights, l(name), input: input, output: output, bias: bias, checkFinite: true)
            }
            let ab = config.qkvBias, ob = config.outputBias, mb = config.mlpBias
            let qkv = FusedLinear([try linear("self_attn.q_proj", d, qw, bias: ab), try linear("self_attn.k_proj", d, kvw, bias: ab),
                                   try linear("self_attn.v_proj", d, kvw, bias: ab)])
            let mlp = GatedFeedForward(gate: try linear("mlp.gate_proj", d, inter, bias: mb), up: try linear("mlp.up_proj", d, inter, bias: mb),
                                       down: try linear("mlp.down_proj", inter, d, bias: mb), activation: activation)
            layers.append(Layer(
                block: PreNormBlock(attentionNorm: try RMSNorm(weights, l("input_layernorm"), width: d, eps: config.rmsNormEps, checkFinite: true),
                                    mlpNorm: try RMSNorm(weights, l("post_attention_layernorm"), width: d, eps: config.rmsNormEps, checkFinite: true),
                                    mlp: mlp),
                attention: CausalSelfAttention(qkv: qkv, output: try linear("self_attn.o_proj", qw, d, bias: ob),
                                               heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads, headDim: config.headDim,
                                               window: config.window(layer: i),
                                               headNorms: config.headNorm
                                                   ? (try RMSNorm(weights, l("self_attn.q_norm"), width: config.headDim, eps: config.rmsNormEps, checkFinite: true).weight.floats(),
                                                      try RMSNorm(weights, l("self_attn.k_norm"), width: config.headDim, eps: config.rmsNormEps, checkFinite: true).weight.floats(),
                                                      config.rmsNormEps)
                                                   : nil)))
        }
        self.layers = layers
        norm = try RMSNorm(weights, base("norm"), width: d, eps: config.rmsNormEps, checkFinite: true)
        if config.tieWordEmbeddings {
            // transformers drops the tied copy when saving; a checkpoint that kept it is fine too.
            _ = try weights.takeIfPresent(names.lmHead, shape: [v, d])
            lmHead = Linear(weight: embedTokens, shared: true)
        } else {
            let head = TextForward.matrix(try weights.take(names.lmHead, shape: [v, d]))
            try TextForward.checkFinite(head, names.lmHead)
            lmHead = Linear(weight: head)
        }
        rotary = RotaryEmbedding(headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling)
    }

    /// `x` with `addend`'s i-th row added to its row `rows[i]`.
    static func add(_ addend: Tensor, to x: Tensor, rows: [Int]) -> Tensor {
        let d = x.shape[1]
        var values = x.floats()
        addend.toF32().withFloats { a in
            for (i, r) in rows.enumerated() {
                for j in 0..<d { values[r * d + j] += a[i * d + j] }
            }
        }
        return Tensor(shape: x.shape, values: values)
    }

    public var vocabularySize: Int { config.vocabSize }
    public var embeddingWidth: Int { config.hiddenSize }
    public var contextLength: Int { config.maxPositionEmbeddings }
    public var eosTokenIds: [Int] { config.eosTokenIds }
    public var layerCount: Int { config.numHiddenLayers }
    public var keyValueWidth: Int { config.keyValueWidth }
    /// Bytes of weights read per decoded token (every matrix once; the embedding row aside).
    public var weightBytesPerToken: Int {
        var n = lmHead.weight.byteCount
        for l in layers {
            let a = l.attention, m = l.block.mlp
            n += (a.qkv.parts + [a.output] + m.gateUp.parts + [m.down]).reduce(0) { $0 + $1.weight.byteCount }
        }
        return n
    }

    public func embed(_ ids: [Int]) throws(LanguageModelError) -> Tensor {
        try TextForward.checkIds(ids, vocabulary: config.vocabSize)
        return embedTokens.gatherRows(ids)
    }

    public func forward(inputEmbeddings: Tensor, cache: inout KVCache, logits: LogitsSelection) throws(LanguageModelError) -> Tensor {
        try forward(inputEmbeddings: inputEmbeddings, positions: .sequential, cache: &cache, logits: logits)
    }

    public func forward(inputEmbeddings: Tensor, positions: PositionIds, cache: inout KVCache,
                        logits: LogitsSelection) throws(LanguageModelError) -> Tensor {
        try forward(inputEmbeddings: inputEmbeddings, positions: positions, residuals: nil, cache: &cache, logits: logits)
    }

    /// `residuals.layers[i]` is added to the rows `residuals.rows` after layer i (DeepStack).
    public func forward(inputEmbeddings: Tensor, positions: PositionIds, residuals: LayerResiduals?, cache: inout KVCache,
                        logits: LogitsSelection) throws(LanguageModelError) -> Tensor {
        let (n, start) = try TextForward.check(inputEmbeddings, width: config.hiddenSize, cache: cache, context: contextLength)
        try Self.checkPositions(positions, rows: n)
        try residuals?.check(count: n, width: config.hiddenSize)
        let table: (cos: [Float], sin: [Float])
        if let rowPositions = positions.linear(count: n, start: start) {
            table = rotary.table(positions: rowPositions)
        } else if case .multimodal(let axes) = positions, let section = config.mropeSection, axes.count == section.count {
            table = rotary.table(axes: axes, section: section, interleaved: config.mropeInterleaved)
        } else {
            throw .badInput(config.mropeSection == nil ? "LLaMA uses 1-D rotary positions, not multimodal ones"
                                                       : "M-RoPE takes one position row per mrope_section entry")
        }
        guard cache.layerCount == layers.count, cache.width == config.keyValueWidth else {
            throw .badInput("the cache was made for another model")
        }
        cache.prepareForWrite()
        var x = inputEmbeddings.toF32()
        // The last layer computes only the rows the logits use (all of them for `.all`).
        let kept = TextForward.outputRows(count: n, logits), pruned = kept.count < n
        for (index, layer) in layers.enumerated() {
            if index == layers.count - 1 && pruned {
                x = layer.block(x, keeping: kept) { (h: Tensor) -> Tensor in
                    layer.attention(h, cache: cache, layer: index, start: start, rotary: table, queries: kept)
                }
                if let part = residuals?.slice(kept), index < part.layers.count {
                    x = Self.add(part.layers[index], to: x, rows: part.rows)
                }
                continue
            }
            x = layer.block(x) { (h: Tensor) -> Tensor in
                layer.attention(h, cache: cache, layer: index, start: start, rotary: table)
            }
            if let residuals, index < residuals.layers.count { x = Self.add(residuals.layers[index], to: x, rows: residuals.rows) }
        }
        cache.advance(by: n)
        guard let rows = pruned ? (kept.isEmpty ? nil : x) : TextForward.selectRows(x, logits) else {
            return Tensor.zeros([0, config.vocabSize])
        }
        return lmHead(norm(rows))
    }
}
