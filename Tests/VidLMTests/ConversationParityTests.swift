import Foundation
import XCTest
import VidLMModels
import VidLMTestSupport
@testable import VidLM

/// Multi-turn prompts against transformers' processors (tools/parity/make_conversation_fixtures.py)
/// for nine checkpoints' templates: a system message, a question about a still, the assistant's
/// answer and a follow-up. vidlm gets the text turns as plain strings (as `vidlm chat` keeps answers
/// and OpenAI clients send content), and must build the ids the processor builds from lists of
/// parts, as transformers serve hands them over. SmolVLM's and LLaVA's templates render a plain
/// string as nothing, so without that step the answer and the follow-up would vanish from the
/// prompt; an empty answer must still be a part (SmolVLM's template reads `content[0]`).
final class ConversationParityTests: XCTestCase {
    struct Fixture: Decodable {
        let checkpoint: String
        let image: String
        let system: String
        let question: String
        let answer: String
        let followUp: String
        let inputIds: [Int]
        let emptyAnswerInputIds: [Int]
    }

    private func check(_ name: String) async throws {
        let url = TestFixtures.tests.appendingPathComponent("Fixtures/conversation/\(name).json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let f = try decoder.decode(Fixture.self, from: Data(contentsOf: url))
        let engine = try await Engine.load(directory: TestFixtures.parity(f.checkpoint))
        let image = TestFixtures.tests.appendingPathComponent("Fixtures/\(f.image)").path
        let media = try await engine.encodedMedia(.media(path: image))
        for (answer, expected) in [(f.answer, f.inputIds), ("", f.emptyAnswerInputIds)] {
            let messages = [
                ChatMessage.system(f.system),
                ChatMessage(role: "user", content: .parts([.image(source: nil), .text(f.question)])),
                ChatMessage.assistant(answer),
                ChatMessage.user(f.followUp),
            ]
            let prompt = try engine.model.prepare(PromptRequest(messages: messages, media: [media]))
            XCTAssertEqual(prompt.inputIds, expected, "\(name), answer \(answer.debugDescription): multi-turn prompt ids as transformers' processor builds them")
        }
    }

    func testSmolVLM() async throws { try await check("smolvlm_tiny") }
    func testLlava() async throws { try await check("llava_tiny") }
    func testLlavaNext() async throws { try await check("llava_next_tiny") }
    func testLlavaNextVideo() async throws { try await check("llava_next_video_tiny") }
    func testLlavaOneVision() async throws { try await check("llava_onevision_tiny") }
    func testVideoLlava() async throws { try await check("video_llava_tiny") }
    func testQwen2VL() async throws { try await check("qwen2_vl_tiny") }
    func testQwen2_5VL() async throws { try await check("qwen2_5_vl_tiny") }
    func testQwen3VL() async throws { try await check("qwen3_vl_tiny") }
}

/// Media encoded once and handed back (`EngineInput.encoded`, what `vidlm chat` does for follow-up
/// questions) gives the answer the file itself gives.
final class EncodedMediaReuseTests: XCTestCase {
    struct NoResult: Error {}

    private func result(_ engine: Engine, _ messages: [ChatMessage], _ media: [EngineInput], _ options: AskOptions) async throws -> AskResult {
        for try await event in engine.respond(to: messages, media: media, options: options) {
            if case .finished(let result) = event { return result }
        }
        throw NoResult()
    }

    func testEncodedMediaAnswersAsTheFileDoes() async throws {
        let engine = try await Engine.load(directory: TestFixtures.parity("smolvlm_tiny"))
        let clip = TestFixtures.repository.appendingPathComponent("samples/world/sequence.mp4").path
        let options = AskOptions(frames: 2, generation: GenerationParameters(maxNewTokens: 6, stopTokenIds: []))
        let messages = [
            ChatMessage(role: "user", content: .parts([.video(source: clip), .text("what happens")])),
            ChatMessage.assistant("a square moves"),
            ChatMessage.user("and then?"),
        ]
        let fromFile = try await result(engine, messages, [], options)
        let encoded = try await engine.encodedMedia(.media(path: clip), options: options)
        let reused = try await result(engine, messages, [.encoded(encoded)], options)
        XCTAssertEqual(reused.tokenIds, fromFile.tokenIds)
        XCTAssertEqual(reused.answers.map(\.promptTokenIds), fromFile.answers.map(\.promptTokenIds))
        XCTAssertEqual(reused.frames.map(\.index), fromFile.frames.map(\.index))
        XCTAssertEqual(fromFile.tokenIds.count, 6)
    }
}

/// `EncodedMediaCache`: an unchanged file is encoded once; a file replaced on disk is encoded again.
final class EncodedMediaCacheTests: XCTestCase {
    func testUnchangedFilesAreEncodedOnceAndReplacedOnesAgain() async throws {
        let engine = try await Engine.load(directory: TestFixtures.parity("smolvlm_tiny"))
        let cases = TestFixtures.parity("smolvlm_tiny").appendingPathComponent("cases")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let picture = folder.appendingPathComponent("picture.png")
        try FileManager.default.copyItem(at: cases.appendingPathComponent("image_nosplit/input.png"), to: picture)
        let cache = EncodedMediaCache()
        let options = AskOptions()
        let first = try await cache.encoded(picture.path, engine: engine, options: options)
        let again = try await cache.encoded(picture.path, engine: engine, options: options)
        var encodings = await cache.encodings
        XCTAssertEqual(encodings, 1)
        XCTAssertEqual(again.features.floats(), first.features.floats())

        // Another picture under the same name (a different size on disk): encoded afresh.
        try FileManager.default.removeItem(at: picture)
        try FileManager.default.copyItem(at: cases.appendingPathComponent("image_split/input.png"), to: picture)
        let replaced = try await cache.encoded(picture.path, engine: engine, options: options)
        encodings = await cache.encodings
        XCTAssertEqual(encodings, 2)
        XCTAssertNotEqual(replaced.features.floats(), first.features.floats())

        await cache.keep([])
        _ = try await cache.encoded(picture.path, engine: engine, options: options)
        encodings = await cache.encodings
        XCTAssertEqual(encodings, 3, "a forgotten file is encoded again")
    }
}
