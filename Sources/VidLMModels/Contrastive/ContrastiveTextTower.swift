import Foundation
import VidLMTensor

/// The text tower configuration of CLIP (`CLIPTextConfig`) or SigLIP (`SiglipTextConfig`), with
/// that class's defaults (the decoder's `userInfo[.siglipText]` says which).
public struct ContrastiveTextConfig: Decodable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    public var hiddenAct: String
    public var layerNormEps: Float
    public var eosTokenId: Int
    public var padTokenId: Int
    /// SigLIP: bidirectional attention, the last position pooled, a `head` projection with bias.
    public var siglip: Bool
    /// SigLIP's `projection_size` (default: the hidden size).
    public var projectionSize: Int

    enum CodingKeys: String, CodingKey {
        case vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads
        case maxPositionEmbeddings, hiddenAct, layerNormEps, eosTokenId, padTokenId, projectionSize
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let sig = decoder.userInfo[.siglipText] as? Bool ?? false
        siglip = sig
        vocabSize = try c.optional(.vocabSize) ?? (sig ? 32000 : 49408)
        hiddenSize = try c.optional(.hiddenSize) ?? (sig ? 768 : 512)
        intermediateSize = try c.optional(.intermediateSize) ?? (sig ? 3072 : 2048)
        numHiddenLayers = try c.optional(.numHiddenLayers) ?? 12
        numAttentionHeads = try c.optional(.numAttentionHeads) ?? (sig ? 12 : 8)
        maxPositionEmbeddings = try c.optional(.maxPositionEmbeddings) ?? (sig ? 64 : 77)
        hiddenAct = try c.optional(.hiddenAct) ?? (sig ? "gelu_pytorch_tanh" : "quick_gelu")
        layerNormEps = try c.optional(.layerNormEps) ?? (sig ? 1e-6 : 1e-5)
        eosTokenId = try c.optional(.eosTokenId) ?? 49407
        padTokenId = try c.optional(.padTokenId) ?? 1
        projectionSize = try c.optional(.projectionSize) ?? hiddenSize
        func check(_ ok: Bool, _ key: CodingKeys, _ why: String) throws {
            if !ok { throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why) }
        }
        try check(vocabSize > 0, .vocabSize, "must be positive")
        try check(hiddenSize > 0, .hiddenSize, "must be positive")
        try check(intermediateSize > 0, .intermediateSize, "must be positive")
        try check(numHiddenLayers >= 0, .numHiddenLayers, "must not be negative")
        try check(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0, .numAttentionHeads, "must divide hidden_size \(hiddenSize)")
        try check(maxPositionEmbeddings > 0, .maxPositionEmbeddings, "must be positive")
        try check(Activation(configName: hiddenAct) != nil, .hiddenAct, "unsupported activation '\(hiddenAct)'")
        try check(layerNormEps > 0, .layerNormEps, "must be positive")
        try check(projectionSize > 0, .projectionSize, "must be positive")
    }
}

extension CodingUserInfoKey {
    /// Set to true to read a `SiglipTextConfig` (its defaults) with `ContrastiveTextConfig`.
    public static let siglipText = CodingUserInfoKey(rawValue: "vidlm.siglipText")!
}

/// CLIP's text transformer (`CLIPTextTransformer`): token + learned position embeddings, pre-norm
/// blocks with causal self-attention, `final_layer_norm`, pooled at the end-of-text token (the
/// first `eos_token_id`, or — for configs still saying `eos_token_id` 2 — the largest id, as the
/// original CLIP vocabulary put end-of-text last). SigLIP's (`SiglipTextTransformer`) is the same
/// with bidirectional attention, pooled at the last position (padding included).
public struct ContrastiveTextTower: Sendable {
    public let config: ContrastiveTextConfig
    let tokenEmbedding: Tensor      // [V, D]
    let positionEmbedding: Tensor   // [P, D]
    let layers: [Layer]
    let finalNorm: LayerNorm

    struct Layer: Sendable {
        let block: PreNormBlock<LayerNorm, FeedForward>
        let attention: CausalSelfAttention
        let bidirectional: BidirectionalSelfAttention
    }

    /// Binds `prefix + "embeddings.…"`, `"encoder.layers.N.…"`, `"final_layer_norm.…"` as
    /// transformers saves `CLIPTextModel` (prefix "text_model." inside a `CLIPModel`).
    public init(config: ContrastiveTextConfig, weights: ParameterSource, prefix: String) throws {
        self.config = config
        let d = config.hiddenSize, inter = config.intermediateSize
        let name = { (s: String) in prefix + s }
        tokenEmbedding = try weights.take(name("embeddings.token_embedding.weight"), shape: [config.vocabSize, d]).toF32()
        positionEmbedding = try weights.take(name("embeddings.position_embedding.weight"), shape: [config.maxPositionEmbeddings, d]).toF32()
        let activation = Activation(configName: config.hiddenAct) ?? .quickGelu
        var layers: [Layer] = []
        for i in 0..<config.numHiddenLayers {
            let l = { (s: String) in name("encoder.layers.\(i).\(s)") }
            let qkv = try ["q_proj", "k_proj", "v_proj"].map { try Linear(weights, l("self_attn.\($0)"), input: d, output: d, widen: true) }
            let out = try Linear(weights, l("self_attn.out_proj"), input: d, output: d, widen: true)
            let mlp = FeedForward(up: try Linear(weights, l("mlp.fc1"), input: d, output: inter, widen: true),
                                  down: try Linear(weights, l("mlp.fc2"), input: inter, output: d, widen: true), activation: activation)
            layers.append(Layer(
                block: PreNormBlock(attentionNorm: try LayerNorm(weights, l("layer_norm1"), width: d, eps: config.layerNormEps),
                                    mlpNorm: try LayerNorm(weights, l("layer_norm2"), width: d, eps: config.layerNormEps), mlp: mlp),
                attention: CausalSelfAttention(qkv: FusedLinear(qkv), output: out, heads: config.numAttentionHeads,
                                               kvHeads: config.numAttentionHeads, headDim: d / config.numAttentionHeads),
                bidirectional: BidirectionalSelfAttention(qkv: FusedLinear(qkv), output: out, heads: config.numAttentionHeads)))
        }
        self.layers = layers
        finalNorm = try LayerNorm(weights, name("final_layer_norm"), width: d, eps: config.layerNormEps)
    }

    /// The row the tower pools for `ids`.
    public func poolingIndex(_ ids: [Int]) -> Int {
        if config.siglip { return ids.count - 1 }
        if config.eosTokenId == 2 { return ids.indices.max { ids[$0] < ids[$1] } ?? 0 }
        return ids.firstIndex(of: config.eosTokenId) ?? ids.count - 1
    }

    /// One token sequence → its pooled output [D] (after `final_layer_norm`). SigLIP's `keyMask`
    /// (1 = token, 0 = padding, as transformers' `attention_mask`) hides padding from every
    /// position's attention; the pooled row is still the last one.
    public func pooled(_ ids: [Int], keyMask: [Int]? = nil) throws(LanguageModelError) -> Tensor {
        guard !ids.isEmpty else { throw .badInput("no token ids") }
        if let keyMask {
            guard keyMask.count == ids.count else { throw .badInput("the attention mask has \(keyMask.count) entries for \(ids.count) ids") }
            guard keyMask.contains(where: { $0 != 0 }) else { throw .badInput("the attention mask hides every token") }
        }
        guard ids.count <= config.maxPositionEmbeddings else {
            throw .contextOverflow(positions: ids.count, context: config.maxPositionEmbeddings)
        }
        try TextForward.checkIds(ids, vocabulary: config.vocabSize)
        let n = ids.count, d = config.hiddenSize
        var x = tokenEmbedding.gatherRows(ids) + positionEmbedding.rows(0..<n)
        if config.siglip {
            x = x.reshaped([1, n, d])
            let visible = keyMask.map { $0.map { $0 != 0 } }
            for layer in layers {
                x = layer.block(x) { (h: Tensor) -> Tensor in
                    guard let visible, visible.contains(false) else { return layer.bidirectional(h) }
                    return Self.maskedAttention(layer.bidirectional, h.reshaped([n, d]), visible: visible).reshaped([1, n, d])
                }
            }
            return finalNorm(x.reshaped([n, d]).rows((n - 1)..<n)).reshaped([d])
        }
        // The causal mask is the KV cache's: each row attends to the rows before it.
        var cache = KVCache(layers: layers.count, width: d, capacity: n)
        cache.prepareForWrite()
        for (index, layer) in layers.enumerated() {
            x = layer.block(x) { (h: Tensor) -> Tensor in layer.attention(h, cache: cache, layer: index, start: 0, rotary: nil) }
        }
        cache.advance(by: n)
        let at = poolingIndex(ids)
        return finalNorm(x.rows(at..<(at + 1))).reshaped([d])
    }

    /// Bidirectional self-attention where hidden keys get no weight (transformers adds the dtype's
    /// minimum to their scores, which the softmax turns into exact zeros). Texts are at most
    /// `max_position_embeddings` long, so plain loops do.
    static func maskedAttention(_ attention: BidirectionalSelfAttention, _ x: Tensor, visible: [Bool]) -> Tensor {
        let n = x.shape[0], d = x.shape[1], heads = attention.heads, dh = d / heads
        let qkv = attention.qkv(x).floats()            // [n, 3D]: q | k | v
        let scale = 1 / Float(Double(dh).squareRoot())
        var out = [Float](repeating: 0, count: n * d)
        var scores = [Float](repeating: 0, count: n)
        for h in 0..<heads {
            for i in 0..<n {
                var top = -Float.infinity
                for j in 0..<n where visible[j] {
                    var s: Float = 0
                    for t in 0..<dh { s += qkv[i * 3 * d + h * dh + t] * qkv[j * 3 * d + d + h * dh + t] }
                    scores[j] = s * scale
                    top = max(top, scores[j])
                }
                var sum: Float = 0
                for j in 0..<n where visible[j] { scores[j] = exp(scores[j] - top); sum += scores[j] }
                for j in 0..<n where visible[j] {
                    let p = scores[j] / sum
                    for t in 0..<dh { out[i * d + h * dh + t] += p * qkv[j * 3 * d + 2 * d + h * dh + t] }
                }
            }
        }
        return attention.output(Tensor(shape: [n, d], values: out))
    }
}
