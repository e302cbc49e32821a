import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// Video-LLaVA (`VideoLlavaForConditionalGeneration`, model_type `video_llava`): two CLIP towers
/// of one config — `image_tower` for pictures, `video_tower` for a clip's frames — read at
/// `vision_feature_layer`, one MLP projector, a LLaMA / Vicuna decoder. Images drop the class
/// token under the "default" strategy; video frames always keep it (8 frames × 257 tokens for
/// the published checkpoint), as transformers does. `<image>` and `<video>` are expanded as
/// `VideoLlavaProcessor` does. Its image processor is transformers' slow, Pillow-based
/// `VideoLlavaImageProcessor` (`ImagePreprocessor` reproduces it); its video processor the
/// torchvision one.
public struct VideoLlavaFamily: VisionLanguageModel {
    public static let modelTypes = ["video_llava"]

    public let modelType: String
    public let imageTower: VisionTransformer
    public let videoTower: VisionTransformer
    public let projector: MultiModalProjector
    public let language: any LanguageModel
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    public let settings: LlavaSettings
    public let processor: LlavaProcessorSettings
    public let imagePreprocessor: ImagePreprocessor
    public let videoPixels: TorchvisionImageProcessor
    public let videoTokenId: Int
    public let prompts: LlavaPrompt

    public var defaultFrameCount: Int { 8 }
    public var frameUse: FrameUse { .clip }
    public var orderSignal: OrderSignal { .none("Video-LLaVA's frames carry no time or position signal beyond their order in the prompt") }
    public var captionQuestion: String? { "Describe what you see." }

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        try LlavaSettings.requireSubconfigs(dir)
        let (visionConfig, _) = try VisionLoader.visionConfig(from: dir.configData, file: dir.configPath)
        let (textConfig, _) = try LanguageModelLoader.textConfig(from: dir.configData, file: dir.configPath)
        settings = try LlavaSettings(directory: dir, towerLayers: visionConfig.numHiddenLayers)
        guard visionConfig.hasClassToken else {
            throw ConfigError(file: dir.configPath, "Video-LLaVA's towers are CLIP towers with a class token; 'vision_config.model_type' is '\(visionConfig.modelType)'.")
        }
        processor = try LlavaProcessorSettings(directory: dir, padToSquare: false)
        do { imagePreprocessor = try ImagePreprocessor(processor.image.config) } catch {
            throw ConfigError(file: processor.imageFile, "\(error)")
        }
        var video = processor.image
        if let (json, file) = try dir.processorSettings(.video) {
            do { video = try TorchvisionImageProcessor(try PreprocessConfig.decode(json: json, family: .clip)) } catch let e as DecodingError {
                throw ConfigError(file: file, ConfigError.describe(e))
            } catch { throw ConfigError(file: file, "\(error)") }
        }
        videoPixels = video
        tokenizer = try dir.tokenizer()
        guard tokenizer.id(forToken: processor.imageToken) == settings.imageTokenId else {
            throw ConfigError(file: dir.configPath, "'image_token_index' \(settings.imageTokenId) is not the tokenizer's id of \(processor.imageToken).")
        }
        videoTokenId = try dir.value("video_token_index") != nil ? dir.int("video_token_index") : dir.int("video_token_id", default: 32001)
        guard tokenizer.id(forToken: processor.videoToken) == videoTokenId else {
            throw ConfigError(file: dir.configPath, "'video_token_index' \(videoTokenId) is not the tokenizer's id of \(processor.videoToken).")
        }
        prompts = LlavaPrompt(tokenizer: tokenizer, imageToken: processor.imageToken, imageTokenId: settings.imageTokenId)
        guard let template = try ChatTemplate.load(directory: dir.url, reader: .processor) else {
            throw ConfigError(file: dir.url.path, "has no chat template (chat_template.json, chat_template.jinja or tokenizer_config.json's chat_template); Video-LLaVA prompts are written by it.")
        }
        self.template = template
        let store = try WeightStore(directory: dir.url)
        func towerPrefix(_ name: String) -> String {
            [name + ".vision_model.", name + ".", "model." + name + ".vision_model.", "model." + name + "."]
                .first { store.contains($0 + "embeddings.patch_embedding.weight") } ?? name + "."
        }
        let layout = LlavaSettings.Layout.of(store)
        let (imagePrefix, videoPrefix) = (towerPrefix("image_tower"), towerPrefix("video_tower"))
        let settings = self.settings
        (imageTower, videoTower, projector, language) = try WeightBinder.load(store, ignoring: { $0.hasSuffix("rotary_emb.inv_freq") }) { weights in
            let image = try VisionTransformer(config: visionConfig, weights: weights, prefix: imagePrefix)
            let video = try VisionTransformer(config: visionConfig, weights: weights, prefix: videoPrefix)
            let language = try LanguageModelLoader.build(textConfig, weights: weights, names: layout.text)
            let projector = try MultiModalProjector(input: visionConfig.hiddenSize * settings.featureLayers.count,
                                                    output: language.embeddingWidth, activation: settings.projectorActivation,
                                                    bias: settings.projectorBias, weights: weights, prefix: layout.projector)
            return (image, video, projector, language)
        }
    }

    // MARK: Encoding

    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame {
        if kind == .video {
            return EncodedFrame(features: try features(videoTower, try videoPixels.pixels([frame]), dropClass: false), layout: ["video": 1])
        }
        return EncodedFrame(features: try encode(pixels: try imagePixels([frame])))
    }

    /// Pictures → pixel values [N, 3, S, S] as `VideoLlavaImageProcessor` makes them.
    public func imagePixels(_ pictures: [RGBImage]) throws -> Tensor {
        let p = try imagePreprocessor.preprocess(pictures)
        return Tensor(shape: p.shape, values: p.values)
    }

    /// Pictures through the image tower (the class token dropped under "default").
    public func encode(pixels: Tensor) throws -> Tensor {
        try features(imageTower, pixels, dropClass: !settings.keepClassToken)
    }

    /// Frames [T, 3, S, S] through the video tower: [T, 1 + patches, D].
    public func encodeVideo(pixels: Tensor) throws -> Tensor { try features(videoTower, pixels, dropClass: false) }

    private func features(_ tower: VisionTransformer, _ pixels: Tensor, dropClass: Bool) throws -> Tensor {
        let layers = settings.featureLayers
        let out = try tower(pixels, keepHiddenStates: layers.count > 1, stopAfterLayer: layers.max() ?? 0)
        let states = layers.count == 1 ? [out.lastHiddenState] : layers.map { out.hiddenStates[$0] }
        return LlavaFamily.joinFeatures(states, dropFirst: dropClass ? 1 : 0)
    }

    // MARK: Prompt

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        var imageRows: [Tensor] = [], videoRows: [Tensor] = []
        var expansions: [(token: String, count: Int)] = []
        for media in request.media {
            let f = media.features
            guard f.rank == 3 else { throw EngineError.prompt("Video-LLaVA features must be [frames, rows, width], got \(f.shape)") }
            let projected = projector(f)
            let rows = projected.reshaped([projected.shape[0] * projected.shape[1], projected.shape[2]])
            if media.kind == .video {
                videoRows.append(rows)
                expansions.append((processor.videoToken, rows.shape[0]))
            } else {
                imageRows.append(rows)
                expansions.append((processor.imageToken, rows.shape[0]))
            }
        }
        return try prompts.prepared(request.messages, addGenerationPrompt: request.addGenerationPrompt, template: template,
                                    language: language, imageRows: imageRows, videoRows: videoRows, videoTokenId: videoTokenId,
                                    expansions: expansions)
    }
}
