import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// How a family uses the frames sampled from a clip.
public enum FrameUse: Sendable, Equatable {
    /// All frames form one input, in order (InstructBLIP-Video, vidlm, SmolVLM).
    case clip
    /// The model sees one image at a time (BLIP-2): a clip is answered from its middle frame, or
    /// once per sampled frame when more than one is asked for.
    case singleImage
}

/// Whether a family's answer can depend on frame order (the frame-order evaluation reports it).
public enum OrderSignal: Sendable, Equatable {
    /// Frames carry learned position embeddings; the control run gives every frame position 0.
    case framePositions
    /// The prompt states each frame's time (SmolVLM's "Frame from MM:SS"); the control run
    /// gives every frame the first frame's time.
    case frameTimestamps
    /// Frames carry M-RoPE time positions (Qwen-VL: one per frame pair); the control run gives
    /// every frame pair the first pair's time position, keeping height and width positions.
    case rotaryTimePositions
    /// The model has no temporal signal, with the reason in words.
    case none(String)
}

/// A still image or a video: families treat them differently (tiling vs frame sampling).
public enum MediaKind: String, Sendable, Equatable, Codable {
    case image, video
}

/// What a clip is before any frame is decoded: what a family's frame-sampling rule needs.
public struct ClipInfo: Sendable, Equatable {
    public let kind: MediaKind
    public let frameCount: Int
    public let durationSeconds: Double
    /// Frames per second over the whole clip (frame count / duration).
    public var averageFPS: Double { durationSeconds > 0 ? Double(frameCount) / durationSeconds : 0 }

    public init(kind: MediaKind, frameCount: Int, durationSeconds: Double) {
        self.kind = kind
        self.frameCount = frameCount
        self.durationSeconds = durationSeconds
    }
}

/// What a request asked of frame sampling (nil: the family decides).
public struct FrameOptions: Sendable, Equatable {
    public var count: Int?
    public var fps: Double?
    public var start: Double?
    public var end: Double?

    public init(count: Int? = nil, fps: Double? = nil, start: Double? = nil, end: Double? = nil) {
        self.count = count
        self.fps = fps
        self.start = start
        self.end = end
    }
}

/// One decoded frame (or still image) after the family's encoder.
public struct EncodedFrame: Sendable {
    /// The family's features, first axis per image it made (a frame, or tiles + global image).
    public let features: Tensor
    /// Family-defined facts about them (e.g. SmolVLM's `rows` / `cols` of image tiles).
    public let layout: [String: Int]

    public init(features: Tensor, layout: [String: Int] = [:]) {
        self.features = features
        self.layout = layout
    }
}

/// One piece of media of a conversation, encoded: what `prepare` splices into the prompt.
public struct EncodedMedia: Sendable {
    public let kind: MediaKind
    /// The frames used (index, seconds): one for an image.
    public let frames: [FrameInfo]
    /// The encoded frames, in order.
    public let parts: [EncodedFrame]
    /// The clip's duration (0 for an image).
    public let durationSeconds: Double
    /// Frames in the whole clip (0 where unknown: an image, ready pixels).
    public let clipFrameCount: Int

    public init(kind: MediaKind, frames: [FrameInfo], parts: [EncodedFrame], durationSeconds: Double, clipFrameCount: Int = 0) {
        self.kind = kind
        self.frames = frames
        self.parts = parts
        self.durationSeconds = durationSeconds
        self.clipFrameCount = clipFrameCount
    }

    /// Frames per second over the whole clip (frame count / duration), or nil where unknown.
    public var averageFPS: Double? {
        clipFrameCount > 0 && durationSeconds > 0 ? Double(clipFrameCount) / durationSeconds : nil
    }

    /// Every part's features concatenated on the first axis (e.g. [T, N, Dv] for T frames).
    public var features: Tensor {
        parts.count == 1 ? parts[0].features : Tensor.concatenate(parts.map(\.features))
    }
}

/// A conversation with its media encoded, in the order the media parts appear in the messages.
public struct PromptRequest: Sendable {
    /// Plain-text messages (`ChatMessage.user("…")`, an OpenAI request's string content, a chat's
    /// kept answers) are held as lists of parts, as transformers serve hands every message to a
    /// vision-language processor: these families' templates read content as parts, and SmolVLM's
    /// or LLaVA's render a plain string as nothing at all.
    public var messages: [ChatMessage] {
        didSet { messages = messages.map(\.withContentParts) }  // (no recursion: a didSet's own write)
    }
    public var media: [EncodedMedia]
    public var addGenerationPrompt: Bool
    /// Overrides each frame's position index or time (the frame-order control); nil: natural.
    public var framePositions: [Int]?

    public init(messages: [ChatMessage], media: [EncodedMedia], addGenerationPrompt: Bool = true, framePositions: [Int]? = nil) {
        self.messages = messages.map(\.withContentParts)
        self.media = media
        self.addGenerationPrompt = addGenerationPrompt
        self.framePositions = framePositions
    }

    /// The one clip or image of a one-turn conversation, for families whose prompt rule has no
    /// multi-turn or multi-media form (they have no chat template).
    public func singleMedia(family: String) throws -> EncodedMedia {
        guard media.count == 1, messages.count == 1, messages[0].role == "user" else {
            throw EngineError.prompt("\(family) answers one question about one image or clip (its prompt rule has no multi-turn or multi-media form); got \(messages.count) message\(messages.count == 1 ? "" : "s") and \(media.count) media")
        }
        return media[0]
    }

    /// The text of the last user turn, or nil when it has none (captioning).
    public var lastUserText: String? {
        guard let last = messages.last(where: { $0.role == "user" }) else { return nil }
        let text = last.text.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}

/// The decoder input a family built for one request, plus its intermediate stages.
public struct PreparedPrompt: Sendable {
    /// Input embeddings [L, D]: text embeddings with the visual rows spliced in.
    public let embeddings: Tensor
    /// The positions of those rows (sequential for most families).
    public let positions: PositionIds
    /// The text token ids of the prompt (the repetition penalty's context; placeholders removed).
    public let textIds: [Int]
    /// The whole prompt as ids, visual rows shown as the family's placeholder id (-1 where the
    /// family has none): what a transformers processor builds as `input_ids`.
    public let inputIds: [Int]
    /// Stage outputs for `vidlm features`: "merged" [.., E], "bridge" [.., H], "projected" [.., D].
    public let stages: [String: Tensor]
    /// Additions to the decoder's hidden states after its first layers (Qwen3-VL's DeepStack
    /// features at the visual rows); nil for most families.
    public let residuals: LayerResiduals?

    public init(embeddings: Tensor, positions: PositionIds = .sequential, textIds: [Int], inputIds: [Int], stages: [String: Tensor],
                residuals: LayerResiduals? = nil) {
        self.embeddings = embeddings
        self.positions = positions
        self.textIds = textIds
        self.inputIds = inputIds
        self.stages = stages
        self.residuals = residuals
    }
}

/// A loaded model of one family. The family owns everything between decoded frames and decoder
/// inputs — which frames it wants, preprocessing and tiling, its vision tower(s), token merging,
/// bridge or projector, and how a conversation becomes decoder inputs (chat template or its
/// documented prompt rule, visual rows spliced, position ids). The Engine owns media decoding,
/// scheduling and generation and never names a vision class. Immutable and shareable across
/// concurrent requests.
public protocol VisionLanguageModel: Sendable {
    /// config.json's `model_type`.
    var modelType: String { get }
    var language: any LanguageModel { get }
    var tokenizer: Tokenizer { get }
    /// Frames sampled from a clip when the request gives neither a count nor a rate.
    var defaultFrameCount: Int { get }
    var frameUse: FrameUse { get }
    var orderSignal: OrderSignal { get }
    /// The question asked when captioning (nil: the family captions with no text).
    var captionQuestion: String? { get }

    /// The frames of `clip` to decode. The default (`uniformSelection`) spreads the requested
    /// count (or `defaultFrameCount`) evenly, or samples at the requested rate; a family with
    /// its own sampling rule (SmolVLM's fps / max frames / skipped edges) overrides it.
    func frameSelection(for clip: ClipInfo, options: FrameOptions) throws -> FrameSelection

    /// One decoded frame or still image → its features (preprocessing, tiling, vision tower).
    func encode(frame: RGBImage, kind: MediaKind) throws -> EncodedFrame

    /// Several frames of one clip → their features, in order, equal to encoding them one by one.
    /// A family whose frames share one shape runs them through the tower as one batch (one pass
    /// over the weights for all of them); the default encodes them one at a time.
    func encode(frames: [RGBImage], kind: MediaKind) throws -> [EncodedFrame]

    /// Frames of a clip the Engine gathers before calling `encode(frames:kind:)`: the family's
    /// tower batch. Gathering more than the tower takes at once only makes the cores wait for
    /// the decoder: with one frame per call, each frame's tower pass overlaps the next frame's
    /// decoding. The default is 1 (the default `encode(frames:kind:)` encodes one at a time).
    var framesPerEncode: Int { get }

    /// Ready `pixel_values` [T, 3, H, W] → features [T, …] (exact checks; no resizing).
    func encode(pixels: Tensor) throws -> Tensor

    /// A conversation and its encoded media → the decoder's input.
    func prepare(_ request: PromptRequest) throws -> PreparedPrompt
}

extension VisionLanguageModel {
    public func encode(frames: [RGBImage], kind: MediaKind) throws -> [EncodedFrame] {
        try frames.map { try encode(frame: $0, kind: kind) }
    }

    public var framesPerEncode: Int { 1 }

    public func frameSelection(for clip: ClipInfo, options: FrameOptions) throws -> FrameSelection {
        uniformSelection(for: clip, options: options)
    }

    /// The request's rate (capped by its count), else its count or `defaultFrameCount`, uniform.
    public func uniformSelection(for clip: ClipInfo, options: FrameOptions) -> FrameSelection {
        if clip.kind == .image { return .uniform(count: 1) }
        if let fps = options.fps { return .fps(rate: fps, maxFrames: options.count) }
        return .uniform(count: options.count ?? defaultFrameCount)
    }

    /// The decoder input for vision features [T, N, Dv] (frames in order) and a question (nil =
    /// caption); `framePositions` overrides each frame's position index (frame-order control).
    /// The single-media, one-question form of `prepare`.
    public func prompt(features: Tensor, question: String?, framePositions: [Int]?) throws -> PreparedPrompt {
        let t = features.rank >= 1 ? features.shape[0] : 1
        let kind: MediaKind = t == 1 && frameUse == .singleImage ? .image : .video
        let frames = (0..<t).map { FrameInfo(index: $0, seconds: 0) }
        let media = EncodedMedia(kind: kind, frames: frames, parts: [EncodedFrame(features: features)], durationSeconds: 0)
        return try prepare(PromptRequest(messages: ChatMessage.oneTurn(question, about: kind), media: [media],
                                         framePositions: framePositions))
    }

    /// `encode(pixels:)` in the vision tower's calling form: `model.vision(pixels).lastHiddenState`.
    public var vision: PixelEncoder { PixelEncoder(model: self) }

    /// Splices visual rows [V, D] into the embeddings of `ids` at the positions holding
    /// `placeholder` (there must be exactly V of them).
    public func splice(ids: [Int], placeholder: Int, visual: Tensor) throws -> Tensor {
        let positions = ids.indices.filter { ids[$0] == placeholder }
        let v = visual.shape[0], d = visual.shape[1]
        guard positions.count == v else {
            throw EngineError.prompt("the prompt has \(positions.count) image placeholders but the bridge made \(v) visual tokens")
        }
        let text = try language.embed(ids.map { $0 == placeholder ? 0 : $0 })
        return text.withFloats { t in
            visual.withFloats { vis in
                Tensor.make(shape: [ids.count, d], uninitialized: true) { out in
                    out.baseAddress!.update(from: t.baseAddress!, count: ids.count * d)
                    for (row, p) in positions.enumerated() {
                        (out.baseAddress! + p * d).update(from: vis.baseAddress! + row * d, count: d)
                    }
                }
            }
        }
    }
}

extension ChatMessage {
    /// A one-turn conversation: the media, then the question (nil: caption).
    public static func oneTurn(_ question: String?, about kind: MediaKind, source: String? = nil) -> [ChatMessage] {
        var parts: [Part] = [kind == .image ? .image(source: source) : .video(source: source)]
        if let question { parts.append(.text(question)) }
        return [ChatMessage(role: "user", content: .parts(parts))]
    }
}

/// A family's pixel encoder in the vision tower's calling form.
public struct PixelEncoder: Sendable {
    let model: any VisionLanguageModel

    public struct Output: Sendable {
        public let lastHiddenState: Tensor
    }

    public func callAsFunction(_ pixels: Tensor) throws -> Output {
        Output(lastHiddenState: try model.encode(pixels: pixels))
    }
}

/// What the families built on one ViT share: preprocessing a frame as the checkpoint's
/// processor does (`FramePixels`) and running the tower.
public struct SingleTowerEncoder: Sendable {
    public let tower: VisionTransformer
    public let pixels: FramePixels

    public init(tower: VisionTransformer, pixels: FramePixels) {
        self.tower = tower
        self.pixels = pixels
    }

    public var preprocess: PreprocessConfig { pixels.config }

    public func encode(frame: RGBImage) throws -> EncodedFrame {
        EncodedFrame(features: try encode(pixels: try pixels.tensor([frame])))
    }

    public func encode(pixels: Tensor) throws -> Tensor {
        try tower(pixels).lastHiddenState
    }

    /// Frames per tower pass (`ThreadBudget.visionBatch(tokensPerFrame:)`).
    public var framesPerBatch: Int { ThreadBudget.visionBatch(tokensPerFrame: tower.config.tokenCount) }

    /// Frames preprocessed one by one, then tower passes over batches of `framesPerBatch`.
    public func encode(frames: [RGBImage]) throws -> [EncodedFrame] {
        let batch = framesPerBatch
        return try stride(from: 0, to: frames.count, by: batch).flatMap { start -> [EncodedFrame] in
            let group = Array(frames[start..<min(frames.count, start + batch)])
            guard group.count > 1 else { return try group.map { try encode(frame: $0) } }
            let features = try encode(pixels: try pixels.tensor(group))
            return (0..<group.count).map { EncodedFrame(features: features.rows($0..<($0 + 1))) }
        }
    }
}
