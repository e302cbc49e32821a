import Foundation
import XCTest
import VidLMModels
@testable import VidLM

/// The built-in model's generation_config.json (issue 22): `bad_words_ids` holds the n-grams its
/// world's answer language never contains. Every true held-out answer passes it untouched, the
/// README's demo answer is unchanged, and real footage no longer sends it into a loop.
final class ShippedGenerationConfigTests: XCTestCase {
    static let model = Fixtures.repo.appendingPathComponent("models/vidlm-shapes")

    static func badWords() throws -> [[Int]] {
        let data = try Data(contentsOf: model.appendingPathComponent("generation_config.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return try XCTUnwrap(json["bad_words_ids"] as? [[Int]])
    }

    /// transformers' NoBadWordsLogitsProcessor: one id is always banned; a longer entry bans its
    /// last id only where the ids before it end the context.
    func testBadWordsFollowTransformers() {
        var s = TokenSampler(parameters: GenerationParameters(badWordsIds: [[3], [1, 2], [5, 6, 0]]))
        XCTAssertEqual(s.next(logits: [0, 1, 5, 9], context: []), 2, "[3] is banned everywhere")
        XCTAssertEqual(s.next(logits: [0, 1, 5, 9], context: [1]), 1, "[1, 2]: 2 is banned after 1")
        XCTAssertEqual(s.next(logits: [0, 1, 5, 9], context: [1, 4]), 2, "not right after 1: no ban")
        XCTAssertEqual(s.next(logits: [9, 1, 5, 0], context: [5, 6]), 2, "[5, 6, 0]")
        XCTAssertEqual(s.next(logits: [9, 1, 5, 0], context: [6]), 0, "prefix longer than the context")
        XCTAssertThrowsError(try GenerationParameters(badWordsIds: [[]]).validate())
    }

    /// No n-gram of any true caption or answer in the held-out set (eval/heldout) is banned, so the
    /// config cannot change an answer the model gives in its own language.
    func testEveryHeldOutAnswerPasses() throws {
        let banned = Set(try Self.badWords())
        XCTAssertGreaterThan(banned.count, 1000)
        let tokenizer = try Tokenizer.load(directory: Self.model)
        let manifest = try String(contentsOf: Fixtures.repo.appendingPathComponent("eval/heldout/manifest.jsonl"), encoding: .utf8)
        var answers = ["the blue square appears, then the triangle changes colour from red to yellow."]
        for line in manifest.split(separator: "\n") {
            let item = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            answers.append(item["caption"] as! String)
            for qa in item["qa"] as! [[String: Any]] { answers.append(qa["answer"] as! String) }
        }
        XCTAssertGreaterThan(answers.count, 1300)
        for answer in answers {
            let ids = tokenizer.encode(" " + answer, addSpecialTokens: false)
            for end in ids.indices {
                for n in 1...3 where end - n + 1 >= 0 {
                    let gram = Array(ids[(end - n + 1)...end])
                    XCTAssertFalse(banned.contains(gram), "'\(answer)': \(tokenizer.decode(gram)) is banned")
                }
            }
        }
    }

    /// With the config, the demo answer is the same and samples/clip.mp4 (real footage) gets an
    /// answer in the world's language instead of "the circle changes colour from the circle …".
    func testDemoUnchangedAndRealFootageDoesNotLoop() async throws {
        let engine = try await Engine.load(directory: Self.model)
        let options = AskOptions(generation: GenerationParameters(maxNewTokens: 64, badWordsIds: try Self.badWords()))
        let demo = try await engine.answer(.media(path: Fixtures.repo.appendingPathComponent("samples/world/sequence.mp4").path),
                                           question: "what happens", options: options)
        XCTAssertEqual(demo.answer, "the blue square appears, then the triangle changes colour from red to yellow.")
        for question in ["what happens", "what happens?", "what is the man doing?"] {
            let clip = try await engine.answer(.media(path: Fixtures.repo.appendingPathComponent("samples/clip.mp4").path),
                                               question: question, options: options)
            XCTAssertEqual(clip.finish, .stopToken(2), question)
            XCTAssertFalse(Self.repeatsItself(clip.tokenIds), "'\(question)': '\(clip.answer)' repeats itself")
        }
    }

    /// Whether some span of ids is immediately followed by itself ("three three", "from the
    /// circle changes colour from the circle changes colour").
    static func repeatsItself(_ ids: [Int]) -> Bool {
        guard ids.count >= 2 else { return false }
        for k in 1...(ids.count / 2) {
            for i in 0...(ids.count - 2 * k) where ids[i..<(i + k)].elementsEqual(ids[(i + k)..<(i + 2 * k)]) { return true }
        }
        return false
    }
}
