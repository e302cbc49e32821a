import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// The embedded model (models/vidlm-shapes): the Swift engine against the PyTorch module on the
/// trained weights (fixture `shipped_vidlm_shapes` from tools/parity/cases_e2e.py), and the answer
/// to the README's demo question.
final class ShippedModelTests: XCTestCase {
    static let model = Fixtures.repo.appendingPathComponent("models/vidlm-shapes")

    func testMatchesPyTorchOnTrainedWeights() async throws {
        let c = try EndToEndCase("shipped_vidlm_shapes")
        let engine = try await Engine.load(directory: Self.model)
        let pixels = try c.inputs.tensor("pixel_values")
        let features = try engine.model.vision(pixels).lastHiddenState
        assertClose(features, try c.expected.tensor("vision"), "vision")
        let prompt = try engine.model.prompt(features: features, question: c.question, framePositions: nil)
        let projected = prompt.stages["projected"]!
        assertClose(projected.reshaped(Array(projected.shape.dropFirst())), try c.expected.tensor("prefix"), "visual prefix")
        var cache = engine.model.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try engine.model.language.prefill(inputEmbeddings: prompt.embeddings, cache: &cache, logits: .all)
        assertClose(logits, try c.expected.tensor("logits"), "logits at every prompt position")
        let result = try await engine.answer(.pixels(pixels), question: c.question, options: c.options)
        XCTAssertEqual(result.tokenIds, try c.ints(c.expected, "greedy_ids"))
        XCTAssertEqual(result.answer, (c.meta["answer"] as! String).trimmingCharacters(in: .whitespaces))
    }

    /// The same through the real decode path (the fixture's frames came from the ffmpeg CLI).
    func testAnswersTheSampleClip() async throws {
        let c = try EndToEndCase("shipped_vidlm_shapes")
        let engine = try await Engine.load(directory: Self.model)
        let media = Fixtures.repo.appendingPathComponent(c.meta["media"] as! String).path
        let result = try await engine.answer(.media(path: media), question: c.question, options: c.options)
        XCTAssertEqual(result.frames.map(\.index), c.meta["frame_indices"] as! [Int])
        XCTAssertEqual(result.tokenIds, try c.ints(c.expected, "greedy_ids"))
    }

    /// The bad-input rules for the embedded model: inputs unlike its training data still
    /// get an answer (a 320x240 clip of 100 frames, a 640x480 photo, a question from outside the
    /// world), with the frames sampled to the model's count and the images resized.
    func testInputsUnlikeTheTrainingDataStillGetAnAnswer() async throws {
        let engine = try await Engine.load(directory: Self.model)
        let frames = engine.model.defaultFrameCount
        let clip = try await engine.answer(.media(path: Fixtures.repo.appendingPathComponent("samples/clip.mp4").path),
                                           question: "what happens?", options: AskOptions())
        XCTAssertEqual(clip.frames.count, frames, "a 100-frame clip is sampled to the model's frame count")
        XCTAssertEqual(clip.frames.map(\.index), (0..<frames).map { (2 * $0 + 1) * 100 / (2 * frames) },
                       "uniform segment centres")
        XCTAssertFalse(clip.answer.isEmpty)
        let photo = try await engine.answer(.media(path: Fixtures.repo.appendingPathComponent("samples/photo.png").path),
                                            question: "describe the image.", options: AskOptions())
        XCTAssertEqual(photo.frames.count, 1)
        XCTAssertFalse(photo.answer.isEmpty)
        let outside = try await engine.answer(.media(path: Fixtures.repo.appendingPathComponent("samples/world/moves-left.mp4").path),
                                              question: "who painted the mona lisa?", options: AskOptions())
        XCTAssertFalse(outside.answer.isEmpty)
        XCTAssertNotEqual(outside.finish, .contextFull)
    }
}
