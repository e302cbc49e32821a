import Foundation
import VidLM
import VidLMMedia
import VidLMModels

/// What a finished completion reports.
struct CompletionOutcome: Sendable {
    var text: String
    /// OpenAI's finish_reason: "stop" (end token or a stop string) or "length".
    var finishReason: String
    var promptTokens: Int
    var completionTokens: Int
    var frames: [FrameInfo]
    /// The generated ids (those the stop string cut are included up to where it matched).
    var tokenIds: [Int]
}

/// Runs one checked request on the shared engine: the conversation fitted to the family, the
/// generation settings, stop strings cut out of the text (text that might still become a stop
/// string is held back), the request's deadline, and the TTFT / decode-rate metrics.
struct CompletionRunner: Sendable {
    let engine: Engine
    let defaults: ModelDefaults
    let metrics: ServerMetrics
    let defaultMaxTokens: Int

    func options(for request: CompletionRequest) throws(APIError) -> AskOptions {
        let context = engine.model.language.contextLength
        let maxTokens = min(request.maxTokens ?? defaultMaxTokens, context)
        let generation = GenerationParameters(
            maxNewTokens: maxTokens, temperature: request.temperature, topK: request.topK, topP: request.topP,
            repetitionPenalty: request.repetitionPenalty ?? defaults.repetitionPenalty, badWordsIds: defaults.badWordsIds,
            seed: request.seed)
        return AskOptions(frames: request.sampling.count, fps: request.sampling.fps, start: request.sampling.start,
                          end: request.sampling.end, generation: generation)
    }

    /// Streams the answer's text to `onDelta` as it is generated and returns the outcome.
    /// Throws `APIError` for requests the engine cannot answer, `CancellationError` when the
    /// caller's task is cancelled (deadline, client gone).
    func run(_ request: CompletionRequest, media: ResolvedMedia, arrival: ContinuousClock.Instant,
             onDelta: @Sendable (String) async throws -> Void) async throws -> CompletionOutcome {
        let options = try options(for: request)
        let fitted = ConversationFit.fit(request.messages, for: engine.model)
        var stops = StopMatcher(request.stops)
        var promptTokens = 0, completionTokens = 0
        var tokenIds: [Int] = []
        var frames: [FrameInfo] = []
        var firstToken: ContinuousClock.Instant?
        var lastToken = arrival
        var finish = "length"
        var result: AskResult?
        // The answer starts at its first non-space character (the tokenizer's word-start space).
        var started = false
        func send(_ text: String) async throws {
            let out = started ? text : String(text.drop(while: { $0 == " " }))
            guard !out.isEmpty else { return }
            started = true
            try await onDelta(out)
        }
        do {
            events: for try await event in engine.respond(to: fitted.messages, media: media.inputs, options: options) {
                switch event {
                case .framesPlanned(let planned):
                    frames = planned
                case .prefilled(let positions, _):
                    promptTokens = positions
                case .text(let piece, let tokenId):
                    tokenIds.append(tokenId)
                    let now = ContinuousClock.now
                    if firstToken == nil {
                        firstToken = now
                        metrics.observeTimeToFirstToken(seconds(now - arrival))
                    }
                    lastToken = now
                    completionTokens += 1
                    let (emit, stopped) = stops.feed(piece)
                    try await send(emit)
                    if stopped {
                        finish = "stop"
                        break events   // ending the iteration cancels generation
                    }
                case .finished(let r):
                    result = r
                default:
                    break
                }
            }
        } catch let error as CancellationError {
            throw error
        } catch {
            throw Self.apiError(error, media: media)
        }
        if let result {
            let tail = stops.flush()
            try await send(tail)
            completionTokens = result.tokenIds.count
            tokenIds = result.tokenIds
            frames = result.frames
            if case .stopToken = result.finish { finish = "stop" }
        } else if finish != "stop" {
            throw CancellationError()
        }
        if let firstToken, completionTokens > 1 {
            let span = seconds(lastToken - firstToken)
            if span > 0 { metrics.observeDecodeRate(Double(completionTokens - 1) / span) }
        }
        metrics.countTokens(prompt: promptTokens, completion: completionTokens)
        return CompletionOutcome(text: String(stops.emitted.drop(while: { $0 == " " })), finishReason: finish, promptTokens: promptTokens,
                                 completionTokens: completionTokens, frames: frames, tokenIds: tokenIds)
    }

    /// Engine and media errors as the client should see them: bad requests with the reason
    /// (upload paths hidden), anything else a 500 without internals.
    static func apiError(_ error: any Error, media: ResolvedMedia) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as EngineError: return .badRequest(media.scrub(e.description))
        case let e as MediaError: return .badRequest(media.scrub(e.description))
        case let e as GenerationError:
            if case .nonFiniteLogits = e { return .internalError("The model failed on this request.") }
            return .badRequest(e.description)
        default: return .internalError("The model failed on this request.")
        }
    }
}

/// Cuts generated text at the first stop string: text is released only once no stop string can
/// still begin in it, so a stop string split over several tokens never reaches the client.
struct StopMatcher: Sendable {
    let stops: [String]
    private(set) var emitted = ""
    private var pending = ""

    init(_ stops: [String]) { self.stops = stops }

    /// Adds `piece`; returns the text that is safe to send and whether a stop string matched.
    mutating func feed(_ piece: String) -> (String, Bool) {
        guard !stops.isEmpty else {
            emitted += piece
            return (piece, false)
        }
        pending += piece
        if let cut = stops.compactMap({ pending.range(of: $0)?.lowerBound }).min() {
            let out = String(pending[..<cut])
            emitted += out
            pending = ""
            return (out, true)
        }
        // Hold back the longest tail that is a prefix of some stop string.
        var keep = 0
        for stop in stops {
            for n in stride(from: min(stop.count - 1, pending.count), to: 0, by: -1) where pending.hasSuffix(String(stop.prefix(n))) {
                keep = max(keep, n)
                break
            }
        }
        let out = String(pending.dropLast(keep))
        pending = String(pending.suffix(keep))
        emitted += out
        return (out, false)
    }

    /// The held-back text once generation ended without a stop string.
    mutating func flush() -> String {
        let out = pending
        emitted += out
        pending = ""
        return out
    }
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
