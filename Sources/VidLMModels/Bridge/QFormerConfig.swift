/// A BERT-style Q-Former's configuration (`Blip2QFormerConfig`, `InstructBlipQFormerConfig`,
/// `InstructBlipVideoQFormerConfig`), with transformers' defaults for absent fields.
public struct QFormerConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var hiddenAct: String
    public var layerNormEps: Float
    /// Layers with `index % crossAttentionFrequency == 0` cross-attend to the vision features.
    public var crossAttentionFrequency: Int
    /// Width of the features cross-attended to (the vision tower's hidden size).
    public var encoderHiddenSize: Int
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    public var padTokenId: Int

    enum CodingKeys: String, CodingKey {
        case hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, hiddenAct, layerNormEps
        case crossAttentionFrequency, encoderHiddenSize, vocabSize, maxPositionEmbeddings, padTokenId
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.optional(.hiddenSize) ?? 768
        numHiddenLayers = try c.optional(.numHiddenLayers) ?? 12
        numAttentionHeads = try c.optional(.numAttentionHeads) ?? 12
        intermediateSize = try c.optional(.intermediateSize) ?? 3072
        hiddenAct = try c.optional(.hiddenAct) ?? "gelu"
        layerNormEps = try c.optional(.layerNormEps) ?? 1e-12
        crossAttentionFrequency = try c.optional(.crossAttentionFrequency) ?? 2
        encoderHiddenSize = try c.optional(.encoderHiddenSize) ?? 1408
        vocabSize = try c.optional(.vocabSize) ?? 30522
        maxPositionEmbeddings = try c.optional(.maxPositionEmbeddings) ?? 512
        padTokenId = try c.optional(.padTokenId) ?? 0
        func check(_ ok: Bool, _ key: CodingKeys, _ why: String) throws {
            if !ok { throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why) }
        }
        try check(hiddenSize > 0, .hiddenSize, "must be positive")
        try check(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0, .numAttentionHeads, "must divide hidden_size \(hiddenSize)")
        try check(numHiddenLayers >= 0, .numHiddenLayers, "must not be negative")
        try check(intermediateSize > 0, .intermediateSize, "must be positive")
        try check(crossAttentionFrequency > 0, .crossAttentionFrequency, "must be at least 1")
        try check(encoderHiddenSize > 0, .encoderHiddenSize, "must be positive")
        try check(Activation(configName: hiddenAct) != nil, .hiddenAct, "unsupported activation '\(hiddenAct)'")
        try check(layerNormEps > 0, .layerNormEps, "must be positive")
    }
}

import VidLMTensor
