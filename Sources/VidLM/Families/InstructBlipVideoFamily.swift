import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// InstructBLIP-Video (`InstructBlipVideoForConditionalGeneration`, Vicuna/LLaMA decoder): every
/// frame goes through the instruction-aware Q-Former with the question (tokenized by the BERT
/// tokenizer in `qformer_tokenizer/`), the projected queries are concatenated frame-major.
///
/// Prompt, as `InstructBlipVideoProcessor` builds it: `num_query_tokens × frames` copies of the
/// video placeholder (`video_token_index`), then the question tokenized with the tokenizer's
/// special tokens (BOS). (The processor hard-codes 4 frames; the model, and vidlm, use the number
/// of frames given.) Captioning asks `captionQuestion`.
public struct InstructBlipVideoFamily: VisionLanguageModel {
    /// `instructblip` checkpoints (e.g. Salesforce/instructblip-vicuna-7b, which transformers'
    /// InstructBlipVideo documentation runs) use the same weights with `image_token_index`.
    public static let modelTypes = ["instructblipvideo", "instructblip"]

    public let modelType: String
    public let encoder: SingleTowerEncoder
    public let bridge: QFormerBridge
    public let language: any LanguageModel
    public let tokenizer: Tokenizer
    public let qformerTokenizer: Tokenizer
    public let videoTokenId: Int
    public var defaultFrameCount: Int { 4 }
    public var frameUse: FrameUse { .clip }
    public var orderSignal: OrderSignal {
        .none("InstructBLIP-Video encodes each frame separately and concatenates them with no position signal, so only the decoder's positions over the concatenated frames carry order")
    }
    public var captionQuestion: String? { "What is happening in the video?" }

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        videoTokenId = dir.value("video_token_index") != nil || dir.value("image_token_index") == nil
            ? try dir.int("video_token_index") : try dir.int("image_token_index")
        let parts = try QFormerCheckpoint(dir, instructionAware: true, pixels: modelType == "instructblipvideo" ? .video : .image)
        (encoder, bridge, language, tokenizer) = (parts.encoder, parts.bridge, parts.language, parts.tokenizer)
        qformerTokenizer = try dir.tokenizer(subfolder: "qformer_tokenizer")
    }

    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame { try encoder.encode(frame: frame) }
    public func encode(frames: [RGBImage], kind: MediaKind) throws -> [EncodedFrame] { try encoder.encode(frames: frames) }
    public var framesPerEncode: Int { encoder.framesPerBatch }
    public func encode(pixels: Tensor) throws -> Tensor { try encoder.encode(pixels: pixels) }

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        try buildPrompt(features: request.singleMedia(family: "InstructBLIP-Video").features, question: request.lastUserText)
    }

    func buildPrompt(features: Tensor, question: String?) throws -> PreparedPrompt {
        let asked = question ?? captionQuestion ?? ""
        let instruction = qformerTokenizer.encode(asked, addSpecialTokens: true)
        let out = try bridge.video(features, instruction: instruction, instructionMask: Array(repeating: true, count: instruction.count))
        let visual = out.projected.reshaped([out.projected.shape[1], out.projected.shape[2]])
        let textIds = tokenizer.encode(asked, addSpecialTokens: true)
        let ids = Array(repeating: videoTokenId, count: visual.shape[0]) + textIds
        return PreparedPrompt(embeddings: try splice(ids: ids, placeholder: videoTokenId, visual: visual),
                              textIds: textIds, inputIds: ids, stages: ["bridge": out.qformer, "projected": out.projected])
    }
}
