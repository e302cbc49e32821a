import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// LLaVA-NeXT-Video against transformers 5.23 on a tiny random checkpoint
/// (tools/parity/make_llava_next_video_fixtures.py): an image (AnyRes, packed) and a clip (three
/// frames decoded by vidlm, the video processor, 2×2 average pooling, projector) in one
/// conversation — prompt ids, last logits and greedy ids through the real decode path.
final class LlavaNextVideoParityTests: XCTestCase {
    static let folder = Fixtures.parity("llava_next_video_tiny")

    func testImageAndVideoInOneConversation() async throws {
        let caseFolder = Self.folder.appendingPathComponent("cases/image_and_video")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: caseFolder.appendingPathComponent("meta.json"))) as! [String: Any]
        let expected = try SafetensorsFile(url: caseFolder.appendingPathComponent("expected.safetensors"))
        let engine = try await Engine.load(directory: Self.folder)
        let family = try XCTUnwrap(engine.model as? LlavaNextFamily)
        let video = try XCTUnwrap(family.video)
        let content = (meta["messages"] as! [[String: Any]])[0]["content"] as! [[String: Any]]
        let imagePath = Fixtures.repo.appendingPathComponent(content[0]["path"] as! String).path
        let videoPath = Fixtures.repo.appendingPathComponent(content[1]["path"] as! String).path
        let question = content[2]["text"] as! String

        let picture = try await SmolVLMParityTests.decodeStill(imagePath)
        let encoded = try family.encode(frame: picture, kind: .image)
        assertClose(try family.pack(family.projector(encoded.features), height: picture.height, width: picture.width),
                    try expected.tensor("packed_image"), "image: packed features")

        let options = AskOptions(frames: 3, generation: GenerationParameters(maxNewTokens: (meta["generated_ids"] as! [Int]).count, stopTokenIds: []))
        let clip = try await engine.encodedMedia(.media(path: videoPath), options: options)
        XCTAssertEqual(clip.kind, .video)
        XCTAssertEqual(clip.frames.map(\.index), meta["frame_indices"] as? [Int], "sampled frame indices")
        let decoder = try await MediaDecoder.open(videoPath)
        var frames: [RGBImage] = []
        for try await frame in decoder.frames(FrameRequest(.indices(clip.frames.map(\.index)))) { frames.append(frame.image) }
        XCTAssertEqual(frames.flatMap { $0.pixels.map(Float.init) }, try expected.tensor("frames_uint8").floats(), "decoded frames equal torchcodec's")
        assertClose(try video.pixels.pixels(frames), try expected.tensor("pixel_values_videos"), tolerance: 1e-6, "video: pixel values")
        let pooled = family.projector(LlavaNextFamily.spatialPool(clip.features, stride: video.stride, max: video.maxPool))
        assertClose(pooled.reshaped([pooled.shape[0] * pooled.shape[1], pooled.shape[2]]), try expected.tensor("video_features"), "video: pooled + projected")

        let messages = [ChatMessage(role: "user", content: .parts([.image(source: nil), .video(source: nil), .text(question)]))]
        let image = EncodedMedia(kind: .image, frames: [FrameInfo(index: 0, seconds: 0)], parts: [encoded], durationSeconds: 0)
        let prompt = try family.prepare(PromptRequest(messages: messages, media: [image, clip]))
        XCTAssertEqual(prompt.inputIds, meta["input_ids"] as? [Int], "prompt ids as the processor builds them")
        var cache = family.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try family.language.prefill(inputEmbeddings: prompt.embeddings, cache: &cache)
        assertClose(logits.reshaped([logits.count]), try expected.tensor("logits_last"), "last logits")
        var ids: [Int] = []
        for try await event in engine.respond(to: messages, media: [.media(path: imagePath), .media(path: videoPath)], options: options) {
            if case .finished(let result) = event { ids = result.tokenIds }
        }
        XCTAssertEqual(ids, meta["generated_ids"] as? [Int], "greedy ids")
    }

    func testSpatialPooling() {
        // One frame, a 4x4 grid of one channel holding 0...15: 2x2 windows.
        let x = Tensor(shape: [1, 16, 1], values: (0..<16).map(Float.init))
        XCTAssertEqual(LlavaNextFamily.spatialPool(x, stride: 2, max: false).floats(), [2.5, 4.5, 10.5, 12.5])
        XCTAssertEqual(LlavaNextFamily.spatialPool(x, stride: 2, max: true).floats(), [5, 7, 13, 15])
    }

    /// More video placeholders than clips, and a pooling mode vidlm does not run.
    func testBadInputs() async throws {
        let engine = try await Engine.load(directory: Self.folder)
        let clip = Fixtures.repo.appendingPathComponent("Tests/Fixtures/media/cfr_bframes.mp4").path
        let messages = [ChatMessage(role: "user", content: .parts([.video(source: nil), .text("and <video> too")]))]
        do {
            for try await _ in engine.respond(to: messages, media: [.media(path: clip)], options: AskOptions(frames: 2)) {}
            XCTFail("an extra <video> should be refused")
        } catch let e as EngineError {
            XCTAssertTrue(e.description.contains("more <video> placeholders"), e.description)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llava-next-video-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.folder.path) where file.contains(".") {
            try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        let config = dir.appendingPathComponent("config.json")
        var o = try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as! [String: Any]
        o["spatial_pool_mode"] = "conv"
        try JSONSerialization.data(withJSONObject: o).write(to: config)
        XCTAssertThrowsError(try ModelRegistry.load(dir)) { XCTAssertTrue("\($0)".contains("'spatial_pool_mode' \"conv\" is not supported"), "\($0)") }
    }
}
