import Foundation
import VidLMTensor

/// A dual-encoder image–text model: CLIP (`model_type` "clip") or SigLIP / SigLIP-2 fixed
/// resolution ("siglip"): an image tower and a text tower, each mapped into one embedding space,
/// and the learned temperature (and SigLIP's bias). Embeddings are L2-normalised as the models'
/// `forward` returns them; `logits` are `logits_per_image`: `exp(logit_scale) · image · textᵀ`
/// (+ `logit_bias` for SigLIP). Probabilities: softmax over the labels (CLIP), an independent
/// sigmoid per label (SigLIP).
public struct ContrastiveModel: Sendable {
    public let modelType: String
    public let vision: VisionTransformer
    /// CLIP's `visual_projection` (SigLIP's image embedding is its pooling head's output).
    public let visualProjection: Linear?
    /// SigLIP's attention pooling head.
    public let visionHead: AttentionPoolingHead?
    public let text: ContrastiveTextTower
    /// CLIP's `text_projection` or SigLIP's `text_model.head`.
    public let textProjection: Linear
    /// `exp(logit_scale)`.
    public let logitScale: Float
    public let logitBias: Float?

    /// model_types this type reads; other vision-language types name what they lack.
    public static let modelTypes = ["clip", "siglip"]

    public var isSigmoid: Bool { logitBias != nil }
    public var embeddingWidth: Int { textProjection.outputWidth }

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
        let siglip = type == "siglip"
        let (visionConfig, visionPrefix) = try VisionLoader.visionConfig(from: data, file: file)
        if object["text_config"] != nil && !(object["text_config"] is [String: Any]) {
            throw ConfigError(file: file, "'text_config' must be an object.")
        }
        var textObject = object["text_config"] as? [String: Any] ?? [:]
        textObject["model_type"] = nil
        let textConfig: ContrastiveTextConfig
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            decoder.userInfo[.siglipText] = siglip
            textConfig = try decoder.decode(ContrastiveTextConfig.self, from: try JSONSerialization.data(withJSONObject: textObject))
        } catch let e as DecodingError {
            let message = ConfigError.describe(e)
            throw ConfigError(file: file, message.replacingOccurrences(of: "'", with: "'text_config.", options: [], range: message.range(of: "'")))
        }
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
                modelType: type, vision: vision,
                visualProjection: siglip ? nil : try Linear(weights, "visual_projection", input: visionConfig.hiddenSize, output: projection, bias: false, widen: true),
                visionHead: head, text: text,
                textProjection: siglip ? try Linear(weights, "text_model.head", input: textConfig.hiddenSize, output: projection, widen: true)
                                       : try Linear(weights, "text_projection", input: textConfig.hiddenSize, output: projection, bias: false, widen: true),
                logitScale: Float(exp(Double(scale))), logitBias: bias)
        }
    }

    /// Pixel values [N, 3, S, S] → normalised image embeddings [N, P].
    public func imageEmbeddings(_ pixels: Tensor) throws -> Tensor {
        let out = try vision(pixels)
        if let visionHead { return Self.normalized(visionHead(out.lastHiddenState)) }
        guard let visualProjection else { return Self.normalized(out.pooled) }
        return Self.normalized(visualProjection(out.pooled))
    }

    /// The ids the text tower reads for a tokenized text: CLIP's as they are; SigLIP's truncated or
    /// padded with `pad` to 64 (what transformers' zero-shot pipeline and the SigLIP model card
    /// use: `padding="max_length", max_length=64`, no attention mask).
    public func textInput(_ ids: [Int], pad: Int?) -> [Int] {
        guard isSigmoid else { return ids }
        let length = min(64, text.config.maxPositionEmbeddings)
        let cut = Array(ids.prefix(length))
        return cut + Array(repeating: pad ?? text.config.padTokenId, count: length - cut.count)
    }

    /// Token ids of one text (special tokens included) → its normalised embedding [1, P].
    public func textEmbedding(_ ids: [Int]) throws -> Tensor {
        let pooled = try text.pooled(ids)
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
