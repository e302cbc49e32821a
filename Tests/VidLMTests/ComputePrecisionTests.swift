import Foundation
import XCTest
import VidLMModels
import VidLMTensor
@testable import VidLM

/// `--compute bf16` on the f32 end-to-end fixtures: the projections really become bf16 (the
/// logits move off the f32 result), stay within bf16's error of transformers' f32 logits, and the
/// greedy ids are compared with the f32 ones. The agreement measured here is what
/// docs/numerics.md reports ("Computing in bf16").
final class ComputePrecisionTests: XCTestCase {
    /// Last-logit error allowed in bf16, relative to the logits' scale: bf16 keeps 8 significant
    /// bits (relative rounding 2⁻⁹ ≈ 0.002 per product input), summed over a few layers.
    static let bf16Tolerance: Float = 0.05

    private struct Outcome {
        let name: String
        let agreeing: Int
        let total: Int
    }

    private func run(_ name: String) async throws -> Outcome {
        let c = try EndToEndCase(name)
        let engine = try await Engine.load(directory: c.folder, compute: .bf16)
        let pixels = try c.inputs.tensor("pixel_values")
        let features = try engine.model.vision(pixels).lastHiddenState
        let prompt = try engine.model.prompt(features: features, question: c.question, framePositions: nil)
        var cache = engine.model.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try engine.model.language.prefill(inputEmbeddings: prompt.embeddings, cache: &cache)
        let expected = try c.expected.tensor("last_logits")
        assertClose(logits.reshaped([logits.count]), expected, tolerance: Self.bf16Tolerance, "\(name) bf16: last logits")
        let exact = zip(logits.floats(), expected.floats()).allSatisfy { abs($0 - $1) <= 1e-6 * max(abs($1), 1) }
        XCTAssertFalse(exact, "\(name): bf16 compute gave f32's logits to 1e-6; the projections were not rounded")
        let f32Ids = try c.ints(c.expected, "greedy_ids")
        let result = try await engine.answer(.pixels(pixels), question: c.question, options: c.options)
        XCTAssertEqual(result.tokenIds.count, f32Ids.count, "\(name): bf16 generated another number of tokens")
        // Greedy ids agree up to the first difference; after it the two continuations diverge.
        let agreeing = zip(result.tokenIds, f32Ids).prefix { $0 == $1 }.count
        return Outcome(name: name, agreeing: agreeing, total: f32Ids.count)
    }

    func testBF16ComputeStaysNearF32OnEveryFixture() async throws {
        var outcomes: [Outcome] = []
        for name in ["e2e_blip2_opt", "e2e_instructblipvideo_llama", "e2e_vidlm_tiny"] {
            outcomes.append(try await run(name))
        }
        for o in outcomes {
            print("compute bf16: \(o.name): first \(o.agreeing) of \(o.total) greedy ids equal to f32's")
        }
        // Most tokens must still agree: a broken bf16 path (wrong rounding, a transposed pack)
        // diverges at the first token.
        XCTAssertGreaterThan(outcomes.reduce(0) { $0 + $1.agreeing }, 0, "bf16 compute disagreed with f32 from the first token everywhere")
    }

    func testStoredPrecisionKeepsF32Exact() async throws {
        let c = try EndToEndCase("e2e_blip2_opt")
        let engine = try await Engine.load(directory: c.folder, compute: .stored)
        let result = try await engine.answer(.pixels(try c.inputs.tensor("pixel_values")), question: c.question, options: c.options)
        XCTAssertEqual(result.tokenIds, try c.ints(c.expected, "greedy_ids"))
    }
}
