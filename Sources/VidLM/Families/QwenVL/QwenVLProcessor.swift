import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// The pixel side of transformers' `Qwen2VLImageProcessor` / `Qwen2VLVideoProcessor` (torchvision
/// backends; Qwen2.5-VL uses the same classes): `smart_resize` to multiples of patch × merge
/// within `min_pixels` … `max_pixels`, torchvision's antialiased uint8 resize, rescale and
/// normalise, then the patch layout the tower reads — per temporal patch, each 2×2 merge block's
/// four patches consecutive, each patch channel × time × row × column. A still image is repeated
/// to fill the temporal patch; a clip with an odd frame count repeats its last frame.
///
/// `rule` .qwen3 reads a `Qwen3VLVideoProcessor` instead: its defaults (16 px patches, mean and
/// std 0.5, fps 2, 768 tokens a frame), its `smart_resize` that weighs the frame count against
/// `max_pixels` (and enlarges frames smaller than patch × merge), its per-frame cap and its
/// sampling (`linspace` over the clip, not a fixed stride).
public struct QwenVLProcessor: Sendable {
    /// Which processor's rules apply to clips: `Qwen2VLVideoProcessor` (Qwen2-VL, Qwen2.5-VL) or
    /// `Qwen3VLVideoProcessor` (Qwen3-VL). Pictures follow `Qwen2VLImageProcessor` either way.
    public enum VideoRule: Sendable, Equatable { case qwen2, qwen3 }

    public let rule: VideoRule
    public let minPixels: Int
    public let maxPixels: Int
    public let patchSize: Int
    public let temporalPatchSize: Int
    public let mergeSize: Int
    public let resample: ResampleFilter
    public let mean: [Double]
    public let std: [Double]
    public let rescaleFactor: Double
    /// Video sampling (`Qwen2VLVideoProcessor` attributes): fps (nil: not set), min/max frames.
    public let fps: Double?
    public let numFrames: Int?
    public let minFrames: Int
    public let maxFrames: Int
    /// `cap_pixels_per_frame` / `max_video_tokens`: bound a clip's total pixels.
    public let capPixelsPerFrame: Bool
    public let maxVideoTokens: Int

    public var factor: Int { patchSize * mergeSize }

    /// Reads a processor section (transformers 5's nested `image_processor` / `video_processor` or
    /// a published `preprocessor_config.json`); absent fields take the class defaults.
    public init(json: Data, file: String, video: Bool, rule: VideoRule = .qwen2) throws {
        self.rule = rule
        let qwen3Video = video && rule == .qwen3
        guard let o = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw ConfigError(file: file, "is not a JSON object.")
        }
        func int(_ key: String) throws -> Int? {
            guard let raw = o[key], !(raw is NSNull) else { return nil }
            guard let n = raw as? Int, n > 0 else { throw ConfigError(file: file, "'\(key)' must be a positive integer.") }
            return n
        }
        func double(_ key: String) throws -> Double? {
            guard let raw = o[key], !(raw is NSNull) else { return nil }
            guard let n = (raw as? Double) ?? (raw as? Int).map(Double.init) else { throw ConfigError(file: file, "'\(key)' must be a number.") }
            return n
        }
        let size = o["size"] as? [String: Any]
        // `min_pixels` / `max_pixels` win over `size`, as the processors' __init__ does.
        minPixels = try int("min_pixels") ?? (size?["shortest_edge"] as? Int) ?? (qwen3Video ? 128 * 32 * 32 : video ? 128 * 28 * 28 : 56 * 56)
        maxPixels = try int("max_pixels") ?? (size?["longest_edge"] as? Int) ?? (qwen3Video ? 32 * 32 * 768 : video ? 28 * 28 * 768 : 28 * 28 * 1280)
        guard minPixels > 0, maxPixels >= minPixels else {
            throw ConfigError(file: file, "max_pixels (\(maxPixels)) must be at least min_pixels (\(minPixels)).")
        }
        patchSize = try int("patch_size") ?? (qwen3Video ? 16 : 14)
        temporalPatchSize = try int("temporal_patch_size") ?? 2
        mergeSize = try int("merge_size") ?? 2
        let code = try int("resample") ?? ResampleFilter.bicubic.rawValue
        guard let filter = ResampleFilter(rawValue: code) else { throw ConfigError(file: file, "'resample' \(code) is not a PIL filter.") }
        resample = filter
        mean = (o["image_mean"] as? [Double]) ?? (qwen3Video ? [0.5, 0.5, 0.5] : PreprocessConfig.openAIClipMean)
        std = (o["image_std"] as? [Double]) ?? (qwen3Video ? [0.5, 0.5, 0.5] : PreprocessConfig.openAIClipStd)
        guard mean.count == 3, std.count == 3 else { throw ConfigError(file: file, "'image_mean' and 'image_std' need three values.") }
        rescaleFactor = try double("rescale_factor") ?? 1.0 / 255.0
        fps = try double("fps") ?? (qwen3Video ? 2 : nil)
        if let fps, !(fps > 0) || !fps.isFinite { throw ConfigError(file: file, "'fps' must be positive, got \(fps).") }
        numFrames = try int("num_frames")
        minFrames = try int("min_frames") ?? 4
        maxFrames = try int("max_frames") ?? 768
        capPixelsPerFrame = o["cap_pixels_per_frame"] as? Bool ?? false
        maxVideoTokens = try int("max_video_tokens") ?? (qwen3Video ? 768 : 128000)
    }

    /// transformers' `smart_resize` (Python's round-half-even, floor and ceil in float64). A side
    /// shorter than the factor is no error (transformers 5 dropped that check): it rounds to 0 or
    /// one factor, and the `min_pixels` branch enlarges the picture.
    public static func smartResize(height: Int, width: Int, factor: Int, minPixels: Int, maxPixels: Int) throws -> (height: Int, width: Int) {
        guard height > 0, width > 0 else { throw EngineError.invalidOption("a \(width)x\(height) picture has no pixels") }
        let (h, w, f) = (Double(height), Double(width), Double(factor))
        guard max(h, w) / min(h, w) <= 200 else {
            throw EngineError.invalidOption("a \(width)x\(height) picture's aspect ratio is above 200, which Qwen-VL processors refuse")
        }
        var hBar = Int((h / f).rounded(.toNearestOrEven)) * factor
        var wBar = Int((w / f).rounded(.toNearestOrEven)) * factor
        if hBar * wBar > maxPixels {
            let beta = (h * w / Double(maxPixels)).squareRoot()
            hBar = max(factor, Int((h / beta / f).rounded(.down)) * factor)
            wBar = max(factor, Int((w / beta / f).rounded(.down)) * factor)
        } else if hBar * wBar < minPixels {
            let beta = (Double(minPixels) / (h * w)).squareRoot()
            hBar = Int((h * beta / f).rounded(.up)) * factor
            wBar = Int((w * beta / f).rounded(.up)) * factor
        }
        return (hBar, wBar)
    }

    /// `Qwen3VLVideoProcessor`'s `smart_resize`: the clip's frame count (rounded to the temporal
    /// patch) times the frame area is held within `minPixels` … `maxPixels`; frames smaller than
    /// the factor are first enlarged (truncated to whole pixels), as transformers does.
    public static func smartResize(frames: Int, height: Int, width: Int, temporalFactor: Int, factor: Int,
                                   minPixels: Int, maxPixels: Int) throws -> (height: Int, width: Int) {
        guard frames >= temporalFactor else {
            throw EngineError.invalidOption("the clip gives \(frames) frame\(frames == 1 ? "" : "s") but Qwen3-VL video needs at least \(temporalFactor) (one temporal patch)")
        }
        guard height > 0, width > 0 else { throw EngineError.invalidOption("a \(width)x\(height) frame has no pixels") }
        var (h, w) = (Double(height), Double(width))
        let f = Double(factor)
        if height < factor || width < factor {
            let scale = max(f / h, f / w)
            (h, w) = ((h * scale).rounded(.towardZero), (w * scale).rounded(.towardZero))
        }
        guard max(h, w) / min(h, w) <= 200 else {
            throw EngineError.invalidOption("a \(width)x\(height) frame's aspect ratio is above 200, which Qwen-VL processors refuse")
        }
        var hBar = Int((h / f).rounded(.toNearestOrEven)) * factor
        var wBar = Int((w / f).rounded(.toNearestOrEven)) * factor
        let tBar = Int((Double(frames) / Double(temporalFactor)).rounded(.toNearestOrEven)) * temporalFactor
        let t = Double(frames)
        if tBar * hBar * wBar > maxPixels {
            let beta = (t * h * w / Double(maxPixels)).squareRoot()
            hBar = max(factor, Int((h / beta / f).rounded(.down)) * factor)
            wBar = max(factor, Int((w / beta / f).rounded(.down)) * factor)
        } else if tBar * hBar * wBar < minPixels {
            let beta = (Double(minPixels) / (t * h * w)).squareRoot()
            hBar = Int((h * beta / f).rounded(.up)) * factor
            wBar = Int((w * beta / f).rounded(.up)) * factor
        }
        return (hBar, wBar)
    }

    /// The frames' size after resizing (the first frame's size decides, as for a batched clip).
    public func targetSize(height: Int, width: Int, frames: Int, video: Bool) throws -> (height: Int, width: Int) {
        if video && rule == .qwen3 {
            var limit = maxPixels
            if capPixelsPerFrame {
                // Qwen3VLVideoProcessor.resize: per-frame pixels capped at max_video_tokens patches or
                // the budget's even share, at least 1.05 × min_pixels; the budget is that × frames.
                let perFrame = max(min(maxVideoTokens * factor * factor, maxPixels / max(frames, 1)), Int(Double(minPixels) * 1.05))
                limit = perFrame * frames
            }
            return try Self.smartResize(frames: frames, height: height, width: width, temporalFactor: temporalPatchSize, factor: factor,
                                        minPixels: minPixels, maxPixels: limit)
        }
        var limit = maxPixels
        if video && capPixelsPerFrame {
            let total = Int(Double(maxVideoTokens * factor * factor) * 0.9)
            limit = max(min(maxPixels, total * temporalPatchSize / max(frames, 1)), Int(Double(minPixels) * 1.05))
        }
        return try Self.smartResize(height: height, width: width, factor: factor, minPixels: minPixels, maxPixels: limit)
    }

    /// Resized, normalised frames [N, 3, H, W] of one size.
    public func pixels(_ frames: [RGBImage], video: Bool) throws -> Tensor {
        guard let first = frames.first else { throw PreprocessError.noFrames }
        let (h, w) = try targetSize(height: first.height, width: first.width, frames: frames.count, video: video)
        let config = PreprocessConfig(doResize: true, size: .heightWidth(height: h, width: w), resample: resample,
                                      doRescale: true, rescaleFactor: rescaleFactor, doNormalize: true, imageMean: mean, imageStd: std,
                                      doConvertRGB: true)
        return try TorchvisionImageProcessor(config).pixels(frames)
    }

    /// Normalised frames [N, 3, H, W] → the tower's patches [t·h·w, 3·T·P·P] and their grid.
    /// One frame (a still image) fills every temporal slot; an odd count repeats the last frame.
    public func patches(_ pixels: Tensor) -> (patches: Tensor, grid: PatchGrid) {
        let n = pixels.shape[0], c = pixels.shape[1], height = pixels.shape[2], width = pixels.shape[3]
        let tp = temporalPatchSize, p = patchSize, m = mergeSize
        let t = n == 1 ? 1 : (n + tp - 1) / tp
        let gh = height / p, gw = width / p
        let grid = PatchGrid(t: t, h: gh, w: gw)
        let rowWidth = c * tp * p * p
        let src = pixels.floats()
        var out = [Float](repeating: 0, count: grid.patches * rowWidth)
        var row = 0
        for ti in 0..<t {
            for by in 0..<(gh / m) { for bx in 0..<(gw / m) { for iy in 0..<m { for ix in 0..<m {
                let (py, px) = (by * m + iy, bx * m + ix)
                var o = row * rowWidth
                for ch in 0..<c {
                    for k in 0..<tp {
                        let frame = min(n == 1 ? 0 : ti * tp + k, n - 1)
                        for y in 0..<p {
                            let base = ((frame * c + ch) * height + py * p + y) * width + px * p
                            for x in 0..<p { out[o] = src[base + x]; o += 1 }
                        }
                    }
                }
                row += 1
            } } } }
        }
        return (Tensor(shape: [grid.patches, rowWidth], values: out), grid)
    }

    /// `Qwen2VLVideoProcessor.sample_frames`: `count` frames (rounded to the temporal patch), or
    /// `fps` frames a second within `min_frames` … `max_frames` (and the clip), floored to a
    /// multiple of the temporal patch; indices `arange(0, total, total / n)` truncated.
    public func sampleIndices(totalFrames: Int, clipFPS: Double, count: Int?, fps requested: Double?) throws -> [Int] {
        let tp = temporalPatchSize
        guard totalFrames >= 2 else {
            throw EngineError.invalidOption("the clip has \(totalFrames) frame\(totalFrames == 1 ? "" : "s"); Qwen-VL video needs at least two")
        }
        if rule == .qwen3 { return try qwen3Indices(totalFrames: totalFrames, clipFPS: clipFPS, count: count, fps: requested) }
        var n: Int
        if let count {
            n = Int((Double(count) / Double(tp)).rounded(.toNearestOrEven)) * tp
        } else {
            let rate = requested ?? fps ?? 2.0
            guard rate > 0, rate.isFinite else { throw EngineError.invalidOption("the sampling rate must be positive, got \(rate) fps") }
            guard clipFPS > 0 else { throw EngineError.invalidOption("the clip's frame rate is unknown, so it cannot be sampled at \(rate) fps; give --frames") }
            let most = (min(maxFrames, totalFrames) / tp) * tp
            var wanted = Double(totalFrames) / clipFPS * rate
            wanted = min(max(wanted, Double(minFrames)), Double(most), Double(totalFrames))
            n = Int((wanted / Double(tp)).rounded(.down)) * tp
        }
        guard n >= 1 else { throw EngineError.invalidOption("the clip would be sampled to no frames (\(totalFrames) frames in all)") }
        guard n <= totalFrames else {
            throw EngineError.invalidOption("\(n) frames were asked for but the clip has \(totalFrames)")
        }
        let step = Double(totalFrames) / Double(n)
        let count = Int((Double(totalFrames) / step).rounded(.up))
        return (0..<count).map { Int(Float(Double($0) * step)) }
    }

    /// `Qwen3VLVideoProcessor.sample_frames`: `count` frames, or ⌊duration × fps⌋ within
    /// `min_frames` … `max_frames` and the clip (any count: an odd one is padded with the last
    /// frame later); indices numpy's `linspace(0, total − 1, n)` rounded half to even. A clip
    /// whose rate is unknown counts as 24 fps, as transformers does.
    func qwen3Indices(totalFrames: Int, clipFPS: Double, count: Int?, fps requested: Double?) throws -> [Int] {
        var n: Int
        if let count {
            n = count
        } else {
            let rate = requested ?? fps ?? 2.0
            guard rate > 0, rate.isFinite else { throw EngineError.invalidOption("the sampling rate must be positive, got \(rate) fps") }
            let clipRate = clipFPS > 0 ? clipFPS : 24
            n = Int(Double(totalFrames) / clipRate * rate)
            n = min(max(n, minFrames), maxFrames, totalFrames)
        }
        guard n >= temporalPatchSize else {
            throw EngineError.invalidOption("\(n) frame\(n == 1 ? " was" : "s were") asked for but Qwen3-VL video needs at least \(temporalPatchSize) (one temporal patch)")
        }
        // linspace of one value is its start (a temporal patch of 1 can ask for a single frame).
        if n == 1 { return [0] }
        let stop = Double(totalFrames - 1), step = stop / Double(n - 1)
        return (0..<n).map { i in Int((i == n - 1 ? stop : Double(i) * step).rounded(.toNearestOrEven)) }
    }
}

/// Clip frames wait as decoded until the whole clip is at hand: their size after resizing depends
/// on how many frames the clip has (Qwen3-VL's budget over the clip, `cap_pixels_per_frame`'s
/// even share of the video budget), and the Engine hands frames over one batch at a time.
extension QwenVLProcessor {
    /// A decoded clip frame kept as its RGB bytes [H, W, 3] (u8).
    static func heldFrame(_ frame: RGBImage) -> EncodedFrame {
        let storage = TensorStorage(byteCount: frame.pixels.count)
        // Fresh storage this function owns; its public base is the only handle to fill it through.
        frame.pixels.withUnsafeBytes { UnsafeMutableRawPointer(mutating: storage.base).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return EncodedFrame(features: Tensor(shape: [frame.height, frame.width, 3], dtype: .u8, storage: storage),
                            layout: ["rgb": 1, "width": frame.width, "height": frame.height])
    }

    /// Ready pixel values [T, 3, H, W] checked for a tower whose patch × merge unit is `unit`
    /// pixels (what `encode(pixels:)` keeps for `prepare`), as f32.
    static func checkedReadyPixels(_ pixels: Tensor, unit p: Int) throws -> Tensor {
        guard pixels.rank == 4, pixels.shape[1] == 3, pixels.shape[0] > 0 else {
            throw EngineError.invalidOption("pixel_values must be [frames, 3, height, width], got \(pixels.shape)")
        }
        guard pixels.shape[2] % p == 0, pixels.shape[3] % p == 0 else {
            throw EngineError.invalidOption("pixel_values of \(pixels.shape[3])x\(pixels.shape[2]) are not a multiple of the \(p)-pixel patch × merge unit")
        }
        return pixels.toF32()
    }

    /// A part holding ready pixel values [T, 3, H, W] (what the families' `encode(pixels:)` hands
    /// the Engine: the tower runs in `prepare`, where the grid is known), else nil.
    static func readyPixels(_ part: EncodedFrame) -> Tensor? {
        part.layout.isEmpty && part.features.rank == 4 && part.features.shape[1] == 3 ? part.features : nil
    }

    /// A clip's frames held by `heldFrame`, resized together (the clip's frame count known) and
    /// normalised: [N, 3, H, W].
    func clipPixels(_ media: EncodedMedia, family: String) throws -> Tensor {
        let frames = try media.parts.map { part -> RGBImage in
            guard part.layout["rgb"] == 1, let w = part.layout["width"], let h = part.layout["height"], part.features.dtype == .u8 else {
                throw EngineError.prompt("\(family) clips must be encoded frame by frame with the family (their size depends on the frame count)")
            }
            return RGBImage(width: w, height: h, pixels: Array(part.features.rawBytes))
        }
        return try pixels(frames, video: true)
    }
}
