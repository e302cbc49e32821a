import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// What the BLIP-2 and InstructBLIP(-Video) families load alike: transformers' layout with
/// `vision_model.*`, `query_tokens`, `qformer.*`, `language_projection.*`, `language_model.*`,
/// the processor's pixel settings and the decoder's tokenizer. Every weight of the checkpoint must be used.
struct QFormerCheckpoint {
    let encoder: SingleTowerEncoder
    let bridge: QFormerBridge
    let language: any LanguageModel
    let tokenizer: Tokenizer

    /// `pixels`: which processor makes the pixel values (InstructBLIP-Video's is a video processor).
    init(_ dir: ModelDirectory, instructionAware: Bool, pixels part: ModelDirectory.ProcessorPart = .image) throws {
        let (visionConfig, visionPrefix) = try VisionLoader.visionConfig(from: dir.configData, file: dir.configPath)
        let qformerConfig = try dir.nested(QFormerConfig.self, "qformer_config")!
        let (textConfig, textPrefix) = try LanguageModelLoader.textConfig(from: dir.configData, file: dir.configPath)
        let queries = try dir.int("num_query_tokens", default: 32)
        guard qformerConfig.encoderHiddenSize == visionConfig.hiddenSize else {
            throw ConfigError(file: dir.configPath, "'qformer_config.encoder_hidden_size' (\(qformerConfig.encoderHiddenSize)) must equal the vision hidden_size (\(visionConfig.hiddenSize)).")
        }
        let pixels = try dir.framePixels(imageSize: visionConfig.imageSize, part: part)
        tokenizer = try dir.tokenizer()
        let store = try WeightStore(directory: dir.url)
        let vision: VisionTransformer
        (vision, bridge, language) = try WeightBinder.load(store, ignoring: { $0.hasSuffix("rotary_emb.inv_freq") }) { weights in
            let vision = try VisionTransformer(config: visionConfig, weights: weights, prefix: visionPrefix)
            let text = try LanguageModelLoader.build(textConfig, weights: weights, prefix: textPrefix)
            let bridge = try QFormerBridge(qformerConfig: qformerConfig, numQueryTokens: queries, textHiddenSize: text.embeddingWidth,
                                           instructionAware: instructionAware, weights: weights)
            return (vision, bridge, text)
        }
        encoder = SingleTowerEncoder(tower: vision, pixels: pixels)
    }
}
