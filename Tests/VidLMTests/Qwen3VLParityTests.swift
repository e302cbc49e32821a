import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// Qwen3-VL against transformers 5.23 on a tiny random checkpoint
/// (tools/parity/make_qwen3_vl_fixtures.py): a 100x61 picture, a clip sampled as
/// Qwen3VLVideoProcessor samples it (7 frames: the last repeated to fill the pair) through vidlm's
/// decoder with `<t seconds>` before each frame pair, and both in one message — pixel patches and
/// grids, merged and DeepStack vision features, get_rope_index's interleaved M-RoPE positions, last
/// logits (DeepStack added in the first decoder layers) and greedy ids.
final class Qwen3VLParityTests: XCTestCase {
    var folder: URL { Fixtures.parity("qwen3_vl_tiny") }

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

    func family(_ engine: Engine) throws -> Qwen3VLFamily { try XCTUnwrap(engine.model as? Qwen3VLFamily) }

    /// [L, tokens, D] → the L tensors.
    func layers(_ t: Tensor) -> [Tensor] { (0..<t.shape[0]).map { t.slice($0) } }

    /// Prompt ids (timestamps included), M-RoPE positions, last logits; then greedy ids through the Engine.
    func checkConversation(_ name: String) async throws {
        let (meta, expected) = try load(name)
        let engine = try await Engine.load(directory: folder)
        let family = try family(engine)
        let paths = files(meta)
        var media: [EncodedMedia] = []
        for path in paths { media.append(try await engine.encodedMedia(.media(path: path), options: AskOptions())) }
        if let clip = media.first(where: { $0.kind == .video }) {
            XCTAssertEqual(clip.frames.map(\.index), ints(try expected.tensor("frame_indices")), "\(name): sampled frames")
        }
        let prompt = try family.prepare(PromptRequest(messages: messages(meta), media: media))
        XCTAssertEqual(prompt.inputIds, meta["input_ids"] as? [Int], "\(name): prompt ids as the processor builds them")
        if prompt.inputIds != meta["input_ids"] as? [Int] {
            print("vidlm:", family.tokenizer.decode(prompt.inputIds, skipSpecialTokens: false))
            print("oracle:", meta["expanded_prompt"] ?? "")
        }
        guard case .multimodal(let axes) = prompt.positions else { return XCTFail("\(name): Qwen3-VL prompts carry M-RoPE positions") }
        let want = ints(try expected.tensor("position_ids")), n = prompt.inputIds.count
        if want.count == 3 * n {
            XCTAssertEqual(axes, (0..<3).map { Array(want[($0 * n)..<(($0 + 1) * n)]) }, "\(name): get_rope_index positions")
        }
        let residuals = try XCTUnwrap(prompt.residuals, "\(name): DeepStack features for the visual rows")
        XCTAssertEqual(residuals.layers.count, family.tower.config.deepstackIndexes.count)
        var cache = family.language.makeCache(capacity: n)
        let logits = try family.language.prefill(inputEmbeddings: prompt.embeddings, positions: prompt.positions,
                                                 residuals: prompt.residuals, cache: &cache, chunkSize: 16)
        assertClose(logits.reshaped([logits.count]), try expected.tensor("logits_last"), "\(name): last logits")
        // The DeepStack additions matter: without them the logits move well beyond the tolerance.
        var plain = family.language.makeCache(capacity: n)
        let without = try family.language.prefill(inputEmbeddings: prompt.embeddings, positions: prompt.positions, cache: &plain)
        XCTAssertGreaterThan(zip(without.floats(), logits.floats()).map { abs($0 - $1) }.max() ?? 0, 1e-2, "\(name): DeepStack changes the logits")
        let generated = meta["generated_ids"] as! [Int]
        let options = AskOptions(generation: GenerationParameters(maxNewTokens: generated.count, stopTokenIds: []))
        var ids: [Int] = []
        for try await event in engine.respond(to: messages(meta), media: paths.map { .media(path: $0) }, options: options) {
            if case .finished(let result) = event { ids = result.tokenIds }
        }
        XCTAssertEqual(ids, generated, "\(name): greedy ids")
    }

    /// `vidlm image --pixels`: the picture's ready pixel values answer as the picture (DeepStack
    /// rows included); the tower runs in `prepare`, where their grid is known.
    func testReadyPixelsAnswerAsThePicture() async throws {
        let (meta, _) = try load("image")
        let engine = try await Engine.load(directory: folder)
        let family = try family(engine)
        let picture = try await SmolVLMParityTests.decodeStill(files(meta)[0])
        let pixels = try family.images.pixels([picture], video: false)
        let generated = meta["generated_ids"] as! [Int]
        let options = AskOptions(stillImage: true, generation: GenerationParameters(maxNewTokens: generated.count, stopTokenIds: []))
        var ids: [Int] = []
        for try await event in engine.respond(to: messages(meta), media: [.pixels(pixels)], options: options) {
            if case .finished(let result) = event { ids = result.tokenIds }
        }
        XCTAssertEqual(ids, generated, "greedy ids from ready pixels")
    }

    func testPictureWithInterpolatedPositionsAndDeepStack() async throws {
        let (meta, expected) = try load("image")
        let engine = try await Engine.load(directory: folder)
        let family = try family(engine)
        let picture = try await SmolVLMParityTests.decodeStill(files(meta)[0])
        let (patches, grid) = family.images.patches(try family.images.pixels([picture], video: false))
        XCTAssertEqual([grid.t, grid.h, grid.w], ints(try expected.tensor("image_grid_thw")), "image_grid_thw")
        assertClose(patches, try expected.tensor("pixel_values"), tolerance: 1e-6, "pixel patches")
        let (merged, deepstack) = try family.tower.features(patches, grid: grid)
        assertClose(merged, try expected.tensor("image_features"), "merged vision features")
        let wanted = layers(try expected.tensor("image_deepstack"))
        XCTAssertEqual(deepstack.count, wanted.count, "one DeepStack feature per deepstack_visual_indexes entry")
        for (k, (got, want)) in zip(deepstack, wanted).enumerated() { assertClose(got, want, "DeepStack features \(k)") }
        try await checkConversation("image")
    }

    func testClipWithTimestampsAndAnOddFrameCount() async throws {
        let (meta, expected) = try load("video")
        let engine = try await Engine.load(directory: folder)
        let family = try family(engine)
        let clip = try await engine.encodedMedia(.media(path: files(meta)[0]), options: AskOptions())
        XCTAssertEqual(clip.frames.map(\.index), ints(try expected.tensor("frame_indices")), "frames sampled as sample_frames")
        let (patches, grid) = family.videos.patches(try family.clipPixels(clip))
        XCTAssertEqual([grid.t, grid.h, grid.w], ints(try expected.tensor("video_grid_thw")), "video_grid_thw")
        let stored = try expected.tensor("pixel_values_videos")
        assertClose(patches.rows(0..<stored.shape[0]), stored, tolerance: 1e-6, "video pixel patches (first frame pairs)")
        let (features, deepstack, _) = try family.encodeClip(clip)
        assertClose(features, try expected.tensor("video_features"), "merged clip features")
        for (k, (got, want)) in zip(deepstack, layers(try expected.tensor("video_deepstack"))).enumerated() {
            assertClose(got, want, "clip DeepStack features \(k)")
        }
        // One temporal patch per tower batch (a long clip's default) gives the same features, up
        // to the products' rounding (their kernels block by the number of rows).
        XCTAssertGreaterThan(grid.t, 1, "the clip spans several temporal patches")
        let sliced = try family.tower.features(patches, grid: grid, slicesPerBatch: 1)
        assertClose(sliced.merged, try expected.tensor("video_features"), "merged clip features, one temporal patch per batch")
        let wantDeepstack = layers(try expected.tensor("video_deepstack"))
        XCTAssertEqual(sliced.deepstack.count, wantDeepstack.count)
        for (k, (got, want)) in zip(sliced.deepstack, wantDeepstack).enumerated() {
            assertClose(got, want, "clip DeepStack features \(k), one temporal patch per batch")
        }
        // The frame-order control: every frame pair stamped with the first frame's time.
        let times = family.timestamps(clip)
        XCTAssertEqual(times.count, grid.t)
        XCTAssertGreaterThan(Set(times).count, 1, "each frame pair has its own time")
        let control = family.timestamps(clip, framePositions: Array(repeating: 0, count: clip.frames.count))
        XCTAssertEqual(Set(control), [Double(clip.frames[0].index) / (clip.averageFPS ?? 24)], "control: one time for every pair")
        try await checkConversation("video")
    }

    func testPictureAndClipInOneMessage() async throws { try await checkConversation("image_video") }

    /// Qwen3VLVideoProcessor.sample_frames as transformers ran it (oracle.json `sampling`), one
    /// case sampling a single frame (temporal patch 1): linspace of one value is frame 0.
    func testSamplingAsTheProcessorSamples() throws {
        let oracle = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("oracle.json"))) as! [String: Any]
        let cases = try XCTUnwrap(oracle["sampling"] as? [[String: Any]])
        XCTAssertTrue(cases.contains { ($0["indices"] as? [Int])?.count == 1 }, "a one-frame case")
        for c in cases {
            let settings = try JSONSerialization.data(withJSONObject: c["settings"]!)
            let video = try QwenVLProcessor(json: settings, file: "v.json", video: true, rule: .qwen3)
            let total = c["total_frames"] as! Int, rate = c["clip_fps"] as! Double
            XCTAssertEqual(try video.sampleIndices(totalFrames: total, clipFPS: rate, count: nil, fps: nil), c["indices"] as? [Int],
                           "\(c["settings"]!) over \(total) frames at \(rate) fps")
        }
    }

    /// Qwen3VLVideoProcessor's sampling and resize rules, and the bad inputs of issue 21.
    func testSamplingResizeAndBadInput() throws {
        let video = try QwenVLProcessor(json: Data(#"{"fps": 2.0, "min_frames": 4, "max_frames": 16}"#.utf8), file: "v.json",
                                        video: true, rule: .qwen3)
        XCTAssertEqual(video.patchSize, 16, "Qwen3VLVideoProcessor's default patch")
        // 100 frames at 25 fps, 2 fps → 8 frames, linspace(0, 99, 8) rounded half to even.
        XCTAssertEqual(try video.sampleIndices(totalFrames: 100, clipFPS: 25, count: nil, fps: nil), [0, 14, 28, 42, 57, 71, 85, 99])
        // 1.75 fps → 7 frames (an odd count is kept; the processor pads the pair).
        XCTAssertEqual(try video.sampleIndices(totalFrames: 100, clipFPS: 25, count: nil, fps: 1.75), [0, 16, 33, 50, 66, 82, 99])
        XCTAssertEqual(try video.sampleIndices(totalFrames: 100, clipFPS: 25, count: 3, fps: nil), [0, 50, 99])
        // A short clip: min_frames 4 but never more than the clip has.
        XCTAssertEqual(try video.sampleIndices(totalFrames: 3, clipFPS: 25, count: nil, fps: nil), [0, 1, 2])
        // smart_resize with the frame count: 7 frames of 96x160 within 32·32·8·6 pixels → 64x96.
        XCTAssertTrue(try QwenVLProcessor.smartResize(frames: 7, height: 96, width: 160, temporalFactor: 2, factor: 32,
                                                      minPixels: 4096, maxPixels: 49152) == (64, 96))
        // Frames smaller than the factor are enlarged first (transformers does not refuse them).
        XCTAssertTrue(try QwenVLProcessor.smartResize(frames: 2, height: 20, width: 40, temporalFactor: 2, factor: 32,
                                                      minPixels: 4096, maxPixels: 49152) == (32, 64))
        // Bad input: one sentence each.
        func sentence(_ body: @autoclosure () throws -> Any, _ needle: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try body(), file: file, line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(needle), text, file: file, line: line)
                XCTAssertFalse(text.contains("\n"), "one sentence: \(text)", file: file, line: line)
            }
        }
        sentence(try video.sampleIndices(totalFrames: 1, clipFPS: 25, count: nil, fps: nil), "needs at least two")
        sentence(try video.sampleIndices(totalFrames: 100, clipFPS: 25, count: nil, fps: 0), "must be positive")
        sentence(try video.sampleIndices(totalFrames: 100, clipFPS: 25, count: 1, fps: nil), "at least 2")
        sentence(try QwenVLProcessor.smartResize(frames: 1, height: 96, width: 160, temporalFactor: 2, factor: 32,
                                                 minPixels: 4096, maxPixels: 49152), "at least 2")
        // Pictures below the factor are enlarged too (transformers 5's image smart_resize refuses only the aspect ratio).
        XCTAssertTrue(try QwenVLProcessor.smartResize(height: 20, width: 100, factor: 32, minPixels: 4096, maxPixels: 16384) == (32, 160))
        sentence(try QwenVLProcessor(json: Data(#"{"min_pixels": 100, "max_pixels": 50}"#.utf8), file: "p.json", video: true, rule: .qwen3),
                 "max_pixels (50) must be at least min_pixels (100)")
        sentence(try QwenVLProcessor(json: Data(#"{"fps": 0}"#.utf8), file: "p.json", video: true, rule: .qwen3), "'fps' must be positive")
    }

    /// The family refuses the same inputs on its own paths (options and frames).
    func testFamilyRefusesBadRequests() async throws {
        let engine = try await Engine.load(directory: folder)
        let family = try family(engine)
        let clip = ClipInfo(kind: .video, frameCount: 100, durationSeconds: 4)
        XCTAssertThrowsError(try family.frameSelection(for: clip, options: FrameOptions(fps: 0)))
        XCTAssertThrowsError(try family.frameSelection(for: clip, options: FrameOptions(count: 1)))
        XCTAssertThrowsError(try family.frameSelection(for: ClipInfo(kind: .video, frameCount: 1, durationSeconds: 0.04), options: FrameOptions()))
        XCTAssertThrowsError(try family.encode(frame: RGBImage(width: 402, height: 2), kind: .image)) { error in
            XCTAssertTrue("\(error)".contains("aspect ratio is above 200"), "\(error)")
        }
        // A picture below the 32-pixel patch × merge unit is enlarged, as transformers 5 does.
        XCTAssertNoThrow(try family.encode(frame: RGBImage(width: 20, height: 12), kind: .image))
    }
}
