import Foundation
import VidLMTensor

/// One conversation's decoder state between requests (llama.cpp's prompt cache): the KV cache of
/// its last prompt and answer, and what each cached position held, so the next prompt, which
/// repeats the conversation so far, prefills only what follows the longest start it shares with
/// them. A position is reused only when its input row (bit for bit, per-layer additions included)
/// and its position ids are the same, so a changed picture or a re-tokenized answer ends the
/// shared start there. Use one per conversation; a request takes the cache out while it runs.
public final class PromptCache: @unchecked Sendable {
    /// What one cached position held.
    struct Row: Equatable {
        /// The input row, then its per-layer additions (DeepStack), if any.
        let values: [Float]
        /// One per position axis.
        let positions: [Int]
    }

    private let lock = NSLock()
    private var cache: KVCache?
    private var rows: [Row] = []
    private var reused = 0

    public init() {}

    /// Prompt positions the last request took from the cache instead of prefilling them.
    public var reusedPositions: Int { lock.withLock { reused } }

    /// A cache for a prompt of `prompt` rows holding their first `shared` rows (at most all but the
    /// last, whose logits the request needs), with room for `capacity` positions. A conversation
    /// grows, so a new or enlarged cache gets room for twice that (untouched pages cost address
    /// space only), up to the model's context.
    func take(for prompt: [Row], capacity: Int, model: any LanguageModel) -> (cache: KVCache, shared: Int) {
        lock.withLock {
            defer { cache = nil; rows = [] }
            let roomy = max(capacity, min(2 * capacity, model.contextLength))
            guard var kept = cache else {
                reused = 0
                return (model.makeCache(capacity: roomy), 0)
            }
            let limit = min(rows.count, prompt.count - 1, kept.count)
            var shared = 0
            while shared < limit && rows[shared] == prompt[shared] { shared += 1 }
            kept.truncate(to: shared)
            if kept.capacity < capacity { kept = kept.resized(capacity: roomy) }
            reused = shared
            return (kept, shared)
        }
    }

    /// Keeps `cache` for the next request; `rows` describes its positions in order (only the
    /// first `cache.count` are in it, e.g. after a cancelled prefill).
    func keep(_ cache: KVCache, rows: [Row]) {
        lock.withLock {
            self.cache = cache
            self.rows = Array(rows.prefix(cache.count))
        }
    }

    /// The rows of a prompt: its input rows, positions and per-layer additions.
    static func rows(of embeddings: Tensor, positions: PositionIds, residuals: LayerResiduals?) -> [Row] {
        let n = embeddings.shape[0]
        let width = n > 0 ? embeddings.count / n : 0
        let values = embeddings.floats()
        var extra: [Int: [Float]] = [:]
        if let residuals {
            let layers = residuals.layers.map { $0.floats() }
            for (k, row) in residuals.rows.enumerated() {
                extra[row] = layers.flatMap { $0[(k * width)..<((k + 1) * width)] }
            }
        }
        return (0..<n).map { i in
            Row(values: Array(values[(i * width)..<((i + 1) * width)]) + (extra[i] ?? []),
                positions: Self.position(positions, row: i, at: i))
        }
    }

    /// The position ids of row `i` of `positions`, held at cache position `slot` (what a
    /// sequential row's position is).
    static func position(_ positions: PositionIds, row i: Int, at slot: Int) -> [Int] {
        switch positions {
        case .sequential: return [slot]
        case .explicit(let p): return [p[i]]
        case .multimodal(let axes): return axes.map { $0[i] }
        }
    }
}
