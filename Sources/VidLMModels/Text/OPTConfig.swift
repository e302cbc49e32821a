import VidLMTensor

/// An OPT decoder's configuration from config.json (top level, or BLIP-2's `text_config`), with
/// transformers' `OPTConfig` defaults for absent fields.
public struct OPTConfig: Decodable, Sendable, Equatable {
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var ffnDim: Int
    public var maxPositionEmbeddings: Int
    /// Pre-LN layers (125m, 1.3b, …) when true; post-LN (350m) when false.
    public var doLayerNormBefore: Bool
    /// transformers' `_remove_final_layer_norm` (old checkpoints without `decoder.final_layer_norm`).
    public var removeFinalLayerNorm: Bool
    /// Width of the token embeddings and the LM head; `project_in`/`project_out` map between it
    /// and `hidden_size` when they differ.
    public var wordEmbedProjDim: Int
    public var numAttentionHeads: Int
    public var activationFunction: String
    public var enableBias: Bool
    public var layerNormElementwiseAffine: Bool
    public var tieWordEmbeddings: Bool
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var padTokenId: Int?
    /// `nn.LayerNorm`'s default; OPT does not configure it.
    public let layerNormEps: Float = 1e-5

    public static let modelTypes: Set<String> = ["opt"]
    /// transformers' `OPTLearnedPositionalEmbedding.offset`.
    public static let positionOffset = 2

    enum CodingKeys: String, CodingKey {
        case modelType, vocabSize, hiddenSize, numHiddenLayers, ffnDim, maxPositionEmbeddings
        case doLayerNormBefore, _removeFinalLayerNorm, wordEmbedProjDim, numAttentionHeads
        case activationFunction, enableBias, layerNormElementwiseAffine, tieWordEmbeddings
        case bosTokenId, eosTokenId, padTokenId
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.optional(.modelType) ?? "opt"
        guard Self.modelTypes.contains(modelType) else {
            throw DecodingError.dataCorruptedError(forKey: .modelType, in: c,
                debugDescription: "'\(modelType)' is not an OPT model type (\(Self.modelTypes.sorted().joined(separator: ", ")))")
        }
        vocabSize = try c.optional(.vocabSize) ?? 50272
        hiddenSize = try c.optional(.hiddenSize) ?? 768
        numHiddenLayers = try c.optional(.numHiddenLayers) ?? 12
        ffnDim = try c.optional(.ffnDim) ?? 3072
        maxPositionEmbeddings = try c.optional(.maxPositionEmbeddings) ?? 2048
        doLayerNormBefore = try c.optional(.doLayerNormBefore) ?? true
        removeFinalLayerNorm = try c.optional(._removeFinalLayerNorm) ?? false
        wordEmbedProjDim = try c.optional(.wordEmbedProjDim) ?? hiddenSize
        numAttentionHeads = try c.optional(.numAttentionHeads) ?? 12
        activationFunction = try c.optional(.activationFunction) ?? "relu"
        enableBias = try c.optional(.enableBias) ?? true
        layerNormElementwiseAffine = try c.optional(.layerNormElementwiseAffine) ?? true
        tieWordEmbeddings = try c.optional(.tieWordEmbeddings) ?? true
        bosTokenId = try c.optional(.bosTokenId) ?? (c.contains(.bosTokenId) ? nil : 2)
        eosTokenIds = try TokenIds.decode(c, .eosTokenId) ?? (c.contains(.eosTokenId) ? [] : [2])
        padTokenId = try c.optional(.padTokenId) ?? (c.contains(.padTokenId) ? nil : 1)

        func check(_ ok: Bool, _ key: CodingKeys, _ why: String) throws {
            if !ok { throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why) }
        }
        try check(vocabSize > 0, .vocabSize, "must be positive")
        try check(hiddenSize > 0, .hiddenSize, "must be positive")
        try check(numHiddenLayers >= 0, .numHiddenLayers, "must not be negative")
        try check(ffnDim > 0, .ffnDim, "must be positive")
        try check(maxPositionEmbeddings > 0, .maxPositionEmbeddings, "must be positive")
        try check(wordEmbedProjDim > 0, .wordEmbedProjDim, "must be positive")
        try check(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0, .numAttentionHeads,
                  "must divide hidden_size \(hiddenSize)")
        try check(Activation(configName: activationFunction) != nil, .activationFunction,
                  "unsupported activation '\(activationFunction)'")
    }

    public var headDim: Int { hiddenSize / numAttentionHeads }
    /// The decoder has `final_layer_norm` (pre-LN models that did not remove it).
    public var hasFinalLayerNorm: Bool { doLayerNormBefore && !removeFinalLayerNorm }
    public var hasProjections: Bool { wordEmbedProjDim != hiddenSize }
}
