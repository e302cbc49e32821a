/// How to pick tokens and when to stop. transformers' semantics: the repetition penalty and the
/// bad-words ban apply in every mode; temperature, top-k and top-p (in that order) only when sampling.
public struct GenerationParameters: Sendable, Equatable {
    /// Tokens to generate at most (stop tokens not counted; they are not emitted).
    public var maxNewTokens: Int
    /// 0 picks the most likely token (greedy); > 0 samples from softmax(logits / temperature).
    public var temperature: Float
    /// Sampling keeps the `topK` most likely tokens (0: all).
    public var topK: Int
    /// Sampling keeps the smallest set of most likely tokens whose probability reaches `topP`
    /// (1: all).
    public var topP: Float
    /// > 1 discourages tokens already in the prompt or the output (CTRL / transformers:
    /// positive logits divided, negative ones multiplied). 1: off.
    public var repetitionPenalty: Float
    /// Token sequences never generated (transformers' `bad_words_ids`): a one-id entry is never
    /// chosen; a longer one bans its last id where the ids before it end the prompt ids + output.
    public var badWordsIds: [[Int]]
    /// Seed of the sampler's random numbers: the same seed, model, prompt and parameters give the
    /// same tokens.
    public var seed: UInt64
    /// Ids that end generation; nil uses the model's `eos_token_id`.
    public var stopTokenIds: [Int]?
    /// Prompt positions per forward pass while prefilling (at most; see `LanguageModel.prefill`).
    public var prefillChunkSize: Int
    /// Context positions the prompt must leave free for the answer; a longer prompt throws
    /// `promptTooLong` before any work. 1 (the default) only needs room for one token. A
    /// conversation that would rather drop its oldest turns than have answers cut short by the
    /// context asks for `maxNewTokens` (the terminal chat does).
    public var answerRoom: Int

    /// 1024 positions: a chunk's activations stay within a few hundred MiB (1024 × a 14336-wide
    /// MLP is 56 MiB a buffer), and every chunk reads all the weights once and packs them for the
    /// GEMM, so larger chunks amortise that over more rows. LLaVA-1.5-7B's 604-position image
    /// prompt (bf16, AMX, 2 threads) prefilled in 5.5 s as one chunk against 6.8 s as two of 302
    /// (2026-12-06, docs/benchmarks/llava.md).
    public static let defaultPrefillChunkSize = 1024

    public init(maxNewTokens: Int = 64, temperature: Float = 0, topK: Int = 0, topP: Float = 1,
                repetitionPenalty: Float = 1, badWordsIds: [[Int]] = [], seed: UInt64 = 0, stopTokenIds: [Int]? = nil,
                prefillChunkSize: Int = GenerationParameters.defaultPrefillChunkSize, answerRoom: Int = 1) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.badWordsIds = badWordsIds
        self.seed = seed
        self.stopTokenIds = stopTokenIds
        self.prefillChunkSize = prefillChunkSize
        self.answerRoom = answerRoom
    }

    /// Greedy decoding of up to `maxNewTokens` tokens.
    public static func greedy(maxNewTokens: Int) -> GenerationParameters { GenerationParameters(maxNewTokens: maxNewTokens) }

    public var isGreedy: Bool { temperature == 0 }

    public func validate() throws(GenerationError) {
        func bad(_ why: String) -> GenerationError { .invalidParameter(why) }
        guard maxNewTokens >= 0 else { throw bad("max new tokens must not be negative, got \(maxNewTokens)") }
        guard temperature >= 0, temperature.isFinite else { throw bad("temperature must be 0 (greedy) or positive, got \(temperature)") }
        guard topK >= 0 else { throw bad("top-k must be 0 (off) or positive, got \(topK)") }
        guard topP > 0, topP <= 1 else { throw bad("top-p must be in (0, 1], got \(topP)") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else { throw bad("repetition penalty must be positive, got \(repetitionPenalty)") }
        guard badWordsIds.allSatisfy({ !$0.isEmpty }) else { throw bad("bad words must not be empty sequences") }
        guard prefillChunkSize > 0 else { throw bad("prefill chunk size must be positive, got \(prefillChunkSize)") }
        guard answerRoom >= 1 else { throw bad("the answer room must be at least 1, got \(answerRoom)") }
    }
}

/// Why generation ended.
public enum FinishReason: Sendable, Equatable {
    /// A stop token (EOS) was produced; it is not emitted.
    case stopToken(Int)
    /// `maxNewTokens` tokens were emitted.
    case maxTokens
    /// The sequence filled the model's context.
    case contextFull
    /// The caller's stop condition (e.g. a stop string) matched after the last emitted token.
    case stopCondition
    /// The consumer went away or the task was cancelled.
    case cancelled
}

/// A generation request that cannot run, in one sentence.
public enum GenerationError: Error, Equatable, Sendable, CustomStringConvertible {
    case promptTooLong(tokens: Int, context: Int)
    case emptyPrompt
    case invalidParameter(String)
    /// The model produced Inf/NaN logits (damaged weights or an overflow).
    case nonFiniteLogits(step: Int)

    public var description: String {
        switch self {
        case .promptTooLong(let tokens, let context):
            return "The prompt has \(tokens) tokens but the model's context holds \(context), leaving no room for an answer; shorten the prompt or use fewer frames."
        case .emptyPrompt:
            return "The prompt is empty; generation needs at least one token."
        case .invalidParameter(let why):
            return "Invalid generation setting: \(why)."
        case .nonFiniteLogits(let step):
            return "The model produced non-finite logits at step \(step); its weights may be damaged."
        }
    }
}
