import VidLMTensor

/// What a generation request starts from.
public enum GenerationPrompt: Sendable {
    /// Token ids (embedded by the model).
    case tokens([Int])
    /// Ready input embeddings [L, embeddingWidth] (e.g. a visual prefix spliced between text
    /// embeddings), plus the ids the repetition penalty should count (the text part), at the
    /// given positions (generated tokens continue after the largest), with the family's
    /// per-layer additions to the prompt rows (DeepStack), if any.
    case embeddings(Tensor, positions: PositionIds = .sequential, penaltyContext: [Int], residuals: LayerResiduals? = nil)
}

/// Called after each emitted token with every token generated so far; returning true ends
/// generation (`FinishReason.stopCondition`). The caller that owns the detokenizer uses it for stop
/// strings (and trims the text itself).
public typealias StopCondition = @Sendable (_ generated: [Int]) -> Bool

/// Autoregressive generation over any `LanguageModel`: chunked prefill into a preallocated
/// `KVCache`, then one forward pass per token.
public struct TextGenerator: Sendable {
    public let model: any LanguageModel

    public init(model: any LanguageModel) { self.model = model }

    /// Generates tokens, handing each one to `onToken` as soon as it is chosen; `onToken`
    /// returning false ends generation (`.cancelled`). Task cancellation is honoured between
    /// tokens and between prefill chunks (`.cancelled`). With `promptCache` (one conversation's),
    /// the prompt's start that the conversation's last request already put through the decoder
    /// is taken from its KV cache, and this request's cache is kept there for the next one.
    @discardableResult
    public func generate(_ prompt: GenerationPrompt, parameters: GenerationParameters = GenerationParameters(),
                         stopWhen: StopCondition? = nil, promptCache: PromptCache? = nil,
                         onToken: (Int) throws -> Bool) throws -> FinishReason {
        try parameters.validate()
        let embeddings: Tensor
        var positions = PositionIds.sequential
        var residuals: LayerResiduals?
        var context: [Int]
        switch prompt {
        case .tokens(let ids):
            guard !ids.isEmpty else { throw GenerationError.emptyPrompt }
            embeddings = try model.embed(ids)
            context = ids
        case .embeddings(let e, let p, let ids, let r):
            positions = p
            residuals = r
            guard e.rank == 2, e.shape[0] > 0 else {
                if e.rank == 2 { throw GenerationError.emptyPrompt }
                throw LanguageModelError.badInput("input embeddings must be [positions, \(model.embeddingWidth)], got \(e.shape)")
            }
            embeddings = e
            context = ids
        }
        let promptLength = embeddings.shape[0]
        guard promptLength + parameters.answerRoom <= model.contextLength else {
            throw GenerationError.promptTooLong(tokens: promptLength, context: model.contextLength)
        }
        guard parameters.maxNewTokens > 0 else { return .maxTokens }
        let stopIds = Set(parameters.stopTokenIds ?? model.eosTokenIds)
        var cache: KVCache
        var shared = 0
        var promptRows: [PromptCache.Row] = []
        // The tokens put through the decoder after the prompt (for promptCache).
        var fed: [PromptCache.Row] = []
        if let promptCache {
            promptRows = PromptCache.rows(of: embeddings, positions: positions, residuals: residuals)
            (cache, shared) = promptCache.take(for: promptRows, capacity: promptLength + parameters.maxNewTokens, model: model)
        } else {
            cache = model.makeCache(capacity: promptLength + parameters.maxNewTokens)
        }
        // Whatever way this ends, the conversation keeps the positions now in the cache.
        defer { promptCache?.keep(cache, rows: promptRows + fed) }
        var logits: Tensor
        do {
            logits = try model.prefill(inputEmbeddings: embeddings.rows(shared..<promptLength), positions: positions.rows(shared..<promptLength),
                                       residuals: residuals?.slice(shared..<promptLength), cache: &cache,
                                       chunkSize: parameters.prefillChunkSize)
        } catch is CancellationError {
            return .cancelled
        }
        // Where generated tokens go: right after the prompt, or one past its last explicit position.
        var nextPosition = positions.next(count: promptLength, start: 0)
        let sequential = positions == .sequential
        let multimodalAxes: Int? = if case .multimodal(let axes) = positions { axes.count } else { nil }
        var sampler = TokenSampler(parameters: parameters)
        var generated: [Int] = []
        while true {
            if Task.isCancelled { return .cancelled }
            guard let token = sampler.next(logits: logits.floats(), context: context) else {
                throw GenerationError.nonFiniteLogits(step: generated.count)
            }
            if stopIds.contains(token) { return .stopToken(token) }
            generated.append(token)
            context.append(token)
            guard try onToken(token) else { return .cancelled }
            if let stopWhen, stopWhen(generated) { return .stopCondition }
            if generated.count >= parameters.maxNewTokens { return .maxTokens }
            if cache.count >= model.contextLength { return .contextFull }
            if Task.isCancelled { return .cancelled }
            let input = try model.embed([token])
            let step: PositionIds = if sequential {
                .sequential
            } else if let multimodalAxes {
                .multimodal(Array(repeating: [nextPosition], count: multimodalAxes))
            } else {
                .explicit([nextPosition])
            }
            if promptCache != nil {
                fed.append(PromptCache.Row(values: input.floats(), positions: PromptCache.position(step, row: 0, at: cache.count)))
            }
            logits = try model.forward(inputEmbeddings: input, positions: step, cache: &cache, logits: .last)
            nextPosition += 1
        }
    }

    /// All generated tokens and why generation ended.
    public func generate(_ prompt: GenerationPrompt, parameters: GenerationParameters = GenerationParameters(),
                         stopWhen: StopCondition? = nil) throws -> (tokens: [Int], finish: FinishReason) {
        var tokens: [Int] = []
        let finish = try generate(prompt, parameters: parameters, stopWhen: stopWhen) { tokens.append($0); return true }
        return (tokens, finish)
    }

    /// The generated token ids as an asynchronous stream. The work runs in a detached task;
    /// when the consumer stops iterating (or its task is cancelled) the stream terminates, the
    /// task is cancelled and generation stops before the next token. Errors (prompt too long,
    /// bad parameters, …) end the stream with that error.
    public func tokens(_ prompt: GenerationPrompt, parameters: GenerationParameters = GenerationParameters(),
                       stopWhen: StopCondition? = nil) -> AsyncThrowingStream<Int, Error> {
        AsyncThrowingStream { continuation in
            let generator = self
            let task = Task.detached(priority: .userInitiated) {
                do {
                    try generator.generate(prompt, parameters: parameters, stopWhen: stopWhen) { token in
                        if case .terminated = continuation.yield(token) { return false }
                        return !Task.isCancelled
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

