import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// LLaVA-OneVision against transformers 5.23 on a tiny random checkpoint (SigLIP tower, Qwen2
/// decoder with q/k/v biases and tied embeddings; tools/parity/make_llava_onevision_fixtures.py):
/// one image (AnyRes, anyres_max interpolation), two images (the multi-image square tiles) and a
/// clip through vidlm's decoder (bilinear frame pooling, one newline) — packed features, prompt
/// ids, last logits and greedy ids.
final class LlavaOneVisionParityTests: XCTestCase {
    static let folder = Fixtures.parity("llava_onevision_tiny")

    private func load(_ name: String) throws -> (meta: [String: Any], expected: SafetensorsFile) {
        let folder = Self.folder.appendingPathComponent("cases/\(name)")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
        return (meta, try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors")))
    }

    private func paths(_ meta: [String: Any]) -> (files: [String], question: String) {
        let content = (meta["messages"] as! [[String: Any]])[0]["content"] as! [[String: Any]]
        return (content.compactMap { $0["path"] as? String }.map { Fixtures.repo.appendingPathComponent($0).path },
                content.last!["text"] as! String)
    }

    private func answer(_ engine: Engine, _ messages: [ChatMessage], _ files: [String], _ meta: [String: Any], frames: Int? = nil) async throws -> [Int] {
        let wanted = meta["generated_ids"] as! [Int]
        let options = AskOptions(frames: frames, generation: GenerationParameters(maxNewTokens: wanted.count, stopTokenIds: []))
        var ids: [Int] = []
        for try await event in engine.respond(to: messages, media: files.map { .media(path: $0) }, options: options) {
            if case .finished(let result) = event { ids = result.tokenIds }
        }
        return ids
    }

    private func checkPrompt(_ family: LlavaOneVisionFamily, _ request: PromptRequest, _ meta: [String: Any], _ expected: SafetensorsFile, _ what: String) throws {
        let prompt = try family.prepare(request)
        XCTAssertEqual(prompt.inputIds, meta["input_ids"] as? [Int], "\(what): prompt ids as the processor builds them")
        var cache = family.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try family.language.prefill(inputEmbeddings: prompt.embeddings, cache: &cache)
        assertClose(logits.reshaped([logits.count]), try expected.tensor("logits_last"), "\(what): last logits")
    }

    func testOneImageWithAnyResMax() async throws {
        let (meta, expected) = try load("image")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try XCTUnwrap(engine.model as? LlavaOneVisionFamily)
        let (files, question) = paths(meta)
        let picture = try await SmolVLMParityTests.decodeStill(files[0])
        let (tiles, _) = try family.anyRes.tiles(picture)
        assertClose(tiles, try expected.tensor("pixel_values"), tolerance: 1e-6, "AnyRes pixel values")
        XCTAssertGreaterThan(tiles.shape[0] + 1, ThreadBudget.visionBatch(tokensPerFrame: family.tower.config.tokenCount),
                             "tiles + square span several vision batches, so the packed features check the batched path")
        let encoded = try family.encode(frame: picture, kind: .image)
        let tileCount = try XCTUnwrap(encoded.layout["tiles"])
        let packed = try family.pack(family.projector(encoded.features.rows(0..<tileCount)), height: picture.height, width: picture.width)
        assertClose(packed, try expected.tensor("packed_0"), "packed features (unpadded, interpolated, newlines)")
        let messages = [ChatMessage(role: "user", content: .parts([.image(source: nil), .text(question)]))]
        let media = EncodedMedia(kind: .image, frames: [FrameInfo(index: 0, seconds: 0)], parts: [encoded], durationSeconds: 0)
        try checkPrompt(family, PromptRequest(messages: messages, media: [media]), meta, expected, "image")
        let ids = try await answer(engine, messages, files, meta)
        XCTAssertEqual(ids, meta["generated_ids"] as? [Int], "image: greedy ids")
    }

    func testTwoImagesUseSquareTiles() async throws {
        let (meta, expected) = try load("two_images")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try XCTUnwrap(engine.model as? LlavaOneVisionFamily)
        let (files, question) = paths(meta)
        var squares: [Tensor] = []
        for file in files { squares.append(try family.squareImages.pixels([try await SmolVLMParityTests.decodeStill(file)])) }
        assertClose(squares[0], try expected.tensor("pixel_values"), tolerance: 1e-6, "square-padded pixel values")
        let messages = [ChatMessage(role: "user", content: .parts([.image(source: nil), .image(source: nil), .text(question)]))]
        let ids = try await answer(engine, messages, files, meta)
        XCTAssertEqual(ids, meta["generated_ids"] as? [Int], "two images: greedy ids")
        var media: [EncodedMedia] = []
        for (i, file) in files.enumerated() {
            let picture = try await SmolVLMParityTests.decodeStill(file)
            let encoded = try family.encode(frame: picture, kind: .image)
            let tiles = encoded.layout["tiles"]!
            let square = family.projector(encoded.features.rows(tiles..<(tiles + 1)))
            let rows = Tensor.concatenate([square.reshaped([square.shape[1], square.shape[2]]), family.imageNewline.reshaped([1, family.imageNewline.count])])
            assertClose(rows, try expected.tensor("packed_\(i)"), "image \(i): square tile + newline")
            media.append(EncodedMedia(kind: .image, frames: [FrameInfo(index: 0, seconds: 0)], parts: [encoded], durationSeconds: 0))
        }
        try checkPrompt(family, PromptRequest(messages: messages, media: media), meta, expected, "two images")
    }

    func testVideoThroughTheRealDecodePath() async throws {
        let (meta, expected) = try load("video")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try XCTUnwrap(engine.model as? LlavaOneVisionFamily)
        let (files, question) = paths(meta)
        let clip = try await engine.encodedMedia(.media(path: files[0]), options: AskOptions(frames: 3))
        XCTAssertEqual(clip.kind, .video)
        let decoder = try await MediaDecoder.open(files[0])
        var frames: [RGBImage] = []
        for try await frame in decoder.frames(FrameRequest(.indices(clip.frames.map(\.index)))) { frames.append(frame.image) }
        XCTAssertEqual(frames.flatMap { $0.pixels.map(Float.init) }, try expected.tensor("frames_uint8").floats(), "decoded frames equal torchcodec's")
        assertClose(try family.videoPixels.pixels(frames), try expected.tensor("pixel_values_videos"), tolerance: 1e-6, "video pixel values")
        assertClose(family.videoRows(family.projector(clip.features)), try expected.tensor("video_features"), "pooled frames + newline")
        let messages = [ChatMessage(role: "user", content: .parts([.video(source: nil), .text(question)]))]
        try checkPrompt(family, PromptRequest(messages: messages, media: [clip]), meta, expected, "video")
        let ids = try await answer(engine, messages, files, meta, frames: 3)
        XCTAssertEqual(ids, meta["generated_ids"] as? [Int], "video: greedy ids")
    }

    /// anyres_max_9, a square picture on a 5×5 grid (20×20 features, ratio 5/3): transformers
    /// shrinks it to int(20 // ratio) = 11 rows and columns (Python's float floor division), not
    /// ⌊20 / ratio⌋ = 12 (llava_onevision_tiny_max9). Its SigLIP tower is saved with its pooling
    /// head (`vision_use_head`), weights no LLaVA model runs: the checkpoint must load all the same.
    /// The sweep (tools/parity/sweep_llava.py) found both.
    func testAnyResMax9ShrinksWithPythonFloorDivisionAndPoolingHeadLoads() async throws {
        let folder = Fixtures.parity("llava_onevision_tiny_max9")
        let caseFolder = folder.appendingPathComponent("cases/square")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: caseFolder.appendingPathComponent("meta.json"))) as! [String: Any]
        let expected = try SafetensorsFile(url: caseFolder.appendingPathComponent("expected.safetensors"))
        let engine = try await Engine.load(directory: folder)
        let family = try XCTUnwrap(engine.model as? LlavaOneVisionFamily)
        XCTAssertTrue(try WeightStore(directory: folder).contains("vision_tower.head.attention.in_proj_weight"), "the fixture keeps the head")
        XCTAssertEqual(LlavaOneVisionFamily.floorDivide(20, (400.0 / 144.0).squareRoot()), 11)
        let (files, question) = paths(meta)
        let picture = try await SmolVLMParityTests.decodeStill(files[0])
        let encoded = try family.encode(frame: picture, kind: .image)
        let tileCount = try XCTUnwrap(encoded.layout["tiles"])
        XCTAssertEqual(tileCount, 1 + 25, "base + a 5x5 grid")
        let packed = try family.pack(family.projector(encoded.features.rows(0..<tileCount)), height: picture.height, width: picture.width)
        XCTAssertEqual(packed.shape[0], 16 + 11 * 12, "base tile + 11 rows of 11 features and a newline")
        assertClose(packed, try expected.tensor("packed_0"), "packed features (interpolated to 11x11)")
        let messages = [ChatMessage(role: "user", content: .parts([.image(source: nil), .text(question)]))]
        let media = EncodedMedia(kind: .image, frames: [FrameInfo(index: 0, seconds: 0)], parts: [encoded], durationSeconds: 0)
        try checkPrompt(family, PromptRequest(messages: messages, media: [media]), meta, expected, "square, anyres_max_9")
        let ids = try await answer(engine, messages, files, meta)
        XCTAssertEqual(ids, meta["generated_ids"] as? [Int], "square, anyres_max_9: greedy ids")
    }

    /// PyTorch's bilinear (align_corners=False) on a known grid: 4x4 → 2x2 averages each 2x2 block.
    func testBilinearMatchesPyTorch() {
        let grid = (0..<16).map(Float.init)
        XCTAssertEqual(LlavaOneVisionFamily.bilinear(grid, height: 4, width: 4, channels: 1, toHeight: 2, toWidth: 2), [2.5, 4.5, 10.5, 12.5])
        // 3x3 → 2x2: source positions 0.25 and 1.75.
        let three = (0..<9).map(Float.init)
        XCTAssertEqual(LlavaOneVisionFamily.bilinear(three, height: 3, width: 3, channels: 1, toHeight: 2, toWidth: 2), [1, 2.5, 5.5, 7])
    }
}
