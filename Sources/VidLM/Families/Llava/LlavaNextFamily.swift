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
/// window), Vicuna / LLaMA-2, LLaMA-3. A clip is given as its frames, one image each — except
/// for LLaVA-NeXT-Video (`llava_next_video`), whose frames go through the video processor
/// (resize + centre crop, no tiles), the tower, and a `spatial_pool_stride` average or max pool
/// of each frame's feature grid before the projector, filling the `<video>` placeholder.
public struct LlavaNextFamily: VisionLanguageModel {
    public static let modelTypes = ["llava_next", "llava_next_video"]

    /// LLaVA-NeXT-Video's frame path.
    public struct VideoPath: Sendable {
        public let pixels: TorchvisionImageProcessor
        public let token: String
        public let tokenId: Int
        public let stride: Int
        /// `spatial_pool_mode` "max" (else "average").
        public let maxPool: Bool
    }

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
    public let video: VideoPath?

    public var defaultFrameCount: Int { video == nil ? 4 : 8 }
    public var frameUse: FrameUse { .clip }
    public var orderSignal: OrderSignal {
        .none(video == nil ? "LLaVA-NeXT sees a clip's frames as separate images; only their order in the prompt can tell time"
                           : "LLaVA-NeXT-Video's frames carry no time or position signal beyond their order in the prompt")
    }
    public var captionQuestion: String? { "Describe what you see." }

    /// The default pinpoints of `LlavaNextConfig` (336-pixel tiles).
    static let defaultPinpoints = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        try LlavaSettings.requireSubconfigs(dir)
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
        video = dir.modelType == "llava_next_video" ? try Self.videoPath(dir, tokenizer: tokenizer, images: processor) : nil
        guard let template = try ChatTemplate.load(directory: dir.url, reader: .processor) else {
            throw ConfigError(file: dir.url.path, "has no chat template (chat_template.json, chat_template.jinja or tokenizer_config.json's chat_template); LLaVA-NeXT prompts are written by it.")
        }
        self.template = template
        (tower, projector, language, imageNewline) = try LlavaNextFamily.loadWeights(dir, vision: visionConfig, text: textConfig,
                                                                                    settings: settings)
    }

    /// `spatial_pool_*`, `video_token_index` and the video processor of a LLaVA-NeXT-Video checkpoint.
    static func videoPath(_ dir: ModelDirectory, tokenizer: Tokenizer, images: LlavaProcessorSettings) throws -> VideoPath {
        let mode = try dir.string("spatial_pool_mode", default: "average")
        guard mode == "average" || mode == "max" else {
            throw ConfigError(file: dir.configPath, "'spatial_pool_mode' \"\(mode)\" is not supported (average, max).")
        }
        let stride = try dir.int("spatial_pool_stride", default: 2)
        guard stride > 0 else { throw ConfigError(file: dir.configPath, "'spatial_pool_stride' must be positive.") }
        let tokenId = try dir.value("video_token_index") != nil ? dir.int("video_token_index") : dir.int("video_token_id", default: 32000)
        let token = images.videoToken
        guard tokenizer.id(forToken: token) == tokenId else {
            throw ConfigError(file: dir.configPath, "'video_token_index' \(tokenId) is not the tokenizer's id of \(token).")
        }
        var pixels = images.image
        if let (json, file) = try dir.processorSettings(.video) {
            do {
                pixels = try TorchvisionImageProcessor(try PreprocessConfig.decode(json: json, family: .clip))
            } catch let e as DecodingError {
                throw ConfigError(file: file, ConfigError.describe(e))
            } catch {
                throw ConfigError(file: file, "\(error)")
            }
        }
        return VideoPath(pixels: pixels, token: token, tokenId: tokenId, stride: stride, maxPool: mode == "max")
    }

    // MARK: Encoding

    /// A picture → its tiles' selected features [1 + tiles, rows, D] (base image first), with the
    /// picture's size, which the packing needs. A LLaVA-NeXT-Video frame → [1, rows, D] of the
    /// frame resized and cropped to one tile (pooled in `prepare`).
    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame {
        if kind == .video, let video {
            return EncodedFrame(features: try encode(pixels: try video.pixels.pixels([frame])), layout: ["video": 1])
        }
        let (pixels, _) = try anyRes.tiles(frame)
        return EncodedFrame(features: try encode(pixels: pixels), layout: ["height": frame.height, "width": frame.width])
    }

    public func encode(pixels: Tensor) throws -> Tensor {
        try LlavaFamily.selectedFeatures(tower, settings, pixels)
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

    /// `LlavaNextVideoPooler`: each frame's side × side feature grid [T, side², D] pooled with a
    /// `stride` × `stride` window and stride (average or max; a remainder is dropped) →
    /// [T, (side / stride)², D], row-major.
    public static func spatialPool(_ x: Tensor, stride s: Int, max useMax: Bool) -> Tensor {
        let t = x.shape[0], n = x.shape[1], d = x.shape[2]
        let side = Int(Double(n).squareRoot()), out = side / s
        let v = x.floats()
        var result = [Float](repeating: 0, count: t * out * out * d)
        for f in 0..<t {
            for oy in 0..<out {
                for ox in 0..<out {
                    let dst = ((f * out + oy) * out + ox) * d
                    for c in 0..<d {
                        var acc: Float = useMax ? -.infinity : 0
                        for dy in 0..<s {
                            for dx in 0..<s {
                                let value = v[(f * n + (oy * s + dy) * side + ox * s + dx) * d + c]
                                acc = useMax ? Swift.max(acc, value) : acc + value
                            }
                        }
                        result[dst + c] = useMax ? acc : acc / Float(s * s)
                    }
                }
            }
        }
        return Tensor(shape: [t, out * out, d], values: result)
    }

    // MARK: Prompt

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        if let video { return try prepareWithVideo(request, video) }
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

    /// LLaVA-NeXT-Video: images packed as above into `<image>`, each clip's frames pooled and
    /// projected into its `<video>` (the template writes both).
    private func prepareWithVideo(_ request: PromptRequest, _ video: VideoPath) throws -> PreparedPrompt {
        var imageRows: [Tensor] = [], videoRows: [Tensor] = []
        var expansions: [(token: String, count: Int)] = []
        for media in request.media {
            if media.kind == .video {
                let projected = projector(Self.spatialPool(media.features, stride: video.stride, max: video.maxPool))
                let rows = projected.reshaped([projected.shape[0] * projected.shape[1], projected.shape[2]])
                videoRows.append(rows)
                expansions.append((video.token, rows.shape[0]))
                continue
            }
            for part in media.parts {
                guard let h = part.layout["height"], let w = part.layout["width"], part.features.rank == 3 else {
                    throw EngineError.prompt("LLaVA-NeXT features need the picture's size (encode frames with the family)")
                }
                let rows = try pack(projector(part.features), height: h, width: w)
                imageRows.append(rows)
                expansions.append((processor.imageToken, rows.shape[0]))
            }
        }
        return try prompts.prepared(request.messages, addGenerationPrompt: request.addGenerationPrompt, template: template,
                                    language: language, imageRows: imageRows, videoRows: videoRows, videoTokenId: video.tokenId,
                                    expansions: expansions)
    }

    /// The tower, projector, decoder and `image_newline` of a LLaVA-NeXT-style checkpoint
    /// (LLaVA-NeXT, -NeXT-Video, -OneVision), bound strictly (`WeightBinder`).
    static func loadWeights(_ dir: ModelDirectory, vision visionConfig: VisionConfig, text textConfig: TextConfig,
                            settings: LlavaSettings) throws -> (VisionTransformer, MultiModalProjector, any LanguageModel, Tensor) {
        let store = try WeightStore(directory: dir.url)
        let layout = LlavaSettings.Layout.of(store)
        let newlineName = store.contains("model.image_newline") ? "model.image_newline" : "image_newline"
        return try WeightBinder.load(store, ignoring: layout.isUnused) { weights in
            let tower = try VisionTransformer(config: visionConfig, weights: weights, prefix: layout.tower)
            let language = try LanguageModelLoader.build(textConfig, weights: weights, names: layout.text)
            let projector = try MultiModalProjector(input: visionConfig.hiddenSize * settings.featureLayers.count,
                                                    output: language.embeddingWidth, activation: settings.projectorActivation,
                                                    bias: settings.projectorBias, weights: weights, prefix: layout.projector)
            let newline = try weights.take(newlineName, shape: [language.embeddingWidth]).toF32()
            return (tower, projector, language, newline)
        }
    }

    /// `embeddings` with `rows` written at `positions` (as many as rows).
    static func place(_ rows: Tensor, into embeddings: Tensor, at positions: [Int]) throws -> Tensor {
        guard positions.count == rows.shape[0] else {
            throw EngineError.prompt("the prompt has \(positions.count) placeholders but the media made \(rows.shape[0]) rows")
        }
        let d = embeddings.shape[1]
        var v = embeddings.floats()
        let r = rows.floats()
        for (i, p) in positions.enumerated() { v.replaceSubrange(p * d..<(p + 1) * d, with: r[i * d..<(i + 1) * d]) }
        return Tensor(shape: embeddings.shape, values: v)
    }
}
