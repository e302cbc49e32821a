import Foundation
import XCTest
import VidLMTensor
@testable import VidLMModels

/// The Video-LLaMA video Q-Former and proportional cross-attention against the tools/ reference
/// (tools/reference/vidlm_bridge.py, via tools/parity/cases_bridge.py).
final class VideoQFormerParityTests: XCTestCase {
    struct FixtureConfig: Decodable {
        let numVideoQueryTokens: Int
        let maxFramePos: Int
        let llmHiddenSize: Int
        let qformerConfig: QFormerConfig
    }

    private func run(_ name: String) throws -> Bool {
        let folder = ParityFixtures.folder(name)
        let config = try ConfigError.decode(FixtureConfig.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")), file: "config.json")
        let store = try WeightStore(directory: folder)
        let model = try WeightBinder.load(store) {
            try VideoQFormer(qformerConfig: config.qformerConfig, numQueryTokens: config.numVideoQueryTokens,
                             maxFramePositions: config.maxFramePos, outputWidth: config.llmHiddenSize, weights: $0)
        }
        let inputs = try SafetensorsFile(url: folder.appendingPathComponent("inputs.safetensors"))
        let expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        let states = try inputs.tensor("frame_states")
        let out = try model(states.reshaped(Array(states.shape.dropFirst())))
        assertClose(out.withPositions, try expected.tensor("with_positions").reshaped(out.withPositions.shape), "\(name) with positions")
        assertClose(out.hidden, try expected.tensor("video_hidden"), "\(name) video Q-Former")
        assertClose(out.projected, try expected.tensor("llm_inputs"), "\(name) llama_proj")
        return model.positions.didWarn
    }

    func testVideoQFormer() throws {
        XCTAssertFalse(try run("video_llama_qformer_tiny"))
    }

    func testMoreFramesThanPositionsInterpolatesAndWarns() throws {
        XCTAssertTrue(try run("video_llama_qformer_interp"))
    }

    func testProportionalCrossAttentionOnMergedTokens() throws {
        let folder = ParityFixtures.folder("bridge_qformer_log_counts")
        let config = try ConfigError.decode(QFormerConfig.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")), file: "config.json")
        let store = try WeightStore(directory: folder)
        let qformer = try WeightBinder.load(store) { try QFormer(config: config, weights: $0, prefix: "", textInput: false) }
        let inputs = try SafetensorsFile(url: folder.appendingPathComponent("inputs.safetensors"))
        let expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        let counts = try inputs.tensor("counts").floats()
        let logCounts = [counts.map { $0 > 0 ? logf($0) : -.infinity }]
        let queries = try inputs.tensor("queries"), encoder = try inputs.tensor("encoder")
        assertClose(try qformer(queries: queries, encoder: encoder, encoderLogCounts: logCounts),
                    try expected.tensor("last_hidden_state"), "with log(count) bias")
        assertClose(try qformer(queries: queries, encoder: encoder), try expected.tensor("last_hidden_state_plain"), "without bias")
    }
}
