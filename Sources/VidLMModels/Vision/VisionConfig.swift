/// The vision tower's configuration, read from config.json (top level or `vision_config`), with
/// transformers' defaults for absent fields. One struct serves BLIP-2's EVA ViT and CLIP's ViT:
/// `kind` records which layout the weights follow.
public struct VisionConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// BLIP-2 / InstructBLIP EVA ViT: fused qkv with q/v biases, post-norm on all tokens.
        case eva
        /// CLIP ViT: separate q/k/v, `pre_layrnorm`, post-norm on the pooled token only.
        case clip
        /// SigLIP ViT (SigLIP, SmolVLM / Idefics3 towers): no class token, patch bias, CLIP's
        /// q/k/v naming, post-norm on every token.
        case siglip
    }

    public var kind: Kind
    public var modelType: String
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var hiddenAct: String
    public var layerNormEps: Float
    /// EVA only: q and v biases (k has none).
    public var qkvBias: Bool

    /// Every vision model_type a tower can be built from (`ModelTypes.visionTowers`).
    public static var knownModelTypes: Set<String> { Set(ModelTypes.visionTowers.keys) }

    enum CodingKeys: String, CodingKey {
        case modelType, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numChannels
        case imageSize, patchSize, hiddenAct, layerNormEps, qkvBias
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decode(String.self, forKey: .modelType)
        if let known = ModelTypes.visionTowers[modelType] {
            kind = known
        } else {
            throw DecodingError.dataCorruptedError(forKey: .modelType, in: c,
                debugDescription: "unknown vision model_type '\(modelType)'; known: \(Self.knownModelTypes.sorted().joined(separator: ", "))")
        }
        // transformers' defaults per config class (SmolVLM / Idefics3 towers: SigLIP-SO400M width).
        let d: (hidden: Int, inter: Int, layers: Int, heads: Int, patch: Int, act: String, eps: Float)
        switch kind {
        case .eva: d = (1408, 6144, 39, 16, 14, "gelu", 1e-6)
        case .clip: d = (768, 3072, 12, 12, 32, "quick_gelu", 1e-5)
        case .siglip:
            d = modelType.hasPrefix("siglip") ? (768, 3072, 12, 12, 16, "gelu_pytorch_tanh", 1e-6)
                                              : (1152, 3072, 12, 16, 32, "gelu_pytorch_tanh", 1e-6)
        }
        hiddenSize = try c.optional(.hiddenSize) ?? d.hidden
        intermediateSize = try c.optional(.intermediateSize) ?? d.inter
        numHiddenLayers = try c.optional(.numHiddenLayers) ?? d.layers
        numAttentionHeads = try c.optional(.numAttentionHeads) ?? d.heads
        numChannels = try c.optional(.numChannels) ?? 3
        imageSize = try Self.side(c, .imageSize) ?? 224
        patchSize = try Self.side(c, .patchSize) ?? d.patch
        hiddenAct = try c.optional(.hiddenAct) ?? d.act
        layerNormEps = try c.optional(.layerNormEps) ?? d.eps
        qkvBias = try c.optional(.qkvBias) ?? (kind == .eva)
        try validate(c)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numChannels, forKey: .numChannels)
        try c.encode(imageSize, forKey: .imageSize)
        try c.encode(patchSize, forKey: .patchSize)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(layerNormEps, forKey: .layerNormEps)
        try c.encode(qkvBias, forKey: .qkvBias)
    }

    /// transformers accepts an int or a [height, width] pair; vidlm supports square inputs.
    private static func side(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int? {
        if let n = try? c.decodeIfPresent(Int.self, forKey: key) { return n }
        guard let pair = try c.decodeIfPresent([Int].self, forKey: key) else { return nil }
        guard pair.count == 2, pair[0] == pair[1] else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "only square sizes are supported")
        }
        return pair[0]
    }

    private func validate(_ c: KeyedDecodingContainer<CodingKeys>) throws {
        func check(_ ok: Bool, _ key: CodingKeys, _ why: String) throws {
            if !ok { throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why) }
        }
        try check(hiddenSize > 0, .hiddenSize, "must be positive")
        try check(intermediateSize > 0, .intermediateSize, "must be positive")
        try check(numHiddenLayers >= 0, .numHiddenLayers, "must not be negative")
        try check(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0, .numAttentionHeads,
                  "must divide hidden_size \(hiddenSize)")
        try check(patchSize > 0, .patchSize, "must be positive")
        // SigLIP towers publish sizes that are not multiples (SO400M: 384 px in 14 px patches,
        // 27 × 27, as SmolVLM2-2.2B uses): their 'valid' patch convolution drops the remainder.
        // EVA and CLIP checkpoints always divide evenly, so anything else there is a mistake.
        try check(imageSize >= patchSize && (kind == .siglip || imageSize % patchSize == 0), .imageSize,
                  "must be a multiple of patch_size \(patchSize)")
        try check(numChannels > 0, .numChannels, "must be positive")
        try check(Activation(configName: hiddenAct) != nil, .hiddenAct, "unsupported activation '\(hiddenAct)'")
        try check(layerNormEps > 0, .layerNormEps, "must be positive")
    }

    /// Patches per side of the image (a remainder narrower than a patch is not covered).
    public var patchesPerSide: Int { imageSize / patchSize }
    /// Whether the tower prepends a class token (EVA, CLIP; SigLIP has none).
    public var hasClassToken: Bool { kind != .siglip }
    /// Tokens per image, the class token included where there is one.
    public var tokenCount: Int { patchesPerSide * patchesPerSide + (hasClassToken ? 1 : 0) }
}

import VidLMTensor
