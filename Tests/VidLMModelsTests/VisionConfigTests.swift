import Foundation
import XCTest
import VidLMTensor
@testable import VidLMModels

final class VisionConfigTests: XCTestCase {
    private func decode(_ json: String) throws -> (VisionConfig, String) {
        try VisionLoader.visionConfig(from: Data(json.utf8), file: "config.json")
    }

    private func fails(_ json: String, containing text: String, line: UInt = #line) {
        XCTAssertThrowsError(try decode(json), line: line) { error in
            guard let e = error as? ConfigError else { return XCTFail("not a ConfigError: \(error)", line: line) }
            XCTAssertTrue(e.description.contains(text), "'\(e.description)' lacks '\(text)'", line: line)
            XCTAssertFalse(e.description.contains("\n"), line: line)
        }
    }

    func testTransformersDefaultsForAbsentFields() throws {
        let (eva, p1) = try decode(#"{"model_type": "blip_2_vision_model"}"#)
        XCTAssertEqual(p1, "")
        XCTAssertEqual(eva.kind, .eva)
        XCTAssertEqual([eva.hiddenSize, eva.intermediateSize, eva.numHiddenLayers, eva.numAttentionHeads, eva.imageSize, eva.patchSize],
                       [1408, 6144, 39, 16, 224, 14])
        XCTAssertEqual(eva.hiddenAct, "gelu")
        XCTAssertEqual(eva.layerNormEps, 1e-6)
        XCTAssertTrue(eva.qkvBias)
        let (clip, _) = try decode(#"{"model_type": "clip_vision_model", "patch_size": 14, "image_size": [336, 336]}"#)
        XCTAssertEqual(clip.kind, .clip)
        XCTAssertEqual([clip.hiddenSize, clip.numHiddenLayers, clip.imageSize, clip.patchSize], [768, 12, 336, 14])
        XCTAssertEqual(clip.hiddenAct, "quick_gelu")
        XCTAssertEqual(clip.tokenCount, 24 * 24 + 1)
    }

    func testCompositeConfigsUseVisionConfigAndPrefix() throws {
        let (c, prefix) = try decode(#"{"model_type": "blip-2", "vision_config": {"hidden_size": 64, "num_attention_heads": 4}}"#)
        XCTAssertEqual(prefix, "vision_model.")
        XCTAssertEqual(c.kind, .eva)
        XCTAssertEqual(c.hiddenSize, 64)
        let (i, _) = try decode(#"{"model_type": "instructblipvideo", "vision_config": {}}"#)
        XCTAssertEqual(i.modelType, "instructblipvideo_vision_model")
    }

    /// SigLIP-SO400M's 384 px in 14 px patches (SmolVLM2-2.2B): 27 × 27 patches, no class token.
    func testSigLIPSizesThatAreNotMultiples() throws {
        let (c, prefix) = try decode(#"{"model_type": "smolvlm", "vision_config": {"image_size": 384, "patch_size": 14, "hidden_size": 1152, "num_attention_heads": 16}}"#)
        XCTAssertEqual(c.kind, .siglip)
        XCTAssertEqual(prefix, "model.vision_model.")
        XCTAssertEqual(c.patchesPerSide, 27)
        XCTAssertEqual(c.tokenCount, 729)
    }

    func testBadConfigsFailWithOneSentence() {
        fails("not json", containing: "not valid JSON")
        fails(#"{"hidden_size": 8}"#, containing: "'model_type' is missing")
        fails(#"{"model_type": "resnet"}"#, containing: "unknown model_type 'resnet'")
        fails(#"{"model_type": "clip_vision_model", "hidden_size": "big"}"#, containing: "'hidden_size' must be a number")
        fails(#"{"model_type": "clip_vision_model", "hidden_size": 30, "num_attention_heads": 4}"#, containing: "num_attention_heads")
        fails(#"{"model_type": "clip_vision_model", "hidden_act": "swoosh"}"#, containing: "swoosh")
        fails(#"{"model_type": "clip_vision_model", "image_size": 20, "patch_size": 14}"#, containing: "image_size")
        fails(#"{"model_type": "blip-2", "vision_config": 3}"#, containing: "vision_config")
        fails(#"{"model_type": "blip-2", "vision_config": {"layer_norm_eps": "tiny"}}"#, containing: "'vision_config.layer_norm_eps' must be a number")
    }

    func testWrongShapedAndMissingWeightsAreListed() throws {
        let folder = ParityFixtures.folder("clip_vision_tiny")
        let config = try ConfigError.decode(VisionConfig.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")), file: "config.json")
        var bigger = config
        bigger.intermediateSize = 128
        let store = try WeightStore(directory: folder)
        XCTAssertThrowsError(try WeightBinder.load(store) { try VisionTransformer(config: bigger, weights: $0) }) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("encoder.layers.0.mlp.fc1.weight"), text)
            XCTAssertTrue(text.contains("[64, 32]"), text)
        }
        var deeper = config
        deeper.numHiddenLayers = 4
        XCTAssertThrowsError(try WeightBinder.load(store) { try VisionTransformer(config: deeper, weights: $0) }) { error in
            XCTAssertTrue("\(error)".contains("encoder.layers.3."), "\(error)")
        }
        var shallower = config
        shallower.numHiddenLayers = 2
        XCTAssertThrowsError(try WeightBinder.load(store) { try VisionTransformer(config: shallower, weights: $0) }) { error in
            XCTAssertTrue("\(error)".contains("encoder.layers.2."), "unexpected weights are listed: \(error)")
        }
    }

    func testInputsTheModelCannotTake() throws {
        let folder = ParityFixtures.folder("clip_vision_tiny")
        let vit = try VisionLoader.load(directory: folder).model
        XCTAssertThrowsError(try vit(Tensor.zeros([1, 3, 4, 4]))) { XCTAssertTrue("\($0)".contains("smaller than one 8x8 patch"), "\($0)") }
        XCTAssertThrowsError(try vit(Tensor.zeros([1, 3, 16, 16]))) { XCTAssertTrue("\($0)".contains("expects 32x32"), "\($0)") }
        XCTAssertThrowsError(try vit(Tensor.zeros([1, 1, 32, 32])))
    }
}
