import VidLMTensor

/// A LLaMA-family decoder's configuration from config.json (top level, or a VLM's `text_config`),
/// with transformers' `LlamaConfig` defaults for absent fields — or `MistralConfig`'s for
/// model_type "mistral" (the same graph with a sliding attention window, `sliding_window`), or
/// `Qwen2Config`'s for "qwen2" (biases on q/k/v but not o_proj; its optional sliding window is
/// not supported).
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
    /// Mistral's `sliding_window`: each position attends to at most this many (itself included).
    public var slidingWindow: Int?
    /// M-RoPE's `mrope_section` (Qwen2-VL, Qwen2.5-VL): how many of the Dh/2 rotary frequencies
    /// follow the time, height and width position; nil for 1-D rotary positions.
    public var mropeSection: [Int]?

    /// The Qwen-VL decoders (`Qwen2VLTextConfig`, `Qwen2_5_VLTextConfig`): Qwen2 with M-RoPE.
    public static let multimodalRopeTypes: Set<String> = ["qwen2_vl_text", "qwen2_5_vl_text"]
    public static let modelTypes: Set<String> = Set(["llama", "mistral", "qwen2"]).union(multimodalRopeTypes)

    enum CodingKeys: String, CodingKey {
        case modelType, vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads
        case numKeyValueHeads, headDim, hiddenAct, maxPositionEmbeddings, rmsNormEps, ropeTheta
        case ropeScaling, ropeParameters, tieWordEmbeddings, attentionBias, mlpBias
        case bosTokenId, eosTokenId, padTokenId, slidingWindow, useSlidingWindow
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
        let mistral = modelType == "mistral", qwenVL = Self.multimodalRopeTypes.contains(modelType)
        let qwen = modelType == "qwen2" || qwenVL
        vocabSize = try c.optional(.vocabSize) ?? (qwenVL ? 152064 : qwen ? 151936 : 32000)
        hiddenSize = try c.optional(.hiddenSize) ?? 4096
        intermediateSize = try c.optional(.intermediateSize) ?? (mistral ? 14336 : qwen ? 22016 : 11008)
        numHiddenLayers = try c.optional(.numHiddenLayers) ?? 32
        numAttentionHeads = try c.optional(.numAttentionHeads) ?? 32
        numKeyValueHeads = try c.optional(.numKeyValueHeads) ?? (mistral ? 8 : numAttentionHeads)
        try Self.check(numAttentionHeads > 0, .numAttentionHeads, "must be positive", c)
        headDim = try c.optional(.headDim) ?? hiddenSize / numAttentionHeads
        hiddenAct = try c.optional(.hiddenAct) ?? "silu"
        maxPositionEmbeddings = try c.optional(.maxPositionEmbeddings) ?? (mistral ? 4096 * 32 : qwen ? 32768 : 2048)
        rmsNormEps = try c.optional(.rmsNormEps) ?? (qwenVL ? 1e-5 : 1e-6)
        tieWordEmbeddings = try c.optional(.tieWordEmbeddings) ?? false
        attentionBias = try c.optional(.attentionBias) ?? false
        qkvBias = qwen || attentionBias
        outputBias = !qwen && attentionBias
        mlpBias = try c.optional(.mlpBias) ?? false
        // Qwen2Config has no default BOS / EOS.
        bosTokenId = try c.optional(.bosTokenId) ?? (c.contains(.bosTokenId) || qwen ? nil : 1)
        eosTokenIds = try TokenIds.decode(c, .eosTokenId) ?? (c.contains(.eosTokenId) || qwen ? [] : [2])
        padTokenId = try c.optional(.padTokenId)
        // null turns the window off; absent means MistralConfig's 4096 (LLaMA has none).
        let window: Int? = try c.optional(.slidingWindow)
        slidingWindow = mistral ? (c.contains(.slidingWindow) ? window : 4096) : nil
        if qwen, try c.optional(.useSlidingWindow) ?? false {
            throw DecodingError.dataCorruptedError(forKey: .useSlidingWindow, in: c,
                debugDescription: "Qwen2's sliding window (per-layer, from max_window_layers) is not supported")
        }

        // RoPE: legacy rope_scaling first (transformers: `rope_scaling or rope_parameters`).
        let topTheta: Double? = try c.optional(.ropeTheta)
        let legacy: RopeParameters? = try c.optional(.ropeScaling)
        let current: RopeParameters? = try c.optional(.ropeParameters)
        let (params, key): (RopeParameters?, CodingKeys) = legacy != nil ? (legacy, .ropeScaling) : (current, .ropeParameters)
        ropeTheta = params?.ropeTheta ?? topTheta ?? 10000
        ropeScaling = try Self.scaling(params, key: key, maxPositions: maxPositionEmbeddings, c)
        // Qwen2VLTextConfig's default section when the checkpoint names none.
        mropeSection = qwenVL ? (params?.mropeSection ?? [16, 24, 24]) : nil
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
