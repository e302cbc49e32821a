import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// SigLIP zero-shot classification and embeddings against transformers 5.23's `SiglipModel` on a
/// tiny random checkpoint (tools/parity/make_siglip_fixtures.py): padded text ids, pixels, the
/// attention-pooled image embeddings, the bidirectional text tower's embeddings,
/// `logits_per_image` with the learned bias and the sigmoid probabilities, for an image and a
/// clip's frames.
final class SiglipZeroShotParityTests: XCTestCase {
    static let folder = Fixtures.parity("siglip_tiny")

    private func load(_ name: String) throws -> (meta: [String: Any], expected: SafetensorsFile, folder: URL) {
        let folder = Self.folder.appendingPathComponent("cases/\(name)")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
        return (meta, try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors")), folder)
    }

    func testImageClassification() async throws {
        let (meta, expected, folder) = try load("image")
        let zero = try ZeroShot.load(directory: Self.folder)
        XCTAssertTrue(zero.model.isSigmoid)
        let labels = meta["labels"] as! [String], template = meta["template"] as! String
        let texts = try ZeroShot.prompts(labels: labels, template: template)
        XCTAssertEqual(texts.map(zero.ids), meta["input_ids"] as? [[Int]], "ids padded to 64")
        let path = folder.appendingPathComponent("input.png").path
        let image = try await SmolVLMParityTests.decodeStill(path)
        assertClose(try XCTUnwrap(zero.images).pixels([image]), try expected.tensor("pixel_values"), tolerance: 1e-6, "pixel values")
        let imageEmbeds = try zero.imageEmbeddings([image])
        assertClose(imageEmbeds, try expected.tensor("image_embeds"), "image embeddings (attention pooling head)")
        let textEmbeds = try zero.textEmbeddings(texts)
        assertClose(textEmbeds, try expected.tensor("text_embeds"), "text embeddings")
        XCTAssertEqual(zero.model.logitBias ?? 0, Float(meta["logit_bias"] as! Double), accuracy: 1e-6)
        assertClose(zero.model.logits(images: imageEmbeds, texts: textEmbeds), try expected.tensor("logits_per_image"), "logits_per_image")
        let result = try await zero.classify(path: path, labels: labels, template: template)
        assertClose(Tensor(shape: [1, labels.count], values: result.probabilities), try expected.tensor("probabilities"), "sigmoid probabilities")
    }

    /// The fixture's tokenizer returns `attention_mask`, so transformers masks the padding (the
    /// image case above); a tokenizer_config.json whose `model_input_names` are `["input_ids"]`
    /// (the published SigLIP checkpoints') returns none, and the texts run unmasked.
    func testTokenizerWithoutAttentionMaskRunsTextsUnmasked() async throws {
        let (meta, expected, caseFolder) = try load("image_unmasked")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("siglip-unmasked-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.folder.path) where file.contains(".") && file != "tokenizer_config.json" {
            try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        try FileManager.default.copyItem(at: caseFolder.appendingPathComponent("tokenizer_config.json"),
                                         to: dir.appendingPathComponent("tokenizer_config.json"))
        let zero = try ZeroShot.load(directory: dir)
        XCTAssertFalse(zero.masksTextPadding)
        XCTAssertTrue(try ZeroShot.load(directory: Self.folder).masksTextPadding, "the fixture's own tokenizer returns the mask")
        let labels = meta["labels"] as! [String], template = meta["template"] as! String
        let texts = try ZeroShot.prompts(labels: labels, template: template)
        assertClose(try zero.textEmbeddings(texts), try expected.tensor("text_embeds"), "unmasked text embeddings")
        let path = Self.folder.appendingPathComponent("cases/image/input.png").path
        let result = try await zero.classify(path: path, labels: labels, template: template)
        assertClose(Tensor(shape: [1, labels.count], values: result.probabilities), try expected.tensor("probabilities"), "sigmoid probabilities")
    }

    func testClipFramesAveraged() async throws {
        let (meta, expected, _) = try load("frames")
        let zero = try ZeroShot.load(directory: Self.folder)
        let labels = meta["labels"] as! [String], template = meta["template"] as! String
        let path = Fixtures.repo.appendingPathComponent(meta["video"] as! String).path
        let result = try await zero.classify(path: path, labels: labels, template: template, frames: 3)
        XCTAssertEqual(result.frames.map(\.index), meta["frame_indices"] as? [Int])
        assertClose(Tensor(shape: [3, labels.count], values: result.frames.flatMap(\.logits)), try expected.tensor("logits_per_image"), "per-frame logits")
        assertClose(Tensor(shape: [3, labels.count], values: result.frames.flatMap(\.probabilities)), try expected.tensor("probabilities"), "per-frame probabilities")
        for (a, b) in zip(result.probabilities, (meta["mean_probabilities"] as! [Double]).map(Float.init)) {
            XCTAssertEqual(a, b, accuracy: 1e-5, "mean probabilities")
        }
    }

    /// A SigLIP tower without its pooling head has no image embedding: one sentence at load.
    func testTowerWithoutHead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("siglip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.folder.path) where file.contains(".") {
            try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        let config = dir.appendingPathComponent("config.json")
        var o = try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as! [String: Any]
        var vision = o["vision_config"] as! [String: Any]
        vision["vision_use_head"] = false
        o["vision_config"] = vision
        try JSONSerialization.data(withJSONObject: o).write(to: config)
        XCTAssertThrowsError(try ZeroShot.load(directory: dir)) { XCTAssertTrue("\($0)".contains("no pooling head"), "\($0)") }
    }

    /// A SigLIP checkpoint with only `spiece.model` (the original releases) loads its SentencePiece
    /// tokenizer: the ids equal transformers' `SiglipTokenizer` (fixture of
    /// tools/parity/make_sentencepiece_fixtures.py) padded with `</s>` on the right, and it classifies.
    func testSentencePieceOnlyCheckpoint() async throws {
        let spiece = Fixtures.repo.appendingPathComponent("Tests/Fixtures/tokenizers/siglip_spiece_unigram")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("siglip-spm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for file in ["config.json", "model.safetensors", "processor_config.json"] {
            try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        for file in ["spiece.model", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: spiece.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        let zero = try ZeroShot.load(directory: dir)
        XCTAssertTrue(zero.tokenizer is SiglipSentencePieceTokenizer)
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: spiece.appendingPathComponent("cases.json"))) as! [String: Any]
        for c in fixture["cases"] as! [[String: Any]] {
            XCTAssertEqual(zero.ids(c["text"] as! String), c["input_ids"] as? [Int], "ids of \((c["text"] as! String).debugDescription)")
        }
        let path = Self.folder.appendingPathComponent("cases/image/input.png").path
        let result = try await zero.classify(path: path, labels: ["a cat", "a dog"], template: "a photo of {}.")
        XCTAssertEqual(result.probabilities.count, 2)

        // A damaged spiece.model is one sentence at load.
        try Data([0x0A, 0x05, 0x0A]).write(to: dir.appendingPathComponent("spiece.model"))
        XCTAssertThrowsError(try ZeroShot.load(directory: dir)) { XCTAssertTrue("\($0)".contains("not a valid SentencePiece model"), "\($0)") }
    }
}
