import Foundation

/// Picks the next token from logits as transformers' `generate` does: repetition penalty, bad
/// words, then (sampling only) temperature, top-k, top-p, softmax and a draw from the seeded generator;
/// greedy takes the first index of the maximum (`torch.argmax`).
public struct TokenSampler: Sendable {
    public let parameters: GenerationParameters
    private var random: SeededRandom

    public init(parameters: GenerationParameters) {
        self.parameters = parameters
        random = SeededRandom(seed: parameters.seed)
    }

    /// The next token for `logits` (one row of the vocabulary), given the ids seen so far
    /// (`context`: prompt and generated, for the repetition penalty and bad words). Nil when the logits hold
    /// Inf/NaN.
    public mutating func next(logits: [Float], context: [Int]) -> Int? {
        var scores = logits
        if scores.contains(where: { !$0.isFinite }) { return nil }
        let penalty = parameters.repetitionPenalty
        if penalty != 1 {
            for id in Set(context) where id >= 0 && id < scores.count {
                let s = scores[id]
                scores[id] = s < 0 ? s * penalty : s / penalty
            }
        }
        for word in parameters.badWordsIds where context.suffix(word.count - 1).elementsEqual(word.dropLast()) {
            if let banned = word.last, banned >= 0, banned < scores.count { scores[banned] = -.infinity }
        }
        if parameters.isGreedy { return Self.argmax(scores) }

        let t = parameters.temperature
        if t != 1 { for i in scores.indices { scores[i] /= t } }
        if parameters.topK > 0 && parameters.topK < scores.count {
            // Keep every score ≥ the k-th largest (ties kept, as `scores < topk(...)[-1]` does).
            let kth = scores.sorted(by: >)[parameters.topK - 1]
            for i in scores.indices where scores[i] < kth { scores[i] = -.infinity }
        }
        if parameters.topP < 1 {
            // Ascending sort; drop the low tail whose cumulative probability ≤ 1 − top_p,
            // always keeping the most likely token.
            let order = scores.indices.sorted { scores[$0] < scores[$1] }
            let sorted = order.map { scores[$0] }
            let probabilities = Self.softmax(sorted)
            var cumulative: Float = 0
            let threshold = 1 - parameters.topP
            for (rank, index) in order.enumerated() where rank < order.count - 1 {
                cumulative += probabilities[rank]
                if cumulative <= threshold { scores[index] = -.infinity }
            }
        }
        let probabilities = Self.softmax(scores)
        let u = Float(random.nextUnit())
        var acc: Float = 0
        var lastPossible = Self.argmax(scores)
        for (i, p) in probabilities.enumerated() where p > 0 {
            acc += p
            lastPossible = i
            if u < acc { return i }
        }
        return lastPossible  // rounding left u just above the total
    }

    static func argmax(_ x: [Float]) -> Int {
        var best = 0
        for i in x.indices where x[i] > x[best] { best = i }
        return best
    }

    static func softmax(_ x: [Float]) -> [Float] {
        let m = x.max() ?? 0
        guard m > -.infinity else { return x.map { _ in 0 } }
        var e = x.map { expf($0 - m) }
        let sum = e.reduce(0, +)
        for i in e.indices { e[i] /= sum }
        return e
    }
}
