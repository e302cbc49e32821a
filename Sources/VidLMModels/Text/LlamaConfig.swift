import VidLMTensor

/// A LLaMA-family decoder's configuration from config.json (top level, or a VLM's `text_config`),
/// with transformers' `LlamaConfig` defaults for absent fields — or `MistralConfig`'s for
/// model_type "mistral" (the same graph with a sliding attention window, `sliding_window`), or
/// `Qwen2Config`'s for "qwen2" (biases on q/k/v but not o_proj; with `use_sliding_window` the
/// layers from `max_window_layers` on — or those `layer_types` names "sliding_attention" — attend
/// within `sliding_window`), or `Qwen3VLTextConfig`'s for "qwen3_vl_text" (Qwen3: RMSNorm of
/// each q and k head, no biases, interleaved M-RoPE).
///
/// RoPE: `rope_theta` (default 10000) and scaling from transformers ≤ 4's `rope_scaling`
/// (`{"type"|"rope_type": "linear"|"llama3", ...}`) or transformers 5's `rope_parameters`
/// (the same keys plus `rope_theta`); `rope_scaling` wins when both are present, as in
/// transformers. Types other than default, linear and llama3 are rejected.
public struct LlamaConfig: Decodable, Sendable, Equatable {
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var hiddenAct: String
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var ropeScaling: RotaryEmbedding.Scaling
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    /// Biases of the q/k/v projections and of o_proj (LLaMA: both `attention_bias`; Qwen2: q/k/v only).
    public var qkvBias: Bool
    public var outputBias: Bool
    public var mlpBias: Bool
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var padTokenId: Int?
    /// Mistral's and Qwen2's `sliding_window`: each position attends to at most this many (itself
    /// included), in the layers `slidingWindowLayers` lists (nil: every layer, as Mistral).
    public var slidingWindow: Int?
    /// Qwen2's windowed layers (`layer_types`, or the layers from `max_window_layers` on).
    public var slidingWindowLayers: [Int]?
    /// Qwen3: an RMSNorm over each head of q and k (`q_norm`, `k_norm`) before the rotary positions.
    public var headNorm: Bool
    /// Qwen3-VL's M-RoPE layout: frequency i follows height when i % 3 == 1 and i < 3·section[1],
    /// width when i % 3 == 2 and i < 3·section[2], time otherwise (Qwen2-VL: consecutive blocks).
    public var mropeInterleaved: Bool
    /// M-RoPE's `mrope_section` (Qwen2-VL, Qwen2.5-VL): how many of the Dh/2 rotary frequencies
    /// follow the time, height and width position; nil for 1-D rotary positions.
    public var mropeSection: [Int]?

    /// The Qwen-VL decoders (`Qwen2VLTextConfig`, `Qwen2_5_VLTextConfig`: Qwen2 with M-RoPE;
    /// `Qwen3VLTextConfig`: Qwen3 with interleaved M-RoPE).
    public static let multimodalRopeTypes: Set<String> = ["qwen2_vl_text", "qwen2_5_vl_text", "qwen3_vl_text"]
    public static let modelTypes: Set<String> = Set(["llama", "mistral", "qwen2"]).union(multimodalRopeTypes)

    enum CodingKeys: String, CodingKey {
        case modelType, vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads
        case numKeyValueHeads, headDim, hiddenAct, maxPositionEmbeddings, rmsNormEps, ropeTheta
        case ropeScaling, ropeParameters, tieWordEmbeddings, attentionBias, mlpBias
        case bosTokenId, eosTokenId, padTokenId, slidingWindow, useSlidingWindow, maxWindowLayers, layerTypes
    }

    /// `rope_scaling` / `rope_parameters` as written in config.json.
    struct RopeParameters: Decodable {
        var ropeType: String?
        var type: String?
        var factor: Double?
        var lowFreqFactor: Double?
        var highFreqFactor: Double?
        var originalMaxPositionEmbeddings: Int?
        var ropeTheta: Double?
        var mropeSection: [Int]?
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.optional(.modelType) ?? "llama"
        guard Self.modelTypes.contains(modelType) else {
            throw DecodingError.dataCorruptedError(forKey: .modelType, in: c,
                debugDescription: "'\(modelType)' is not a LLaMA model type (\(Self.modelTypes.sorted().joined(separator: ", ")))")
        }
        let mistral = modelType == "mistral", qwen3 = modelType == "qwen3_vl_text"
        let qwenVL = Self.multimodalRopeTypes.contains(modelType) && !qwen3
        // Qwen2 proper (q/k/v biases, the per-layer window); Qwen3-VL's decoder is Qwen3.
        let qwen = modelType == "qwen2" || qwenVL
        vocabSize = try c.optional(.vocabSize) ?? (qwenVL ? 152064 : qwen || qwen3 ? 151936 : 32000)
        hiddenSize = try c.optional(.hiddenSize) ?? 4096
        intermediateSize = try c.optional(.intermediateSize) ?? (mistral ? 14336 : qwen || qwen3 ? 22016 : 11008)
        numHiddenLayers = try c.optional(.numHiddenLayers) ?? 32
        numAttentionHeads = try c.optional(.numAttentionHeads) ?? 32
        numKeyValueHeads = try c.optional(.numKeyValueHeads) ?? (mistral ? 8 : numAttentionHeads)
        try Self.check(numAttentionHeads > 0, .numAttentionHeads, "must be positive", c)
        // Qwen3VLTextConfig's head_dim is 128 whatever the width.
        headDim = try c.optional(.headDim) ?? (qwen3 ? 128 : hiddenSize / numAttentionHeads)
        hiddenAct = try c.optional(.hiddenAct) ?? "silu"
        maxPositionEmbeddings = try c.optional(.maxPositionEmbeddings) ?? (mistral ? 4096 * 32 : qwen ? 32768 : qwen3 ? 128000 : 2048)
        rmsNormEps = try c.optional(.rmsNormEps) ?? (qwenVL ? 1e-5 : 1e-6)
        tieWordEmbeddings = try c.optional(.tieWordEmbeddings) ?? false
        attentionBias = try c.optional(.attentionBias) ?? false
        qkvBias = qwen || attentionBias
        outputBias = !qwen && attentionBias
        headNorm = qwen3
        mlpBias = try c.optional(.mlpBias) ?? false
        // Qwen2Config has no default BOS / EOS.
        bosTokenId = try c.optional(.bosTokenId) ?? (c.contains(.bosTokenId) || qwen ? nil : 1)
        eosTokenIds = try TokenIds.decode(c, .eosTokenId) ?? (c.contains(.eosTokenId) || qwen ? [] : [2])
        padTokenId = try c.optional(.padTokenId)
        // null turns the window off; absent means MistralConfig's / Qwen2Config's 4096 (LLaMA has none).
        let window: Int? = try c.optional(.slidingWindow)
        let defaultWindow = c.contains(.slidingWindow) ? window : 4096
        slidingWindow = nil
        slidingWindowLayers = nil
        if mistral {
            slidingWindow = defaultWindow
        } else if qwen {
            // Qwen2Config: the window only with `use_sliding_window`; `layer_types` (saved by
            // transformers 5) or else the layers from `max_window_layers` on use it.
            let types: [String]? = try c.optional(.layerTypes)
            if let types {
                try Self.check(types.count == numHiddenLayers && types.allSatisfy({ $0 == "full_attention" || $0 == "sliding_attention" }),
                               .layerTypes, "must name \(numHiddenLayers) layers, each \"full_attention\" or \"sliding_attention\"", c)
            }
            if try c.optional(.useSlidingWindow) ?? false, let size = defaultWindow {
                let first: Int = try c.optional(.maxWindowLayers) ?? (qwenVL ? 80 : 28)
                slidingWindow = size
                slidingWindowLayers = types.map { t in t.indices.filter { t[$0] == "sliding_attention" } }
                    ?? Array(min(max(first, 0), numHiddenLayers)..<numHiddenLayers)
            }
        }

        // RoPE: legacy rope_scaling first (transformers: `rope_scaling or rope_parameters`).
        let topTheta: Double? = try c.optional(.ropeTheta)
        let legacy: RopeParameters? = try c.optional(.ropeScaling)
        let current: RopeParameters? = try c.optional(.ropeParameters)
        let (params, key): (RopeParameters?, CodingKeys) = legacy != nil ? (legacy, .ropeScaling) : (current, .ropeParameters)
        ropeTheta = params?.ropeTheta ?? topTheta ?? (qwen3 ? 500000 : 10000)
        ropeScaling = try Self.scaling(params, key: key, maxPositions: maxPositionEmbeddings, c)
        // Qwen2VLTextConfig's / Qwen3VLTextConfig's default section when the checkpoint names none.
        mropeSection = qwenVL ? (params?.mropeSection ?? [16, 24, 24]) : qwen3 ? (params?.mropeSection ?? [24, 20, 20]) : nil
        // transformers' Qwen3-VL always interleaves (it ignores `mrope_interleaved`).
        mropeInterleaved = qwen3
        try validate(c)
    }

    private static func scaling(_ p: RopeParameters?, key: CodingKeys, maxPositions: Int,
                                _ c: KeyedDecodingContainer<CodingKeys>) throws -> RotaryEmbedding.Scaling {
        guard let p else { return .none }
        var type = p.ropeType ?? p.type ?? "default"
        // Qwen2-VL's legacy `{"type": "mrope"}` is default RoPE with an M-RoPE section.
        if type == "mrope" { type = "default" }
        func need(_ value: Double?, _ name: String) throws -> Float {
            guard let value else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "rope type '\(type)' needs '\(name)'")
            }
            guard value > 0, value.isFinite else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "'\(name)' must be positive")
            }
            return Float(value)
        }
        switch type {
        case "default":
            return .none
        case "linear":
            return .linear(factor: try need(p.factor, "factor"))
        case "llama3":
            let low = try need(p.lowFreqFactor, "low_freq_factor"), high = try need(p.highFreqFactor, "high_freq_factor")
            guard high != low else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "'high_freq_factor' must differ from 'low_freq_factor'")
            }
            return .llama3(factor: try need(p.factor, "factor"), lowFreqFactor: low, highFreqFactor: high,
                           originalMaxPositions: p.originalMaxPositionEmbeddings ?? maxPositions)
        default:
            throw DecodingError.dataCorruptedError(forKey: key, in: c,
                debugDescription: "unsupported rope type '\(type)' (supported: default, linear, llama3)")
        }
    }

    static func check(_ ok: Bool, _ key: CodingKeys, _ why: String, _ c: KeyedDecodingContainer<CodingKeys>) throws {
        if !ok { throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why) }
    }

    private func validate(_ c: KeyedDecodingContainer<CodingKeys>) throws {
        try Self.check(vocabSize > 0, .vocabSize, "must be positive", c)
        try Self.check(hiddenSize > 0, .hiddenSize, "must be positive", c)
        try Self.check(intermediateSize > 0, .intermediateSize, "must be positive", c)
        try Self.check(numHiddenLayers >= 0, .numHiddenLayers, "must not be negative", c)
        try Self.check(numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0, .numKeyValueHeads,
                       "must divide num_attention_heads \(numAttentionHeads)", c)
        try Self.check(headDim > 0 && headDim % 2 == 0, .headDim, "must be a positive even number (hidden_size / num_attention_heads when absent)", c)
        try Self.check(Activation(configName: hiddenAct) != nil, .hiddenAct, "unsupported activation '\(hiddenAct)'", c)
        try Self.check(maxPositionEmbeddings > 0, .maxPositionEmbeddings, "must be positive", c)
        try Self.check(rmsNormEps > 0, .rmsNormEps, "must be positive", c)
        try Self.check(ropeTheta > 0 && ropeTheta.isFinite, .ropeTheta, "must be positive", c)
        try Self.check(slidingWindow.map { $0 > 0 } ?? true, .slidingWindow, "must be positive (or null for no window)", c)
        if let section = mropeSection {
            try Self.check(section.count == 3 && section.allSatisfy { $0 >= 0 } && section.reduce(0, +) == headDim / 2, .ropeParameters,
                           "'mrope_section' must be three non-negative counts summing to head_dim / 2 (\(headDim / 2)), got \(section)", c)
        }
    }

    /// The attention window of decoder layer `layer` (nil: it attends to every earlier position).
    public func window(layer: Int) -> Int? {
        guard let slidingWindow else { return nil }
        return slidingWindowLayers.map { $0.contains(layer) ? slidingWindow : nil } ?? slidingWindow
    }

    public var keyValueWidth: Int { numKeyValueHeads * headDim }
}

/// `eos_token_id` and friends: an integer, a list of integers, or null.
enum TokenIds {
    static func decode<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> [Int]? {
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
        if let one = try? c.decode(Int.self, forKey: key) { return [one] }
        do {
            return try c.decode([Int].self, forKey: key)
        } catch {
            throw DecodingError.typeMismatch(Int.self, DecodingError.Context(codingPath: c.codingPath + [key],
                debugDescription: "an integer or a list of integers"))
        }
    }
}
