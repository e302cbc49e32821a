import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// LLaVA-NeXT against transformers 5.23 on a tiny random checkpoint with a Mistral decoder
/// (tools/parity/make_llava_next_fixtures.py): AnyRes tiles of two pictures with different grids,
/// the packed (unpadded, newline-ended) features, prompt ids, last logits and greedy ids; and
/// the Mistral decoder past its sliding window.
final class LlavaNextParityTests: XCTestCase {
    static let folder = Fixtures.parity("llava_next_tiny")

    private func load(_ name: String) throws -> (meta: [String: Any], expected: SafetensorsFile, folder: URL) {
        let folder = Self.folder.appendingPathComponent("cases/\(name)")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
        return (meta, try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors")), folder)
    }

    private func generation(_ n: Int) -> GenerationParameters { GenerationParameters(maxNewTokens: n, stopTokenIds: []) }

    func testTwoImagesWithDifferentGrids() async throws {
        let (meta, expected, _) = try load("two_images")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try XCTUnwrap(engine.model as? LlavaNextFamily)
        let images = meta["images"] as! [[String: Any]]
        var parts: [EncodedMedia] = []
        for (i, info) in images.enumerated() {
            let picture = try await SmolVLMParityTests.decodeStill(Fixtures.repo.appendingPathComponent(info["path"] as! String).path)
            let (pixels, best) = try family.anyRes.tiles(picture)
            XCTAssertEqual([best.height, best.width], info["best_resolution_hw"] as? [Int], "image \(i): best resolution")
            assertClose(pixels, try expected.tensor("pixel_values_\(i)"), tolerance: 1e-6, "image \(i): AnyRes pixel values")
            let encoded = try family.encode(frame: picture, kind: .image)
            let packed = try family.pack(family.projector(encoded.features), height: picture.height, width: picture.width)
            XCTAssertEqual(packed.shape[0], info["tokens"] as? Int, "image \(i): image tokens")
            assertClose(packed, try expected.tensor("packed_\(i)"), "image \(i): packed features")
            parts.append(EncodedMedia(kind: .image, frames: [FrameInfo(index: 0, seconds: 0)], parts: [encoded], durationSeconds: 0))
        }
        let content = (meta["messages"] as! [[String: Any]])[0]["content"] as! [[String: Any]]
        let question = content.last!["text"] as! String
        let messages = [ChatMessage(role: "user", content: .parts([.image(source: nil), .image(source: nil), .text(question)]))]
        let prompt = try family.prepare(PromptRequest(messages: messages, media: parts))
        XCTAssertEqual(prompt.inputIds, meta["input_ids"] as? [Int], "prompt ids as the processor builds them")
        var cache = family.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try family.language.prefill(inputEmbeddings: prompt.embeddings, cache: &cache)
        assertClose(logits.reshaped([logits.count]), try expected.tensor("logits_last"), "last logits")
        let wanted = meta["generated_ids"] as! [Int]
        // Through the engine: both files decoded and encoded by the family.
        let files = images.map { EngineInput.media(path: Fixtures.repo.appendingPathComponent($0["path"] as! String).path) }
        var ids: [Int] = []
        for try await event in engine.respond(to: messages, media: files, options: AskOptions(generation: generation(wanted.count))) {
            if case .finished(let result) = event { ids = result.tokenIds }
        }
        XCTAssertEqual(ids, wanted, "greedy ids")
    }

    /// Mistral's sliding window (64 here) on a 168-token prompt: every position past the window
    /// sees only the last 64.
    func testMistralPastItsSlidingWindow() async throws {
        let (meta, expected, _) = try load("text_only")
        let engine = try await Engine.load(directory: Self.folder)
        let family = try XCTUnwrap(engine.model as? LlavaNextFamily)
        let prompt = try family.prepare(PromptRequest(messages: [ChatMessage(role: "user", content: .parts([.text(meta["text"] as! String)]))], media: []))
        XCTAssertEqual(prompt.inputIds, meta["input_ids"] as? [Int])
        XCTAssertGreaterThan(prompt.inputIds.count, 64)
        for chunk in [512, 16] {   // one pass, and chunks that straddle the window
            var cache = family.language.makeCache(capacity: prompt.embeddings.shape[0])
            let logits = try family.language.prefill(inputEmbeddings: prompt.embeddings, cache: &cache, chunkSize: chunk)
            assertClose(logits.reshaped([logits.count]), try expected.tensor("logits_last"), "last logits (chunks of \(chunk))")
        }
        let wanted = meta["generated_ids"] as! [Int]
        let (ids, _) = try TextGenerator(model: family.language).generate(
            .embeddings(prompt.embeddings, positions: prompt.positions, penaltyContext: prompt.textIds), parameters: generation(wanted.count))
        XCTAssertEqual(ids, wanted, "greedy ids")
    }

    /// AnyRes rules on their own: best resolution and the unpadding arithmetic.
    func testGridRules() {
        let pins = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
        XCTAssertTrue(AnyResImageProcessor.bestResolution(height: 480, width: 640, pinpoints: pins) == (672, 672))
        XCTAssertTrue(AnyResImageProcessor.bestResolution(height: 300, width: 1000, pinpoints: pins) == (336, 1008))
        XCTAssertTrue(AnyResImageProcessor.fittedSize(height: 61, width: 100, target: (64, 64)) == (40, 64))
        // 100x61 on an 8x8 feature grid keeps rows 2..<6; a 45x130 picture on 12x4 keeps every row.
        XCTAssertEqual(LlavaNextFamily.unpaddedRange(count: 8, other: 8, original: 61, originalOther: 100, alongHeight: true), 2..<6)
        XCTAssertEqual(LlavaNextFamily.unpaddedRange(count: 8, other: 8, original: 100, originalOther: 61, alongHeight: false), 0..<8)
        XCTAssertEqual(LlavaNextFamily.unpaddedRange(count: 12, other: 4, original: 130, originalOther: 45, alongHeight: true), 0..<12)
    }

    /// A grid the pinpoints cannot be cut into, and processor pinpoints that differ from the model's.
    func testBadConfigurations() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llava-next-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.folder.path) where file.contains(".") {
            try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        func edit(_ name: String, _ change: (inout [String: Any]) -> Void) throws {
            let url = dir.appendingPathComponent(name)
            var o = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            change(&o)
            try JSONSerialization.data(withJSONObject: o).write(to: url)
        }
        try edit("processor_config.json") { o in
            var p = o["image_processor"] as! [String: Any]; p["image_grid_pinpoints"] = [[32, 64]]; o["image_processor"] = p
        }
        XCTAssertThrowsError(try ModelRegistry.load(dir)) { XCTAssertTrue("\($0)".contains("differ from config.json's"), "\($0)") }
        for name in ["processor_config.json"] {
            try edit(name) { o in
                var p = o["image_processor"] as! [String: Any]; p["image_grid_pinpoints"] = [[40, 64]]; o["image_processor"] = p
            }
        }
        try edit("config.json") { $0["image_grid_pinpoints"] = [[40, 64]] }
        XCTAssertThrowsError(try ModelRegistry.load(dir)) { XCTAssertTrue("\($0)".contains("is not a grid of whole 32-pixel tiles"), "\($0)") }
    }
}
