import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// The Qwen-VL line against transformers 5.23 on tiny random checkpoints
/// (tools/parity/make_qwen2_vl_fixtures.py): a 100x61 picture (smart_resize), a clip sampled at
/// the video processor's fps through vidlm's decoder (frame pairs), and both in one message —
/// pixel patches and grids, merged vision features, get_rope_index's M-RoPE positions, last
/// logits and greedy ids (which continue M-RoPE positions from the prompt's largest).
class QwenVLParityCase: XCTestCase {
    class var fixture: String { "qwen2_vl_tiny" }
    var folder: URL { Fixtures.parity(Self.fixture) }

    func load(_ name: String) throws -> (meta: [String: Any], expected: SafetensorsFile) {
        let case_ = folder.appendingPathComponent("cases/\(name)")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: case_.appendingPathComponent("meta.json"))) as! [String: Any]
        return (meta, try SafetensorsFile(url: case_.appendingPathComponent("expected.safetensors")))
    }

    func files(_ meta: [String: Any]) -> [String] {
        let content = (meta["messages"] as! [[String: Any]])[0]["content"] as! [[String: Any]]
        return content.compactMap { $0["path"] as? String }.map { Fixtures.repo.appendingPathComponent($0).path }
    }

    func messages(_ meta: [String: Any]) -> [ChatMessage] {
        let content = (meta["messages"] as! [[String: Any]])[0]["content"] as! [[String: Any]]
        let parts: [ChatMessage.Part] = content.map { c in
            switch c["type"] as! String {
            case "image": return .image(source: nil)
            case "video": return .video(source: nil)
            default: return .text(c["text"] as! String)
            }
        }
        return [ChatMessage(role: "user", content: .parts(parts))]
    }

    func ints(_ t: Tensor) -> [Int] { t.toF32().floats().map { Int($0) } }

    func family(_ engine: Engine) throws -> QwenVLFamily { try XCTUnwrap(engine.model as? QwenVLFamily) }

    /// Prompt ids, M-RoPE positions, last logits; then greedy ids through the Engine.
    func checkConversation(_ name: String, model: URL? = nil) async throws {
        let (meta, expected) = try load(name)
        let engine = try await Engine.load(directory: model ?? folder)
        let family = try family(engine)
        let paths = files(meta)
        var media: [EncodedMedia] = []
        for path in paths { media.append(try await engine.encodedMedia(.media(path: path), options: AskOptions())) }
        let prompt = try family.prepare(PromptRequest(messages: messages(meta), media: media))
        XCTAssertEqual(prompt.inputIds, meta["input_ids"] as? [Int], "\(name): prompt ids as the processor builds them")
        guard prompt.inputIds.count == (meta["input_ids"] as? [Int])?.count else { return }
        guard case .multimodal(let axes) = prompt.positions else { return XCTFail("\(name): Qwen-VL prompts carry M-RoPE positions") }
        let want = ints(try expected.tensor("position_ids")), n = prompt.inputIds.count
        XCTAssertEqual(axes, (0..<3).map { Array(want[($0 * n)..<(($0 + 1) * n)]) }, "\(name): get_rope_index positions")
        if media.contains(where: { $0.kind == .video }), let clip = media.first(where: { $0.kind == .video }) {
            XCTAssertEqual(clip.frames.map(\.index), ints(try expected.tensor("frame_indices")), "\(name): sampled frames")
        }
        var cache = family.language.makeCache(capacity: n + 1)
        let logits = try family.language.prefill(inputEmbeddings: prompt.embeddings, positions: prompt.positions, cache: &cache, chunkSize: 16)
        assertClose(logits.reshaped([logits.count]), try expected.tensor("logits_last"), "\(name): last logits")
        let generated = meta["generated_ids"] as! [Int]
        // The first generated token goes one past the prompt's last position, as transformers'
        // generate extends position_ids: the next logits must be generate's second-step scores.
        let next = prompt.positions.next(count: n, start: 0)
        let step = try family.language.prefill(inputEmbeddings: try family.language.embed([generated[0]]),
                                               positions: .multimodal(axes.map { _ in [next] }), cache: &cache, chunkSize: 16)
        assertClose(step.reshaped([step.count]), try expected.tensor("logits_second"), "\(name): logits after the first generated token")
        let options = AskOptions(generation: GenerationParameters(maxNewTokens: generated.count, stopTokenIds: []))
        var ids: [Int] = []
        for try await event in engine.respond(to: messages(meta), media: paths.map { .media(path: $0) }, options: options) {
            if case .finished(let result) = event { ids = result.tokenIds }
        }
        XCTAssertEqual(ids, generated, "\(name): greedy ids")
    }

    func checkPicture() async throws {
        let (meta, expected) = try load("image")
        let engine = try await Engine.load(directory: folder)
        let family = try family(engine)
        let picture = try await SmolVLMParityTests.decodeStill(files(meta)[0])
        let (patches, grid) = family.images.patches(try family.images.pixels([picture], video: false))
        XCTAssertEqual([grid.t, grid.h, grid.w], ints(try expected.tensor("image_grid_thw")), "image_grid_thw")
        assertClose(patches, try expected.tensor("pixel_values"), tolerance: 1e-6, "pixel patches")
        assertClose(try family.tower(patches, grid: grid), try expected.tensor("image_features"), "merged vision features")
        try await checkConversation("image")
    }

    /// A case run with its own processor settings: the model folder with the case's
    /// processor_config.json in place of the folder's.
    func withCaseProcessor(_ name: String, _ body: (URL) async throws -> Void) async throws {
        let files = FileManager.default
        let dir = files.temporaryDirectory.appendingPathComponent("qwen-\(name)-\(UUID().uuidString)")
        try files.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? files.removeItem(at: dir) }
        for entry in try files.contentsOfDirectory(atPath: folder.path) where entry != "cases" && entry != "processor_config.json" {
            try files.createSymbolicLink(at: dir.appendingPathComponent(entry), withDestinationURL: folder.appendingPathComponent(entry))
        }
        try files.copyItem(at: folder.appendingPathComponent("cases/\(name)/processor_config.json"),
                           to: dir.appendingPathComponent("processor_config.json"))
        try await body(dir)
    }

    /// `video_capped`: the case's processor settings (cap_pixels_per_frame, max_video_tokens 8):
    /// every frame is capped at an even share of the video budget, so the clip's frame count
    /// decides the frames' size.
    func checkCappedClip() async throws {
        try await withCaseProcessor("video_capped") { dir in
            let engine = try await Engine.load(directory: dir)
            XCTAssertTrue(try family(engine).videos.capPixelsPerFrame, "the case's processor caps the frames")
            try await checkConversation("video_capped", model: dir)
        }
    }

    /// `video_long`: a minute-long clip sampled at 0.2 fps. For Qwen2.5-VL its time positions run
    /// far past the text after it (largest position 227, last 42), and generated tokens continue
    /// one past the last, as transformers' generate extends position_ids.
    func checkLongClip() async throws {
        try await withCaseProcessor("video_long") { dir in try await checkConversation("video_long", model: dir) }
    }

    func checkClip() async throws {
        let (meta, expected) = try load("video")
        let engine = try await Engine.load(directory: folder)
        let family = try family(engine)
        let clip = try await engine.encodedMedia(.media(path: files(meta)[0]), options: AskOptions())
        XCTAssertEqual(clip.frames.map(\.index), ints(try expected.tensor("frame_indices")), "frames sampled as sample_frames")
        let decoder = try await MediaDecoder.open(files(meta)[0])
        var frames: [RGBImage] = []
        for try await frame in decoder.frames(FrameRequest(.indices(clip.frames.map(\.index)))) { frames.append(frame.image) }
        if expected.names.contains("frames_uint8") {
            XCTAssertEqual(frames.flatMap { $0.pixels.map(Float.init) }, try expected.tensor("frames_uint8").floats(), "decoded frames equal torchcodec's")
        }
        let (patches, grid) = family.videos.patches(try family.videos.pixels(frames, video: true))
        XCTAssertEqual([grid.t, grid.h, grid.w], ints(try expected.tensor("video_grid_thw")), "video_grid_thw")
        assertClose(patches, try expected.tensor("pixel_values_videos"), tolerance: 1e-6, "video pixel patches")
        let (features, _) = try family.encodeClip(clip)
        assertClose(features, try expected.tensor("video_features"), "merged clip features")
        // One temporal patch per tower batch (a long clip's default) gives the same features, up
        // to the products' rounding (their kernels block by the number of rows).
        XCTAssertGreaterThan(grid.t, 1, "the clip spans several temporal patches")
        let sliced = try family.tower.features(patches, grid: grid, slicesPerBatch: 1).merged
        assertClose(sliced, try expected.tensor("video_features"), "merged clip features, one temporal patch per batch")
        // The frame-order control: every frame pair at the first pair's time, height and width kept.
        let ask = PromptRequest(messages: messages(meta), media: [clip])
        guard case .multimodal(let natural) = try family.prepare(ask).positions,
              case .multimodal(let control) = try family.prepare(PromptRequest(messages: ask.messages, media: [clip],
                                                                                framePositions: Array(repeating: 0, count: clip.frames.count))).positions
        else { return XCTFail("Qwen-VL prompts carry M-RoPE positions") }
        let ids = try family.prepare(ask).inputIds
        let span = ids.indices.filter { ids[$0] == family.videoTokenId }
        XCTAssertGreaterThan(Set(span.map { natural[0][$0] }).count, 1, "the clip's time positions differ per frame pair")
        XCTAssertEqual(Set(span.map { control[0][$0] }), [natural[0][span[0]]], "control: one time position for the clip")
        XCTAssertEqual(control[1], natural[1], "control keeps height positions")
        XCTAssertEqual(control[2], natural[2], "control keeps width positions")
        try await checkConversation("video")
    }

}

/// Qwen2-VL: LayerNorm + QuickGELU tower, one time step per frame pair.
final class QwenVLParityTests: QwenVLParityCase {
    func testPictureAtItsOwnResolution() async throws { try await checkPicture() }
    func testClipSampledAtTheProcessorsRate() async throws { try await checkClip() }
    func testPictureAndClipInOneMessage() async throws { try await checkConversation("image_video") }
    func testPictureBelowThePatchUnit() async throws { try await checkConversation("image_small") }
    func testClipCappedPerFrameByItsFrameCount() async throws { try await checkCappedClip() }
    func testLongClipAtALowRate() async throws { try await checkLongClip() }

    /// `vidlm ask --pixels`: the clip's ready pixel values (resized and normalised as the family
    /// does) answer as the decoded clip (one time step per frame pair: the same prompt); the tower
    /// runs in `prepare`, where their grid is known.
    func testReadyPixelsAnswerAsTheClip() async throws {
        let (meta, expected) = try load("video")
        let engine = try await Engine.load(directory: folder)
        let family = try family(engine)
        let decoder = try await MediaDecoder.open(files(meta)[0])
        var frames: [RGBImage] = []
        for try await frame in decoder.frames(FrameRequest(.indices(ints(try expected.tensor("frame_indices"))))) { frames.append(frame.image) }
        let pixels = try family.videos.pixels(frames, video: true)
        let generated = meta["generated_ids"] as! [Int]
        let options = AskOptions(generation: GenerationParameters(maxNewTokens: generated.count, stopTokenIds: []))
        var ids: [Int] = []
        for try await event in engine.respond(to: messages(meta), media: [.pixels(pixels)], options: options) {
            if case .finished(let result) = event { ids = result.tokenIds }
        }
        XCTAssertEqual(ids, generated, "greedy ids from ready pixels")
        XCTAssertThrowsError(try family.encode(pixels: Tensor(shape: [2, 3, 30, 56], values: [Float](repeating: 0, count: 2 * 3 * 30 * 56))))
    }

    func testSamplingAndResizeRules() throws {
        // smart_resize: round to the factor; above max_pixels shrink by floor; below min_pixels grow by ceil.
        XCTAssertEqual(try QwenVLProcessor.smartResize(height: 61, width: 100, factor: 28, minPixels: 3136, maxPixels: 12544).height, 56)
        XCTAssertTrue(try QwenVLProcessor.smartResize(height: 96, width: 160, factor: 28, minPixels: 1568, maxPixels: 6272) == (56, 84))
        XCTAssertTrue(try QwenVLProcessor.smartResize(height: 30, width: 30, factor: 28, minPixels: 3136, maxPixels: 12544) == (56, 56))
        // A side below the factor is no error in transformers 5: it rounds (to 0 here) and min_pixels enlarges it.
        XCTAssertTrue(try QwenVLProcessor.smartResize(height: 20, width: 100, factor: 28, minPixels: 3136, maxPixels: 12544) == (28, 112))
        XCTAssertTrue(try QwenVLProcessor.smartResize(height: 12, width: 20, factor: 28, minPixels: 3136, maxPixels: 12544) == (56, 84))
        XCTAssertTrue(try QwenVLProcessor.smartResize(height: 1, width: 1, factor: 28, minPixels: 3136, maxPixels: 12544) == (56, 56))
        XCTAssertTrue(try QwenVLProcessor.smartResize(height: 3, width: 500, factor: 28, minPixels: 3136, maxPixels: 12544) == (28, 728))
        XCTAssertThrowsError(try QwenVLProcessor.smartResize(height: 2, width: 500, factor: 28, minPixels: 3136, maxPixels: 12544)) { error in
            XCTAssertTrue("\(error)".contains("aspect ratio is above 200"), "\(error)")
        }
        let json = Data(#"{"min_pixels": 100, "max_pixels": 50}"#.utf8)
        XCTAssertThrowsError(try QwenVLProcessor(json: json, file: "p.json", video: false)) { error in
            XCTAssertTrue("\(error)".contains("max_pixels (50) must be at least min_pixels (100)"), "\(error)")
        }
        let video = try QwenVLProcessor(json: Data(#"{"fps": 2.0, "min_frames": 4, "max_frames": 16}"#.utf8), file: "v.json", video: true)
        XCTAssertEqual(try video.sampleIndices(totalFrames: 100, clipFPS: 25, count: nil, fps: nil), [0, 12, 25, 37, 50, 62, 75, 87])
        XCTAssertEqual(try video.sampleIndices(totalFrames: 100, clipFPS: 25, count: 3, fps: nil), [0, 25, 50, 75])
        XCTAssertThrowsError(try video.sampleIndices(totalFrames: 1, clipFPS: 25, count: nil, fps: nil))
        XCTAssertThrowsError(try video.sampleIndices(totalFrames: 100, clipFPS: 25, count: nil, fps: 0))
    }

    /// The frame-order control gives every temporal patch the first one's time position.
    func testOrderControlFlattensTheTimeAxis() throws {
        let grid = PatchGrid(t: 3, h: 2, w: 2)
        let ids = [5, 9, 9, 9, 6]
        let natural = try QwenRopeIndex.positions(ids: ids, imageTokenId: 8, videoTokenId: 9, imageGrids: [], videoGrids: [grid], mergeSize: 2)
        XCTAssertEqual(natural[0], [0, 1, 2, 3, 2])
        let control = try QwenRopeIndex.positions(ids: ids, imageTokenId: 8, videoTokenId: 9, imageGrids: [], videoGrids: [grid], mergeSize: 2,
                                                  framePositions: [0, 0, 0, 0, 0, 0])
        XCTAssertEqual(control[0], [0, 1, 1, 1, 2])
        XCTAssertEqual(control[1], natural[1])
    }
}

/// Qwen2.5-VL: RMSNorm + SwiGLU tower with window attention (two window sizes in the clip's
/// frames), the clip at fps 3 so its time step is the fractional 4 × 2/3.
final class Qwen25VLParityTests: QwenVLParityCase {
    override class var fixture: String { "qwen2_5_vl_tiny" }

    func testPictureAcrossTwoWindows() async throws { try await checkPicture() }
    func testClipWithTimePositionsInSeconds() async throws { try await checkClip() }
    func testPictureAndClipInOneMessage() async throws { try await checkConversation("image_video") }
    func testPictureBelowThePatchUnit() async throws { try await checkConversation("image_small") }
    func testClipCappedPerFrameByItsFrameCount() async throws { try await checkCappedClip() }
    func testGenerationContinuesAfterTheLastPosition() async throws { try await checkLongClip() }
}
