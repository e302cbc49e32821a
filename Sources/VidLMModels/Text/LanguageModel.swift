import VidLMTensor

/// Which positions' logits a forward pass returns.
public enum LogitsSelection: Sendable, Equatable {
    /// [1, vocab]: the next-token distribution (decoding, last prefill chunk).
    case last
    /// [L, vocab]: every position (scoring, parity checks).
    case all
    /// [0, vocab]: none (intermediate prefill chunks skip the LM head).
    case none
}

/// The positions a decoder input occupies. Most prompts run at the next positions of the cache;
/// a family whose visual span advances positions differently from its row count gives them
/// explicitly, and later tokens continue one past the last row's position, as transformers 5's
/// `generate` extends `position_ids` (Qwen2.5-VL's clips reach time positions beyond the text
/// after them, so the largest position is not the last).
public enum PositionIds: Sendable, Equatable {
    /// `cache.count ..< cache.count + L`.
    case sequential
    /// One position per input row (1-D RoPE, learned positions).
    case explicit([Int])
    /// Per-axis positions [axes][L] for multimodal RoPE (M-RoPE: time, height, width).
    /// Decoders without M-RoPE reject them.
    case multimodal([[Int]])

    /// The positions of `count` rows starting at cache position `start` (nil: multimodal).
    public func linear(count: Int, start: Int) -> [Int]? {
        switch self {
        case .sequential: return Array(start..<(start + count))
        case .explicit(let p): return p
        case .multimodal: return nil
        }
    }

    /// Where text continues after this span: one past its last row's position (a prompt ends
    /// with text, whose M-RoPE axes agree; should they not, the largest of them).
    public func next(count: Int, start: Int) -> Int {
        switch self {
        case .sequential: return start + count
        case .explicit(let p): return (p.last ?? (start - 1)) + 1
        case .multimodal(let axes): return (axes.compactMap(\.last).max() ?? (start - 1)) + 1
        }
    }

    /// Rows [range] of these positions (for chunked prefill).
    public func rows(_ range: Range<Int>) -> PositionIds {
        switch self {
        case .sequential: return .sequential
        case .explicit(let p): return .explicit(Array(p[range]))
        case .multimodal(let axes): return .multimodal(axes.map { Array($0[range]) })
        }
    }
}

/// Additions to a decoder's hidden states after its first layers, at some prompt rows: Qwen3-VL's
/// DeepStack adds the features of early vision blocks to the visual tokens' states after decoder
/// layers 0, 1, …. A family supplies them with its prompt (`PreparedPrompt.residuals`); the
/// decoder adds `layers[i]` after layer i, so the Engine and generator only pass them through.
public struct LayerResiduals: Sendable {
    /// The prompt rows that receive the additions (any order; no row twice).
    public let rows: [Int]
    /// `layers[i]`: [rows.count, D], added after decoder layer i (layers past the last decoder
    /// layer are ignored, as transformers does).
    public let layers: [Tensor]

    public init(rows: [Int], layers: [Tensor]) {
        self.rows = rows
        self.layers = layers
    }

    /// The additions for prompt rows `range`, rows counted from its start (a prefill chunk);
    /// nil when none falls in it.
    public func slice(_ range: Range<Int>) -> LayerResiduals? {
        let picked = rows.indices.filter { range.contains(rows[$0]) }
        guard !picked.isEmpty else { return nil }
        if picked.count == rows.count && range.lowerBound == 0 { return self }
        return LayerResiduals(rows: picked.map { rows[$0] - range.lowerBound }, layers: layers.map { $0.gatherRows(picked) })
    }

    /// Rows and shapes agree with a pass over `count` rows of width `width`.
    func check(count: Int, width: Int) throws(LanguageModelError) {
        guard rows.allSatisfy({ $0 >= 0 && $0 < count }), Set(rows).count == rows.count else {
            throw .badInput("per-layer additions name rows outside the \(count) input rows, or one row twice")
        }
        for t in layers where t.shape != [rows.count, width] {
            throw .badInput("per-layer additions must be [\(rows.count), \(width)], got \(t.shape)")
        }
    }
}

/// A decoder-only language model (LLaMA, OPT) working on token ids or on input embeddings, so a
/// visual prefix can be spliced in at placeholder positions. Batch 1; models are immutable and
/// shareable, per-request state lives in the `KVCache`.
public protocol LanguageModel: Sendable {
    /// Rows of the LM head / size of the next-token distribution.
    var vocabularySize: Int { get }
    /// Width of `embed`'s rows and of the `inputEmbeddings` that `forward` takes (OPT's
    /// `word_embed_proj_dim`; the hidden size for LLaMA).
    var embeddingWidth: Int { get }
    /// The most positions a sequence may use (`max_position_embeddings`).
    var contextLength: Int { get }
    /// End-of-sequence ids from the config (generation stops on them by default).
    var eosTokenIds: [Int] { get }
    /// Layers, and floats per position of each layer's keys (for the cache).
    var layerCount: Int { get }
    var keyValueWidth: Int { get }
    /// How a cache for this model stores keys and values (`KVCache.Precision`).
    var cachePrecision: KVCache.Precision { get }

    /// The input embeddings of `ids`: [ids.count, embeddingWidth], f32.
    func embed(_ ids: [Int]) throws(LanguageModelError) -> Tensor

    /// Runs `inputEmbeddings` [L, embeddingWidth] at positions `cache.count ..< cache.count + L`,
    /// appending their keys and values to `cache`; returns logits as `logits` selects.
    func forward(inputEmbeddings: Tensor, cache: inout KVCache, logits: LogitsSelection) throws(LanguageModelError) -> Tensor

    /// As above at the given positions (the keys still fill the cache's next rows). Decoders that
    /// only run sequential positions get a default that rejects anything else.
    func forward(inputEmbeddings: Tensor, positions: PositionIds, cache: inout KVCache,
                 logits: LogitsSelection) throws(LanguageModelError) -> Tensor

    /// As above, adding `residuals` to the hidden states after the first layers (DeepStack).
    /// Decoders without the hook get a default that rejects any.
    func forward(inputEmbeddings: Tensor, positions: PositionIds, residuals: LayerResiduals?, cache: inout KVCache,
                 logits: LogitsSelection) throws(LanguageModelError) -> Tensor
}

extension LanguageModel {
    public func forward(inputEmbeddings: Tensor, positions: PositionIds, cache: inout KVCache,
                        logits: LogitsSelection) throws(LanguageModelError) -> Tensor {
        let n = inputEmbeddings.rank == 2 ? inputEmbeddings.shape[0] : 0
        guard positions == .sequential || positions.linear(count: n, start: cache.count) == Array(cache.count..<(cache.count + n)) else {
            throw .badInput("this decoder runs sequential positions only")
        }
        return try forward(inputEmbeddings: inputEmbeddings, cache: &cache, logits: logits)
    }

    public func forward(inputEmbeddings: Tensor, positions: PositionIds, residuals: LayerResiduals?, cache: inout KVCache,
                        logits: LogitsSelection) throws(LanguageModelError) -> Tensor {
        guard residuals == nil else { throw .badInput("this decoder takes no per-layer additions") }
        return try forward(inputEmbeddings: inputEmbeddings, positions: positions, cache: &cache, logits: logits)
    }
}

extension LanguageModel {
    /// A cache for `capacity` positions (at most the context length).
    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: layerCount, width: keyValueWidth, capacity: min(max(capacity, 0), contextLength), precision: cachePrecision)
    }

    /// f32 unless a model says otherwise.
    public var cachePrecision: KVCache.Precision { .f32 }

    /// f16 when the attention projections are block-quantized (their outputs already carry the
    /// int8 rounding of x, and llama.cpp keeps such caches in f16: half the memory, half the bytes
    /// a decoding step reads); bf16 when they are all bf16 and the CPU attends in bf16
    /// (`CausalSelfAttention.computesInBF16`: the keys and values are then bf16 values, held
    /// exactly); f32 otherwise, which the transformers parity of f32 / f16 checkpoints needs.
    static func cachePrecision(attentionWeights: [Tensor]) -> KVCache.Precision {
        if attentionWeights.contains(where: { $0.dtype.isBlockQuantized }) { return .f16 }
        if Attention.bf16Rounding && !attentionWeights.isEmpty && attentionWeights.allSatisfy({ $0.dtype == .bf16 }) { return .bf16 }
        return .f32
    }

    /// `forward` on token ids.
    public func forward(ids: [Int], cache: inout KVCache, logits: LogitsSelection = .last) throws(LanguageModelError) -> Tensor {
        try forward(inputEmbeddings: embed(ids), cache: &cache, logits: logits)
    }

    /// `forward` in chunks of at most `chunkSize` positions, bounding the activation memory of a
    /// long prompt (chunk × the MLP width; attention works on tiles of the chunk). Every chunk
    /// reads all the weights once and a small chunk multiplies at a low rate, so chunks are as
    /// large as the bound allows and of equal size (263 positions by 128 were 128 + 128 + 7).
    /// Intermediate chunks skip the LM head unless `.all` is asked for. Between chunks it honours
    /// task cancellation (`CancellationError`).
    /// `residuals` (DeepStack) are split with the chunks.
    public func prefill(inputEmbeddings: Tensor, positions: PositionIds = .sequential, residuals: LayerResiduals? = nil,
                        cache: inout KVCache, chunkSize: Int = GenerationParameters.defaultPrefillChunkSize,
                        logits: LogitsSelection = .last) throws -> Tensor {
        guard inputEmbeddings.rank == 2 else {
            throw LanguageModelError.badInput("input embeddings must be [positions, \(embeddingWidth)], got \(inputEmbeddings.shape)")
        }
        let n = inputEmbeddings.shape[0]
        try Self.checkPositions(positions, rows: n)
        if n <= max(1, chunkSize) {
            return try forward(inputEmbeddings: inputEmbeddings, positions: positions, residuals: residuals, cache: &cache, logits: logits)
        }
        let chunks = (n + max(1, chunkSize) - 1) / max(1, chunkSize)
        let step = (n + chunks - 1) / chunks
        var collected: [Tensor] = []
        var last = Tensor.zeros([0, vocabularySize])
        var start = 0
        while start < n {
            try Task.checkCancellation()
            let end = min(n, start + step)
            let chunkLogits: LogitsSelection = logits == .all ? .all : (end == n ? logits : .none)
            last = try forward(inputEmbeddings: inputEmbeddings.rows(start..<end), positions: positions.rows(start..<end),
                               residuals: residuals?.slice(start..<end), cache: &cache, logits: chunkLogits)
            if logits == .all { collected.append(last) }
            start = end
        }
        return logits == .all ? Tensor.concatenate(collected) : last
    }

    /// Explicit positions must give one per row.
    static func checkPositions(_ positions: PositionIds, rows: Int) throws(LanguageModelError) {
        switch positions {
        case .sequential: return
        case .explicit(let p):
            guard p.count == rows else { throw .badInput("\(p.count) position ids for \(rows) rows") }
        case .multimodal(let axes):
            guard !axes.isEmpty, axes.allSatisfy({ $0.count == rows }) else {
                throw .badInput("multimodal position ids must give every axis \(rows) positions")
            }
        }
    }
}

/// A language-model input or state that cannot be used, in one sentence.
public enum LanguageModelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The sequence would need positions beyond the model's context.
    case contextOverflow(positions: Int, context: Int)
    /// The cache has no room for the new positions.
    case cacheFull(needed: Int, capacity: Int)
    case tokenOutOfRange(id: Int, vocabulary: Int)
    case badInput(String)
    /// A weight holds Inf or NaN (found by the load-time check).
    case nonFiniteWeight(name: String, index: Int)

    public var description: String {
        switch self {
        case .contextOverflow(let positions, let context):
            return "The sequence needs \(positions) positions but the model's context holds \(context)."
        case .cacheFull(let needed, let capacity):
            return "The KV cache holds \(capacity) positions but \(needed) are needed."
        case .tokenOutOfRange(let id, let vocabulary):
            return "Token id \(id) is outside the model's vocabulary of \(vocabulary)."
        case .badInput(let why):
            return "Invalid language-model input: \(why)."
        case .nonFiniteWeight(let name, let index):
            return "Weight '\(name)' holds Inf or NaN (element \(index)); the checkpoint is damaged."
        }
    }
}

/// Checks shared by the decoders.
enum TextForward {
    /// Validates `x` [L, width] against the cache and context; returns L and the first position.
    static func check(_ x: Tensor, width: Int, cache: KVCache, context: Int) throws(LanguageModelError) -> (length: Int, start: Int) {
        guard x.rank == 2, x.shape[1] == width else {
            throw .badInput("input embeddings must be [positions, \(width)], got \(x.shape)")
        }
        let n = x.shape[0]
        guard n > 0 else { throw .badInput("no positions to run") }
        guard x.dtype.isFloatingPoint else { throw .badInput("input embeddings must be floating point, got \(x.dtype)") }
        let end = cache.count + n
        guard end <= context else { throw .contextOverflow(positions: end, context: context) }
        guard end <= cache.capacity else { throw .cacheFull(needed: end, capacity: cache.capacity) }
        return (n, cache.count)
    }

    static func checkIds(_ ids: [Int], vocabulary: Int) throws(LanguageModelError) {
        guard !ids.isEmpty else { throw .badInput("no token ids") }
        for id in ids where id < 0 || id >= vocabulary { throw .tokenOutOfRange(id: id, vocabulary: vocabulary) }
    }

    /// The rows of an L-row pass whose last-layer output `selection` uses: the last layer of a
    /// decoder computes only these (every row's keys and values are still cached).
    static func outputRows(count: Int, _ selection: LogitsSelection) -> Range<Int> {
        switch selection {
        case .all: return 0..<count
        case .last: return max(0, count - 1)..<count
        case .none: return count..<count
        }
    }

    /// The rows `selection` keeps of hidden states [L, D] (before the final norm and head).
    static func selectRows(_ x: Tensor, _ selection: LogitsSelection) -> Tensor? {
        switch selection {
        case .all: return x
        case .last: return x.rows((x.shape[0] - 1)..<x.shape[0])
        case .none: return nil
        }
    }

    /// Weights as the decoders use them: f32, bf16 and f16 as stored; anything else widened.
    static func matrix(_ t: Tensor) -> Tensor { MixedPrecisionLinear.isSupported(t.dtype) ? t : t.toF32() }

    /// Load-time Inf/NaN check. Small tensors (norms, biases) and `full` ones (embeddings) are
    /// scanned whole; other matrices at 64 evenly spaced rows — except f16 matrices, which are
    /// always scanned whole because the f16 kernels do not propagate Inf/NaN
    /// (see `HalfPrecisionKernels`). One pass over memory; cheap next to a forward pass.
    static func checkFinite(_ t: Tensor, _ name: String, full: Bool = false) throws(LanguageModelError) {
        let rows = t.rank == 0 ? 1 : t.shape[0]
        let whole = full || t.rank <= 1 || t.dtype == .f16 || rows <= 64
        if let i = t.firstNonFiniteElement(rowStride: whole ? 1 : max(1, rows / 64)) {
            throw .nonFiniteWeight(name: name, index: i)
        }
    }

}
