import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// Video-LLaVA against transformers 5.23 on a tiny random checkpoint
/// (tools/parity/make_video_llava_fixtures.py): an image through the image tower and 8 frames
/// decoded by vidlm through the video tower (class token kept), one conversation — features,
/// prompt ids, last logits and greedy ids through the engine.
final class VideoLlavaParityTests: XCTestCase {
    static let folder = Fixtures.parity("video_llava_tiny")

    func testImageAndEightFramesInOneConversation() async throws {
        let caseFolder = Self.folder.appendingPathComponent("cases/image_and_video")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: caseFolder.appendingPathComponent("meta.json"))) as! [String: Any]
        let expected = try SafetensorsFile(url: caseFolder.appendingPathComponent("expected.safetensors"))
        let engine = try await Engine.load(directory: Self.folder)
        let family = try XCTUnwrap(engine.model as? VideoLlavaFamily)
        let content = (meta["messages"] as! [[String: Any]])[0]["content"] as! [[String: Any]]
        let imagePath = Fixtures.repo.appendingPathComponent(content[0]["path"] as! String).path
        let videoPath = Fixtures.repo.appendingPathComponent(content[1]["path"] as! String).path
        let question = content[2]["text"] as! String
        let wanted = meta["generated_ids"] as! [Int]

        let picture = try await SmolVLMParityTests.decodeStill(imagePath)
        let imagePixels = try family.imagePixels([picture])
        assertClose(imagePixels, try expected.tensor("pixel_values_images").reshaped([1, 3, 32, 32]), tolerance: 1e-6, "image pixel values")
        let imageFeatures = try family.encode(pixels: imagePixels)
        assertClose(family.projector(imageFeatures).reshaped([16, 64]), try expected.tensor("image_features"), "image features")

        let options = AskOptions(generation: GenerationParameters(maxNewTokens: wanted.count, stopTokenIds: []))
        let clip = try await engine.encodedMedia(.media(path: videoPath), options: options)
        XCTAssertEqual(clip.frames.map(\.index), meta["frame_indices"] as? [Int], "8 uniformly sampled frames")
        let decoder = try await MediaDecoder.open(videoPath)
        var frames: [RGBImage] = []
        for try await frame in decoder.frames(FrameRequest(.indices(clip.frames.map(\.index)))) { frames.append(frame.image) }
        XCTAssertEqual(frames.flatMap { $0.pixels.map(Float.init) }, try expected.tensor("frames_uint8").floats(), "decoded frames equal torchcodec's")
        let videoPixels = try family.videoPixels.pixels(frames)
        assertClose(videoPixels, try expected.tensor("pixel_values_videos"), tolerance: 1e-6, "video pixel values")
        XCTAssertEqual(clip.features.shape, [8, 17, 32], "frames keep the class token")
        assertClose(family.projector(clip.features).reshaped([8 * 17, 64]), try expected.tensor("video_features"), "video features")

        let messages = [ChatMessage(role: "user", content: .parts([.image(source: nil), .video(source: nil), .text(question)]))]
        let image = EncodedMedia(kind: .image, frames: [FrameInfo(index: 0, seconds: 0)], parts: [EncodedFrame(features: imageFeatures)], durationSeconds: 0)
        let prompt = try family.prepare(PromptRequest(messages: messages, media: [image, clip]))
        XCTAssertEqual(prompt.inputIds, meta["input_ids"] as? [Int], "prompt ids as the processor builds them")
        var cache = family.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try family.language.prefill(inputEmbeddings: prompt.embeddings, cache: &cache)
        assertClose(logits.reshaped([logits.count]), try expected.tensor("logits_last"), "last logits")
        var ids: [Int] = []
        for try await event in engine.respond(to: messages, media: [.media(path: imagePath), .media(path: videoPath)], options: options) {
            if case .finished(let result) = event { ids = result.tokenIds }
        }
        XCTAssertEqual(ids, wanted, "greedy ids")
    }

    /// A conversation with two clips but one video placeholder in the template's output.
    func testMoreMediaThanPlaceholders() async throws {
        let engine = try await Engine.load(directory: Self.folder)
        let clip = Fixtures.repo.appendingPathComponent("Tests/Fixtures/media/cfr_bframes.mp4").path
        let messages = [ChatMessage(role: "user", content: .parts([.video(source: nil), .text("what?")]))]
        do {
            for try await _ in engine.respond(to: messages, media: [.media(path: clip), .media(path: clip)], options: AskOptions(frames: 2)) {}
            XCTFail("two clips for one placeholder should be refused")
        } catch {
            XCTAssertTrue("\(error)".contains("media"), "\(error)")
        }
    }
}
