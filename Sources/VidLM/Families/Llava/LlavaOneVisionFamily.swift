import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// LLaVA-OneVision (`LlavaOnevisionForConditionalGeneration`, model_type `llava_onevision`): a
/// SigLIP tower (last layer, all tokens), LLaVA's MLP projector and a Qwen2 decoder.
/// - One image in the conversation: AnyRes tiles as LLaVA-NeXT, the unpadded grid shrunk by
///   bilinear interpolation when it holds more than `anyres_max_N` tiles' worth (ratio > 1.1),
///   `image_newline` per row, the base image first.
/// - Several images: each padded to a square of the mean colour and resized to one tile, then
///   one `image_newline`.
/// - A clip: every frame through the video processor and the tower, projected, the grid halved
///   by bilinear interpolation (ceil), frames concatenated, one `image_newline` after the clip.
public struct LlavaOneVisionFamily: VisionLanguageModel {
    public static let modelTypes = ["llava_onevision"]

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
    /// Multi-image pictures: padded to a square, then resized to one tile.
    public let squareImages: TorchvisionImageProcessor
    public let videoPixels: TorchvisionImageProcessor
    public let pinpoints: [[Int]]
    /// N of `vision_aspect_ratio` "anyres_max_N".
    public let maxTiles: Int
    public let videoToken: String
    public let videoTokenId: Int
    public let prompts: LlavaPrompt

    public var defaultFrameCount: Int { 8 }
    public var frameUse: FrameUse { .clip }
    public var orderSignal: OrderSignal { .none("LLaVA-OneVision's frames carry no time or position signal beyond their order in the prompt") }
    public var captionQuestion: String? { "Describe what you see." }

    public init(directory dir: ModelDirectory) throws {
        modelType = dir.modelType
        try LlavaSettings.requireSubconfigs(dir)
        let (visionConfig, _) = try VisionLoader.visionConfig(from: dir.configData, file: dir.configPath)
        let (textConfig, _) = try LanguageModelLoader.textConfig(from: dir.configData, file: dir.configPath)
        // transformers' LlavaOnevisionConfig defaults: the last layer, every token.
        settings = try LlavaSettings(directory: dir, towerLayers: visionConfig.numHiddenLayers,
                                     defaultLayer: -1, defaultStrategy: "full", defaultImageToken: 151646)
        if !settings.keepClassToken && !visionConfig.hasClassToken {
            throw ConfigError(file: dir.configPath, "'vision_feature_select_strategy' \"default\" drops a class token the \(visionConfig.modelType) tower does not have; use \"full\".")
        }
        let aspect = try dir.string("vision_aspect_ratio", default: "anyres_max_9")
        guard aspect.hasPrefix("anyres_max_"), let n = Int(aspect.dropFirst("anyres_max_".count)), n > 0 else {
            throw ConfigError(file: dir.configPath, "'vision_aspect_ratio' must be \"anyres_max_N\" with N ≥ 1, not \"\(aspect)\".")
        }
        maxTiles = n
        processor = try LlavaProcessorSettings(directory: dir, padToSquare: false, defaults: nil)
        pinpoints = try LlavaProcessorSettings.pinpoints(dir.value("image_grid_pinpoints"), key: "image_grid_pinpoints", file: dir.configPath)
            ?? processor.gridPinpoints ?? Self.defaultPinpoints
        if let p = processor.gridPinpoints, p != pinpoints {
            throw ConfigError(file: processor.imageFile, "its image_grid_pinpoints differ from config.json's; the processor would cut a grid the model does not lay out.")
        }
        anyRes = try AnyResImageProcessor(pixels: processor.image, pinpoints: pinpoints, file: processor.imageFile)
        guard anyRes.tile == visionConfig.imageSize, anyRes.baseHeight == visionConfig.imageSize, anyRes.baseWidth == visionConfig.imageSize else {
            throw ConfigError(file: processor.imageFile, "its tiles are \(anyRes.tile) pixels but the vision tower takes \(visionConfig.imageSize).")
        }
        squareImages = try TorchvisionImageProcessor(processor.image.config, padToSquare: true)
        var video = processor.image
        if let (json, file) = try dir.processorSettings(.video) {
            do { video = try TorchvisionImageProcessor(try PreprocessConfig.decode(json: json)) } catch let e as DecodingError {
                throw ConfigError(file: file, ConfigError.describe(e))
            } catch { throw ConfigError(file: file, "\(error)") }
        }
        videoPixels = video
        tokenizer = try dir.tokenizer()
        guard tokenizer.id(forToken: processor.imageToken) == settings.imageTokenId else {
            throw ConfigError(file: dir.configPath, "'image_token_index' \(settings.imageTokenId) is not the tokenizer's id of \(processor.imageToken).")
        }
        videoToken = processor.videoToken
        videoTokenId = try dir.value("video_token_index") != nil ? dir.int("video_token_index") : dir.int("video_token_id", default: 151647)
        guard tokenizer.id(forToken: videoToken) == videoTokenId else {
            throw ConfigError(file: dir.configPath, "'video_token_index' \(videoTokenId) is not the tokenizer's id of \(videoToken).")
        }
        prompts = LlavaPrompt(tokenizer: tokenizer, imageToken: processor.imageToken, imageTokenId: settings.imageTokenId)
        guard let template = try ChatTemplate.load(directory: dir.url, reader: .processor) else {
            throw ConfigError(file: dir.url.path, "has no chat template (chat_template.json, chat_template.jinja or tokenizer_config.json's chat_template); LLaVA-OneVision prompts are written by it.")
        }
        self.template = template
        (tower, projector, language, imageNewline) = try LlavaNextFamily.loadWeights(dir, vision: visionConfig, text: textConfig,
                                                                                    settings: settings)
    }

    /// `LlavaOnevisionImageProcessor`'s default pinpoints: 1–6 × 1–6 tiles of 384 pixels.
    static let defaultPinpoints: [[Int]] = (1...6).flatMap { h in (1...6).map { w in [h * 384, w * 384] } }

    // MARK: Encoding

    /// An image → its AnyRes tiles (base first) and, last, the picture padded to a square as one
    /// tile (what a multi-image conversation uses): [1 + tiles + 1, rows, D]. A clip's frame →
    /// [1, rows, D].
    public func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame {
        if kind == .video {
            return EncodedFrame(features: try encode(pixels: try videoPixels.pixels([frame])), layout: ["video": 1])
        }
        let (tiles, _) = try anyRes.tiles(frame)
        let square = try squareImages.pixels([frame])
        return EncodedFrame(features: try encode(pixels: Tensor.concatenate([tiles, square])),
                            layout: ["height": frame.height, "width": frame.width, "tiles": tiles.shape[0]])
    }

    public func encode(pixels: Tensor) throws -> Tensor {
        try LlavaFamily.selectedFeatures(tower, settings, pixels)
    }

    /// Projected AnyRes features [1 + tiles, side², D] of one `height` × `width` picture → its
    /// rows [L, D] (`pack_image_features` with anyres_max).
    public func pack(_ projected: Tensor, height: Int, width: Int) throws -> Tensor {
        let side = tower.config.patchesPerSide, d = projected.shape[2], perTile = projected.shape[1]
        let best = AnyResImageProcessor.bestResolution(height: height, width: width, pinpoints: pinpoints)
        let gridH = best.height / tower.config.imageSize, gridW = best.width / tower.config.imageSize
        guard projected.shape[0] == 1 + gridH * gridW, perTile == side * side else {
            throw EngineError.prompt("a \(width)x\(height) picture needs 1 + \(gridH * gridW) tiles of \(side * side) features, got \(projected.shape)")
        }
        let rows = LlavaNextFamily.unpaddedRange(count: gridH * side, other: gridW * side, original: height, originalOther: width, alongHeight: true)
        let cols = LlavaNextFamily.unpaddedRange(count: gridW * side, other: gridH * side, original: width, originalOther: height, alongHeight: false)
        let src = projected.floats()
        // The unpadded grid [rows, cols, D].
        var grid = [Float](repeating: 0, count: rows.count * cols.count * d)
        for (gy, y) in rows.enumerated() {
            for (gx, x) in cols.enumerated() {
                let from = ((1 + (y / side) * gridW + x / side) * perTile + (y % side) * side + x % side) * d
                grid.replaceSubrange((gy * cols.count + gx) * d..<(gy * cols.count + gx + 1) * d, with: src[from..<from + d])
            }
        }
        var (h, w) = (rows.count, cols.count)
        let ratio = (Double(h * w) / Double(maxTiles * side * side)).squareRoot()
        if ratio > 1.1 {
            let (nh, nw) = (Int(Self.floorDivide(Double(h), ratio)), Int(Self.floorDivide(Double(w), ratio)))
            grid = Self.bilinear(grid, height: h, width: w, channels: d, toHeight: nh, toWidth: nw)
            (h, w) = (nh, nw)
        }
        let newline = imageNewline.floats()
        var out = Array(src[0..<perTile * d])
        out.reserveCapacity((perTile + h * (w + 1)) * d)
        for y in 0..<h {
            out += grid[(y * w) * d..<((y + 1) * w) * d]
            out += newline
        }
        return Tensor(shape: [perTile + h * (w + 1), d], values: out)
    }

    /// Python's `a // b` on floats (what transformers sizes the shrunk grid with): the exact
    /// `(a - fmod(a, b)) / b`, floored, not the rounded quotient `a / b` floored. They differ
    /// when the quotient rounds up to a whole number: 20 // (5/3) is 11, ⌊20 / (5/3)⌋ is 12
    /// (a square picture on a 5×5 grid under anyres_max_9).
    static func floorDivide(_ a: Double, _ b: Double) -> Double {
        var mod = a.truncatingRemainder(dividingBy: b)      // C fmod: exact
        var div = (a - mod) / b
        if mod != 0 && (b < 0) != (mod < 0) {
            mod += b
            div -= 1
        }
        guard div != 0 else { return 0 }
        var floored = div.rounded(.down)
        if div - floored > 0.5 { floored += 1 }
        return floored
    }

    /// `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)` without
    /// antialiasing, on a [height, width, channels] grid, in f32 as PyTorch's CPU kernel
    /// computes it.
    public static func bilinear(_ x: [Float], height: Int, width: Int, channels c: Int, toHeight oh: Int, toWidth ow: Int) -> [Float] {
        func taps(_ n: Int, _ out: Int) -> [(Int, Int, Float, Float)] {
            let scale = Float(n) / Float(out)
            return (0..<out).map { i in
                let src = max(scale * (Float(i) + 0.5) - 0.5, 0)
                let i0 = min(Int(src), n - 1)
                let step = i0 < n - 1 ? 1 : 0
                let l1 = src - Float(i0)
                return (i0, i0 + step, 1 - l1, l1)
            }
        }
        let ys = taps(height, oh), xs = taps(width, ow)
        var out = [Float](repeating: 0, count: oh * ow * c)
        for (oy, (y0, y1, hy0, hy1)) in ys.enumerated() {
            for (ox, (x0, x1, wx0, wx1)) in xs.enumerated() {
                let a = (y0 * width + x0) * c, b = (y0 * width + x1) * c, e = (y1 * width + x0) * c, f = (y1 * width + x1) * c
                let o = (oy * ow + ox) * c
                for k in 0..<c {
                    out[o + k] = hy0 * (wx0 * x[a + k] + wx1 * x[b + k]) + hy1 * (wx0 * x[e + k] + wx1 * x[f + k])
                }
            }
        }
        return out
    }

    /// A clip's projected frame features [T, side², D] → [T · ⌈side/2⌉², D] + one newline.
    public func videoRows(_ projected: Tensor) -> Tensor {
        let t = projected.shape[0], n = projected.shape[1], d = projected.shape[2]
        let side = Int(Double(n).squareRoot()), half = (side + 1) / 2
        let src = projected.floats()
        var out: [Float] = []
        out.reserveCapacity((t * half * half + 1) * d)
        for f in 0..<t {
            out += Self.bilinear(Array(src[f * n * d..<(f + 1) * n * d]), height: side, width: side, channels: d, toHeight: half, toWidth: half)
        }
        out += imageNewline.floats()
        return Tensor(shape: [t * half * half + 1, d], values: out)
    }

    // MARK: Prompt

    public func prepare(_ request: PromptRequest) throws -> PreparedPrompt {
        let multiImage = request.media.filter { $0.kind == .image }.count > 1
        var imageRows: [Tensor] = [], videoRows: [Tensor] = []
        var expansions: [(token: String, count: Int)] = []
        for media in request.media {
            if media.kind == .video {
                let rows = self.videoRows(projector(media.features))
                videoRows.append(rows)
                expansions.append((videoToken, rows.shape[0]))
                continue
            }
            for part in media.parts {
                guard let h = part.layout["height"], let w = part.layout["width"], let tiles = part.layout["tiles"],
                      part.features.rank == 3, part.features.shape[0] == tiles + 1 else {
                    throw EngineError.prompt("LLaVA-OneVision image features need their tiles and the picture's size (encode frames with the family)")
                }
                let rows: Tensor
                if multiImage {
                    let square = projector(part.features.rows(tiles..<(tiles + 1)))
                    rows = Tensor.concatenate([square.reshaped([square.shape[1], square.shape[2]]), imageNewline.reshaped([1, imageNewline.count])])
                } else {
                    rows = try pack(projector(part.features.rows(0..<tiles)), height: h, width: w)
                }
                imageRows.append(rows)
                expansions.append((processor.imageToken, rows.shape[0]))
            }
        }
        return try prompts.prepared(request.messages, addGenerationPrompt: request.addGenerationPrompt, template: template,
                                    language: language, imageRows: imageRows, videoRows: videoRows, videoTokenId: videoTokenId,
                                    expansions: expansions)
    }
}
