import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// What a request looks at.
public enum EngineInput: Sendable {
    /// A video or image file, decoded and preprocessed as the model's preprocessor config says.
    case media(path: String)
    /// Ready `pixel_values` [T, 3, H, W] (exact checks; no decoding or resizing).
    case pixels(Tensor)
    /// Media this engine encoded before (`Engine.encodedMedia`), used as is: a chat's follow-up
    /// questions reuse their clip's features instead of decoding and encoding it again.
    case encoded(EncodedMedia)
}

/// How frames are chosen and answers generated.
public struct AskOptions: Sendable {
    /// Frames spread uniformly over the clip (nil: the family's default; with `fps`, the maximum).
    public var frames: Int?
    /// Frames per second instead of a fixed count.
    public var fps: Double?
    public var start: Double?
    public var end: Double?
    /// Nearest key frames instead of exact frames (fast, approximate).
    public var keyframes: Bool
    /// Still-image mode: exactly one frame (a video's middle frame).
    public var stillImage: Bool
    public var generation: GenerationParameters
    /// One conversation's decoder state (`vidlm chat`'s): a request whose prompt starts as the
    /// conversation's last prompt and answer did prefills only the rest. nil: a fresh cache.
    public var promptCache: PromptCache?

    public init(frames: Int? = nil, fps: Double? = nil, start: Double? = nil, end: Double? = nil, keyframes: Bool = false,
                stillImage: Bool = false, generation: GenerationParameters = .greedy(maxNewTokens: 64)) {
        self.frames = frames
        self.fps = fps
        self.start = start
        self.end = end
        self.keyframes = keyframes
        self.stillImage = stillImage
        self.generation = generation
    }
}

/// A frame a request used: its presentation index and time.
public struct FrameInfo: Sendable, Codable, Equatable {
    public let index: Int
    public let seconds: Double
    public init(index: Int, seconds: Double) { self.index = index; self.seconds = seconds }
}

/// Seconds spent in each stage of one request.
public struct StageTimings: Sendable, Codable, Equatable {
    /// Waiting for decoded frames (decoding overlaps vision encoding).
    public var decode = 0.0
    /// Preprocessing and the vision tower.
    public var vision = 0.0
    /// Token merger, Q-Former(s), projection and prompt assembly.
    public var bridge = 0.0
    /// The decoder over the prompt, up to the first generated token.
    public var prefill = 0.0
    /// Every later token.
    public var generation = 0.0
    public init() {}
}

/// One answer: to the whole clip, or to one frame when an image model answers frame by frame.
public struct Answer: Sendable, Codable, Equatable {
    public let text: String
    public let tokenIds: [Int]
    /// The whole prompt as the processor builds `input_ids` (visual rows as the family's
    /// placeholder id, -1 where it has none).
    public let promptTokenIds: [Int]
    /// The frame this answer is about (image models answering per frame); nil for the clip.
    public let frame: FrameInfo?
}

/// The result of a finished request.
public struct AskResult: Sendable {
    /// The answer text (per-frame answers joined by newlines).
    public let answer: String
    /// The generated ids (per-frame answers concatenated).
    public let tokenIds: [Int]
    public let answers: [Answer]
    public let frames: [FrameInfo]
    public let timings: StageTimings
    public let finish: FinishReason
}

/// What a request reports while it runs.
public enum EngineEvent: Sendable {
    /// The frames chosen for the request (before decoding them).
    case framesPlanned([FrameInfo])
    /// `done` of `total` frames decoded and encoded.
    case encoded(done: Int, total: Int)
    /// An image model starts answering this frame.
    case frameAnswer(FrameInfo)
    /// The prompt went through the decoder: its length in positions and the seconds it took.
    case prefilled(positions: Int, seconds: Double)
    /// New answer text (whole UTF-8 characters) and the token that completed it.
    case text(String, tokenId: Int)
    case finished(AskResult)
}
