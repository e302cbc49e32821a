import Foundation
import VidLMTensor

/// A dual-encoder image–text model: CLIP (`model_type` "clip"), SigLIP / SigLIP-2 fixed
/// resolution ("siglip") or SigLIP-2 NaFlex ("siglip2": images at their own aspect ratio, see
/// `NaFlexVisionTower`): an image tower and a text tower, each mapped into one embedding space,
/// and the learned temperature (and SigLIP's bias). Embeddings are L2-normalised as the models'
/// `forward` returns them; `logits` are `logits_per_image`: `exp(logit_scale) · image · textᵀ`
/// (+ `logit_bias` for SigLIP). Probabilities: softmax over the labels (CLIP), an independent
/// sigmoid per label (SigLIP).
public struct ContrastiveModel: Sendable {
    public let modelType: String
    /// The fixed-resolution tower (CLIP, SigLIP); nil for NaFlex.
    public let vision: VisionTransformer?
    /// The NaFlex tower (siglip2), with its pooling head.
    public let naflex: NaFlexVisionTower?
    /// CLIP's `visual_projection` (SigLIP's image embedding is its pooling head's output).
    public let visualProjection: Linear?
    /// SigLIP's attention pooling head (fixed resolution).
    public let visionHead: AttentionPoolingHead?
    public let text: ContrastiveTextTower
    /// CLIP's `text_projection` or SigLIP's `text_model.head`.
    public let textProjection: Linear
    /// `exp(logit_scale)`.
    public let logitScale: Float
    public let logitBias: Float?

    /// model_types this type reads; other vision-language types name what they lack.
    public static let modelTypes = ["clip", "siglip", "siglip2"]

    public var isSigmoid: Bool { logitBias != nil }
    public var embeddingWidth: Int { textProjection.outputWidth }
    /// Whether the image tower is SigLIP-2 NaFlex (pictures as patch sequences at their own aspect ratio).
    public var isNaFlex: Bool { naflex != nil }

    /// Reads config.json and the weights of `directory` (every weight must be used).
    public static func load(directory: URL) throws -> ContrastiveModel {
        let file = directory.appendingPathComponent("config.json").path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(file: file, "not found; a model directory needs config.json.")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError(file: file, "is not a JSON object.")
        }
        let type = object["model_type"] as? String ?? "(none)"
        guard modelTypes.contains(type) else {
            if ModelTypes.visionTowers[type] != nil || ModelTypes.composites[type] != nil {
                throw ConfigError(file: file, "model_type '\(type)' has an image tower but no text tower with a shared embedding space; zero-shot classification and embeddings need a CLIP or SigLIP model (model_type \(modelTypes.joined(separator: ", "))).")
            }
            throw ConfigError(file: file, "model_type '\(type)' is not a CLIP or SigLIP model (\(modelTypes.joined(separator: ", "))).")
        }
        if type == "siglip2" { return try loadNaFlex(directory: directory, object: object, file: file) }
        let siglip = type == "siglip"
        let (visionConfig, visionPrefix) = try VisionLoader.visionConfig(from: data, file: file)
        let textConfig = try Self.textConfig(object, siglip: siglip, file: file)
        let projection = siglip ? textConfig.projectionSize : ((object["projection_dim"] as? NSNumber)?.intValue ?? 512)
        guard projection > 0 else { throw ConfigError(file: file, "'projection_dim' must be positive.") }
        if siglip && projection != visionConfig.hiddenSize {
            throw ConfigError(file: file, "SigLIP's text projection_size (\(projection)) must equal the image tower's width (\(visionConfig.hiddenSize)).")
        }
        let useHead = (object["vision_config"] as? [String: Any])?["vision_use_head"] as? Bool ?? true
        if siglip && !useHead {
            throw ConfigError(file: file, "'vision_config.vision_use_head' is false: the SigLIP image tower has no pooling head, so it has no image embedding.")
        }
        let store = try WeightStore(directory: directory)
        return try WeightBinder.load(store) { weights in
            let vision = try VisionTransformer(config: visionConfig, weights: weights, prefix: visionPrefix)
            let text = try ContrastiveTextTower(config: textConfig, weights: weights, prefix: "text_model.")
            let scale = try weights.take("logit_scale", shape: siglip ? [1] : []).toF32().floats()[0]
            let bias = siglip ? try weights.take("logit_bias", shape: [1]).toF32().floats()[0] : nil
            let head = siglip ? try AttentionPoolingHead(width: visionConfig.hiddenSize, intermediate: visionConfig.intermediateSize,
                                                         heads: visionConfig.numAttentionHeads, eps: visionConfig.layerNormEps,
                                                         activation: Activation(configName: visionConfig.hiddenAct) ?? .geluTanh,
                                                         weights: weights, prefix: visionPrefix + "head.") : nil
            return ContrastiveModel(
                modelType: type, vision: vision, naflex: nil,
                visualProjection: siglip ? nil : try Linear(weights, "visual_projection", input: visionConfig.hiddenSize, output: projection, bias: false, widen: true),
                visionHead: head, text: text,
                textProjection: siglip ? try Linear(weights, "text_model.head", input: textConfig.hiddenSize, output: projection, widen: true)
                                       : try Linear(weights, "text_projection", input: textConfig.hiddenSize, output: projection, bias: false, widen: true),
                logitScale: Float(exp(Double(scale))), logitBias: bias)
        }
    }

    /// A sub-config object decoded as `T` (snake_case keys; errors name `key.field`).
    static func nested<T: Decodable>(_ type: T.Type, _ object: [String: Any], _ key: String, file: String,
                                     userInfo: [CodingUserInfoKey: Any] = [:]) throws -> T {
        if object[key] != nil && !(object[key] is [String: Any]) {
            throw ConfigError(file: file, "'\(key)' must be an object.")
        }
        var sub = object[key] as? [String: Any] ?? [:]
        sub["model_type"] = nil
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            decoder.userInfo = userInfo
            return try decoder.decode(T.self, from: try JSONSerialization.data(withJSONObject: sub))
        } catch let e as DecodingError {
            let message = ConfigError.describe(e)
            throw ConfigError(file: file, message.replacingOccurrences(of: "'", with: "'\(key).", options: [], range: message.range(of: "'")))
        }
    }

    static func textConfig(_ object: [String: Any], siglip: Bool, file: String) throws -> ContrastiveTextConfig {
        try nested(ContrastiveTextConfig.self, object, "text_config", file: file, userInfo: [.siglipText: siglip])
    }

    /// `Siglip2Model` (NaFlex): `vision_model.` with a linear patch embedding, the position grid
    /// and the head; `text_model.` as SigLIP's; `logit_scale`, `logit_bias`.
    static func loadNaFlex(directory: URL, object: [String: Any], file: String) throws -> ContrastiveModel {
        let visionConfig = try nested(NaFlexVisionConfig.self, object, "vision_config", file: file)
        let textConfig = try textConfig(object, siglip: true, file: file)
        guard visionConfig.numChannels == 3 else {
            throw ConfigError(file: file, "'vision_config.num_channels' is \(visionConfig.numChannels); pictures have 3 (RGB).")
        }
        guard visionConfig.visionUseHead else {
            throw ConfigError(file: file, "'vision_config.vision_use_head' is false: the SigLIP image tower has no pooling head, so it has no image embedding.")
        }
        guard textConfig.projectionSize == visionConfig.hiddenSize else {
            throw ConfigError(file: file, "SigLIP's text projection_size (\(textConfig.projectionSize)) must equal the image tower's width (\(visionConfig.hiddenSize)).")
        }
        let store = try WeightStore(directory: directory)
        return try WeightBinder.load(store) { weights in
            let tower = try NaFlexVisionTower(config: visionConfig, weights: weights, prefix: "vision_model.")
            let text = try ContrastiveTextTower(config: textConfig, weights: weights, prefix: "text_model.")
            let scale = try weights.take("logit_scale", shape: [1]).toF32().floats()[0]
            let bias = try weights.take("logit_bias", shape: [1]).toF32().floats()[0]
            return ContrastiveModel(
                modelType: "siglip2", vision: nil, naflex: tower, visualProjection: nil, visionHead: nil, text: text,
                textProjection: try Linear(weights, "text_model.head", input: textConfig.hiddenSize, output: textConfig.projectionSize, widen: true),
                logitScale: Float(exp(Double(scale))), logitBias: bias)
        }
    }

    /// NaFlex pictures (each its patch rows [h·w, 3·p·p] and grid) → normalised image embeddings
    /// [N, P], in the given order; pictures with the same grid go through the tower together.
    public func imageEmbeddings(patches: [(rows: Tensor, height: Int, width: Int)]) throws -> Tensor {
        guard let naflex else { throw VisionError.badInput("this model takes pixel values, not NaFlex patches") }
        let p = embeddingWidth
        var out = [Float](repeating: 0, count: patches.count * p)
        var groups: [[Int]: [Int]] = [:], order: [[Int]] = []
        for (i, item) in patches.enumerated() {
            let key = [item.height, item.width]
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(i)
        }
        for key in order {
            let members = groups[key]!
            let batch = Tensor.concatenate(members.map { patches[$0].rows.reshaped([1] + patches[$0].rows.shape) })
            guard let pooled = try naflex.pooled(batch, height: key[0], width: key[1]) else {
                throw VisionError.badInput("the image tower has no pooling head")
            }
            let rows = Self.normalized(pooled).floats()
            for (k, i) in members.enumerated() { for j in 0..<p { out[i * p + j] = rows[k * p + j] } }
        }
        return Tensor(shape: [patches.count, p], values: out)
    }

    /// Pixel values [N, 3, S, S] → normalised image embeddings [N, P].
    public func imageEmbeddings(_ pixels: Tensor) throws -> Tensor {
        guard let vision else { throw VisionError.badInput("a NaFlex tower takes patches, not fixed-size pixel values") }
        let out = try vision(pixels)
        if let visionHead { return Self.normalized(visionHead(out.lastHiddenState)) }
        guard let visualProjection else { return Self.normalized(out.pooled) }
        return Self.normalized(visualProjection(out.pooled))
    }

    /// The length SigLIP texts are padded to (`padding="max_length", max_length=64`).
    public var paddedTextLength: Int { min(64, text.config.maxPositionEmbeddings) }

    /// The ids the text tower reads for a tokenized text: CLIP's as they are; SigLIP's truncated or
    /// padded with `pad` to 64 (what transformers' zero-shot pipeline and the SigLIP model card
    /// use: `padding="max_length", max_length=64`), on the right, or on the left where
    /// `padLeft` (siglip2's tokenizer). `mask` marks the real tokens (1) and the padding (0).
    public func textInput(_ ids: [Int], pad: Int?, padLeft: Bool = false) -> (ids: [Int], mask: [Int]) {
        guard isSigmoid else { return (ids, Array(repeating: 1, count: ids.count)) }
        let length = paddedTextLength
        let cut = Array(ids.prefix(length))
        let padding = Array(repeating: pad ?? text.config.padTokenId, count: length - cut.count)
        let ones = Array(repeating: 1, count: cut.count), zeros = Array(repeating: 0, count: padding.count)
        return padLeft ? (padding + cut, zeros + ones) : (cut + padding, ones + zeros)
    }

    /// Whether the text tower gets the attention mask, from the model alone: transformers 5.23
    /// passes what the tokenizer returns, and for siglip2 (`Siglip2Tokenizer`) that includes
    /// `attention_mask`. CLIP's causal tower pools at the end-of-text token, before any padding.
    /// For SigLIP (v1) it depends on the tokenizer's `model_input_names`, which `ZeroShot` reads.
    public var masksTextPadding: Bool { isNaFlex }

    /// Token ids of one text (special tokens included) → its normalised embedding [1, P];
    /// `mask` (0 = padding) keeps padding out of the text tower's attention.
    public func textEmbedding(_ ids: [Int], mask: [Int]? = nil) throws -> Tensor {
        let pooled = try text.pooled(ids, keyMask: mask)
        return Self.normalized(textProjection(pooled.reshaped([1, pooled.count])))
    }

    /// `logits_per_image` [N, M] for image embeddings [N, P] and text embeddings [M, P].
    public func logits(images: Tensor, texts: Tensor) -> Tensor {
        let n = images.shape[0], m = texts.shape[0], p = images.shape[1]
        let a = images.floats(), b = texts.floats()
        var out = [Float](repeating: 0, count: n * m)
        for i in 0..<n {
            for j in 0..<m {
                var dot: Float = 0
                for k in 0..<p { dot += a[i * p + k] * b[j * p + k] }
                out[i * m + j] = dot * logitScale + (logitBias ?? 0)
            }
        }
        return Tensor(shape: [n, m], values: out)
    }

    /// Each row's probabilities over the labels (CLIP: softmax; SigLIP: sigmoid of each).
    public func probabilities(_ logits: Tensor) -> Tensor {
        let n = logits.shape[0], m = logits.shape[1]
        var v = logits.floats()
        if isSigmoid { return Tensor(shape: [n, m], values: v.map { 1 / (1 + exp(-$0)) }) }
        for i in 0..<n {
            let row = i * m
            let top = v[row..<row + m].max() ?? 0
            var sum: Float = 0
            for j in 0..<m { v[row + j] = exp(v[row + j] - top); sum += v[row + j] }
            for j in 0..<m { v[row + j] /= sum }
        }
        return Tensor(shape: [n, m], values: v)
    }

    /// Rows divided by their L2 norm.
    public static func normalized(_ x: Tensor) -> Tensor {
        let n = x.shape[0], p = x.shape[1]
        var v = x.floats()
        for i in 0..<n {
            var s: Float = 0
            for k in 0..<p { s += v[i * p + k] * v[i * p + k] }
            let norm = s.squareRoot()
            if norm > 0 { for k in 0..<p { v[i * p + k] /= norm } }
        }
        return Tensor(shape: [n, p], values: v)
    }
}
