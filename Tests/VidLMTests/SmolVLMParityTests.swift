import Foundation
import XCTest
import VidLMJinja
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// SmolVLM2 against transformers 5.23 on a tiny random checkpoint
/// (tools/parity/make_smolvlm_fixtures.py): processor pixels, tower, connector, prompt ids, last
/// logits and greedy ids, for a split still image, an unsplit one and a video decoded by vidlm.
final class SmolVLMParityTests: XCTestCase {
    static let folder = Fixtures.parity("smolvlm_tiny")

    struct Case {
        let folder: URL
        let meta: [String: Any]
        let expected: SafetensorsFile

        init(_ name: String) throws {
            folder = SmolVLMParityTests.folder.appendingPathComponent("cases/\(name)")
            meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
            expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        }

        var inputIds: [Int] { meta["input_ids"] as! [Int] }
        var generated: [Int] { meta["generated_ids"] as! [Int] }
        var question: String {
            let messages = meta["messages"] as! [[String: Any]]
            let parts = messages[0]["content"] as! [[String: Any]]
            return parts.first { $0["type"] as? String == "text" }!["text"] as! String
        }
        var options: AskOptions { AskOptions(generation: GenerationParameters(maxNewTokens: generated.count, stopTokenIds: [])) }
    }

    private func family(_ engine: Engine) throws -> SmolVLMFamily {
        try XCTUnwrap(engine.model as? SmolVLMFamily)
    }

    /// Pixels, tower and connector of `media` against the case's tensors.
    private func checkStages(_ family: SmolVLMFamily, pixels: Tensor, _ c: Case, _ what: String) throws {
        assertClose(pixels, try c.expected.tensor("pixel_values"), tolerance: 1e-6, "\(what): pixel values")
        let hidden = try family.encode(pixels: pixels)
        assertClose(hidden, try c.expected.tensor("vision_hidden"), "\(what): vision tower")
        assertClose(try family.connector(hidden), try c.expected.tensor("connector"), "\(what): connector")
    }

    private func checkPrompt(_ engine: Engine, _ request: PromptRequest, _ c: Case, _ what: String) throws {
        let prompt = try engine.model.prepare(request)
        XCTAssertEqual(prompt.inputIds, c.inputIds, "\(what): prompt ids as processor.apply_chat_template builds them")
        var cache = engine.model.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try engine.model.language.prefill(inputEmbeddings: prompt.embeddings, positions: prompt.positions, cache: &cache)
        assertClose(logits.reshaped([logits.count]), try c.expected.tensor("logits_last"), "\(what): last logits")
    }

    func testSplitImageThroughTheEngine() async throws {
        let c = try Case("image_split")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try family(engine)
        let path = c.folder.appendingPathComponent("input.png").path
        let media = try await engine.encodedMedia(.media(path: path), options: AskOptions(stillImage: false))
        XCTAssertEqual(media.kind, .image)
        XCTAssertEqual(media.parts[0].layout["rows"], c.meta["rows"] as? Int)
        XCTAssertEqual(media.parts[0].layout["cols"], c.meta["cols"] as? Int)
        let image = try await Self.decodeStill(path)
        let (pixels, _, _) = try SmolVLMImageProcessor(family.processor.image).image(image, split: true)
        XCTAssertGreaterThan(pixels.shape[0], ThreadBudget.visionBatch(tokensPerFrame: family.tower.config.tokenCount),
                             "the tiles span several vision batches, so the oracle's one pass checks the batched path")
        try checkStages(family, pixels: pixels, c, "image_split")
        try checkPrompt(engine, PromptRequest(messages: ChatMessage.oneTurn(c.question, about: .image), media: [media]), c, "image_split")
        let result = try await engine.answer(.media(path: path), question: c.question, options: c.options)
        XCTAssertEqual(result.tokenIds, c.generated, "image_split: greedy ids")
        XCTAssertEqual(result.answers[0].promptTokenIds, c.inputIds)
    }

    func testImageWithoutSplitting() async throws {
        let c = try Case("image_nosplit")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try family(engine)
        let image = try await Self.decodeStill(c.folder.appendingPathComponent("input.png").path)
        let (pixels, rows, cols) = try SmolVLMImageProcessor(family.processor.image).image(image, split: false)
        XCTAssertEqual([rows, cols], [0, 0])
        try checkStages(family, pixels: pixels, c, "image_nosplit")
        let media = EncodedMedia(kind: .image, frames: [FrameInfo(index: 0, seconds: 0)],
                                 parts: [EncodedFrame(features: try family.encode(pixels: pixels), layout: ["rows": 0, "cols": 0])],
                                 durationSeconds: 0)
        let request = PromptRequest(messages: ChatMessage.oneTurn(c.question, about: .image), media: [media])
        try checkPrompt(engine, request, c, "image_nosplit")
        let prompt = try engine.model.prepare(request)
        let (ids, _) = try TextGenerator(model: engine.model.language).generate(
            .embeddings(prompt.embeddings, positions: prompt.positions, penaltyContext: prompt.textIds), parameters: c.options.generation)
        XCTAssertEqual(ids, c.generated, "image_nosplit: greedy ids")
    }

    /// The video through vidlm's own decoder: the processor's sampled indices, the frames'
    /// pixels (torchcodec decoded the same frames), the "Frame from MM:SS" prompt, the answer.
    func testVideoThroughTheRealDecodePath() async throws {
        let c = try Case("video")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try family(engine)
        let path = Fixtures.repo.appendingPathComponent(c.meta["video"] as! String).path
        let media = try await engine.encodedMedia(.media(path: path))
        XCTAssertEqual(media.frames.map(\.index), c.meta["sampled_frame_indices"] as? [Int], "sampled frame indices")
        // The decoded frames themselves, against the ones transformers decoded (torchcodec).
        let decoder = try await MediaDecoder.open(path)
        let reference = try c.expected.tensor("frames_uint8")   // [T, H, W, 3]
        var frames: [RGBImage] = []
        for try await frame in decoder.frames(FrameRequest(.indices(media.frames.map(\.index)))) { frames.append(frame.image) }
        let want = reference.floats()
        var maxDiff: Float = 0
        for (t, f) in frames.enumerated() {
            XCTAssertEqual([f.height, f.width], [reference.shape[1], reference.shape[2]])
            for (i, v) in f.pixels.enumerated() { maxDiff = max(maxDiff, abs(Float(v) - want[t * f.pixels.count + i])) }
        }
        XCTAssertEqual(maxDiff, 0, "decoded frames differ from torchcodec's by up to \(maxDiff)")
        let pixels = Tensor.concatenate(try frames.map { try SmolVLMImageProcessor(family.processor.video).frame($0) })
        try checkStages(family, pixels: pixels, c, "video")
        try checkPrompt(engine, PromptRequest(messages: ChatMessage.oneTurn(c.question, about: .video), media: [media]), c, "video")
        let result = try await engine.answer(.media(path: path), question: c.question, options: c.options)
        XCTAssertEqual(result.tokenIds, c.generated, "video: greedy ids")
    }

    /// transformers 5's `processor_config.json` and the separate files published checkpoints
    /// carry give the same settings and prompts.
    func testBothProcessorConfigLayouts() async throws {
        let modern = try await Engine.load(directory: Self.folder)
        let legacy = try await Engine.load(directory: Fixtures.parity("smolvlm_tiny_legacy"))
        XCTAssertEqual(try family(modern).processor, try family(legacy).processor)
        XCTAssertEqual(try family(legacy).processor.videoFPS, 1)
        XCTAssertEqual(try family(legacy).processor.videoMaxFrames, 8)
        XCTAssertEqual(try family(modern).template.source, try family(legacy).template.source)
    }

    /// The processor's own format for video conversations renders exactly as transformers'
    /// (the fixture checkpoint's template is that format) on the chat-template corpus's
    /// conversations, image-first, text-first, plain-string content and several turns.
    func testVideoConversationFormatMatchesTheProcessors() async throws {
        let ours = try XCTUnwrap(SmolVLMFamily.videoConversationTemplate)
        let reference = try XCTUnwrap(try ChatTemplate.load(directory: Self.folder, reader: .processor))
        let corpus = Fixtures.tests.appendingPathComponent("Fixtures/chat_templates/conversations.json")
        guard case .list(let conversations) = try JinjaJSON.parse(String(contentsOf: corpus, encoding: .utf8)) else {
            return XCTFail("conversations.json")
        }
        var compared = 0
        for case .dict(let c) in conversations {
            guard let messages = c["messages"] else { continue }
            for generation in [false, true] {
                let want: String
                do { want = try reference.render(messages: messages, addGenerationPrompt: generation) } catch {
                    XCTAssertThrowsError(try ours.render(messages: messages, addGenerationPrompt: generation))
                    continue
                }
                XCTAssertEqual(try ours.render(messages: messages, addGenerationPrompt: generation), want)
                compared += 1
            }
        }
        XCTAssertGreaterThan(compared, 10)
    }

    /// transformers' `sample_frames` on clips of other lengths and rates (numpy's linspace with
    /// dtype=int truncates; the edges are skipped only when the clip is long enough).
    func testFrameSamplingRule() {
        XCTAssertEqual(SmolVLMFamily.sampleIndices(frameCount: 100, fps: 25, duration: 4, targetFPS: 1, maxFrames: 8), [0, 33, 66, 99])
        // 60 s at 30 fps, 64 max at 1 fps: 60 frames between the skipped edges? 60 - 2 > 64 is false: no skip.
        XCTAssertEqual(SmolVLMFamily.sampleIndices(frameCount: 1800, fps: 30, duration: 60, targetFPS: 1, maxFrames: 64).count, 60)
        // 10 minutes: 64 frames from second 1 to the last second.
        let long = SmolVLMFamily.sampleIndices(frameCount: 18000, fps: 30, duration: 600, targetFPS: 1, maxFrames: 64)
        XCTAssertEqual(long.count, 64)
        XCTAssertEqual(long.first, 30)
        XCTAssertEqual(long.last, 17970)
        XCTAssertEqual(SmolVLMFamily.sampleIndices(frameCount: 5, fps: 10, duration: 0.5, targetFPS: 1, maxFrames: 64), [0])
        XCTAssertEqual(EnglishNumber.words(64), "sixty-four")
        XCTAssertEqual(EnglishNumber.words(115), "one hundred and fifteen")
    }

    /// Requests the checkpoint cannot serve fail with one sentence: more frames than
    /// `max_frames`, a video with no `video_sampling`, a conversation the template cannot place.
    func testBadInputs() async throws {
        let engine = try await Engine.load(directory: Self.folder)
        let clip = Fixtures.repo.appendingPathComponent("Tests/Fixtures/media/cfr_bframes.mp4").path
        do {
            _ = try await engine.answer(.media(path: clip), question: "what?", options: AskOptions(frames: 100))
            XCTFail("100 frames should be refused")
        } catch let e as EngineError {
            XCTAssertTrue(e.description.contains("at most 8 frames"), e.description)
        }
        // No video_sampling in the processor config.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smolvlm-nosampling-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.folder.path) where file.contains(".") {
            try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        let processorFile = dir.appendingPathComponent("processor_config.json")
        var processor = try JSONSerialization.jsonObject(with: Data(contentsOf: processorFile)) as! [String: Any]
        var video = processor["video_processor"] as! [String: Any]
        for key in ["video_sampling", "fps", "num_frames"] { video[key] = nil }
        processor["video_processor"] = video
        try JSONSerialization.data(withJSONObject: processor).write(to: processorFile)
        let bare = try await Engine.load(directory: dir)
        do {
            _ = try await bare.answer(.media(path: clip), question: "what?")
            XCTFail("a video without video_sampling should be refused")
        } catch let e as EngineError {
            XCTAssertTrue(e.description.contains("video_sampling"), e.description)
        }
        // Two images in the conversation but one media given.
        let messages = [ChatMessage(role: "user", content: .parts([.image(source: nil), .image(source: nil), .text("compare")]))]
        do {
            for try await _ in engine.respond(to: messages, media: [.media(path: clip)]) {}
            XCTFail("mismatched media should be refused")
        } catch let e as EngineError {
            XCTAssertTrue(e.description.contains("media"), e.description)
        }
    }

    static func decodeStill(_ path: String) async throws -> RGBImage {
        let decoder = try await MediaDecoder.open(path)
        var out: RGBImage?
        for try await frame in decoder.frames(FrameRequest(.uniform(count: 1))) { out = frame.image }
        return try XCTUnwrap(out)
    }
}
