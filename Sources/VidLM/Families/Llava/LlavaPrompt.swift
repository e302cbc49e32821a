import Foundation
import VidLMModels
import VidLMTensor

/// How the LLaVA processors turn a rendered chat template into ids: every image placeholder the
/// template wrote becomes as many placeholders as that picture has visual rows (the processor's
/// `replace_image_token`), then the tokenizer runs with special tokens unless the text already
/// starts with BOS (`ProcessorMixin.apply_chat_template`).
public struct LlavaPrompt: Sendable {
    public let tokenizer: Tokenizer
    public let imageToken: String
    public let imageTokenId: Int

    public init(tokenizer: Tokenizer, imageToken: String, imageTokenId: Int) {
        self.tokenizer = tokenizer
        self.imageToken = imageToken
        self.imageTokenId = imageTokenId
    }

    /// `rendered` with its i-th placeholder expanded to `counts[i]` placeholders, tokenized. There
    /// must be exactly one placeholder per count.
    public func ids(rendered: String, counts: [Int]) throws -> [Int] {
        let pieces = rendered.components(separatedBy: imageToken)
        guard pieces.count - 1 == counts.count else {
            throw EngineError.prompt("the prompt holds \(pieces.count - 1) image placeholder\(pieces.count == 2 ? "" : "s") (\(imageToken)) but the conversation has \(counts.count) picture\(counts.count == 1 ? "" : "s")")
        }
        var text = pieces[0]
        for (i, n) in counts.enumerated() {
            text += String(repeating: imageToken, count: n) + pieces[i + 1]
        }
        let bos = tokenizer.specialTokenStrings["bos_token"]
        let startsWithBOS = bos.map { !$0.isEmpty && text.hasPrefix($0) } ?? false
        return tokenizer.encode(text, addSpecialTokens: !startsWithBOS)
    }

    /// `rendered` with each placeholder expanded: every occurrence of a token of `expansions`
    /// takes the next count listed for that token, in order (images and videos each keep their
    /// own order, as the processors replace them). Every count must be used.
    public func ids(rendered: String, expansions: [(token: String, count: Int)]) throws -> [Int] {
        var queues: [String: [Int]] = [:]
        for e in expansions { queues[e.token, default: []].append(e.count) }
        let tokens = Array(Set(expansions.map(\.token) + [imageToken]))
        var text = "", rest = Substring(rendered)
        while let hit = tokens.compactMap({ t in rest.range(of: t).map { (t, $0) } }).min(by: { $0.1.lowerBound < $1.1.lowerBound }) {
            text += rest[..<hit.1.lowerBound]
            rest = rest[hit.1.upperBound...]
            guard var queue = queues[hit.0], !queue.isEmpty else {
                let given = expansions.filter { $0.token == hit.0 }.count
                throw EngineError.prompt("the prompt holds more \(hit.0) placeholders than the conversation has media for them (\(given))")
            }
            text += String(repeating: hit.0, count: queue.removeFirst())
            queues[hit.0] = queue
        }
        text += rest
        if let (token, left) = queues.first(where: { !$0.value.isEmpty }) {
            throw EngineError.prompt("the chat template placed \(expansions.filter { $0.token == token }.count - left.count) \(token) placeholder(s) but the conversation has \(expansions.filter { $0.token == token }.count) such media")
        }
        let bos = tokenizer.specialTokenStrings["bos_token"]
        let startsWithBOS = bos.map { !$0.isEmpty && text.hasPrefix($0) } ?? false
        return tokenizer.encode(text, addSpecialTokens: !startsWithBOS)
    }

    /// The conversation with each video part replaced by one image part per frame, for
    /// processors that take pictures only (LLaVA-1.5): a clip becomes its frames, in order.
    /// `frameCounts` gives the frames of each media part, in the order the parts appear.
    public static func framesAsImages(_ messages: [ChatMessage], frameCounts: [Int]) -> [ChatMessage] {
        var next = 0
        return messages.map { message in
            guard case .parts(let parts) = message.content else { return message }
            var out: [ChatMessage.Part] = []
            for part in parts {
                switch part {
                case .text: out.append(part)
                case .image: out.append(part); next += 1
                case .video(let source):
                    let n = next < frameCounts.count ? frameCounts[next] : 1
                    out.append(contentsOf: Array(repeating: .image(source: source), count: n))
                    next += 1
                }
            }
            return ChatMessage(role: message.role, content: .parts(out), extra: message.extra)
        }
    }

    /// The decoder's input for a conversation whose pictures and clips were projected into rows
    /// (in the order of `expansions`): `messages` rendered by `template`, each placeholder expanded
    /// to its rows, the rows written over the placeholders' embeddings. Stage `projected` holds
    /// every visual row, the images' then the clips' (`vidlm features --stage projected`).
    func prepared(_ messages: [ChatMessage], addGenerationPrompt: Bool, template: ChatTemplate, language: any LanguageModel,
                  imageRows: [Tensor], videoRows: [Tensor], videoTokenId: Int,
                  expansions: [(token: String, count: Int)]) throws -> PreparedPrompt {
        let rendered = try template.render(messages, addGenerationPrompt: addGenerationPrompt,
                                           specialTokens: tokenizer.specialTokenStrings)
        let ids = try self.ids(rendered: rendered, expansions: expansions)
        var embeddings = try language.embed(ids.map { $0 == imageTokenId || $0 == videoTokenId ? 0 : $0 })
        for (tokenId, rows) in [(imageTokenId, imageRows), (videoTokenId, videoRows)] where !rows.isEmpty {
            embeddings = try LlavaNextFamily.place(Tensor.concatenate(rows), into: embeddings, at: ids.indices.filter { ids[$0] == tokenId })
        }
        let visual = imageRows + videoRows
        let stages: [String: Tensor] = visual.isEmpty ? [:] : ["projected": Tensor.concatenate(visual)]
        return PreparedPrompt(embeddings: embeddings, textIds: ids.filter { $0 != imageTokenId && $0 != videoTokenId },
                              inputIds: ids, stages: stages)
    }
}
