import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// BLIP-2 (`Blip2ForConditionalGeneration`, OPT or LLaMA decoder): EVA ViT → Q-Former →
/// `language_projection`. An image model: a clip is answered from its middle frame, or once per
/// sampled frame when more frames are asked for (`FrameUse.singleImage`).
///
/// Prompt, as `Blip2Processor` builds it: `num_query_tokens` copies of the image placeholder
/// (`image_token_index`), then the text "Question: {q} Answer:" tokenized with the tokenizer's
/// special tokens (OPT's BOS); captioning uses no text. The placeholders' embeddings are replaced
/// by the projected queries. Configs without `image_token_index` (older transformers) put the
/// queries before the text embeddings, as those versions did.
public struct Blip2Family: VisionLanguageModel {
    public static let modelTypes = ["blip-2"]
    public static let questionTemplate = "Question: {question} Answer:"

    public let modelType: String
    public let encoder: SingleTowerEncoder
    public let bridge: QFormerBridge
    public let language: any LanguageModel
    public let tokenizer: Tokenizer
    public let imageTokenId: Int?
    public var defaultFrameCount: Int { 1 }
    public var frameUse: FrameUse { .singleImage }
    public var orderSignal: OrderSignal { .none("BLIP-2 answers one image at a time, so frame order cannot matter") }
    public var captionQuestion: String? { nil }

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        imageTokenId = dir.value("image_token_index") == nil ? nil : try dir.int("image_token_index")
        let parts = try QFormerCheckpoint(dir, instructionAware: false)
        (encoder, bridge, language, tokenizer) = (parts.encoder, parts.bridge, parts.language, parts.tokenizer)
    }

    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame { try encoder.encode(frame: frame) }
    public func encode(frames: [RGBImage], kind: MediaKind) throws -> [EncodedFrame] { try encoder.encode(frames: frames) }
    public var framesPerEncode: Int { encoder.framesPerBatch }
    public func encode(pixels: Tensor) throws -> Tensor { try encoder.encode(pixels: pixels) }

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        try buildPrompt(features: request.singleMedia(family: "BLIP-2").features, question: request.lastUserText)
    }

    func buildPrompt(features: Tensor, question: String?) throws -> PreparedPrompt {
        guard features.shape[0] == 1 else {
            throw EngineError.prompt("BLIP-2 takes one image per prompt, got \(features.shape[0]) frames")
        }
        let out = try bridge.images(features)
        let visual = out.projected.reshaped([out.projected.shape[1], out.projected.shape[2]])
        let text = question.map { Self.questionTemplate.replacingOccurrences(of: "{question}", with: $0) } ?? ""
        let textIds = tokenizer.encode(text, addSpecialTokens: true)
        let stages = ["bridge": out.qformer, "projected": out.projected]
        if let imageTokenId {
            let ids = Array(repeating: imageTokenId, count: bridge.numQueryTokens) + textIds
            return PreparedPrompt(embeddings: try splice(ids: ids, placeholder: imageTokenId, visual: visual),
                                  textIds: textIds, inputIds: ids, stages: stages)
        }
        let embeddings = textIds.isEmpty ? visual : Tensor.concatenate([visual, try language.embed(textIds)])
        return PreparedPrompt(embeddings: embeddings, textIds: textIds,
                              inputIds: Array(repeating: -1, count: visual.shape[0]) + textIds, stages: stages)
    }
}
