import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// Qwen2-VL (`Qwen2VLForConditionalGeneration`, model_type `qwen2_vl`) and Qwen2.5-VL
/// (`Qwen2_5_VLForConditionalGeneration`, `qwen2_5_vl`: RMSNorm + SwiGLU vision blocks, window
/// attention outside `fullatt_block_indexes`, video time positions in real seconds through
/// `second_per_grid_ts` × `tokens_per_second`): pictures at their own
/// resolution (smart_resize) and clips sampled by the video processor's rule go through the Qwen
/// ViT (frame pairs merged by the Conv3d patch embedding, 2×2 patch merger); the checkpoint's
/// chat template writes `<|vision_start|><|image_pad|><|vision_end|>` (or `<|video_pad|>`), each
/// pad expanded to the media's visual tokens; the Qwen2 decoder runs M-RoPE positions (time,
/// height, width) built as `get_rope_index` builds them.
///
/// Clip frames are only preprocessed by `encode(frames:)` (the Engine hands them over in batches
/// that may split a frame pair; with `cap_pixels_per_frame` they are not even resized, as their
/// size depends on the clip's frame count); the tower runs over the whole clip in `prepare`.
public struct QwenVLFamily: VisionLanguageModel {
    public static let modelTypes = ["qwen2_vl", "qwen2_5_vl"]

    public let modelType: String
    public let tower: QwenVisionTower
    public let language: any LanguageModel
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    public let images: QwenVLProcessor
    public let videos: QwenVLProcessor
    public let prompts: LlavaPrompt
    public let imageToken = "<|image_pad|>", videoToken = "<|video_pad|>"
    public let imageTokenId: Int
    public let videoTokenId: Int
    /// Qwen2.5-VL's `vision_config.tokens_per_second` (nil: Qwen2-VL, one time step per frame pair).
    public let tokensPerSecond: Int?

    public var defaultFrameCount: Int { 8 }
    public var frameUse: FrameUse { .clip }
    public var orderSignal: OrderSignal { .rotaryTimePositions }
    public var captionQuestion: String? { "Describe this video." }

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        let qwen2 = modelType == "qwen2_vl"
        let checkpoint = try QwenVLCheckpoint(directory: dir, flavor: qwen2 ? .qwen2 : .qwen2_5,
                                              textType: qwen2 ? "qwen2_vl_text" : "qwen2_5_vl_text", videoRule: .qwen2,
                                              imageToken: imageToken, videoToken: videoToken)
        if qwen2 {
            tokensPerSecond = nil
        } else {
            let tps = checkpoint.visionJSON["tokens_per_second"] as? Int ?? 4
            guard tps > 0 else { throw ConfigError(file: dir.configPath, "'vision_config.tokens_per_second' must be positive.") }
            tokensPerSecond = tps
        }
        (images, videos, tokenizer, template) = (checkpoint.images, checkpoint.videos, checkpoint.tokenizer, checkpoint.template)
        (imageTokenId, videoTokenId) = (checkpoint.imageTokenId, checkpoint.videoTokenId)
        (tower, language) = (checkpoint.tower, checkpoint.language)
        prompts = LlavaPrompt(tokenizer: tokenizer, imageToken: imageToken, imageTokenId: imageTokenId)
    }

    // MARK: Frames

    public func frameSelection(for clip: ClipInfo, options: FrameOptions) throws -> FrameSelection {
        if clip.kind == .image { return .uniform(count: 1) }
        if let fps = options.fps, !(fps > 0) { throw EngineError.invalidOption("the sampling rate must be positive, got \(fps) fps") }
        if options.start != nil || options.end != nil {
            return .fps(rate: options.fps ?? videos.fps ?? 2.0, maxFrames: options.count ?? videos.maxFrames)
        }
        return .indices(try videos.sampleIndices(totalFrames: clip.frameCount, clipFPS: clip.averageFPS,
                                                 count: options.count ?? (options.fps == nil ? videos.numFrames : nil), fps: options.fps))
    }

    // MARK: Encoding

    /// A picture → its merged features [tokens, D] with its grid; a clip frame → its resized,
    /// normalised pixels, or with `cap_pixels_per_frame` its decoded RGB bytes (resized in
    /// `prepare`, where the clip's frame count that shares the video budget is known). The tower
    /// runs over frame pairs in `prepare`.
    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame {
        if kind == .video {
            // cap_pixels_per_frame sizes frames by the clip's frame count: they wait as decoded.
            if videos.capPixelsPerFrame { return QwenVLProcessor.heldFrame(frame) }
            return EncodedFrame(features: try videos.pixels([frame], video: true), layout: ["pixels": 1])
        }
        let (patches, grid) = images.patches(try images.pixels([frame], video: false))
        return EncodedFrame(features: try tower(patches, grid: grid), layout: ["t": grid.t, "h": grid.h, "w": grid.w])
    }

    /// Ready pixels [T, 3, H, W] (T = 1: a picture; more: one clip), checked and kept as they are:
    /// `prepare` runs the tower over them, where their patch grid is known (`vidlm ask --pixels`).
    public func encode(pixels: Tensor) throws -> Tensor {
        try QwenVLProcessor.checkedReadyPixels(pixels, unit: tower.config.patchSize * tower.config.mergeSize)
    }

    /// Merged features and grid of ready pixels [T, 3, H, W].
    func features(ofReady pixels: Tensor) throws -> (features: Tensor, grid: PatchGrid) {
        let (patches, grid) = images.patches(pixels)
        return (try tower(patches, grid: grid), grid)
    }

    /// A clip's frames → its merged features and grid.
    public func encodeClip(_ media: EncodedMedia) throws -> (features: Tensor, grid: PatchGrid) {
        let pixels: Tensor
        if media.parts.count == 1, let ready = QwenVLProcessor.readyPixels(media.parts[0]) {
            pixels = ready
        } else if media.parts.allSatisfy({ $0.layout["pixels"] == 1 }) {
            pixels = Tensor.concatenate(media.parts.map(\.features))
        } else {
            pixels = try videos.clipPixels(media, family: "Qwen-VL")
        }
        let (patches, grid) = videos.patches(pixels)
        return (try tower(patches, grid: grid), grid)
    }

    // MARK: Prompt

    /// Time positions per temporal patch of a clip: 1 (Qwen2-VL), or Qwen2.5-VL's
    /// `tokens_per_second × second_per_grid_t` with second_per_grid_t = temporal_patch_size /
    /// sampled fps (frames used / clip frames × clip fps; 24 where the clip's rate is unknown, as
    /// `VideoMetadata.sampled_fps`), in float32 as the model multiplies it.
    public func timeInterval(_ media: EncodedMedia) -> Float {
        guard let tps = tokensPerSecond else { return 1 }
        var sampled = 24.0
        if let fps = media.averageFPS, media.clipFrameCount > 0 {
            sampled = Double(media.frames.count) / Double(media.clipFrameCount) * fps
        }
        return Float(tps) * Float(Double(tower.config.temporalPatchSize) / sampled)
    }

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        var imageRows: [Tensor] = [], videoRows: [Tensor] = []
        var imageGrids: [PatchGrid] = [], videoGrids: [PatchGrid] = [], intervals: [Float] = []
        var expansions: [(token: String, count: Int)] = []
        for media in request.media {
            if media.kind == .video {
                let (features, grid) = try encodeClip(media)
                videoRows.append(features); videoGrids.append(grid)
                intervals.append(timeInterval(media))
                expansions.append((videoToken, features.shape[0]))
            } else {
                for part in media.parts {
                    if let ready = QwenVLProcessor.readyPixels(part) {
                        let (features, grid) = try features(ofReady: ready)
                        imageRows.append(features); imageGrids.append(grid)
                        expansions.append((imageToken, features.shape[0]))
                        continue
                    }
                    guard let t = part.layout["t"], let h = part.layout["h"], let w = part.layout["w"] else {
                        throw EngineError.prompt("Qwen-VL picture features need their patch grid (encode frames with the family)")
                    }
                    imageRows.append(part.features); imageGrids.append(PatchGrid(t: t, h: h, w: w))
                    expansions.append((imageToken, part.features.shape[0]))
                }
            }
        }
        let rendered = try template.render(request.messages, addGenerationPrompt: request.addGenerationPrompt,
                                           specialTokens: tokenizer.specialTokenStrings)
        let ids = try prompts.ids(rendered: rendered, expansions: expansions)
        var embeddings = try language.embed(ids.map { $0 == imageTokenId || $0 == videoTokenId ? 0 : $0 })
        for (tokenId, rows) in [(imageTokenId, imageRows), (videoTokenId, videoRows)] where !rows.isEmpty {
            embeddings = try LlavaNextFamily.place(Tensor.concatenate(rows), into: embeddings, at: ids.indices.filter { ids[$0] == tokenId })
        }
        let positions = try QwenRopeIndex.positions(ids: ids, imageTokenId: imageTokenId, videoTokenId: videoTokenId,
                                                    imageGrids: imageGrids, videoGrids: videoGrids, mergeSize: tower.config.mergeSize,
                                                    timeIntervals: intervals, temporalPatchSize: tower.config.temporalPatchSize,
                                                    framePositions: request.framePositions)
        let visual = imageRows + videoRows
        return PreparedPrompt(embeddings: embeddings, positions: .multimodal(positions),
                              textIds: ids.filter { $0 != imageTokenId && $0 != videoTokenId }, inputIds: ids,
                              stages: visual.isEmpty ? [:] : ["projected": Tensor.concatenate(visual)])
    }
}

/// transformers' `get_rope_index` for the Qwen-VL line: text runs take consecutive positions on
/// all three axes; a visual run of grid t × h × w (merged h/m × w/m) starts at the current
/// position p — time p + ⌊k · interval⌋ for temporal patch k, height p + row, width p + column —
/// and the text after it continues at p + max(h, w) / m (transformers 5.23's rule).
public enum QwenRopeIndex {
    /// [3][ids.count] positions. `timeIntervals[i]` is the i-th video's time step per temporal
    /// patch (Qwen2.5-VL: second_per_grid_t × tokens_per_second; 1 otherwise). `framePositions`
    /// (the frame-order control) replaces each temporal patch's index with its first frame's
    /// given position divided by the frames per patch.
    public static func positions(ids: [Int], imageTokenId: Int, videoTokenId: Int, imageGrids: [PatchGrid], videoGrids: [PatchGrid],
                                 mergeSize m: Int, timeIntervals: [Float]? = nil, temporalPatchSize: Int = 2,
                                 framePositions: [Int]? = nil) throws -> [[Int]] {
        var axes: [[Int]] = [[], [], []]
        var current = 0, i = 0
        var nextImage = 0, nextVideo = 0
        while i < ids.count {
            let kind = ids[i] == imageTokenId ? 1 : ids[i] == videoTokenId ? 2 : 0
            var j = i
            while j < ids.count && (ids[j] == imageTokenId ? 1 : ids[j] == videoTokenId ? 2 : 0) == kind { j += 1 }
            if kind == 0 {
                for k in 0..<(j - i) { for a in 0..<3 { axes[a].append(current + k) } }
                current += j - i
            } else {
                let isVideo = kind == 2
                let grids = isVideo ? videoGrids : imageGrids
                let index = isVideo ? nextVideo : nextImage
                guard index < grids.count else { throw EngineError.prompt("the prompt has more visual spans than media") }
                let grid = grids[index]
                if isVideo { nextVideo += 1 } else { nextImage += 1 }
                let (lh, lw) = (grid.h / m, grid.w / m)
                guard grid.t * lh * lw == j - i else {
                    throw EngineError.prompt("a visual span of \(j - i) tokens does not match its \(grid.t)×\(lh)×\(lw) grid")
                }
                let interval: Float = isVideo ? (timeIntervals.map { index < $0.count ? $0[index] : 1 } ?? 1) : 1
                for t in 0..<grid.t {
                    var slot = t
                    if isVideo, let fp = framePositions, t * temporalPatchSize < fp.count { slot = fp[t * temporalPatchSize] / temporalPatchSize }
                    let time = Int(Float(slot) * interval) + current
                    for y in 0..<lh { for x in 0..<lw {
                        axes[0].append(time); axes[1].append(current + y); axes[2].append(current + x)
                    } }
                }
                current += max(grid.h, grid.w) / m
            }
            i = j
        }
        return axes
    }
}

/// The checkpoint's chat template writes whole conversations (system turn, earlier turns).
extension QwenVLFamily: ConversationalModel {}
