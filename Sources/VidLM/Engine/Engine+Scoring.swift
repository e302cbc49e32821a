import Foundation
import VidLMModels
import VidLMTensor

/// The log-likelihood of an answer given the visual input.
public struct AnswerScore: Sendable, Codable, Equatable {
    /// Σ log p(token) over the answer's tokens (and the closing EOS).
    public let sum: Double
    /// `sum` / tokens.
    public let mean: Double
    public let tokens: Int
}

extension Engine {
    /// The answer's token ids as the decoder would emit them after the prompt: " " + answer, then
    /// the first EOS id.
    public func answerIds(_ answer: String) throws -> [Int] {
        let text = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw EngineError.invalidOption("the answer to score is empty") }
        let ids = model.tokenizer.encode(" " + text, addSpecialTokens: false)
        return ids + (model.language.eosTokenIds.first.map { [$0] } ?? [])
    }

    /// Scores `answer` after the prompt built from `features` [T, N, Dv] (frames in the order
    /// given) and `question`; `framePositions` overrides each frame's position index. Image
    /// families (one frame per prompt) score each frame on its own and average the scores.
    public func score(features: Tensor, question: String?, answer: String, framePositions: [Int]? = nil) throws -> AnswerScore {
        let frames = (0..<features.shape[0]).map { FrameInfo(index: $0, seconds: 0) }
        let parts = (0..<features.shape[0]).map { EncodedFrame(features: features.rows($0..<($0 + 1))) }
        return try score(media: EncodedMedia(kind: .video, frames: frames, parts: parts, durationSeconds: 0),
                         question: question, answer: answer, framePositions: framePositions)
    }

    /// Scores `answer` after the prompt the family builds for `media` (its parts in the order
    /// given) and `question`; `framePositions` overrides each frame's position index or time.
    public func score(media: EncodedMedia, question: String?, answer: String, framePositions: [Int]? = nil) throws -> AnswerScore {
        let ids = try answerIds(answer)
        let groups = model.frameUse == .singleImage
            ? media.parts.indices.map { EncodedMedia(kind: .image, frames: [media.frames[$0]], parts: [media.parts[$0]], durationSeconds: 0) }
            : [media]
        var total = 0.0
        for group in groups {
            let request = PromptRequest(messages: ChatMessage.oneTurn(question, about: group.kind), media: [group],
                                        framePositions: model.frameUse == .singleImage ? nil : framePositions)
            let prompt = try model.prepare(request)
            let inputs = Tensor.concatenate([prompt.embeddings, try model.language.embed(ids)])
            let n = prompt.embeddings.shape[0]
            let next = prompt.positions.next(count: n, start: 0)
            let positions: PositionIds = switch prompt.positions {
            case .sequential: .sequential
            case .explicit(let p): .explicit(p + (0..<ids.count).map { next + $0 })
            case .multimodal(let axes): .multimodal(axes.map { $0 + (0..<ids.count).map { next + $0 } })
            }
            var cache = model.language.makeCache(capacity: inputs.shape[0])
            let logits = try model.language.prefill(inputEmbeddings: inputs, positions: positions, residuals: prompt.residuals,
                                                    cache: &cache, logits: .all)
            let vocab = logits.shape[1], first = prompt.embeddings.shape[0] - 1
            total += logits.withFloats { l -> Double in
                var sum = 0.0
                for (k, id) in ids.enumerated() {
                    let row = l.baseAddress! + (first + k) * vocab
                    var peak = -Float.infinity
                    for v in 0..<vocab { peak = max(peak, row[v]) }
                    var z = 0.0
                    for v in 0..<vocab { z += Foundation.exp(Double(row[v] - peak)) }
                    sum += Double(row[id] - peak) - Foundation.log(z)
                }
                return sum
            }
        }
        let sum = total / Double(groups.count)
        return AnswerScore(sum: sum, mean: sum / Double(ids.count), tokens: ids.count)
    }
}
