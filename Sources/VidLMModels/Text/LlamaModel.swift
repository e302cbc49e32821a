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

/// LLaMA-family decoder (LLaMA 1/2/3, Vicuna, TinyLlama): RMSNorm, RoPE (default, linear,
/// llama3), SwiGLU MLP, grouped-query attention. Weights stay in their stored dtype (f32, bf16 or
/// f16; see `mixedLinear`); activations, the KV cache and logits are f32.
public struct LlamaModel: LanguageModel {
    public let config: LlamaConfig
    let embedTokens: Tensor        // [V, D], stored dtype
    let layers: [Layer]
    let norm: Tensor               // f32 [D]
    let lmHead: Tensor             // [V, D], stored dtype (embedTokens when tied)
    let rotary: RotaryEmbedding
    let activation: Activation

    struct Layer: Sendable {
        let inputNorm: Tensor
        let qkv: [(weight: Tensor, bias: Tensor?)]
        let oProj: Tensor, oBias: Tensor?
        let postNorm: Tensor
        let gateUp: [(weight: Tensor, bias: Tensor?)]
        let down: Tensor, downBias: Tensor?
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
        func matrix(_ name: String, _ shape: [Int]) throws -> Tensor {
            let t = TextForward.matrix(try weights.take(name, shape: shape))
            try TextForward.checkFinite(t, name)
            return t
        }
        func vector(_ name: String, _ n: Int) throws -> Tensor {
            let t = try weights.take(name, shape: [n]).toF32()
            try TextForward.checkFinite(t, name)
            return t
        }
        func bias(_ name: String, _ n: Int, _ present: Bool) throws -> Tensor? {
            present ? try vector(name, n) : nil
        }
        activation = Activation(configName: config.hiddenAct) ?? .silu
        embedTokens = TextForward.matrix(try weights.take(base("embed_tokens.weight"), shape: [v, d]))
        try TextForward.checkFinite(embedTokens, base("embed_tokens.weight"), full: true)
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let l = { (s: String) in base("layers.\(i).\(s)") }
            let ab = config.attentionBias, mb = config.mlpBias
            let qkv: [(weight: Tensor, bias: Tensor?)] = [
                (try matrix(l("self_attn.q_proj.weight"), [qw, d]), try bias(l("self_attn.q_proj.bias"), qw, ab)),
                (try matrix(l("self_attn.k_proj.weight"), [kvw, d]), try bias(l("self_attn.k_proj.bias"), kvw, ab)),
                (try matrix(l("self_attn.v_proj.weight"), [kvw, d]), try bias(l("self_attn.v_proj.bias"), kvw, ab)),
            ]
            let gateUp: [(weight: Tensor, bias: Tensor?)] = [
                (try matrix(l("mlp.gate_proj.weight"), [inter, d]), try bias(l("mlp.gate_proj.bias"), inter, mb)),
                (try matrix(l("mlp.up_proj.weight"), [inter, d]), try bias(l("mlp.up_proj.bias"), inter, mb)),
            ]
            layers.append(Layer(
                inputNorm: try vector(l("input_layernorm.weight"), d),
                qkv: qkv,
                oProj: try matrix(l("self_attn.o_proj.weight"), [d, qw]), oBias: try bias(l("self_attn.o_proj.bias"), d, ab),
                postNorm: try vector(l("post_attention_layernorm.weight"), d),
                gateUp: gateUp,
                down: try matrix(l("mlp.down_proj.weight"), [d, inter]), downBias: try bias(l("mlp.down_proj.bias"), d, mb)))
        }
        self.layers = layers
        norm = try vector(base("norm.weight"), d)
        if config.tieWordEmbeddings {
            // transformers drops the tied copy when saving; a checkpoint that kept it is fine too.
            _ = try weights.takeIfPresent(names.lmHead, shape: [v, d])
            lmHead = embedTokens
        } else {
            lmHead = try matrix(names.lmHead, [v, d])
        }
        rotary = RotaryEmbedding(headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling)
    }

    public var vocabularySize: Int { config.vocabSize }
    public var embeddingWidth: Int { config.hiddenSize }
    public var contextLength: Int { config.maxPositionEmbeddings }
    public var eosTokenIds: [Int] { config.eosTokenIds }
    public var layerCount: Int { config.numHiddenLayers }
    public var keyValueWidth: Int { config.keyValueWidth }
    /// Bytes of weights read per decoded token (every matrix once; the embedding row aside).
    public var weightBytesPerToken: Int {
        var n = lmHead.byteCount
        for l in layers {
            n += l.qkv.reduce(0) { $0 + $1.weight.byteCount } + l.oProj.byteCount
            n += l.gateUp.reduce(0) { $0 + $1.weight.byteCount } + l.down.byteCount
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
        let (n, start) = try TextForward.check(inputEmbeddings, width: config.hiddenSize, cache: cache, context: contextLength)
        try Self.checkPositions(positions, rows: n)
        guard let rowPositions = positions.linear(count: n, start: start) else {
            throw .badInput("LLaMA uses 1-D rotary positions, not multimodal ones")
        }
        guard cache.layerCount == layers.count, cache.width == config.keyValueWidth else {
            throw .badInput("the cache was made for another model")
        }
        cache.prepareForWrite()
        let heads = config.numAttentionHeads, kvHeads = config.numKeyValueHeads, dh = config.headDim
        let qw = heads * dh, kvw = kvHeads * dh, qkvw = qw + 2 * kvw
        let scale = Float(1 / Double(dh).squareRoot())
        let (cosTable, sinTable) = rotary.table(positions: rowPositions)
        let half = dh / 2
        var x = inputEmbeddings.toF32()
        for (index, layer) in layers.enumerated() {
            let qkv = x.rmsNorm(weight: layer.inputNorm, eps: config.rmsNormEps).mixedLinear(parts: layer.qkv)
            let keys = cache.keys(layer: index), values = cache.values(layer: index)
            let attended = qkv.withFloats { p in
                Tensor.make(shape: [n, qw], uninitialized: true) { out in
                    let q = UnsafeMutablePointer<Float>.allocate(capacity: n * qw)
                    defer { q.deallocate() }
                    cosTable.withUnsafeBufferPointer { cb in
                        sinTable.withUnsafeBufferPointer { sb in
                            for i in 0..<n {
                                let row = p.baseAddress! + i * qkvw
                                let c = cb.baseAddress! + i * half, s = sb.baseAddress! + i * half
                                RotaryEmbedding.rotate(row, into: q + i * qw, heads: heads, headDim: dh, cos: c, sin: s)
                                RotaryEmbedding.rotate(row + qw, into: keys + (start + i) * kvw, heads: kvHeads, headDim: dh, cos: c, sin: s)
                                (values + (start + i) * kvw).update(from: row + qw + kvw, count: kvw)
                            }
                        }
                    }
                    CachedAttention.attend(q: q, qStride: qw, keys: keys, values: values, kvStride: kvw, past: start,
                                           queries: n, heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale,
                                           out: out.baseAddress!, outStride: qw)
                }
            }
            x = x + attended.mixedLinear(weight: layer.oProj, bias: layer.oBias)
            let mlp = x.rmsNorm(weight: layer.postNorm, eps: config.rmsNormEps).mixedLinear(parts: layer.gateUp)
                .gatedActivation(activation).mixedLinear(weight: layer.down, bias: layer.downBias)
            x = x + mlp
        }
        cache.advance(by: n)
        guard let rows = TextForward.selectRows(x, logits) else { return Tensor.zeros([0, config.vocabSize]) }
        return rows.rmsNorm(weight: norm, eps: config.rmsNormEps).mixedLinear(weight: lmHead)
    }
}
