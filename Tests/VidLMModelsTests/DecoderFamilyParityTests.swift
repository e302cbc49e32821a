import Foundation
import XCTest
import VidLMTensor
@testable import VidLMModels

/// Mistral (sliding window) and Qwen2 (q/k/v biases, tied embeddings; `use_sliding_window` on
/// the layers from `max_window_layers`) causal LMs against
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

    /// Qwen2 with `use_sliding_window`, `sliding_window` 16 and `max_window_layers` 1 over three
    /// layers, on a 90-token prompt: layer 0 sees every earlier position, layers 1 and 2 the last 16.
    func testQwen2WithPerLayerSlidingWindow() throws {
        try check("qwen2_tiny_window", expectWindow: 16)
        let config = try XCTUnwrap(try LanguageModelLoader.load(directory: ParityFixtures.folder("qwen2_tiny_window")) as? LlamaModel).config
        XCTAssertEqual((0..<3).map { config.window(layer: $0) }, [nil, 16, 16])
    }

    /// Qwen2's window as transformers applies it (only with `use_sliding_window`; `layer_types` or
    /// else the layers from `max_window_layers`); Mistral's defaults apply when absent.
    func testConfigRules() throws {
        func qwen2(_ json: String) throws -> LlamaConfig {
            try ConfigError.decode(LlamaConfig.self, from: Data(json.utf8), file: "c")
        }
        let off = try qwen2(#"{"model_type": "qwen2", "num_hidden_layers": 4, "sliding_window": 8}"#)
        XCTAssertEqual((0..<4).map { off.window(layer: $0) }, [nil, nil, nil, nil], "no window without use_sliding_window")
        let byDepth = try qwen2(#"{"model_type": "qwen2", "num_hidden_layers": 4, "use_sliding_window": true, "sliding_window": 8, "max_window_layers": 2}"#)
        XCTAssertEqual((0..<4).map { byDepth.window(layer: $0) }, [nil, nil, 8, 8])
        let deep = try qwen2(#"{"model_type": "qwen2", "num_hidden_layers": 4, "use_sliding_window": true}"#)
        XCTAssertEqual((0..<4).map { deep.window(layer: $0) }, [nil, nil, nil, nil], "max_window_layers 28 by default")
        let listed = try qwen2(#"{"model_type": "qwen2_vl_text", "num_hidden_layers": 3, "head_dim": 16, "hidden_size": 64, "num_attention_heads": 4, "use_sliding_window": true, "sliding_window": 8, "layer_types": ["sliding_attention", "full_attention", "sliding_attention"], "rope_parameters": {"mrope_section": [2, 3, 3]}}"#)
        XCTAssertEqual((0..<3).map { listed.window(layer: $0) }, [8, nil, 8], "layer_types decide")
        XCTAssertThrowsError(try qwen2(#"{"model_type": "qwen2", "num_hidden_layers": 2, "layer_types": ["full_attention"]}"#)) {
            XCTAssertTrue("\($0)".contains("layer_types") || "\($0)".contains("layer"), "\($0)")
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
