import Foundation
import VidLMTensor

/// A dual-encoder image–text model (CLIP, `model_type` "clip"): an image tower and a text tower,
/// each with a projection into one embedding space, and the learned temperature. Embeddings are
/// L2-normalised as `CLIPModel.forward` returns them; `logits` are `exp(logit_scale) · image ·
/// textᵀ` (`logits_per_image`).
public struct ContrastiveModel: Sendable {
    public let modelType: String
    public let vision: VisionTransformer
    public let visualProjection: Linear
    public let text: CLIPTextTower
    public let textProjection: Linear
    /// `exp(logit_scale)`.
    public let logitScale: Float

    /// model_types this type reads; other vision-language types name what they lack.
    public static let modelTypes = ["clip"]

    public var embeddingWidth: Int { visualProjection.outputWidth }

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
                throw ConfigError(file: file, "model_type '\(type)' has an image tower but no text tower with a shared embedding space; zero-shot classification and embeddings need a CLIP model (model_type \(modelTypes.joined(separator: ", "))).")
            }
            throw ConfigError(file: file, "model_type '\(type)' is not a CLIP model (\(modelTypes.joined(separator: ", "))).")
        }
        let (visionConfig, visionPrefix) = try VisionLoader.visionConfig(from: data, file: file)
        var textObject = object["text_config"] as? [String: Any] ?? [:]
        if object["text_config"] != nil && !(object["text_config"] is [String: Any]) {
            throw ConfigError(file: file, "'text_config' must be an object.")
        }
        textObject["model_type"] = nil
        let textConfig: CLIPTextConfig
        do {
            textConfig = try ConfigError.decode(CLIPTextConfig.self, from: try JSONSerialization.data(withJSONObject: textObject), file: file)
        } catch let e as ConfigError {
            throw ConfigError(file: file, e.message.replacingOccurrences(of: "'", with: "'text_config.", options: [], range: e.message.range(of: "'")))
        }
        let projection = (object["projection_dim"] as? NSNumber)?.intValue ?? 512
        guard projection > 0 else { throw ConfigError(file: file, "'projection_dim' must be positive.") }
        let store = try WeightStore(directory: directory)
        return try WeightBinder.load(store) { weights in
            let vision = try VisionTransformer(config: visionConfig, weights: weights, prefix: visionPrefix)
            let text = try CLIPTextTower(config: textConfig, weights: weights, prefix: "text_model.")
            let scale = try weights.take("logit_scale", shape: []).toF32().floats()[0]
            return ContrastiveModel(
                modelType: type, vision: vision,
                visualProjection: try Linear(weights, "visual_projection", input: visionConfig.hiddenSize, output: projection, bias: false, widen: true),
                text: text,
                textProjection: try Linear(weights, "text_projection", input: textConfig.hiddenSize, output: projection, bias: false, widen: true),
                logitScale: Float(exp(Double(scale))))
        }
    }

    /// Pixel values [N, 3, S, S] → normalised image embeddings [N, P].
    public func imageEmbeddings(_ pixels: Tensor) throws -> Tensor {
        Self.normalized(visualProjection(try vision(pixels).pooled))
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
                out[i * m + j] = dot * logitScale
            }
        }
        return Tensor(shape: [n, m], values: out)
    }

    /// Each row's probabilities over the labels (CLIP: softmax).
    public func probabilities(_ logits: Tensor) -> Tensor {
        let n = logits.shape[0], m = logits.shape[1]
        var v = logits.floats()
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
