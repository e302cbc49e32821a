import VidLMTensor

/// OPT decoder (BLIP-2's language model): learned positions (offset 2), pre- or post-LN layers,
/// ReLU (or the configured activation) MLP, optional `project_in`/`project_out` when
/// `word_embed_proj_dim` ≠ `hidden_size`, optional biases and LayerNorm affine parameters, LM head
/// tied to the token embeddings by default. Weights stay in their stored dtype.
public struct OPTModel: LanguageModel {
    public let config: OPTConfig
    let embedTokens: Tensor         // [V, E], stored dtype
    let embedPositions: Tensor      // [maxPositions + 2, D], stored dtype
    let projectIn: Tensor?          // [D, E]
    let projectOut: Tensor?         // [E, D]
    let layers: [Layer]
    let finalNorm: Norm?
    let lmHead: Tensor              // [V, E]
    let activation: Activation

    struct Norm: Sendable {
        let weight: Tensor?, bias: Tensor?
        let eps: Float
        func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }
    }

    struct Layer: Sendable {
        let attentionNorm: Norm
        let qkv: [(weight: Tensor, bias: Tensor?)]
        let outProj: Tensor, outBias: Tensor?
        let finalNorm: Norm
        let fc1: Tensor, fc1Bias: Tensor?
        let fc2: Tensor, fc2Bias: Tensor?
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
        func matrix(_ name: String, _ shape: [Int]) throws -> Tensor {
            let t = TextForward.matrix(try weights.take(name, shape: shape))
            try TextForward.checkFinite(t, name)
            return t
        }
        func vector(_ name: String, _ n: Int, _ present: Bool) throws -> Tensor? {
            guard present else { return nil }
            let t = try weights.take(name, shape: [n]).toF32()
            try TextForward.checkFinite(t, name)
            return t
        }
        let affine = config.layerNormElementwiseAffine, bias = config.enableBias
        func norm(_ name: String) throws -> Norm {
            Norm(weight: try vector(name + ".weight", d, affine), bias: try vector(name + ".bias", d, affine), eps: config.layerNormEps)
        }
        activation = Activation(configName: config.activationFunction) ?? .relu
        embedTokens = TextForward.matrix(try weights.take(base("embed_tokens.weight"), shape: [v, e]))
        try TextForward.checkFinite(embedTokens, base("embed_tokens.weight"), full: true)
        embedPositions = TextForward.matrix(try weights.take(base("embed_positions.weight"),
                                                             shape: [config.maxPositionEmbeddings + OPTConfig.positionOffset, d]))
        try TextForward.checkFinite(embedPositions, base("embed_positions.weight"), full: true)
        projectIn = config.hasProjections ? try matrix(base("project_in.weight"), [d, e]) : nil
        projectOut = config.hasProjections ? try matrix(base("project_out.weight"), [e, d]) : nil
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let l = { (s: String) in base("layers.\(i).\(s)") }
            let qkv: [(weight: Tensor, bias: Tensor?)] = try ["q_proj", "k_proj", "v_proj"].map {
                (try matrix(l("self_attn.\($0).weight"), [d, d]), try vector(l("self_attn.\($0).bias"), d, bias))
            }
            layers.append(Layer(
                attentionNorm: try norm(l("self_attn_layer_norm")),
                qkv: qkv,
                outProj: try matrix(l("self_attn.out_proj.weight"), [d, d]), outBias: try vector(l("self_attn.out_proj.bias"), d, bias),
                finalNorm: try norm(l("final_layer_norm")),
                fc1: try matrix(l("fc1.weight"), [f, d]), fc1Bias: try vector(l("fc1.bias"), f, bias),
                fc2: try matrix(l("fc2.weight"), [d, f]), fc2Bias: try vector(l("fc2.bias"), d, bias)))
        }
        self.layers = layers
        finalNorm = config.hasFinalLayerNorm ? try norm(base("final_layer_norm")) : nil
        if config.tieWordEmbeddings {
            _ = try weights.takeIfPresent(names.lmHead, shape: [v, e])
            lmHead = embedTokens
        } else {
            lmHead = try matrix(names.lmHead, [v, e])
        }
    }

    public var vocabularySize: Int { config.vocabSize }
    public var embeddingWidth: Int { config.wordEmbedProjDim }
    public var contextLength: Int { config.maxPositionEmbeddings }
    public var eosTokenIds: [Int] { config.eosTokenIds }
    public var layerCount: Int { config.numHiddenLayers }
    public var keyValueWidth: Int { config.hiddenSize }
    public var weightBytesPerToken: Int {
        var n = lmHead.byteCount + (projectIn?.byteCount ?? 0) + (projectOut?.byteCount ?? 0)
        for l in layers {
            n += l.qkv.reduce(0) { $0 + $1.weight.byteCount } + l.outProj.byteCount + l.fc1.byteCount + l.fc2.byteCount
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
        let d = config.hiddenSize, heads = config.numAttentionHeads, dh = config.headDim
        let scale = Float(1 / Double(dh).squareRoot())
        var x = inputEmbeddings.toF32()
        if let projectIn { x = x.mixedLinear(weight: projectIn) }
        // Positions (sequential: start..<start+n, transformers' cumsum(mask) - 1), plus the offset.
        let off = OPTConfig.positionOffset
        x = x + embedPositions.gatherRows(rowPositions.map { $0 + off })
        let preNorm = config.doLayerNormBefore
        for (index, layer) in layers.enumerated() {
            let qkv = (preNorm ? layer.attentionNorm(x) : x).mixedLinear(parts: layer.qkv)  // [n, 3D]
            let keys = cache.keys(layer: index), values = cache.values(layer: index)
            let attended = qkv.withFloats { p in
                Tensor.make(shape: [n, d], uninitialized: true) { out in
                    for i in 0..<n {
                        let row = p.baseAddress! + i * 3 * d
                        (keys + (start + i) * d).update(from: row + d, count: d)
                        (values + (start + i) * d).update(from: row + 2 * d, count: d)
                    }
                    CachedAttention.attend(q: p.baseAddress!, qStride: 3 * d, keys: keys, values: values, kvStride: d,
                                           past: start, queries: n, heads: heads, kvHeads: heads, headDim: dh, scale: scale,
                                           out: out.baseAddress!, outStride: d)
                }
            }
            x = x + attended.mixedLinear(weight: layer.outProj, bias: layer.outBias)
            if !preNorm { x = layer.attentionNorm(x) }
            let mlp = (preNorm ? layer.finalNorm(x) : x).mixedLinear(weight: layer.fc1, bias: layer.fc1Bias)
                .activated(activation).mixedLinear(weight: layer.fc2, bias: layer.fc2Bias)
            x = x + mlp
            if !preNorm { x = layer.finalNorm(x) }
        }
        cache.advance(by: n)
        guard var h = TextForward.selectRows(x, logits) else { return Tensor.zeros([0, config.vocabSize]) }
        if let finalNorm { h = finalNorm(h) }
        if let projectOut { h = h.mixedLinear(weight: projectOut) }
        return h.mixedLinear(weight: lmHead)
    }
}
