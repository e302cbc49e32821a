import Foundation
import XCTest
@_exported import VidLMTestSupport
import VidLMTensor
@testable import VidLMModels

enum ParityFixtures {
    static let root = TestFixtures.parity
    static func folder(_ name: String) -> URL { root.appendingPathComponent(name) }
}

/// The vision core against transformers' Blip2VisionModel and CLIPVisionModel.
final class VisionParityTests: XCTestCase {
    private func run(_ name: String, tolerance: Float) throws {
        let folder = ParityFixtures.folder(name)
        let config = try ConfigError.decode(VisionConfig.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")), file: "config.json")
        let store = try WeightStore(directory: folder)
        let vit = try WeightBinder.load(store) { try VisionTransformer(config: config, weights: $0) }
        let inputs = try SafetensorsFile(url: folder.appendingPathComponent("inputs.safetensors"))
        let expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        let out = try vit(try inputs.tensor("pixel_values"), keepHiddenStates: true)
        assertClose(out.lastHiddenState, try expected.tensor("last_hidden_state"), tolerance: tolerance, "\(name) last_hidden_state")
        assertClose(out.pooled, try expected.tensor("pooler_output"), tolerance: tolerance, "\(name) pooler_output")
        let count = expected.names.filter { $0.hasPrefix("hidden_states.") }.count
        XCTAssertEqual(out.hiddenStates.count, count, name)
        for i in 0..<min(count, out.hiddenStates.count) {
            assertClose(out.hiddenStates[i], try expected.tensor("hidden_states.\(i)"), tolerance: tolerance, "\(name) hidden_states.\(i)")
        }
        // Stopping early gives the same layer output (LLaVA's penultimate layer).
        let penultimate = try vit(try inputs.tensor("pixel_values"), stopAfterLayer: count - 2)
        assertClose(penultimate.lastHiddenState, try expected.tensor("hidden_states.\(count - 2)"), tolerance: tolerance, "\(name) penultimate")
    }

    func testBlip2Vision() throws { try run("blip2_vision_tiny", tolerance: 1e-4) }
    func testBlip2VisionBF16Weights() throws { try run("blip2_vision_tiny_bf16", tolerance: 2e-2) }
    func testCLIPVision() throws { try run("clip_vision_tiny", tolerance: 1e-4) }
}
