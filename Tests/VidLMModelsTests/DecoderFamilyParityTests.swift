import Foundation
import XCTest
import VidLMTensor
@testable import VidLMModels

/// Mistral (sliding window) and Qwen2 (q/k/v biases, tied embeddings) causal LMs against
/// transformers 5.23 (tools/parity/make_decoder_family_fixtures.py): logits at every prompt
/// position and greedy ids, loaded as causal LMs from their own config.json.
final class DecoderFamilyParityTests: XCTestCase {
    private func check(_ name: String, expectWindow: Int?) throws {
        let folder = ParityFixtures.folder(name)
        let model = try LanguageModelLoader.load(directory: folder)
        let llama = try XCTUnwrap(model as? LlamaModel)
        XCTAssertEqual(llama.config.slidingWindow, expectWindow)
        let inputs = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("inputs.json"))) as! [String: Any]
        let ids = inputs["input_ids"] as! [Int]
        let expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        var cache = model.makeCache(capacity: ids.count)
        let logits = try model.forward(ids: ids, cache: &cache, logits: .all)
        assertClose(logits, try expected.tensor("logits"), "\(name): logits at every position")
        let wanted = inputs["greedy_ids"] as! [Int]
        let result = try TextGenerator(model: model).generate(.tokens(ids), parameters: GenerationParameters(maxNewTokens: wanted.count, stopTokenIds: []))
        XCTAssertEqual(result.tokens, wanted, "\(name): greedy ids")
    }

    func testMistralWithSlidingWindow() throws { try check("mistral_tiny_window", expectWindow: 32) }

    func testQwen2WithBiasesAndTiedEmbeddings() throws {
        try check("qwen2_tiny_tied", expectWindow: nil)
        let config = try XCTUnwrap(try LanguageModelLoader.load(directory: ParityFixtures.folder("qwen2_tiny_tied")) as? LlamaModel).config
        XCTAssertTrue(config.qkvBias)
        XCTAssertFalse(config.outputBias)
        XCTAssertTrue(config.tieWordEmbeddings)
    }

    /// Qwen2's per-layer sliding window is refused in one sentence; Mistral's defaults apply when absent.
    func testConfigRules() throws {
        XCTAssertThrowsError(try LanguageModelLoader.textConfig(from: Data(#"{"model_type": "qwen2", "use_sliding_window": true}"#.utf8), file: "c")) {
            XCTAssertTrue("\($0)".contains("sliding window"), "\($0)")
        }
        let (config, _) = try LanguageModelLoader.textConfig(from: Data(#"{"model_type": "mistral"}"#.utf8), file: "c")
        guard case .llama(let m) = config else { return XCTFail("mistral reads as the LLaMA graph") }
        XCTAssertEqual(m.slidingWindow, 4096)
        XCTAssertEqual(m.numKeyValueHeads, 8)
        XCTAssertEqual(m.intermediateSize, 14336)
        let (none, _) = try LanguageModelLoader.textConfig(from: Data(#"{"model_type": "mistral", "sliding_window": null}"#.utf8), file: "c")
        guard case .llama(let n) = none else { return XCTFail() }
        XCTAssertNil(n.slidingWindow)
    }
}
