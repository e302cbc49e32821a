import Foundation
import XCTest
import VidLMModels
import VidLMTestSupport
@testable import VidLM

/// A conversation's prompt cache (`AskOptions.promptCache`, what `vidlm chat` uses): a follow-up
/// question prefills only what follows the last prompt and answer, and answers as a fresh request
/// does, for 1-D positions (SmolVLM) and M-RoPE (Qwen2-VL).
final class PromptCacheTests: XCTestCase {
    struct NoResult: Error {}

    private func result(_ engine: Engine, _ messages: [ChatMessage], _ options: AskOptions) async throws -> AskResult {
        for try await event in engine.respond(to: messages, options: options) {
            if case .finished(let result) = event { return result }
        }
        throw NoResult()
    }

    private func checkFollowUp(_ checkpoint: String, media: ChatMessage.Part, file: String) async throws {
        let engine = try await Engine.load(directory: TestFixtures.parity(checkpoint))
        var options = AskOptions(frames: 2, generation: GenerationParameters(maxNewTokens: 5, stopTokenIds: []))
        let cache = PromptCache()
        var cached = options
        cached.promptCache = cache
        let first = [ChatMessage(role: "user", content: .parts([media, .text("what happens")]))]
        let answer = try await result(engine, first, cached)
        XCTAssertEqual(cache.reusedPositions, 0, "\(checkpoint): nothing to reuse on the first question")
        let uncached = try await result(engine, first, options)
        XCTAssertEqual(answer.tokenIds, uncached.tokenIds)

        let conversation = first + [ChatMessage.assistant(answer.answer), ChatMessage.user("and then?")]
        let followUp = try await result(engine, conversation, cached)
        let fresh = try await result(engine, conversation, options)
        XCTAssertEqual(followUp.tokenIds, fresh.tokenIds, "\(checkpoint): the follow-up answers as a fresh request does")
        XCTAssertEqual(followUp.answers[0].promptTokenIds, fresh.answers[0].promptTokenIds)
        let firstPrompt = answer.answers[0].promptTokenIds.count
        // The first prompt comes from the cache, but for its last token, which the answer's text
        // may join when the conversation is tokenized again (Qwen's "\n" after "assistant").
        XCTAssertGreaterThanOrEqual(cache.reusedPositions, firstPrompt - 1,
                                    "\(checkpoint): the first question's prompt comes from the cache")
        XCTAssertLessThan(cache.reusedPositions, fresh.answers[0].promptTokenIds.count)

        // Other media in the same place: the shared start ends before its rows.
        options.promptCache = cache
        let other = [ChatMessage(role: "user", content: .parts([.image(source: file), .text("what happens")]))]
        _ = try await result(engine, other, options)
        XCTAssertLessThan(cache.reusedPositions, firstPrompt, "\(checkpoint): other pictures are not taken from the cache")
    }

    /// A follow-up that needs more room than the kept cache has: the shared positions move to a
    /// larger cache and the answer is still a fresh request's.
    func testFollowUpNeedingALargerCache() async throws {
        let engine = try await Engine.load(directory: TestFixtures.parity("smolvlm_tiny"))
        let clip = TestFixtures.repository.appendingPathComponent("samples/world/sequence.mp4").path
        let short = AskOptions(frames: 2, generation: GenerationParameters(maxNewTokens: 2, stopTokenIds: []))
        var long = short
        long.generation = GenerationParameters(maxNewTokens: 600, stopTokenIds: [])
        let cache = PromptCache()
        var cachedShort = short, cachedLong = long
        cachedShort.promptCache = cache
        cachedLong.promptCache = cache
        let first = [ChatMessage(role: "user", content: .parts([.video(source: clip), .text("what happens")]))]
        let answer = try await result(engine, first, cachedShort)
        let conversation = first + [ChatMessage.assistant(answer.answer), ChatMessage.user("and then?")]
        let followUp = try await result(engine, conversation, cachedLong)
        let fresh = try await result(engine, conversation, long)
        XCTAssertGreaterThan(600, 2 * (answer.answers[0].promptTokenIds.count + 2), "the first cache is too small for the follow-up")
        XCTAssertGreaterThanOrEqual(cache.reusedPositions, answer.answers[0].promptTokenIds.count - 1)
        XCTAssertEqual(followUp.tokenIds.count, 600)
        XCTAssertEqual(followUp.tokenIds, fresh.tokenIds)
    }

    func testSmolVLM() async throws {
        let clip = TestFixtures.repository.appendingPathComponent("samples/world/sequence.mp4").path
        let still = TestFixtures.parity("smolvlm_tiny").appendingPathComponent("cases/image_nosplit/input.png").path
        try await checkFollowUp("smolvlm_tiny", media: .video(source: clip), file: still)
    }

    func testQwen2VL() async throws {
        let still = TestFixtures.parity("smolvlm_tiny").appendingPathComponent("cases/image_nosplit/input.png").path
        let clip = TestFixtures.repository.appendingPathComponent("samples/world/sequence.mp4").path
        try await checkFollowUp("qwen2_vl_tiny", media: .video(source: clip), file: still)
    }
}
