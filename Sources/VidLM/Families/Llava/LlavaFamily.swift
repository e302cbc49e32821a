import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// LLaVA-1.5 (`LlavaForConditionalGeneration`, model_type `llava`): a CLIP tower read at
/// `vision_feature_layer` (the penultimate layer by default; several layers concatenated when a
/// list is given), the class token dropped unless the strategy is "full", a two-layer MLP
/// projector, and a LLaMA / Vicuna decoder. Pictures go through the checkpoint's image
/// processor (torchvision resize + centre crop, or padded to a square first with `do_pad`); the
/// chat template writes one `<image>` per picture, which the processor's rule expands to one
/// placeholder per visual row. LLaVA-1.5 has no video input: a clip is given as its frames, one
/// image each, in order (what transformers does with the same frames as separate images).
public struct LlavaFamily: VisionLanguageModel {
    public static let modelTypes = ["llava"]

    public let modelType: String
    public let tower: VisionTransformer
    public let projector: MultiModalProjector
    public let language: any LanguageModel
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    public let settings: LlavaSettings
    public let processor: LlavaProcessorSettings
    public let prompts: LlavaPrompt
    public let layout: LlavaSettings.Layout

    public var defaultFrameCount: Int { 4 }
    public var frameUse: FrameUse { .clip }
    public var orderSignal: OrderSignal { .none("LLaVA-1.5 sees a clip's frames as separate images; only their order in the prompt can tell time") }
    public var captionQuestion: String? { "Describe what you see." }

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        try LlavaSettings.requireSubconfigs(dir)
        let (visionConfig, _) = try VisionLoader.visionConfig(from: dir.configData, file: dir.configPath)
        guard visionConfig.kind == .clip || visionConfig.kind == .siglip else {
            throw ConfigError(file: dir.configPath, "LLaVA reads a CLIP or SigLIP tower; 'vision_config.model_type' is '\(visionConfig.modelType)'.")
        }
        let (textConfig, _) = try LanguageModelLoader.textConfig(from: dir.configData, file: dir.configPath)
        settings = try LlavaSettings(directory: dir, towerLayers: visionConfig.numHiddenLayers)
        if !settings.keepClassToken && !visionConfig.hasClassToken {
            throw ConfigError(file: dir.configPath, "'vision_feature_select_strategy' \"default\" drops a class token the \(visionConfig.modelType) tower does not have; use \"full\".")
        }
        processor = try LlavaProcessorSettings(directory: dir)
        let rows = visionConfig.patchesPerSide * visionConfig.patchesPerSide + (settings.keepClassToken && visionConfig.hasClassToken ? 1 : 0)
        if let counted = processor.processorTokenCount(side: visionConfig.imageSize), counted != rows {
            throw ConfigError(file: dir.url.appendingPathComponent("processor_config.json").path,
                              "its patch_size, num_additional_image_tokens and vision_feature_select_strategy give \(counted) image tokens per picture but the model makes \(rows).")
        }
        tokenizer = try dir.tokenizer()
        guard tokenizer.id(forToken: processor.imageToken) == settings.imageTokenId else {
            throw ConfigError(file: dir.configPath, "'image_token_index' \(settings.imageTokenId) is not the tokenizer's id of \(processor.imageToken).")
        }
        prompts = LlavaPrompt(tokenizer: tokenizer, imageToken: processor.imageToken, imageTokenId: settings.imageTokenId)
        guard let template = try ChatTemplate.load(directory: dir.url, reader: .processor) else {
            throw ConfigError(file: dir.url.path, "has no chat template (chat_template.json, chat_template.jinja or tokenizer_config.json's chat_template); LLaVA prompts are written by it.")
        }
        self.template = template
        let store = try WeightStore(directory: dir.url)
        let layout = LlavaSettings.Layout.of(store)
        self.layout = layout
        let settings = self.settings
        (tower, projector, language) = try WeightBinder.load(store, ignoring: layout.isUnused) { weights in
            let tower = try VisionTransformer(config: visionConfig, weights: weights, prefix: layout.tower)
            let language = try LanguageModelLoader.build(textConfig, weights: weights, names: layout.text)
            let projector = try MultiModalProjector(input: visionConfig.hiddenSize * settings.featureLayers.count,
                                                    output: language.embeddingWidth, activation: settings.projectorActivation,
                                                    bias: settings.projectorBias, weights: weights, prefix: layout.projector)
            return (tower, projector, language)
        }
    }

    // MARK: Encoding

    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame {
        EncodedFrame(features: try encode(pixels: try processor.image.pixels([frame])))
    }

    /// Pixel values [N, 3, S, S] → the selected hidden states [N, rows, D × layers] (before the
    /// projector), as `LlavaModel.get_image_features` selects them.
    public func encode(pixels: Tensor) throws -> Tensor {
        try Self.selectedFeatures(tower, settings, pixels)
    }

    /// `encode(pixels:)` of the LLaVA families sharing one tower (LLaVA, LLaVA-NeXT(-Video),
    /// OneVision), in vision batches: an AnyRes picture is up to ten tiles.
    static func selectedFeatures(_ tower: VisionTransformer, _ settings: LlavaSettings, _ pixels: Tensor) throws -> Tensor {
        let layers = settings.featureLayers
        let skip = settings.keepClassToken || !tower.config.hasClassToken ? 0 : 1
        return try tower.inVisionBatches(pixels) { batch in
            let out = try tower(batch, keepHiddenStates: layers.count > 1, stopAfterLayer: layers.max() ?? 0)
            let states = layers.count == 1 ? [out.lastHiddenState] : layers.map { out.hiddenStates[$0] }
            return joinFeatures(states, dropFirst: skip)
        }
    }

    /// [B, n, d] states → [B, n − dropFirst, d × states.count], each row's states side by side.
    static func joinFeatures(_ states: [Tensor], dropFirst skip: Int) -> Tensor {
        let b = states[0].shape[0], n = states[0].shape[1], d = states[0].shape[2]
        if states.count == 1 && skip == 0 { return states[0] }
        let k = states.count, rows = n - skip
        return Tensor.make(shape: [b, rows, d * k], uninitialized: true) { out in
            for (s, state) in states.enumerated() {
                state.withFloats { src in
                    for bi in 0..<b {
                        for r in 0..<rows {
                            (out.baseAddress! + (bi * rows + r) * d * k + s * d)
                                .update(from: src.baseAddress! + (bi * n + r + skip) * d, count: d)
                        }
                    }
                }
            }
        }
    }

    // MARK: Prompt

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        // One picture per image, one per frame of a clip, in conversation order.
        var pictures: [Tensor] = []
        for media in request.media {
            let f = media.features
            guard f.rank == 3 else { throw EngineError.prompt("LLaVA features must be [pictures, rows, width], got \(f.shape)") }
            for t in 0..<f.shape[0] { pictures.append(f.slice(t)) }
        }
        let messages = LlavaPrompt.framesAsImages(request.messages, frameCounts: request.media.map { $0.features.shape[0] })
        let rendered = try template.render(messages, addGenerationPrompt: request.addGenerationPrompt,
                                           specialTokens: tokenizer.specialTokenStrings)
        let ids = try prompts.ids(rendered: rendered, counts: pictures.map { $0.shape[0] })
        guard !pictures.isEmpty else {
            return PreparedPrompt(embeddings: try language.embed(ids), textIds: ids, inputIds: ids, stages: [:])
        }
        let vision = Tensor.concatenate(pictures)          // [V, D]
        let projected = projector(vision)
        let embeddings = try splice(ids: ids, placeholder: settings.imageTokenId, visual: projected)
        return PreparedPrompt(embeddings: embeddings, textIds: ids.filter { $0 != settings.imageTokenId }, inputIds: ids,
                              stages: ["vision": vision, "projected": projected])
    }
}
