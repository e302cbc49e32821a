import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// Qwen3-VL, dense (`Qwen3VLForConditionalGeneration`, model_type `qwen3_vl`): pictures at their
/// own resolution (`smart_resize`) and clips sampled by `Qwen3VLVideoProcessor`'s rule go through
/// the Qwen ViT in its Qwen3 flavour (learned positions interpolated to the grid, LayerNorm +
/// GELU blocks, the 2×2 merger and DeepStack mergers); the checkpoint's chat template writes
/// `<|vision_start|><|image_pad|><|vision_end|>` (or `<|video_pad|>`). A picture's pad becomes its
/// visual tokens; a clip's pad becomes, per frame pair, `<t seconds>` (the pair's mean frame time,
/// one decimal) + `<|vision_start|>` + the pair's tokens + `<|vision_end|>` — inside the template's
/// own vision markers, as `Qwen3VLProcessor` writes it. The Qwen3 decoder runs interleaved M-RoPE
/// positions (`get_rope_index`: each frame pair is its own visual span) and adds the DeepStack
/// features to the visual rows after its first layers (`PreparedPrompt.residuals`).
///
/// Clip frames are kept as decoded by `encode(frames:)`: their size after resizing depends on how
/// many frames the clip has, so resizing and the tower wait for `prepare`.
public struct Qwen3VLFamily: VisionLanguageModel {
    public static let modelTypes = ["qwen3_vl"]

    public let modelType: String
    public let tower: QwenVisionTower
    public let language: any LanguageModel
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    public let images: QwenVLProcessor
    public let videos: QwenVLProcessor
    public let imageToken = "<|image_pad|>", videoToken = "<|video_pad|>"
    public let visionStart = "<|vision_start|>", visionEnd = "<|vision_end|>"
    public let imageTokenId: Int
    public let videoTokenId: Int

    public var defaultFrameCount: Int { 8 }
    public var frameUse: FrameUse { .clip }
    /// The `<t seconds>` before each frame pair (the M-RoPE time axis only orders the spans).
    public var orderSignal: OrderSignal { .frameTimestamps }
    public var captionQuestion: String? { "Describe this video." }

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        let checkpoint = try QwenVLCheckpoint(directory: dir, flavor: .qwen3, textType: "qwen3_vl_text", videoRule: .qwen3,
                                              imageToken: imageToken, videoToken: videoToken)
        (images, videos, tokenizer, template) = (checkpoint.images, checkpoint.videos, checkpoint.tokenizer, checkpoint.template)
        (imageTokenId, videoTokenId) = (checkpoint.imageTokenId, checkpoint.videoTokenId)
        (tower, language) = (checkpoint.tower, checkpoint.language)
        guard tokenizer.id(forToken: visionStart) != nil, tokenizer.id(forToken: visionEnd) != nil else {
            throw ConfigError(file: dir.url.path, "its tokenizer lacks \(visionStart) / \(visionEnd), which frame each clip's frame pairs.")
        }
    }

    // MARK: Frames

    public func frameSelection(for clip: ClipInfo, options: FrameOptions) throws -> FrameSelection {
        if clip.kind == .image { return .uniform(count: 1) }
        if let fps = options.fps, !(fps > 0) { throw EngineError.invalidOption("the sampling rate must be positive, got \(fps) fps") }
        if let count = options.count, count < videos.temporalPatchSize {
            throw EngineError.invalidOption("\(count) frame\(count == 1 ? " was" : "s were") asked for but Qwen3-VL video needs at least \(videos.temporalPatchSize) (one temporal patch)")
        }
        if options.start != nil || options.end != nil {
            return .fps(rate: options.fps ?? videos.fps ?? 2.0, maxFrames: options.count ?? videos.maxFrames)
        }
        return .indices(try videos.sampleIndices(totalFrames: clip.frameCount, clipFPS: clip.averageFPS,
                                                 count: options.count ?? (options.fps == nil ? videos.numFrames : nil), fps: options.fps))
    }

    // MARK: Encoding

    /// A picture → its merged features stacked over its DeepStack features ([1 + L, tokens, D])
    /// with its grid; a clip frame → its decoded RGB bytes (resized in `prepare`, where the
    /// clip's frame count is known).
    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame {
        if kind == .video { return QwenVLProcessor.heldFrame(frame) }
        let (patches, grid) = images.patches(try images.pixels([frame], video: false))
        let (merged, deepstack) = try tower.features(patches, grid: grid)
        return EncodedFrame(features: Self.stack([merged] + deepstack), layout: ["t": grid.t, "h": grid.h, "w": grid.w])
    }

    /// Ready pixels [T, 3, H, W] (T = 1: a picture; more: one clip), checked and kept as they are:
    /// `prepare` runs the tower over them, where their patch grid is known (`vidlm ask --pixels`).
    public func encode(pixels: Tensor) throws -> Tensor {
        try QwenVLProcessor.checkedReadyPixels(pixels, unit: tower.config.patchSize * tower.config.mergeSize)
    }

    /// A clip's decoded frames → its resized, normalised pixels [N, 3, H, W].
    public func clipPixels(_ media: EncodedMedia) throws -> Tensor {
        try videos.clipPixels(media, family: "Qwen3-VL")
    }

    /// A clip's frames → merged features, DeepStack features and grid.
    public func encodeClip(_ media: EncodedMedia) throws -> (features: Tensor, deepstack: [Tensor], grid: PatchGrid) {
        let ready = media.parts.count == 1 ? QwenVLProcessor.readyPixels(media.parts[0]) : nil
        let (patches, grid) = videos.patches(try ready ?? clipPixels(media))
        let (merged, deepstack) = try tower.features(patches, grid: grid)
        return (merged, deepstack, grid)
    }

    /// `Qwen3VLProcessor._calculate_timestamps`: frame index / clip rate (24 where unknown), the
    /// index list padded with its last entry to whole temporal patches, each patch the mean of
    /// its first and last frame's time. `framePositions` (the frame-order control) replaces each
    /// frame by the frame at that position first.
    public func timestamps(_ media: EncodedMedia, framePositions: [Int]? = nil) -> [Double] {
        var indices = media.frames.map(\.index)
        if let p = framePositions, p.count == indices.count {
            indices = p.map { indices[min(max($0, 0), indices.count - 1)] }
        }
        let tp = tower.config.temporalPatchSize
        if let last = indices.last, indices.count % tp != 0 { indices += Array(repeating: last, count: tp - indices.count % tp) }
        let fps = media.averageFPS ?? 24
        let times = indices.map { Double($0) / fps }
        return stride(from: 0, to: times.count, by: tp).map { (times[$0] + times[$0 + tp - 1]) / 2 }
    }

    // MARK: Prompt

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        let m2 = tower.config.mergeSize * tower.config.mergeSize
        var imageRows: [Tensor] = [], videoRows: [Tensor] = []
        var imageStack: [[Tensor]] = [], videoStack: [[Tensor]] = []
        var imageGrids: [PatchGrid] = [], videoGrids: [PatchGrid] = []
        var imageText: [String] = [], videoText: [String] = []
        for media in request.media {
            if media.kind == .video {
                let (features, deepstack, grid) = try encodeClip(media)
                videoRows.append(features); videoStack.append(deepstack)
                // get_rope_index splits a clip's grid into one span per frame pair.
                videoGrids += Array(repeating: PatchGrid(t: 1, h: grid.h, w: grid.w), count: grid.t)
                let perPair = grid.h * grid.w / m2
                let pad = String(repeating: videoToken, count: perPair)
                videoText.append(timestamps(media, framePositions: request.framePositions).prefix(grid.t)
                    .map { String(format: "<%.1f seconds>", $0) + visionStart + pad + visionEnd }.joined())
            } else {
                for part in media.parts {
                    if let ready = QwenVLProcessor.readyPixels(part) {
                        let (patches, grid) = images.patches(ready)
                        let (merged, deepstack) = try tower.features(patches, grid: grid)
                        imageRows.append(merged); imageStack.append(deepstack); imageGrids.append(grid)
                        imageText.append(String(repeating: imageToken, count: merged.shape[0]))
                        continue
                    }
                    guard let t = part.layout["t"], let h = part.layout["h"], let w = part.layout["w"], part.features.rank == 3 else {
                        throw EngineError.prompt("Qwen3-VL picture features need their patch grid (encode frames with the family)")
                    }
                    let layers = (0..<part.features.shape[0]).map { part.features.slice($0) }
                    imageRows.append(layers[0]); imageStack.append(Array(layers.dropFirst()))
                    imageGrids.append(PatchGrid(t: t, h: h, w: w))
                    imageText.append(String(repeating: imageToken, count: layers[0].shape[0]))
                }
            }
        }
        let rendered = try template.render(request.messages, addGenerationPrompt: request.addGenerationPrompt,
                                           specialTokens: tokenizer.specialTokenStrings)
        let text = try expand(rendered, images: imageText, videos: videoText)
        let bos = tokenizer.specialTokenStrings["bos_token"]
        let ids = tokenizer.encode(text, addSpecialTokens: !(bos.map { !$0.isEmpty && text.hasPrefix($0) } ?? false))
        var embeddings = try language.embed(ids.map { $0 == imageTokenId || $0 == videoTokenId ? 0 : $0 })
        let imageAt = ids.indices.filter { ids[$0] == imageTokenId }, videoAt = ids.indices.filter { ids[$0] == videoTokenId }
        for (rows, at) in [(imageRows, imageAt), (videoRows, videoAt)] where !rows.isEmpty || !at.isEmpty {
            guard !rows.isEmpty else { throw EngineError.prompt("the prompt has \(at.count) visual placeholders but no media for them") }
            embeddings = try LlavaNextFamily.place(Tensor.concatenate(rows), into: embeddings, at: at)
        }
        let positions = try QwenRopeIndex.positions(ids: ids, imageTokenId: imageTokenId, videoTokenId: videoTokenId,
                                                    imageGrids: imageGrids, videoGrids: videoGrids, mergeSize: tower.config.mergeSize)
        // DeepStack: layer k's features of every picture and clip, at their rows (transformers joins
        // the image and video features in the visual rows' order; adding by row is the same).
        var residuals: LayerResiduals?
        let depth = tower.config.deepstackIndexes.count
        if depth > 0, !imageRows.isEmpty || !videoRows.isEmpty {
            let layers = (0..<depth).map { k in Tensor.concatenate(imageStack.map { $0[k] } + videoStack.map { $0[k] }) }
            residuals = LayerResiduals(rows: imageAt + videoAt, layers: layers)
        }
        let visual = imageRows + videoRows
        return PreparedPrompt(embeddings: embeddings, positions: .multimodal(positions),
                              textIds: ids.filter { $0 != imageTokenId && $0 != videoTokenId }, inputIds: ids,
                              stages: visual.isEmpty ? [:] : ["projected": Tensor.concatenate(visual)], residuals: residuals)
    }

    /// `rendered` with the i-th `<|image_pad|>` replaced by `images[i]` and the i-th
    /// `<|video_pad|>` by `videos[i]` (each kind in its own order, as the processor replaces them).
    func expand(_ rendered: String, images: [String], videos: [String]) throws -> String {
        var out = "", rest = Substring(rendered)
        var nextImage = 0, nextVideo = 0
        while true {
            let i = rest.range(of: imageToken), v = rest.range(of: videoToken)
            guard let hit = [i, v].compactMap({ $0 }).min(by: { $0.lowerBound < $1.lowerBound }) else { break }
            out += rest[..<hit.lowerBound]
            rest = rest[hit.upperBound...]
            if hit == i {
                guard nextImage < images.count else { throw EngineError.prompt("the prompt holds more \(imageToken) placeholders than the conversation has pictures (\(images.count))") }
                out += images[nextImage]; nextImage += 1
            } else {
                guard nextVideo < videos.count else { throw EngineError.prompt("the prompt holds more \(videoToken) placeholders than the conversation has clips (\(videos.count))") }
                out += videos[nextVideo]; nextVideo += 1
            }
        }
        guard nextImage == images.count, nextVideo == videos.count else {
            throw EngineError.prompt("the chat template placed \(nextImage) picture and \(nextVideo) clip placeholders but the conversation has \(images.count) and \(videos.count)")
        }
        return out + rest
    }

    /// [L, tokens, D] from L tensors [tokens, D].
    static func stack(_ layers: [Tensor]) -> Tensor {
        let merged = Tensor.concatenate(layers)
        return merged.reshaped([layers.count, layers[0].shape[0], layers[0].shape[1]])
    }
}

/// The checkpoint's chat template writes whole conversations (system turn, earlier turns).
extension Qwen3VLFamily: ConversationalModel {}
