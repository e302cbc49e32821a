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
/// so one engine serves concurrent requests. Ending the event stream (or cancelling the task
/// iterating it) cancels the request: decoding stops before the next frame, generation before
/// the next token.
public final class Engine: Sendable {
    public let model: any VisionLanguageModel
    public let directory: URL

    public init(model: any VisionLanguageModel, directory: URL) {
        self.model = model
        self.directory = directory
    }

    /// Loads the model directory (config.json's `model_type` picks the family), off the caller's
    /// executor.
    public static func load(directory: URL) async throws -> Engine {
        ThreadBudget.configureBLAS()
        let model = try await Task.detached(priority: .userInitiated) { try ModelRegistry.load(directory) }.value
        return Engine(model: model, directory: directory)
    }

    /// Answers `question` (nil: caption) about `input`, streaming events.
    public func ask(_ input: EngineInput, question: String?, options: AskOptions = AskOptions()) -> AsyncThrowingStream<EngineEvent, Error> {
        AsyncThrowingStream { continuation in
            let task = Task.detached(priority: .userInitiated) { [self] in
                do {
                    let result = try await run(input, question: question, options: options) { continuation.yield($0) }
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
        try await run(input, question: question, options: options) { _ in }
    }

    // MARK: - Frames and features

    /// The vision features [T, N, Dv] of the frames a request uses, with those frames.
    public func visionFeatures(_ input: EngineInput, options: AskOptions = AskOptions()) async throws -> (features: Tensor, frames: [FrameInfo]) {
        try await visionFeatures(input, options: options, timings: nil) { _ in }
    }

    func visionFeatures(_ input: EngineInput, options: AskOptions, timings: RequestTimings?,
                        report: @Sendable (EngineEvent) -> Void) async throws -> (features: Tensor, frames: [FrameInfo]) {
        switch input {
        case .pixels(let pixels):
            guard pixels.rank == 4, pixels.shape[1] == 3, pixels.shape[0] > 0 else {
                throw EngineError.invalidOption("pixel_values must be [frames ≥ 1, 3, height, width], got \(pixels.shape)")
            }
            let frames = (0..<pixels.shape[0]).map { FrameInfo(index: $0, seconds: 0) }
            report(.framesPlanned(frames))
            let clock = ContinuousClock.now
            let features = try model.vision(pixels).lastHiddenState
            timings?.value.vision += seconds(since: clock)
            report(.encoded(done: frames.count, total: frames.count))
            return (features, frames)
        case .media(let path):
            return try await encodeMedia(path, options: options, timings: timings, report: report)
        }
    }

    private func frameRequest(_ options: AskOptions) throws -> FrameRequest {
        if let frames = options.frames, frames < 1 { throw EngineError.invalidOption("the frame count must be at least 1, got \(frames)") }
        let count = options.stillImage ? 1 : (options.frames ?? model.defaultFrameCount)
        let selection: FrameSelection = if let fps = options.fps, !options.stillImage {
            .fps(rate: fps, maxFrames: options.frames)
        } else {
            .uniform(count: count)
        }
        return FrameRequest(selection, start: options.start, end: options.end,
                            mode: options.keyframes ? .nearestKeyframe : .exact)
    }

    /// Decodes the chosen frames and encodes each as it arrives: the decoder actor works on its own
    /// thread one frame ahead, so decoding overlaps the vision tower.
    private func encodeMedia(_ path: String, options: AskOptions, timings: RequestTimings?,
                             report: @Sendable (EngineEvent) -> Void) async throws -> (features: Tensor, frames: [FrameInfo]) {
        let request = try frameRequest(options)
        let decoder = try await MediaDecoder.open(path)
        let plan = try await decoder.plan(request)
        let timeline = try await decoder.timeline()
        let preprocessor = try ImagePreprocessor(model.preprocess)
        report(.framesPlanned(plan.map { FrameInfo(index: $0, seconds: timeline.seconds(ofPts: timeline.pts[$0])) }))
        var rows: [Tensor] = []
        var frames: [FrameInfo] = []
        var waitStart = ContinuousClock.now
        for try await frame in decoder.frames(request) {
            timings?.value.decode += seconds(since: waitStart)
            try Task.checkCancellation()
            let clock = ContinuousClock.now
            let pixels = try preprocessor.preprocess([frame.image])
            let features = try model.vision(Tensor(shape: pixels.shape, values: pixels.values)).lastHiddenState
            rows.append(features)
            frames.append(FrameInfo(index: frame.index, seconds: frame.seconds))
            timings?.value.vision += seconds(since: clock)
            report(.encoded(done: frames.count, total: plan.count))
            waitStart = ContinuousClock.now
        }
        guard !rows.isEmpty else { throw EngineError.noFrames(path) }
        return (Tensor.concatenate(rows), frames)
    }

    // MARK: - Answering

    private func run(_ input: EngineInput, question: String?, options: AskOptions,
                     report: @escaping @Sendable (EngineEvent) -> Void) async throws -> AskResult {
        try options.generation.validate()
        let timings = RequestTimings()
        let (features, frames) = try await visionFeatures(input, options: options, timings: timings, report: report)
        var answers: [Answer] = []
        var finish = FinishReason.maxTokens
        if model.frameUse == .singleImage && frames.count > 1 {
            // An image model answers each frame on its own.
            for (i, frame) in frames.enumerated() {
                try Task.checkCancellation()
                report(.frameAnswer(frame))
                let one = features.rows(i..<(i + 1))
                let (answer, why) = try generate(features: one, question: question, options: options, timings: timings, report: report)
                answers.append(Answer(text: answer.text, tokenIds: answer.tokenIds, promptTokenIds: answer.promptTokenIds, frame: frame))
                finish = why
            }
        } else {
            let (answer, why) = try generate(features: features, question: question, options: options, timings: timings, report: report)
            answers.append(answer)
            finish = why
        }
        return AskResult(answer: answers.map(\.text).joined(separator: "\n"), tokenIds: answers.flatMap(\.tokenIds),
                         answers: answers, frames: frames, timings: timings.value, finish: finish)
    }

    private func generate(features: Tensor, question: String?, options: AskOptions, timings: RequestTimings,
                          report: @Sendable (EngineEvent) -> Void) throws -> (Answer, FinishReason) {
        var clock = ContinuousClock.now
        let prompt = try model.prompt(features: features, question: question, framePositions: nil)
        timings.value.bridge += seconds(since: clock)
        clock = ContinuousClock.now
        var detokenizer = model.tokenizer.streamingDetokenizer(skipSpecialTokens: true)
        var ids: [Int] = []
        var first = true
        let generator = TextGenerator(model: model.language)
        let finish = try generator.generate(.embeddings(prompt.embeddings, penaltyContext: prompt.textIds),
                                            parameters: options.generation) { token in
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
