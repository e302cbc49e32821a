import Foundation
import XCTest
@_exported import VidLMTestSupport
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

enum Fixtures {
    static let tests = TestFixtures.tests
    static let repo = TestFixtures.repository
    static func parity(_ name: String) -> URL { TestFixtures.parity(name) }
}

/// One end-to-end fixture: a whole model directory written by tools/parity/cases_e2e.py with the
/// pixels, the prompt ids the transformers processor built and the greedy ids of `generate`.
struct EndToEndCase {
    let folder: URL
    let inputs: SafetensorsFile
    let expected: SafetensorsFile
    let meta: [String: Any]

    init(_ name: String) throws {
        folder = Fixtures.parity(name)
        inputs = try SafetensorsFile(url: folder.appendingPathComponent("inputs.safetensors"))
        expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
    }

    func ints(_ file: SafetensorsFile, _ name: String) throws -> [Int] { try file.tensor(name).floats().map { Int($0) } }
    var question: String { meta["question"] as! String }
    var newTokens: Int { meta["new_tokens"] as! Int }
    var options: AskOptions { AskOptions(generation: .greedy(maxNewTokens: newTokens)) }
}

/// The engine against transformers / the vidlm PyTorch reference, whole model to token ids.
final class EngineParityTests: XCTestCase {
    private func engine(_ c: EndToEndCase) async throws -> Engine { try await Engine.load(directory: c.folder) }

    /// Greedy ids from the given pixels, the prompt's placeholder layout, and the last logits.
    private func checkPixels(_ name: String, pixelsName: String = "pixel_values") async throws -> (Engine, EndToEndCase) {
        let c = try EndToEndCase(name)
        let engine = try await engine(c)
        let pixels = try c.inputs.tensor(pixelsName)
        let result = try await engine.answer(.pixels(pixels), question: c.question, options: c.options)
        XCTAssertEqual(result.tokenIds, try c.ints(c.expected, "greedy_ids"), "\(name): greedy ids")
        XCTAssertGreaterThan(result.tokenIds.count, 3, "\(name): the fixture should generate several tokens")
        let features = try engine.model.vision(pixels).lastHiddenState
        let prompt = try engine.model.prompt(features: features, question: c.question, framePositions: nil)
        if c.inputs.contains("input_ids") {
            XCTAssertEqual(prompt.inputIds, try c.ints(c.inputs, "input_ids"), "\(name): prompt ids as the processor builds them")
        }
        var cache = engine.model.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try engine.model.language.prefill(inputEmbeddings: prompt.embeddings, cache: &cache)
        assertClose(logits.reshaped([logits.count]), try c.expected.tensor("last_logits"), "\(name): last logits")
        return (engine, c)
    }

    func testBlip2OPTFromPixels() async throws {
        _ = try await checkPixels("e2e_blip2_opt")
    }

    func testInstructBlipVideoFromPixels() async throws {
        _ = try await checkPixels("e2e_instructblipvideo_llama")
    }

    func testVidLMSpatialPool() async throws {
        try await checkVidLM("e2e_vidlm_tiny")
    }

    func testVidLMTemporalMerger() async throws {
        try await checkVidLM("e2e_vidlm_temporal")
    }

    private func checkVidLM(_ name: String) async throws {
        let (engine, c) = try await checkPixels(name)
        let features = try engine.model.vision(try c.inputs.tensor("pixel_values")).lastHiddenState
        assertClose(features, try c.expected.tensor("vision"), "\(name): vision")
        let prompt = try engine.model.prompt(features: features, question: c.question, framePositions: nil)
        let promptIds = try c.ints(c.inputs, "prompt_ids")
        XCTAssertEqual(Array(prompt.textIds.dropFirst()), promptIds, "\(name): prompt ids")
        let t = features.shape[0]
        let projected = prompt.stages["projected"]!
        assertClose(projected.reshaped(Array(projected.shape.dropFirst())), try c.expected.tensor("prefix"), "\(name): visual prefix")
        let control = try engine.model.prompt(features: features, question: c.question, framePositions: Array(repeating: 0, count: t))
        let controlPrefix = control.stages["projected"]!
        assertClose(controlPrefix.reshaped(Array(controlPrefix.shape.dropFirst())), try c.expected.tensor("control_prefix"),
                    "\(name): order-free control prefix")
    }

    /// A Video-LLaMA checkpoint (LAVIS / Video-LLaMA names) converted by tools/convert/video_llama.py:
    /// image Q-Former per frame, frame positions, video Q-Former, LLaMA-2 chat template with the
    /// visual rows inside the text.
    func testConvertedVideoLLaMA() async throws {
        let (engine, c) = try await checkPixels("e2e_video_llama_converted")
        let features = try engine.model.vision(try c.inputs.tensor("pixel_values")).lastHiddenState
        let prompt = try engine.model.prompt(features: features, question: c.question, framePositions: nil)
        let before = try c.ints(c.inputs, "before_ids"), after = try c.ints(c.inputs, "prompt_ids")
        XCTAssertEqual(Array(prompt.textIds.dropFirst()), before + after)
        XCTAssertEqual(prompt.inputIds.firstIndex(of: -1), 1 + before.count, "the visual rows sit inside the chat template")
        let projected = prompt.stages["projected"]!
        assertClose(projected.reshaped(Array(projected.shape.dropFirst())), try c.expected.tensor("prefix"), "converted prefix")
    }

    /// The pixel values `encoder` makes from frames `indices` of `media`, decoded as the engine does.
    private func pixels(of media: String, indices: [Int], encoder: SingleTowerEncoder) async throws -> Tensor {
        let decoder = try await MediaDecoder.open(media)
        var frames: [RGBImage] = []
        for try await frame in decoder.frames(FrameRequest(.indices(indices))) { frames.append(frame.image) }
        XCTAssertEqual(frames.count, indices.count)
        return try encoder.pixels.tensor(frames)
    }

    /// BLIP-2 through the real decode + resize path: the fixture's pixels are those of
    /// transformers 5's BlipImageProcessor (torchvision resampling) for the same file.
    func testBlip2FromImageFile() async throws {
        let c = try EndToEndCase("e2e_blip2_opt")
        let engine = try await engine(c)
        let media = Fixtures.repo.appendingPathComponent(c.meta["media"] as! String).path
        let family = try XCTUnwrap(engine.model as? Blip2Family)
        guard case .torchvision = family.encoder.pixels else { return XCTFail("BlipImageProcessor means torchvision resampling") }
        let pixels = try await pixels(of: media, indices: [0], encoder: family.encoder)
        assertClose(pixels, try c.inputs.tensor("pixel_values"), tolerance: 1e-6, "BLIP-2 pixel values")
        let result = try await engine.answer(.media(path: media), question: c.question, options: c.options)
        XCTAssertEqual(result.frames.count, 1)
        XCTAssertEqual(result.tokenIds, try c.ints(c.expected, "greedy_ids"))
    }

    /// InstructBLIP-Video on 4 uniformly sampled frames decoded from the clip (the fixture decoded
    /// them with the ffmpeg CLI and made the pixels with InstructBlipVideoVideoProcessor).
    func testInstructBlipVideoFromClip() async throws {
        let c = try EndToEndCase("e2e_instructblipvideo_llama")
        let engine = try await engine(c)
        let media = Fixtures.repo.appendingPathComponent(c.meta["media"] as! String).path
        let indices = c.meta["frame_indices"] as! [Int]
        let family = try XCTUnwrap(engine.model as? InstructBlipVideoFamily)
        let pixels = try await pixels(of: media, indices: indices, encoder: family.encoder)
        assertClose(pixels, try c.inputs.tensor("pixel_values"), tolerance: 1e-6, "InstructBLIP-Video pixel values")
        let result = try await engine.answer(.media(path: media), question: c.question, options: c.options)
        XCTAssertEqual(result.frames.map(\.index), indices)
        XCTAssertEqual(result.tokenIds, try c.ints(c.expected, "greedy_ids"))
    }
}
