import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// LLaVA-1.5 against transformers 5.23 on tiny random checkpoints
/// (tools/parity/make_llava_fixtures.py): processor pixels (with and without `do_pad`), the
/// selected tower layer(s), the projector, prompt ids, last logits and greedy ids, for an image,
/// a padded image, a clip given as three frames, and a "full"-strategy two-layer checkpoint.
final class LlavaParityTests: XCTestCase {
    static let folder = Fixtures.parity("llava_tiny")
    static let fullFolder = Fixtures.parity("llava_tiny_full")

    struct Case {
        let folder: URL
        let meta: [String: Any]
        let expected: SafetensorsFile

        init(_ model: URL, _ name: String) throws {
            folder = model.appendingPathComponent("cases/\(name)")
            meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
            expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        }

        var inputIds: [Int] { meta["input_ids"] as! [Int] }
        var generated: [Int] { meta["generated_ids"] as! [Int] }
        var question: String {
            let parts = (meta["messages"] as! [[String: Any]])[0]["content"] as! [[String: Any]]
            return parts.first { $0["type"] as? String == "text" }!["text"] as! String
        }
        var options: AskOptions { AskOptions(generation: GenerationParameters(maxNewTokens: generated.count, stopTokenIds: [])) }
    }

    private func family(_ engine: Engine) throws -> LlavaFamily { try XCTUnwrap(engine.model as? LlavaFamily) }

    private func checkStages(_ family: LlavaFamily, pixels: Tensor, _ c: Case, _ what: String) throws {
        assertClose(pixels, try c.expected.tensor("pixel_values"), tolerance: 1e-6, "\(what): pixel values")
        let features = try family.encode(pixels: pixels)
        assertClose(features, try c.expected.tensor("vision_features"), "\(what): selected vision features")
        assertClose(family.projector(features), try c.expected.tensor("projected"), "\(what): projector")
    }

    private func checkPrompt(_ model: any VisionLanguageModel, _ request: PromptRequest, _ c: Case, _ what: String) throws -> PreparedPrompt {
        let prompt = try model.prepare(request)
        XCTAssertEqual(prompt.inputIds, c.inputIds, "\(what): prompt ids as the processor builds them")
        var cache = model.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try model.language.prefill(inputEmbeddings: prompt.embeddings, positions: prompt.positions, cache: &cache)
        assertClose(logits.reshaped([logits.count]), try c.expected.tensor("logits_last"), "\(what): last logits")
        return prompt
    }

    private func greedy(_ model: any VisionLanguageModel, _ prompt: PreparedPrompt, _ c: Case) throws -> [Int] {
        try TextGenerator(model: model.language).generate(
            .embeddings(prompt.embeddings, positions: prompt.positions, penaltyContext: prompt.textIds), parameters: c.options.generation).0
    }

    private func imageMedia(_ features: Tensor) -> EncodedMedia {
        EncodedMedia(kind: .image, frames: [FrameInfo(index: 0, seconds: 0)], parts: [EncodedFrame(features: features)], durationSeconds: 0)
    }

    func testImageThroughTheEngine() async throws {
        let c = try Case(Self.folder, "image")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try family(engine)
        let path = c.folder.appendingPathComponent("input.png").path
        let image = try await SmolVLMParityTests.decodeStill(path)
        try checkStages(family, pixels: try family.processor.image.pixels([image]), c, "image")
        let media = try await engine.encodedMedia(.media(path: path))
        XCTAssertEqual(media.kind, .image)
        _ = try checkPrompt(family, PromptRequest(messages: ChatMessage.oneTurn(c.question, about: .image), media: [media]), c, "image")
        let result = try await engine.answer(.media(path: path), question: c.question, options: c.options)
        XCTAssertEqual(result.tokenIds, c.generated, "image: greedy ids")
        XCTAssertEqual(result.answers[0].promptTokenIds, c.inputIds)
    }

    /// `do_pad`: the picture centred on a square of the mean colour before resize and crop.
    func testPaddedImage() async throws {
        let c = try Case(Self.folder, "image_pad")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try family(engine)
        XCTAssertFalse(family.processor.image.padToSquare, "the checkpoint's processor does not pad")
        let padded = try TorchvisionImageProcessor(family.processor.image.config, padToSquare: true)
        let colour = padded.padColour
        XCTAssertEqual([Int(colour.0), Int(colour.1), Int(colour.2)], c.meta["pad_colour"] as? [Int])
        let image = try await SmolVLMParityTests.decodeStill(c.folder.appendingPathComponent("input.png").path)
        let pixels = try padded.pixels([image])
        try checkStages(family, pixels: pixels, c, "image_pad")
        let request = PromptRequest(messages: ChatMessage.oneTurn(c.question, about: .image), media: [imageMedia(try family.encode(pixels: pixels))])
        let prompt = try checkPrompt(family, request, c, "image_pad")
        XCTAssertEqual(try greedy(family, prompt, c), c.generated, "image_pad: greedy ids")
    }

    /// A clip through vidlm's decoder: three uniformly sampled frames, each an image of the
    /// conversation, as transformers gets them (the same decoded frames as three image parts).
    func testClipAsFramesThroughTheRealDecodePath() async throws {
        let c = try Case(Self.folder, "frames")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try family(engine)
        let path = Fixtures.repo.appendingPathComponent(c.meta["video"] as! String).path
        let options = AskOptions(frames: 3, generation: c.options.generation)
        let media = try await engine.encodedMedia(.media(path: path), options: options)
        XCTAssertEqual(media.frames.map(\.index), c.meta["frame_indices"] as? [Int], "sampled frame indices")
        let decoder = try await MediaDecoder.open(path)
        var frames: [RGBImage] = []
        for try await frame in decoder.frames(FrameRequest(.indices(media.frames.map(\.index)))) { frames.append(frame.image) }
        let reference = try c.expected.tensor("frames_uint8").floats()
        XCTAssertEqual(frames.flatMap { $0.pixels.map(Float.init) }, reference, "decoded frames equal torchcodec's")
        try checkStages(family, pixels: try family.processor.image.pixels(frames), c, "frames")
        _ = try checkPrompt(family, PromptRequest(messages: ChatMessage.oneTurn(c.question, about: .video), media: [media]), c, "frames")
        let result = try await engine.answer(.media(path: path), question: c.question, options: options)
        XCTAssertEqual(result.tokenIds, c.generated, "frames: greedy ids")
    }

    /// Strategy "full" (class token kept), two layers concatenated, no projector bias.
    func testFullStrategyWithTwoFeatureLayers() async throws {
        let c = try Case(Self.fullFolder, "image")
        let engine = try await Engine.load(directory: Self.fullFolder)
        let family = try family(engine)
        XCTAssertEqual(family.settings.featureLayers, [1, 3])
        XCTAssertTrue(family.settings.keepClassToken)
        let image = try await SmolVLMParityTests.decodeStill(Fixtures.repo.appendingPathComponent(
            ((c.meta["messages"] as! [[String: Any]])[0]["content"] as! [[String: Any]])[0]["path"] as! String).path)
        let pixels = try family.processor.image.pixels([image])
        try checkStages(family, pixels: pixels, c, "full")
        let request = PromptRequest(messages: ChatMessage.oneTurn(c.question, about: .image), media: [imageMedia(try family.encode(pixels: pixels))])
        let prompt = try checkPrompt(family, request, c, "full")
        XCTAssertEqual(try greedy(family, prompt, c), c.generated, "full: greedy ids")
    }

    /// Published llava-hf checkpoints keep the tower under `vision_tower.vision_model.…` (transformers
    /// 5 saves `vision_tower.…`): the same weights under those names give the same logits.
    func testPublishedWeightNames() async throws {
        let dir = try copyFixture(Self.folder)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try SafetensorsFile(url: Self.folder.appendingPathComponent("model.safetensors"))
        var renamed: [String: Tensor] = [:]
        for name in file.names {
            var new = name
            for (from, to) in [("vision_tower.", "vision_tower.vision_model.")] where name.hasPrefix(from) {
                new = to + name.dropFirst(from.count)
            }
            renamed[new] = try file.tensor(name)
        }
        try SafetensorsWriter.write(renamed, to: dir.appendingPathComponent("model.safetensors"))
        let model = try XCTUnwrap(try ModelRegistry.load(dir) as? LlavaFamily)
        XCTAssertEqual(model.layout.tower, "vision_tower.vision_model.")
        let c = try Case(Self.folder, "image")
        let image = try await SmolVLMParityTests.decodeStill(c.folder.appendingPathComponent("input.png").path)
        let request = PromptRequest(messages: ChatMessage.oneTurn(c.question, about: .image),
                                    media: [imageMedia(try model.encode(pixels: try model.processor.image.pixels([image])))])
        _ = try checkPrompt(model, request, c, "published names")
    }

    /// One sentence for what cannot be served: more image placeholders than pictures, a
    /// processor whose token count disagrees with the tower, a feature layer the tower lacks.
    func testBadInputs() async throws {
        let engine = try await Engine.load(directory: Self.folder)
        let image = Self.folder.appendingPathComponent("cases/image/input.png").path
        let messages = [ChatMessage(role: "user", content: .parts([.image(source: nil), .text("compare with <image>")]))]
        do {
            for try await _ in engine.respond(to: messages, media: [.media(path: image)]) {}
            XCTFail("a literal <image> in the text should be refused")
        } catch let e as EngineError {
            XCTAssertTrue(e.description.contains("2 image placeholders") && e.description.contains("1 picture"), e.description)
        }

        let dir = try copyFixture(Self.folder)
        defer { try? FileManager.default.removeItem(at: dir) }
        try edit(dir.appendingPathComponent("processor_config.json")) { $0["patch_size"] = 16 }
        XCTAssertThrowsError(try ModelRegistry.load(dir)) { error in
            XCTAssertTrue("\(error)".contains("give 4 image tokens per picture but the model makes 16"), "\(error)")
        }
        try edit(dir.appendingPathComponent("processor_config.json")) { $0["patch_size"] = 8 }
        try edit(dir.appendingPathComponent("config.json")) { $0["vision_feature_layer"] = -5 }
        XCTAssertThrowsError(try ModelRegistry.load(dir)) { error in
            XCTAssertTrue("\(error)".contains("'vision_feature_layer' -5 is not a hidden state of the 3-layer vision tower"), "\(error)")
        }
    }

    private func copyFixture(_ folder: URL) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llava-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.contains(".") {
            try FileManager.default.copyItem(at: folder.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        return dir
    }

    private func edit(_ file: URL, _ change: (inout [String: Any]) -> Void) throws {
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
        change(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: file)
    }
}
