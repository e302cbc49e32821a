import VidLMTensor

/// OPT decoder (BLIP-2's language model): learned positions (offset 2), pre- or post-LN layers,
/// ReLU (or the configured activation) MLP, optional `project_in`/`project_out` when
/// `word_embed_proj_dim` ≠ `hidden_size`, optional biases and LayerNorm affine parameters, LM head
/// tied to the token embeddings by default. Weights stay in their stored dtype.
public struct OPTModel: LanguageModel {
    public let config: OPTConfig
    let embedTokens: Tensor         // [V, E], stored dtype
    let embedPositions: Tensor      // [maxPositions + 2, D], stored dtype
    let projectIn: Linear?          // [D, E]
    let projectOut: Linear?         // [E, D]
    let layers: [Layer]
    let finalNorm: LayerNorm?
    let lmHead: Linear              // [V, E]

    /// LayerNorm → causal self-attention → residual → LayerNorm → MLP → residual (pre-norm, or
    /// each LayerNorm after its residual with `do_layer_norm_before: false`).
    struct Layer: Sendable {
        let block: PreNormBlock<LayerNorm, FeedForward>
        let attention: CausalSelfAttention
    }

    public var cachePrecision: KVCache.Precision {
        Self.cachePrecision(attentionWeights: layers.flatMap { $0.attention.qkv.parts.map(\.weight) })
    }

    public static func names(prefix: String = "") -> TextWeightNames {
        TextWeightNames(base: prefix + "model.decoder.", lmHead: prefix + "lm_head.weight")
    }

    /// Binds weights named as transformers saves `OPTForCausalLM`, prefixed with `prefix`
    /// (e.g. "language_model." inside a BLIP-2 checkpoint).
    public init(config: OPTConfig, weights: ParameterSource, prefix: String = "") throws {
        try self.init(config: config, weights: weights, names: Self.names(prefix: prefix))
    }

    public init(config: OPTConfig, weights: ParameterSource, names: TextWeightNames) throws {
        self.config = config
        let d = config.hiddenSize, e = config.wordEmbedProjDim, v = config.vocabSize, f = config.ffnDim
        let base = { (s: String) in names.base + s }
        let affine = config.layerNormElementwiseAffine, bias = config.enableBias
        func norm(_ name: String) throws -> LayerNorm {
            try LayerNorm(weights, name, width: d, eps: config.layerNormEps, affine: affine, checkFinite: true)
        }
        func linear(_ name: String, _ input: Int, _ output: Int, bias: Bool) throws -> Linear {
            try Linear(weights, name, input: input, output: output, bias: bias, checkFinite: true)
        }
        let activation = Activation(configName: config.activationFunction) ?? .relu
        embedTokens = TextForward.matrix(try weights.take(base("embed_tokens.weight"), shape: [v, e]))
        try TextForward.checkFinite(embedTokens, base("embed_tokens.weight"), full: true)
        embedPositions = TextForward.matrix(try weights.take(base("embed_positions.weight"),
                                                             shape: [config.maxPositionEmbeddings + OPTConfig.positionOffset, d]))
        try TextForward.checkFinite(embedPositions, base("embed_positions.weight"), full: true)
        projectIn = config.hasProjections ? try linear(base("project_in"), e, d, bias: false) : nil
        projectOut = config.hasProjections ? try linear(base("project_out"), d, e, bias: false) : nil
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let l = { (s: String) in base("layers.\(i).\(s)") }
            let qkv = FusedLinear(try ["q_proj", "k_proj", "v_proj"].map { try linear(l("self_attn.\($0)"), d, d, bias: bias) })
            let mlp = FeedForward(up: try linear(l("fc1"), d, f, bias: bias), down: try linear(l("fc2"), f, d, bias: bias),
                                  activation: activation)
            layers.append(Layer(
                block: PreNormBlock(attentionNorm: try norm(l("self_attn_layer_norm")), mlpNorm: try norm(l("final_layer_norm")), mlp: mlp),
                attention: CausalSelfAttention(qkv: qkv, output: try linear(l("self_attn.out_proj"), d, d, bias: bias),
                                               heads: config.numAttentionHeads, kvHeads: config.numAttentionHeads, headDim: config.headDim)))
        }
        self.layers = layers
        finalNorm = config.hasFinalLayerNorm ? try norm(base("final_layer_norm")) : nil
        if config.tieWordEmbeddings {
            _ = try weights.takeIfPresent(names.lmHead, shape: [v, e])
            lmHead = Linear(weight: embedTokens, shared: true)
        } else {
            let head = TextForward.matrix(try weights.take(names.lmHead, shape: [v, e]))
            try TextForward.checkFinite(head, names.lmHead)
            lmHead = Linear(weight: head)
        }
    }

    public var vocabularySize: Int { config.vocabSize }
    public var embeddingWidth: Int { config.wordEmbedProjDim }
    public var contextLength: Int { config.maxPositionEmbeddings }
    public var eosTokenIds: [Int] { config.eosTokenIds }
    public var layerCount: Int { config.numHiddenLayers }
    public var keyValueWidth: Int { config.hiddenSize }
    public var weightBytesPerToken: Int {
        var n = lmHead.weight.byteCount + (projectIn?.weight.byteCount ?? 0) + (projectOut?.weight.byteCount ?? 0)
        for l in layers {
            let a = l.attention, m = l.block.mlp
            n += (a.qkv.parts + [a.output, m.up, m.down]).reduce(0) { $0 + $1.weight.byteCount }
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
        let (n, start) = try TextForward.check(inputEmbeddings, width: config.wordEmbedProjDim, cache: cache, context: contextLength)
        try Self.checkPositions(positions, rows: n)
        guard let rowPositions = positions.linear(count: n, start: start),
              rowPositions.allSatisfy({ $0 >= 0 && $0 < config.maxPositionEmbeddings }) else {
            throw .badInput("OPT's learned positions cover 0..<\(config.maxPositionEmbeddings)")
        }
        guard cache.layerCount == layers.count, cache.width == config.hiddenSize else {
            throw .badInput("the cache was made for another model")
        }
        cache.prepareForWrite()
        var x = inputEmbeddings.toF32()
        if let projectIn { x = projectIn(x) }
        // Positions (sequential: start..<start+n, transformers' cumsum(mask) - 1), plus the offset.
        let off = OPTConfig.positionOffset
        x = x + embedPositions.gatherRows(rowPositions.map { $0 + off })
        let prepared = cache
        // The last layer computes only the rows the logits use (all of them for `.all`).
        let kept = TextForward.outputRows(count: n, logits), pruned = kept.count < n
        for (index, layer) in layers.enumerated() {
            let rows = index == layers.count - 1 && pruned ? kept : 0..<n
            let attend = { (h: Tensor) -> Tensor in
                layer.attention(h, cache: prepared, layer: index, start: start, rotary: nil, queries: rows)
            }
            if config.doLayerNormBefore {
                x = layer.block(x, keeping: rows, attention: attend)
            } else {
                // Post-norm (OPT-350m): each LayerNorm after its residual.
                let b = layer.block
                let attended = attend(x)
                if rows.isEmpty { x = attended; continue }
                x = b.attentionNorm(x.rows(rows) + attended)
                x = b.mlpNorm(x + b.mlp(x))
            }
        }
        cache.advance(by: n)
        guard var h = pruned ? (kept.isEmpty ? nil : x) : TextForward.selectRows(x, logits) else {
            return Tensor.zeros([0, config.vocabSize])
        }
        if let finalNorm { h = finalNorm(h) }
        if let projectOut { h = projectOut(h) }
        return lmHead(h)
    }
}
