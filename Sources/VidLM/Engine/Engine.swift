import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// A loaded model that answers questions about videos and images.
///
/// ```swift
/// let engine = try await Engine.load(directory: url)
/// for try await event in engine.ask(.media(path: "clip.mp4"), question: "what happens?") {
///     if case .text(let piece, _) = event { print(piece, terminator: "") }
/// }
/// ```
/// Requests are independent: weights are shared read-only, each request has its own KV cache,
/// so one engine serves concurrent requests; `ComputeScheduler.shared` bounds how many compute
/// at once. Ending the event stream (or cancelling the task iterating it) cancels the request:
/// decoding stops before the next frame, generation before the next token.
public final class Engine: Sendable {
    public let model: any VisionLanguageModel
    public let directory: URL

    public init(model: any VisionLanguageModel, directory: URL) {
        self.model = model
        self.directory = directory
    }

    /// Loads the model directory (config.json's `model_type` picks the family), off the caller's
    /// executor. `compute: .bf16` runs f32 checkpoints' projections in bf16 (see `ComputePrecision`).
    public static func load(directory: URL, compute: ComputePrecision = .stored) async throws -> Engine {
        ThreadBudget.configureBLAS()
        let model = try await Task.detached(priority: .userInitiated) {
            try ComputePrecision.$current.withValue(compute) { try ModelRegistry.load(directory) }
        }.value
        return Engine(model: model, directory: directory)
    }

    /// Answers `question` (nil: caption) about `input`, streaming events.
    public func ask(_ input: EngineInput, question: String?, options: AskOptions = AskOptions()) -> AsyncThrowingStream<EngineEvent, Error> {
        let (messages, media) = oneTurn(input, question: question, options: options)
        return respond(to: messages, media: media, options: options)
    }

    /// Answers the last turn of a conversation, streaming events. Each image or video part of
    /// the messages takes, in order, the next entry of `media`; with `media` empty, the parts'
    /// own sources are the files to open.
    public func respond(to messages: [ChatMessage], media: [EngineInput] = [], options: AskOptions = AskOptions())
        -> AsyncThrowingStream<EngineEvent, Error> {
        AsyncThrowingStream { continuation in
            let task = Task.detached(priority: .userInitiated) { [self] in
                do {
                    let result = try await ComputeScheduler.shared.run {
                        try await run(messages, media: media, options: options) { continuation.yield($0) }
                    }
                    continuation.yield(.finished(result))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Runs a request to the end and returns its result (events other than the result dropped).
    public func answer(_ input: EngineInput, question: String?, options: AskOptions = AskOptions()) async throws -> AskResult {
        let (messages, media) = oneTurn(input, question: question, options: options)
        return try await ComputeScheduler.shared.run { try await run(messages, media: media, options: options) { _ in } }
    }

    /// A one-turn conversation about `input`: the media part, then the question.
    private func oneTurn(_ input: EngineInput, question: String?, options: AskOptions) -> ([ChatMessage], [EngineInput]) {
        (ChatMessage.oneTurn(question, about: options.stillImage ? .image : .video), [input])
    }

    // MARK: - Frames and features

    /// The features [T, …] of the frames a request uses (the family's encoder), with those frames.
    public func visionFeatures(_ input: EngineInput, options: AskOptions = AskOptions()) async throws -> (features: Tensor, frames: [FrameInfo]) {
        let media = try await encode(input, options: options, timings: nil) { _ in }
        return (media.features, media.frames)
    }

    /// The media of `input` as the family encodes it (frames in order, with their times).
    public func encodedMedia(_ input: EngineInput, options: AskOptions = AskOptions()) async throws -> EncodedMedia {
        try await encode(input, options: options, timings: nil) { _ in }
    }

    /// The media of `input` as the family encodes it: pixel tensors directly, files decoded with
    /// the frames the family's sampling rule picks. Decoding runs one frame ahead on the decoder
    /// actor's own thread, so it overlaps encoding.
    func encode(_ input: EngineInput, options: AskOptions, timings: RequestTimings?,
                report: @Sendable (EngineEvent) -> Void) async throws -> EncodedMedia {
        switch input {
        case .pixels(let pixels):
            guard pixels.rank == 4, pixels.shape[1] == 3, pixels.shape[0] > 0 else {
                throw EngineError.invalidOption("pixel_values must be [frames ≥ 1, 3, height, width], got \(pixels.shape)")
            }
            let frames = (0..<pixels.shape[0]).map { FrameInfo(index: $0, seconds: 0) }
            report(.framesPlanned(frames))
            let clock = ContinuousClock.now
            let features = try model.encode(pixels: pixels)
            timings?.value.vision += seconds(since: clock)
            report(.encoded(done: frames.count, total: frames.count))
            let kind: MediaKind = options.stillImage || (frames.count == 1 && model.frameUse == .singleImage) ? .image : .video
            return EncodedMedia(kind: kind, frames: frames, parts: [EncodedFrame(features: features)], durationSeconds: 0)
        case .media(let path):
            return try await encodeFile(path, options: options, timings: timings, report: report)
        case .encoded(let media):
            report(.framesPlanned(media.frames))
            report(.encoded(done: media.frames.count, total: media.frames.count))
            return media
        }
    }

    /// Decoded pictures waiting for the tower at most (bytes), counting the next frame being
    /// decoded: an 8K frame (99.5 MB as RGB) goes through on its own instead of in a batch of
    /// four, keeping memory within the bound of docs/benchmarks/long.md.
    static let pendingPictureBytes = 96 << 20

    private func encodeFile(_ path: String, options: AskOptions, timings: RequestTimings?,
                            report: @Sendable (EngineEvent) -> Void) async throws -> EncodedMedia {
        if let frames = options.frames, frames < 1 { throw EngineError.invalidOption("the frame count must be at least 1, got \(frames)") }
        let decoder = try await MediaDecoder.open(path)
        let timeline = try await decoder.timeline()
        let still = try await decoder.probe().isStillImage
        let kind: MediaKind = options.stillImage || still || timeline.count == 1 ? .image : .video
        // Families sample by the duration and rate transformers' video processors read (torchcodec's).
        let clip = ClipInfo(kind: kind, frameCount: timeline.count, durationSeconds: timeline.sampledDurationSeconds)
        let selection: FrameSelection = options.stillImage
            ? .uniform(count: 1)
            : try model.frameSelection(for: clip, options: FrameOptions(count: options.frames, fps: options.fps,
                                                                         start: options.start, end: options.end))
        let request = FrameRequest(selection, start: options.start, end: options.end,
                                   mode: options.keyframes ? .nearestKeyframe : .exact)
        let plan = try await decoder.plan(request)
        report(.framesPlanned(plan.map { FrameInfo(index: $0, seconds: timeline.seconds(ofPts: timeline.pts[$0])) }))
        var parts: [EncodedFrame] = []
        var frames: [FrameInfo] = []
        // Frames go to the family `framesPerEncode` at a time (its tower batch: one pass over the
        // weights each); the decoders keep decoding the next frames meanwhile.
        var pending: [VideoFrame] = []
        func encodePending() throws {
            try Task.checkCancellation()
            let clock = ContinuousClock.now
            parts += try model.encode(frames: pending.map(\.image), kind: kind)
            frames += pending.map { FrameInfo(index: $0.index, seconds: $0.seconds) }
            timings?.value.vision += seconds(since: clock)
            pending.removeAll()
            report(.encoded(done: frames.count, total: plan.count))
        }
        var waitStart = ContinuousClock.now
        for try await frame in decoder.frames(request) {
            timings?.value.decode += seconds(since: waitStart)
            try Task.checkCancellation()
            pending.append(frame)
            // Encoded now if one more frame of this size would not fit: the next frame is decoded
            // while these wait.
            let pendingBytes = pending.reduce(0) { $0 + $1.image.pixels.count }
            if pending.count >= model.framesPerEncode || pendingBytes + frame.image.pixels.count > Self.pendingPictureBytes {
                try encodePending()
            }
            waitStart = ContinuousClock.now
        }
        if !pending.isEmpty { try encodePending() }
        guard !parts.isEmpty else { throw EngineError.noFrames(path) }
        return EncodedMedia(kind: kind, frames: frames, parts: parts, durationSeconds: kind == .image ? 0 : timeline.sampledDurationSeconds,
                            clipFrameCount: timeline.count)
    }

    // MARK: - Answering

    private func run(_ messages: [ChatMessage], media inputs: [EngineInput], options: AskOptions,
                     report: @escaping @Sendable (EngineEvent) -> Void) async throws -> AskResult {
        try options.generation.validate()
        let timings = RequestTimings()
        let sources = try mediaSources(messages, given: inputs)
        var media: [EncodedMedia] = []
        for source in sources {
            media.append(try await encode(source, options: options, timings: timings, report: report))
        }
        // A part's type follows what the file turned out to be (a still image asked about as a
        // clip is an image to a template that distinguishes them).
        let messages = Self.matchingMediaKinds(messages, media.map(\.kind))
        var answers: [Answer] = []
        var finish = FinishReason.maxTokens
        if model.frameUse == .singleImage, media.count == 1, media[0].frames.count > 1 {
            // An image model answers each frame on its own.
            let clip = media[0]
            for (i, frame) in clip.frames.enumerated() {
                try Task.checkCancellation()
                report(.frameAnswer(frame))
                let one = EncodedMedia(kind: .image, frames: [frame], parts: [EncodedFrame(features: clip.features.rows(i..<(i + 1)))],
                                       durationSeconds: 0)
                let request = PromptRequest(messages: messages, media: [one])
                let (answer, why) = try generate(request, options: options, timings: timings, report: report)
                answers.append(Answer(text: answer.text, tokenIds: answer.tokenIds, promptTokenIds: answer.promptTokenIds, frame: frame))
                finish = why
            }
        } else {
            let (answer, why) = try generate(PromptRequest(messages: messages, media: media), options: options,
                                             timings: timings, report: report)
            answers.append(answer)
            finish = why
        }
        return AskResult(answer: answers.map(\.text).joined(separator: "\n"), tokenIds: answers.flatMap(\.tokenIds),
                         answers: answers, frames: media.flatMap(\.frames), timings: timings.value, finish: finish)
    }

    static func matchingMediaKinds(_ messages: [ChatMessage], _ kinds: [MediaKind]) -> [ChatMessage] {
        var next = 0
        return messages.map { message in
            guard case .parts(let parts) = message.content else { return message }
            var out = message
            out.content = .parts(parts.map { part in
                switch part {
                case .image(let source), .video(let source):
                    defer { next += 1 }
                    guard next < kinds.count else { return part }
                    return kinds[next] == .image ? .image(source: source) : .video(source: source)
                case .text:
                    return part
                }
            })
            return out
        }
    }

    /// The input for each media part of `messages`, in order.
    private func mediaSources(_ messages: [ChatMessage], given: [EngineInput]) throws -> [EngineInput] {
        let sources = messages.flatMap(\.mediaSources)
        if !given.isEmpty {
            guard given.count == sources.count else {
                throw EngineError.invalidOption("the conversation has \(sources.count) media parts but \(given.count) media inputs were given")
            }
            return given
        }
        return try sources.map { source in
            guard let source else { throw EngineError.invalidOption("a media part of the conversation names no file") }
            return .media(path: source)
        }
    }

    private func generate(_ request: PromptRequest, options: AskOptions, timings: RequestTimings,
                          report: @Sendable (EngineEvent) -> Void) throws -> (Answer, FinishReason) {
        var clock = ContinuousClock.now
        let prompt = try model.prepare(request)
        timings.value.bridge += seconds(since: clock)
        clock = ContinuousClock.now
        var detokenizer = model.tokenizer.streamingDetokenizer(skipSpecialTokens: true)
        var ids: [Int] = []
        var first = true
        let generator = TextGenerator(model: model.language)
        let finish = try generator.generate(.embeddings(prompt.embeddings, positions: prompt.positions, penaltyContext: prompt.textIds,
                                                        residuals: prompt.residuals),
                                            parameters: options.generation, promptCache: options.promptCache) { token in
            if first {
                let s = seconds(since: clock)
                timings.value.prefill += s
                report(.prefilled(positions: prompt.embeddings.shape[0], seconds: s))
                clock = ContinuousClock.now
                first = false
            }
            ids.append(token)
            let piece = detokenizer.append(token)
            if !piece.isEmpty { report(.text(piece, tokenId: token)) }
            return !Task.isCancelled
        }
        if first { timings.value.prefill += seconds(since: clock) } else { timings.value.generation += seconds(since: clock) }
        let tail = detokenizer.finish()
        if !tail.isEmpty { report(.text(tail, tokenId: ids.last ?? -1)) }
        if finish == .cancelled { throw CancellationError() }
        let text = model.tokenizer.decode(ids, skipSpecialTokens: true).trimmingCharacters(in: .whitespaces)
        return (Answer(text: text, tokenIds: ids, promptTokenIds: prompt.inputIds, frame: nil), finish)
    }
}

/// Per-request stage timings, written only by the request's own task (never shared).
final class RequestTimings: @unchecked Sendable {
    var value = StageTimings()
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
