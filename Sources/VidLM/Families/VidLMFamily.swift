import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// The `vidlm` family (ours): vision → token merger → (optional per-frame image Q-Former, the
/// Video-LLaMA layout) → frame positions → video Q-Former → `llama_proj` → LLaMA-style decoder.
/// Layout and rules: `tools/reference/vidlm_model.py`; Video-LLaMA checkpoints are converted into
/// it by `tools/convert/video_llama.py`.
///
/// Decoder input: BOS, the Qv visual rows, then `prompt_template` with the question, tokenized
/// without special tokens; a template holding `{visual}` puts the visual rows there (BOS, text
/// before, visual rows, text after). Captioning asks `caption_question`.
public struct VidLMFamily: VisionLanguageModel {
    public static let modelTypes = ["vidlm"]

    public let modelType: String
    public let encoder: SingleTowerEncoder
    public let bridge: VidLMBridge
    public let language: any LanguageModel
    public let tokenizer: Tokenizer
    public let defaultFrameCount: Int
    public let promptTemplate: String
    public let captionQuestion: String?
    public let bosTokenId: Int
    public var frameUse: FrameUse { .clip }
    public var orderSignal: OrderSignal { .framePositions }

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        let visionConfig = try dir.nested(VisionConfig.self, "vision_config")!
        let mergerConfig = try MergerConfig.fromModelConfig(dir.configData, file: dir.configPath)
        let qformerConfig = try dir.nested(QFormerConfig.self, "video_qformer_config")!
        // The Video-LLaMA layout's per-frame image Q-Former.
        let imageConfig = try dir.nested(QFormerConfig.self, "qformer_config", required: false)
        let imageQueries = try dir.int("num_query_tokens", default: 32)
        let (textConfig, textPrefix) = try LanguageModelLoader.textConfig(from: dir.configData, file: dir.configPath)
        guard case .llama(let llama) = textConfig else {
            throw ConfigError(file: dir.configPath, "'text_config.model_type' must be 'llama' for the vidlm family.")
        }
        let queries = try dir.int("num_video_query_tokens", default: 32)
        let maxFramePos = try dir.int("max_frame_pos", default: 32)
        defaultFrameCount = try dir.int("num_frames", default: 8)
        guard queries > 0, maxFramePos > 0, defaultFrameCount > 0 else {
            throw ConfigError(file: dir.configPath, "'num_video_query_tokens', 'max_frame_pos' and 'num_frames' must be positive.")
        }
        promptTemplate = try dir.string("prompt_template", default: "question: {question} answer:")
        guard promptTemplate.contains("{question}") else {
            throw ConfigError(file: dir.configPath, "'prompt_template' must contain {question}.")
        }
        captionQuestion = try dir.string("caption_question", default: "what happens?")
        guard let bos = llama.bosTokenId else {
            throw ConfigError(file: dir.configPath, "'text_config.bos_token_id' is missing; the vidlm prompt starts with BOS.")
        }
        bosTokenId = bos
        // vidlm's own checkpoints are trained and checked (tools/train, tools/reference) with
        // Pillow's resampling, whatever class their preprocessor config names.
        let pixels = FramePixels.pillow(try dir.preprocessConfig(imageSize: visionConfig.imageSize))
        tokenizer = try dir.tokenizer()
        let store = try WeightStore(directory: dir.url)
        let vision: VisionTransformer
        (vision, bridge, language) = try WeightBinder.load(store, ignoring: { $0.hasSuffix("rotary_emb.inv_freq") }) { weights in
            let vision = try VisionTransformer(config: visionConfig, weights: weights, prefix: "vision_model.")
            let merger = try TokenMerger(config: mergerConfig, vision: visionConfig, weights: weights, prefix: "merger.")
            let video = try VideoQFormer(qformerConfig: qformerConfig, numQueryTokens: queries, maxFramePositions: maxFramePos,
                                         outputWidth: llama.hiddenSize, weights: weights)
            let image = try imageConfig.map { try VidLMBridge.ImageQFormer(config: $0, queries: imageQueries, weights: weights) }
            let bridge = try VidLMBridge(merger: merger, imageQFormer: image, video: video)
            let language = try LanguageModelLoader.build(textConfig, weights: weights, prefix: textPrefix)
            return (vision, bridge, language)
        }
        encoder = SingleTowerEncoder(tower: vision, pixels: pixels)
    }

    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame { try encoder.encode(frame: frame) }
    public func encode(frames: [RGBImage], kind: MediaKind) throws -> [EncodedFrame] { try encoder.encode(frames: frames) }
    public var framesPerEncode: Int { encoder.framesPerBatch }
    public func encode(pixels: Tensor) throws -> Tensor { try encoder.encode(pixels: pixels) }

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        try buildPrompt(features: request.singleMedia(family: "vidlm").features, question: request.lastUserText,
                        framePositions: request.framePositions)
    }

    /// The template's text before and after the visual rows, with the question filled in.
    func promptParts(question: String) -> (before: String, after: String) {
        guard let r = promptTemplate.range(of: "{visual}") else {
            return ("", promptTemplate.replacingOccurrences(of: "{question}", with: question))
        }
        return (String(promptTemplate[..<r.lowerBound]),
                String(promptTemplate[r.upperBound...]).replacingOccurrences(of: "{question}", with: question))
    }

    func buildPrompt(features: Tensor, question: String?, framePositions: [Int]?) throws -> PreparedPrompt {
        let out = try bridge(features, framePositions: framePositions)
        let asked = question ?? captionQuestion ?? ""
        let (before, after) = promptParts(question: asked)
        let head = [bosTokenId] + (before.isEmpty ? [] : tokenizer.encode(before, addSpecialTokens: false))
        let ids = tokenizer.encode(after, addSpecialTokens: false)
        let visual = out.projected.reshaped([out.projected.shape[1], out.projected.shape[2]])
        let embeddings = Tensor.concatenate([try language.embed(head), visual] + (ids.isEmpty ? [] : [try language.embed(ids)]))
        return PreparedPrompt(embeddings: embeddings, textIds: head + ids,
                              inputIds: head + Array(repeating: -1, count: visual.shape[0]) + ids,
                              stages: ["merged": out.merged.tokens, "bridge": out.hidden, "projected": out.projected])
    }
}
