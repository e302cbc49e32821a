import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// LLaVA-NeXT / 1.6 (`LlavaNextForConditionalGeneration`, model_type `llava_next`): LLaVA-1.5's
/// tower, feature selection and projector over AnyRes tiles. Each picture is cut into the tiles
/// of its best `image_grid_pinpoints` resolution plus a squashed base image; the tiles' features
/// are laid back into one grid, the rows and columns that only covered padding are removed
/// (`unpad_image`), `image_newline` ends every row, and the base image's features come first —
/// the exact count `LlavaNextProcessor` expands `<image>` to. Decoders: Mistral (sliding
/// window), Vicuna / LLaMA-2, LLaMA-3. A clip is given as its frames, one image each.
public struct LlavaNextFamily: VisionLanguageModel {
    public static let modelTypes = ["llava_next"]

    public let modelType: String
    public let tower: VisionTransformer
    public let projector: MultiModalProjector
    public let imageNewline: Tensor
    public let language: any LanguageModel
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    public let settings: LlavaSettings
    public let processor: LlavaProcessorSettings
    public let anyRes: AnyResImageProcessor
    /// The model's `image_grid_pinpoints` (the grid its features are laid out by).
    public let pinpoints: [[Int]]
    public let prompts: LlavaPrompt

    public var defaultFrameCount: Int { 4 }
    public var frameUse: FrameUse { .clip }
    public var orderSignal: OrderSignal { .none("LLaVA-NeXT sees a clip's frames as separate images; only their order in the prompt can tell time") }
    public var captionQuestion: String? { "Describe what you see." }

    /// The default pinpoints of `LlavaNextConfig` (336-pixel tiles).
    static let defaultPinpoints = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        let (visionConfig, _) = try VisionLoader.visionConfig(from: dir.configData, file: dir.configPath)
        let (textConfig, _) = try LanguageModelLoader.textConfig(from: dir.configData, file: dir.configPath)
        settings = try LlavaSettings(directory: dir, towerLayers: visionConfig.numHiddenLayers)
        if !settings.keepClassToken && !visionConfig.hasClassToken {
            throw ConfigError(file: dir.configPath, "'vision_feature_select_strategy' \"default\" drops a class token the \(visionConfig.modelType) tower does not have; use \"full\".")
        }
        pinpoints = try LlavaProcessorSettings.pinpoints(dir.value("image_grid_pinpoints"), key: "image_grid_pinpoints", file: dir.configPath)
            ?? Self.defaultPinpoints
        processor = try LlavaProcessorSettings(directory: dir, padToSquare: false)
        let processorPinpoints = processor.gridPinpoints ?? Self.defaultPinpoints
        guard processorPinpoints == pinpoints else {
            throw ConfigError(file: processor.imageFile, "its image_grid_pinpoints \(processorPinpoints) differ from config.json's \(pinpoints); the processor would cut a grid the model does not lay out.")
        }
        anyRes = try AnyResImageProcessor(pixels: processor.image, pinpoints: pinpoints, file: processor.imageFile)
        guard anyRes.tile == visionConfig.imageSize else {
            throw ConfigError(file: processor.imageFile, "its tiles are \(anyRes.tile) pixels but the vision tower takes \(visionConfig.imageSize).")
        }
        tokenizer = try dir.tokenizer()
        guard tokenizer.id(forToken: processor.imageToken) == settings.imageTokenId else {
            throw ConfigError(file: dir.configPath, "'image_token_index' \(settings.imageTokenId) is not the tokenizer's id of \(processor.imageToken).")
        }
        prompts = LlavaPrompt(tokenizer: tokenizer, imageToken: processor.imageToken, imageTokenId: settings.imageTokenId)
        guard let template = try ChatTemplate.load(directory: dir.url, reader: .processor) else {
            throw ConfigError(file: dir.url.path, "has no chat template (chat_template.json, chat_template.jinja or tokenizer_config.json's chat_template); LLaVA-NeXT prompts are written by it.")
        }
        self.template = template
        let store = try WeightStore(directory: dir.url)
        let layout = LlavaSettings.Layout.of(store)
        let newlineName = store.contains("model.image_newline") ? "model.image_newline" : "image_newline"
        let settings = self.settings
        (tower, projector, language, imageNewline) = try WeightBinder.load(store, ignoring: { $0.hasSuffix("rotary_emb.inv_freq") }) { weights in
            let tower = try VisionTransformer(config: visionConfig, weights: weights, prefix: layout.tower)
            let language = try LanguageModelLoader.build(textConfig, weights: weights, names: layout.text)
            let projector = try MultiModalProjector(input: visionConfig.hiddenSize * settings.featureLayers.count,
                                                    output: language.embeddingWidth, activation: settings.projectorActivation,
                                                    bias: settings.projectorBias, weights: weights, prefix: layout.projector)
            let newline = try weights.take(newlineName, shape: [language.embeddingWidth]).toF32()
            return (tower, projector, language, newline)
        }
    }

    // MARK: Encoding

    /// A picture → its tiles' selected features [1 + tiles, rows, D] (base image first), with the
    /// picture's size, which the packing needs.
    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame {
        let (pixels, _) = try anyRes.tiles(frame)
        return EncodedFrame(features: try encode(pixels: pixels), layout: ["height": frame.height, "width": frame.width])
    }

    public func encode(pixels: Tensor) throws -> Tensor {
        let layers = settings.featureLayers
        let out = try tower(pixels, keepHiddenStates: layers.count > 1, stopAfterLayer: layers.max() ?? 0)
        let states = layers.count == 1 ? [out.lastHiddenState] : layers.map { out.hiddenStates[$0] }
        return LlavaFamily.joinFeatures(states, dropFirst: settings.keepClassToken || !tower.config.hasClassToken ? 0 : 1)
    }

    /// Projected tile features [1 + tiles, rows, D] of a `height` × `width` picture → its packed
    /// rows [L, D] (`pack_image_features`).
    public func pack(_ projected: Tensor, height: Int, width: Int) throws -> Tensor {
        let side = tower.config.patchesPerSide
        let best = AnyResImageProcessor.bestResolution(height: height, width: width, pinpoints: pinpoints)
        let gridH = best.height / tower.config.imageSize, gridW = best.width / tower.config.imageSize
        let d = projected.shape[2], perTile = projected.shape[1]
        guard projected.shape[0] == 1 + gridH * gridW, perTile == side * side else {
            throw EngineError.prompt("a \(width)x\(height) picture needs 1 + \(gridH * gridW) tiles of \(side * side) features for its \(gridH)x\(gridW) grid, got \(projected.shape)")
        }
        let rows = Self.unpaddedRange(count: gridH * side, other: gridW * side, original: height, originalOther: width, alongHeight: true)
        let cols = Self.unpaddedRange(count: gridW * side, other: gridH * side, original: width, originalOther: height, alongHeight: false)
        let total = perTile + rows.count * (cols.count + 1)
        let src = projected.floats(), newline = imageNewline.floats()
        var out = [Float](repeating: 0, count: total * d)
        out.replaceSubrange(0..<perTile * d, with: src[0..<perTile * d])
        var at = perTile
        for y in rows {
            for x in cols {
                let tileIndex = 1 + (y / side) * gridW + x / side
                let from = (tileIndex * perTile + (y % side) * side + x % side) * d
                out.replaceSubrange(at * d..<(at + 1) * d, with: src[from..<from + d])
                at += 1
            }
            out.replaceSubrange(at * d..<(at + 1) * d, with: newline)
            at += 1
        }
        return Tensor(shape: [total, d], values: out)
    }

    /// `unpad_image` along one axis of a feature grid (`count` along it, `other` across it) for a
    /// picture whose size is `original` along it and `originalOther` across: the rows (or
    /// columns) that hold picture, the padding bands removed from both ends. Only the axis the
    /// picture did not fill is trimmed.
    static func unpaddedRange(count: Int, other: Int, original: Int, originalOther: Int, alongHeight: Bool) -> Range<Int> {
        // transformers compares width/height aspect ratios of the picture and the grid.
        let (oh, ow) = alongHeight ? (original, originalOther) : (originalOther, original)
        let (ch, cw) = alongHeight ? (count, other) : (other, count)
        let pictureWider = Double(ow) / Double(oh) > Double(cw) / Double(ch)
        guard pictureWider == alongHeight else { return 0..<count }
        let scale = alongHeight ? Double(cw) / Double(ow) : Double(ch) / Double(oh)
        let kept = Int(roundedTo7(Double(original) * scale))
        let padding = (count - kept) / 2
        return padding..<(count - padding)
    }

    /// Python's `round(x, 7)` for the magnitudes here (a few hundred at most).
    static func roundedTo7(_ x: Double) -> Double { (x * 1e7).rounded(.toNearestOrEven) / 1e7 }

    // MARK: Prompt

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        var packed: [Tensor] = [], vision: [Tensor] = []
        for media in request.media {
            for part in media.parts {
                guard let h = part.layout["height"], let w = part.layout["width"], part.features.rank == 3 else {
                    throw EngineError.prompt("LLaVA-NeXT features need the picture's size (encode frames with the family)")
                }
                vision.append(part.features)
                packed.append(try pack(projector(part.features), height: h, width: w))
            }
        }
        let frameCounts = request.media.map { $0.parts.count }
        let messages = LlavaPrompt.framesAsImages(request.messages, frameCounts: frameCounts)
        let rendered = try template.render(messages, addGenerationPrompt: request.addGenerationPrompt,
                                           specialTokens: tokenizer.specialTokenStrings)
        let ids = try prompts.ids(rendered: rendered, counts: packed.map { $0.shape[0] })
        guard !packed.isEmpty else {
            return PreparedPrompt(embeddings: try language.embed(ids), textIds: ids, inputIds: ids, stages: [:])
        }
        let projected = Tensor.concatenate(packed)
        let embeddings = try splice(ids: ids, placeholder: settings.imageTokenId, visual: projected)
        return PreparedPrompt(embeddings: embeddings, textIds: ids.filter { $0 != settings.imageTokenId }, inputIds: ids,
                              stages: ["vision": Tensor.concatenate(vision.map { $0.reshaped([$0.shape[0] * $0.shape[1], $0.shape[2]]) }),
                                       "projected": projected])
    }
}
