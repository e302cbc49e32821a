import Foundation
import VidLMModels
import VidLMTensor

/// What every Qwen-VL generation reads from its folder the same way: the config's vision and text
/// sections, the image and video processors (checked against the tower's patch geometry), the
/// tokenizer with its media token ids, the processor's chat template, and the tower and decoder
/// weights. The families add what differs (time positions, timestamps, DeepStack).
struct QwenVLCheckpoint {
    /// `vision_config` as written (for fields only one generation reads).
    let visionJSON: [String: Any]
    let visionConfig: QwenVisionConfig
    let images: QwenVLProcessor
    let videos: QwenVLProcessor
    let tokenizer: Tokenizer
    let imageTokenId: Int
    let videoTokenId: Int
    let template: ChatTemplate
    let tower: QwenVisionTower
    let language: any LanguageModel

    init(directory dir: ModelDirectory, flavor: QwenVisionConfig.Flavor, textType: String,
         videoRule: QwenVLProcessor.VideoRule, imageToken: String, videoToken: String) throws {
        guard let root = try? JSONSerialization.jsonObject(with: dir.configData) as? [String: Any] else {
            throw ConfigError(file: dir.configPath, "is not a JSON object.")
        }
        guard let vision = root["vision_config"] as? [String: Any] else {
            throw ConfigError(file: dir.configPath, "has no 'vision_config' object.")
        }
        visionJSON = vision
        let visionConfig = try QwenVisionConfig(vision, flavor: flavor, file: dir.configPath)
        self.visionConfig = visionConfig
        let textConfig = try LanguageModelLoader.separateDecoderConfig(root, type: textType, file: dir.configPath)
        guard let (imageJSON, imageFile) = try dir.processorSettings(.image) else {
            throw ConfigError(file: dir.url.path, "has no image processor settings (processor_config.json or preprocessor_config.json).")
        }
        images = try QwenVLProcessor(json: imageJSON, file: imageFile, video: false, rule: videoRule)
        if let (videoJSON, videoFile) = try dir.processorSettings(.video) {
            videos = try QwenVLProcessor(json: videoJSON, file: videoFile, video: true, rule: videoRule)
        } else {
            // Without video settings transformers builds the video processor from the image ones.
            videos = try QwenVLProcessor(json: imageJSON, file: imageFile, video: true, rule: videoRule)
        }
        for p in [images, videos] where p.patchSize != visionConfig.patchSize || p.mergeSize != visionConfig.mergeSize
            || p.temporalPatchSize != visionConfig.temporalPatchSize {
            throw ConfigError(file: imageFile, "its patch_size / merge_size / temporal_patch_size (\(p.patchSize), \(p.mergeSize), \(p.temporalPatchSize)) differ from the vision tower's (\(visionConfig.patchSize), \(visionConfig.mergeSize), \(visionConfig.temporalPatchSize)).")
        }
        tokenizer = try dir.tokenizer()
        imageTokenId = try dir.int("image_token_id", default: 151655)
        videoTokenId = try dir.int("video_token_id", default: 151656)
        guard tokenizer.id(forToken: imageToken) == imageTokenId, tokenizer.id(forToken: videoToken) == videoTokenId else {
            throw ConfigError(file: dir.configPath, "'image_token_id' / 'video_token_id' (\(imageTokenId), \(videoTokenId)) are not the tokenizer's ids of \(imageToken) and \(videoToken).")
        }
        guard let template = try ChatTemplate.load(directory: dir.url, reader: .processor) else {
            throw ConfigError(file: dir.url.path, "has no chat template (chat_template.json, chat_template.jinja or tokenizer_config.json's chat_template); Qwen-VL prompts are written by it.")
        }
        self.template = template
        let store = try WeightStore(directory: dir.url)
        // transformers 5 saves model.visual. / model.language_model.; published checkpoints visual. / model.
        let names = ModelTypes.textLayout(among: ModelTypes.qwenVLTextLayouts, whereStoreHas: store.contains) ?? ModelTypes.qwenVLTextLayouts[0]
        let nested = names.base == "model.language_model."
        (tower, language) = try WeightBinder.load(store, ignoring: { $0.hasSuffix("rotary_emb.inv_freq") }) { weights in
            let tower = try QwenVisionTower(config: visionConfig, weights: weights, prefix: nested ? "model.visual." : "visual.")
            let language = try LanguageModelLoader.build(.llama(textConfig), weights: weights, names: names)
            return (tower, language)
        }
        guard visionConfig.outputWidth == language.embeddingWidth else {
            throw ConfigError(file: dir.configPath, "the vision merger writes \(visionConfig.outputWidth) features but the decoder takes \(language.embeddingWidth).")
        }
    }
}
