import Foundation
import VidLMJinja
import VidLMMedia
import VidLMModels
import VidLMTensor

/// SmolVLM2 (`SmolVLMForConditionalGeneration`, model_type `smolvlm`) and Idefics3, the same
/// graph: a SigLIP tower per tile or frame → pixel shuffle + linear connector → LLaMA-style
/// decoder (SmolLM2 / LLaMA-3). Images are split into tiles plus a global image, videos sampled
/// as the video processor's `video_sampling` says; the checkpoint's chat template writes the
/// conversation (one with a video uses the processor's own format, as transformers does) and the
/// processor's expansion of `<image>` / `<video>` (tile markers, frame times) follows, as
/// transformers' `SmolVLMProcessor` does.
public struct SmolVLMFamily: VisionLanguageModel {
    public static let modelTypes = ["smolvlm", "idefics3"]

    public let modelType: String
    public let tower: VisionTransformer
    public let connector: PixelShuffleConnector
    public let language: any LanguageModel
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    public let processor: SmolVLMProcessorConfig
    public let prompts: SmolVLMPrompt
    public let imageTokenId: Int
    private let images: SmolVLMImageProcessor
    private let videoFrames: SmolVLMImageProcessor

    public var defaultFrameCount: Int { processor.videoMaxFrames ?? 64 }
    public var frameUse: FrameUse { .clip }
    public var orderSignal: OrderSignal { .frameTimestamps }
    public var captionQuestion: String? { "Describe the video." }

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        let (visionConfig, towerPrefix) = try VisionLoader.visionConfig(from: dir.configData, file: dir.configPath)
        let (textConfig, _) = try LanguageModelLoader.textConfig(from: dir.configData, file: dir.configPath)
        let scale = try dir.int("scale_factor", default: 2)
        guard scale > 0, visionConfig.patchesPerSide % scale == 0 else {
            throw ConfigError(file: dir.configPath, "'scale_factor' (\(scale)) must divide the tower's \(visionConfig.patchesPerSide) patches per side.")
        }
        imageTokenId = try dir.int("image_token_id", default: 128257)
        processor = try SmolVLMProcessorConfig(directory: dir)
        guard processor.image.tileSize == visionConfig.imageSize, processor.video.tileSize == visionConfig.imageSize else {
            throw ConfigError(file: dir.configPath, "the processor's max_image_size (\(processor.image.tileSize)) must equal the vision tower's image_size (\(visionConfig.imageSize)).")
        }
        images = SmolVLMImageProcessor(processor.image)
        videoFrames = SmolVLMImageProcessor(processor.video)
        prompts = SmolVLMPrompt(tokensPerTile: visionConfig.patchesPerSide * visionConfig.patchesPerSide / (scale * scale))
        tokenizer = try dir.tokenizer()
        guard tokenizer.id(forToken: prompts.imageToken) == imageTokenId else {
            throw ConfigError(file: dir.configPath, "'image_token_id' \(imageTokenId) is not the tokenizer's id of \(prompts.imageToken).")
        }
        guard let template = try ChatTemplate.load(directory: dir.url, reader: .processor) else {
            throw ConfigError(file: dir.url.path, "has no chat template (chat_template.json, chat_template.jinja or tokenizer_config.json's chat_template); SmolVLM prompts are written by it.")
        }
        self.template = template
        guard let names = ModelTypes.composites[modelType]?.textWeights else {
            throw ConfigError(file: dir.configPath, "model_type '\(modelType)' has no weight layout in ModelTypes.")
        }
        let store = try WeightStore(directory: dir.url)
        (tower, connector, language) = try WeightBinder.load(store, ignoring: { $0.hasSuffix("rotary_emb.inv_freq") }) { weights in
            let tower = try VisionTransformer(config: visionConfig, weights: weights, prefix: towerPrefix)
            let language = try LanguageModelLoader.build(textConfig, weights: weights, names: names)
            let connector = try PixelShuffleConnector(scaleFactor: scale, visionWidth: visionConfig.hiddenSize,
                                                      textWidth: language.embeddingWidth, weights: weights, prefix: "model.connector.")
            return (tower, connector, language)
        }
    }

    // MARK: Frames

    /// The video processor's rule (`sample_frames`): about `fps` frames a second, at most
    /// `max_frames`, evenly spaced between the first and last frame — one second in from each
    /// end when the clip is long enough — truncated to whole indices. A request's count and rate
    /// replace the checkpoint's maximum and rate; a time range samples at the rate within it.
    public func frameSelection(for clip: ClipInfo, options: FrameOptions) throws -> FrameSelection {
        if clip.kind == .image { return .uniform(count: 1) }
        guard let fps = options.fps ?? processor.videoFPS, let maxFrames = options.count ?? processor.videoMaxFrames else {
            throw EngineError.invalidOption("the checkpoint's video processor has no 'video_sampling' (fps and max_frames); give --fps and --frames")
        }
        if let limit = processor.videoMaxFrames, let asked = options.count, asked > limit {
            throw EngineError.invalidOption("\(modelType) takes at most \(limit) frames per video (video_sampling.max_frames); \(asked) were asked for")
        }
        if options.start != nil || options.end != nil { return .fps(rate: fps, maxFrames: maxFrames) }
        return .indices(Self.sampleIndices(frameCount: clip.frameCount, fps: clip.averageFPS, duration: clip.durationSeconds,
                                           targetFPS: fps, maxFrames: maxFrames))
    }

    /// transformers' `SmolVLMVideoProcessor.sample_frames` (skip_secs = 1), in the same float64
    /// arithmetic as numpy's `linspace(…, dtype=int)`.
    public static func sampleIndices(frameCount: Int, fps: Double, duration: Double, targetFPS: Double, maxFrames: Int,
                                     skipSeconds: Double = 1) -> [Int] {
        guard frameCount > 0 else { return [] }
        let estimated = Int((targetFPS * duration).rounded(.toNearestOrEven))
        let desired = max(1, min(estimated, maxFrames))
        var start = 0, end = frameCount - 1
        if skipSeconds > 0, duration - 2 * skipSeconds > Double(maxFrames) * targetFPS {
            start = Int(skipSeconds * fps)
            end = Int(Double(frameCount) - skipSeconds * fps)
        }
        start = max(0, start)
        end = min(end, frameCount - 1)
        if start >= end { (start, end) = (0, frameCount - 1) }
        var picked: [Int] = []
        if desired == 1 {
            picked = [start]
        } else {
            let step = Double(end - start) / Double(desired - 1)
            for i in 0..<desired { picked.append(i == desired - 1 ? end : Int(Double(i) * step + Double(start))) }
        }
        return Array(Set(picked)).sorted()
    }

    // MARK: Encoding

    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame {
        switch kind {
        case .image:
            let (pixels, rows, cols) = try images.image(frame, split: processor.splitImages)
            return EncodedFrame(features: try encode(pixels: pixels), layout: ["rows": rows, "cols": cols])
        case .video:
            return EncodedFrame(features: try encode(pixels: try videoFrames.frame(frame)))
        }
    }

    /// Video frames per tower pass (images go one by one whatever the Engine gathers).
    public var framesPerEncode: Int { ThreadBudget.visionBatch(tokensPerFrame: tower.config.tokenCount) }

    /// Video frames (one square tile each) through the tower in batches
    /// (`ThreadBudget.visionBatch(tokensPerFrame:)`); images one by one (each has its own tiling).
    public func encode(frames: [RGBImage], kind: MediaKind) throws -> [EncodedFrame] {
        guard kind == .video else { return try frames.map { try encode(frame: $0, kind: kind) } }
        let batch = framesPerEncode
        return try stride(from: 0, to: frames.count, by: batch).flatMap { start -> [EncodedFrame] in
            let group = frames[start..<min(frames.count, start + batch)]
            let pixels = Tensor.concatenate(try group.map { try videoFrames.frame($0) })
            let features = try encode(pixels: pixels)
            return (0..<group.count).map { EncodedFrame(features: features.rows($0..<($0 + 1))) }
        }
    }

    /// The tower's output for tiles or frames [N, 3, S, S] → [N, (S/patch)², D], in vision batches.
    public func encode(pixels: Tensor) throws -> Tensor {
        try tower.inVisionBatches(pixels) { try tower($0).lastHiddenState }
    }

    // MARK: Prompt

    /// What `SmolVLMProcessor.apply_chat_template` renders a conversation holding a video with
    /// (its built-in format, not the checkpoint's template): "<|im_start|>" then per message the
    /// capitalised role, ":" before an image-first message and ": " otherwise, its text and
    /// `<image>` / `<video>` parts, "<end_of_utterance>\n"; then "Assistant:" when generating.
    static let videoConversationTemplate: ChatTemplate? = try? ChatTemplate(source: """
        {{- '<|im_start|>' -}}
        {%- for m in messages -%}
        {%- set parts = m['content'] -%}
        {{- m['role'] | capitalize -}}{{- ':' if parts[0]['type'] == 'image' else ': ' -}}
        {%- for p in parts -%}
        {%- if p['type'] == 'text' -%}{{- p['text'] -}}
        {%- elif p['type'] in ['image', 'video'] -%}{{- '<' ~ p['type'] ~ '>' -}}
        {%- endif -%}
        {%- endfor -%}
        {{- '<end_of_utterance>\n' -}}
        {%- endfor -%}
        {%- if add_generation_prompt -%}{{- 'Assistant:' -}}{%- endif -%}
        """, origin: "SmolVLM's video conversation format")

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        let hasVideo = request.media.contains { $0.kind == .video }
        let chosen = hasVideo ? (Self.videoConversationTemplate ?? template) : template
        let rendered = try chosen.render(request.messages, addGenerationPrompt: request.addGenerationPrompt,
                                         specialTokens: tokenizer.specialTokenStrings)
        // Each <image> / <video> the template wrote takes the next media of the conversation.
        var text = ""
        var rest = Substring(rendered)
        var mediaIndex = 0
        var visual: [Tensor] = []
        var projected: [Tensor] = []
        while let hit = Self.nextMediaToken(in: rest, image: prompts.imageToken, video: prompts.videoToken) {
            text += rest[..<hit.range.lowerBound]
            rest = rest[hit.range.upperBound...]
            guard mediaIndex < request.media.count else {
                throw EngineError.prompt("the chat template wrote more media placeholders than the conversation has media (\(request.media.count))")
            }
            let media = request.media[mediaIndex]
            mediaIndex += 1
            let shuffled = try connector(media.features)   // [N, tokensPerTile, D]
            visual.append(media.features)
            projected.append(shuffled)
            switch media.kind {
            case .image:
                let layout = media.parts.first?.layout ?? [:]
                text += prompts.image(rows: layout["rows"] ?? 0, cols: layout["cols"] ?? 0)
            case .video:
                text += prompts.video(frameSeconds: frameTimes(media, positions: request.framePositions),
                                      durationSeconds: media.durationSeconds)
            }
        }
        text += rest
        guard mediaIndex == request.media.count else {
            throw EngineError.prompt("the conversation has \(request.media.count) media but the chat template placed \(mediaIndex)")
        }
        let ids = tokenizer.encode(text, addSpecialTokens: false)
        let rows = projected.isEmpty ? nil : Tensor.concatenate(projected.map { $0.reshaped([$0.shape[0] * $0.shape[1], $0.shape[2]]) })
        let embeddings: Tensor
        if let rows {
            embeddings = try splice(ids: ids, placeholder: imageTokenId, visual: rows)
        } else {
            embeddings = try language.embed(ids)
        }
        var stages: [String: Tensor] = [:]
        if !visual.isEmpty {
            stages["vision"] = Tensor.concatenate(visual)
            stages["projected"] = Tensor.concatenate(projected)
        }
        return PreparedPrompt(embeddings: embeddings, textIds: ids.filter { $0 != imageTokenId }, inputIds: ids, stages: stages)
    }

    /// Each frame's time as the processor states it: frame index / the clip's average rate
    /// (transformers' `VideoMetadata.timestamps`). The frame-order control gives every frame the
    /// time of the frame named by `positions`.
    private func frameTimes(_ media: EncodedMedia, positions: [Int]?) -> [Double] {
        let times = media.frames.map { frame in media.averageFPS.map { Double(frame.index) / $0 } ?? frame.seconds }
        guard let positions, positions.count == times.count else { return times }
        return positions.map { times[min(max($0, 0), times.count - 1)] }
    }

    private static func nextMediaToken(in s: Substring, image: String, video: String) -> (range: Range<Substring.Index>, isVideo: Bool)? {
        let i = s.range(of: image), v = s.range(of: video)
        switch (i, v) {
        case (nil, nil): return nil
        case (let i?, nil): return (i, false)
        case (nil, let v?): return (v, true)
        case (let i?, let v?): return i.lowerBound < v.lowerBound ? (i, false) : (v, true)
        }
    }
}
