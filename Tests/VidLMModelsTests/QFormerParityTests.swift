import Foundation
import XCTest
import VidLMTensor
@testable import VidLMModels

/// The Q-Former bridge against transformers (tools/parity/cases_qformer.py).
final class QFormerParityTests: XCTestCase {
    struct FixtureConfig: Decodable {
        let numQueryTokens: Int
        let textHiddenSize: Int
        let frames: Int?
        let qformerConfig: QFormerConfig
    }

    private func load(_ name: String, instructionAware: Bool) throws -> (QFormerBridge, FixtureConfig, SafetensorsFile, SafetensorsFile) {
        let folder = ParityFixtures.folder(name)
        let config = try ConfigError.decode(FixtureConfig.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")), file: "config.json")
        let store = try WeightStore(directory: folder)
        let bridge = try WeightBinder.load(store) {
            try QFormerBridge(qformerConfig: config.qformerConfig, numQueryTokens: config.numQueryTokens,
                              textHiddenSize: config.textHiddenSize, instructionAware: instructionAware, weights: $0)
        }
        return (bridge, config,
                try SafetensorsFile(url: folder.appendingPathComponent("inputs.safetensors")),
                try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors")))
    }

    func testBlip2QFormerAndProjection() throws {
        let (bridge, _, inputs, expected) = try load("blip2_qformer_tiny", instructionAware: false)
        let out = try bridge.images(try inputs.tensor("image_embeds"))
        assertClose(out.qformer, try expected.tensor("qformer_output"), "qformer output")
        assertClose(out.projected, try expected.tensor("projected"), "projected")
    }

    func testInstructBlipVideoQFormerPerFrameWithInstruction() throws {
        let (bridge, config, inputs, expected) = try load("instructblipvideo_qformer_tiny", instructionAware: true)
        let features = try inputs.tensor("image_embeds")
        let ids = try inputs.tensor("qformer_input_ids").floats().map { Int($0) }
        let mask = try inputs.tensor("qformer_attention_mask").floats().map { $0 != 0 }
        let frames = try XCTUnwrap(config.frames)
        let l = ids.count / 2
        var qformerRows: [Tensor] = [], projected: [Tensor] = []
        for b in 0..<2 {
            let clip = features.rows(b * frames..<(b + 1) * frames)
            let out = try bridge.video(clip, instruction: Array(ids[b * l..<(b + 1) * l]),
                                       instructionMask: Array(mask[b * l..<(b + 1) * l]))
            qformerRows.append(out.qformer)
            projected.append(out.projected)
        }
        assertClose(Tensor.concatenate(qformerRows), try expected.tensor("qformer_output"), "qformer output (queries + text)")
        assertClose(Tensor.concatenate(projected), try expected.tensor("projected"), "projected, frame-major")
    }

    func testWidthMismatchAndZeroFrames() throws {
        let (bridge, _, _, _) = try load("blip2_qformer_tiny", instructionAware: false)
        XCTAssertThrowsError(try bridge.images(Tensor.zeros([1, 17, 32]))) { XCTAssertTrue("\($0)".contains("encoder_hidden_size is 48"), "\($0)") }
        XCTAssertThrowsError(try bridge.images(Tensor.zeros([0, 17, 48]))) { XCTAssertTrue("\($0)".contains("zero frames"), "\($0)") }
        XCTAssertThrowsError(try bridge.images(Tensor.zeros([1, 17, 48]), instruction: [1, 2])) { XCTAssertTrue("\($0)".contains("no instruction"), "\($0)") }
    }
}
