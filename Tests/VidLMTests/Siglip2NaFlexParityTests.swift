import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// SigLIP-2 NaFlex (`model_type` siglip2) against transformers 5.23's `Siglip2Model`,
/// `Siglip2ImageProcessor` and `Siglip2Tokenizer` on a tiny random checkpoint
/// (tools/parity/make_siglip2_fixtures.py): two pictures of odd aspect ratios → the NaFlex sizes,
/// padded patch sequences, masks and grids, each grid's resized position embeddings, the masked
/// image embeddings; lowercased, left-padded text ids with their attention mask and the masked text
/// embeddings; `logits_per_image` and the sigmoid probabilities; and a clip's per-frame table.
final class Siglip2NaFlexParityTests: XCTestCase {
    static let folder = Fixtures.parity("siglip2_naflex_tiny")

    private func load(_ name: String) throws -> (meta: [String: Any], expected: SafetensorsFile, folder: URL) {
        let folder = Self.folder.appendingPathComponent("cases/\(name)")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
        return (meta, try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors")), folder)
    }

    func testTwoAspectRatios() async throws {
        let (meta, expected, folder) = try load("images")
        let zero = try ZeroShot.load(directory: Self.folder)
        XCTAssertTrue(zero.model.isSigmoid)
        XCTAssertTrue(zero.model.isNaFlex)
        let processor = try XCTUnwrap(zero.naflexImages)
        var images: [RGBImage] = []
        for name in meta["images"] as! [String] {
            images.append(try await SmolVLMParityTests.decodeStill(folder.appendingPathComponent(name).path))
        }
        let padded = try processor.paddedPixels(images)
        XCTAssertEqual(padded.shapes, meta["spatial_shapes"] as? [[Int]], "spatial shapes")
        XCTAssertEqual(padded.mask.flatMap { $0 }.map(Float.init), try expected.tensor("pixel_attention_mask").floats(), "pixel attention mask")
        assertClose(padded.pixels, try expected.tensor("pixel_values"), tolerance: 1e-6, "pixel values (padded patch sequences)")

        // Each grid's resized position embeddings (the padding rows repeat the first; not used here).
        let tower = try XCTUnwrap(zero.model.naflex)
        let positions = try expected.tensor("positions")   // [2, max, D]
        let d = tower.config.hiddenSize, m = positions.shape[1]
        for (i, shape) in padded.shapes.enumerated() {
            let n = shape[0] * shape[1]
            let want = Tensor(shape: [n, d], values: Array(positions.floats()[(i * m * d)..<(i * m * d + n * d)]))
            assertClose(tower.positions(height: shape[0], width: shape[1]), want, "position embeddings resized to \(shape)")
        }

        let imageEmbeds = try zero.imageEmbeddings(images)
        assertClose(imageEmbeds, try expected.tensor("image_embeds"), "image embeddings (masked attention pooling)")
        let labels = meta["labels"] as! [String], template = meta["template"] as! String
        let texts = try ZeroShot.prompts(labels: labels, template: template)
        XCTAssertEqual(texts.map { zero.textInput($0).ids }, meta["input_ids"] as? [[Int]], "ids lowercased, padded on the left to 64")
        XCTAssertEqual(texts.map { zero.textInput($0).mask }, meta["attention_mask"] as? [[Int]], "attention masks")
        let textEmbeds = try zero.textEmbeddings(texts)
        assertClose(textEmbeds, try expected.tensor("text_embeds"), "text embeddings (masked)")
        XCTAssertEqual(zero.model.logitBias ?? 0, Float(meta["logit_bias"] as! Double), accuracy: 1e-6)
        XCTAssertEqual(zero.model.logitScale, Float(meta["logit_scale_exp"] as! Double), accuracy: 1e-5)
        assertClose(zero.model.logits(images: imageEmbeds, texts: textEmbeds), try expected.tensor("logits_per_image"), "logits_per_image")

        let path = folder.appendingPathComponent((meta["images"] as! [String])[1]).path
        let result = try await zero.classify(path: path, labels: labels, template: template)
        let probabilities = try expected.tensor("probabilities").floats()
        assertClose(Tensor(shape: [1, labels.count], values: result.probabilities),
                    Tensor(shape: [1, labels.count], values: Array(probabilities[labels.count...])), "sigmoid probabilities of the tall picture")
    }

    func testClipFramesAveraged() async throws {
        let (meta, expected, _) = try load("frames")
        let zero = try ZeroShot.load(directory: Self.folder)
        let labels = meta["labels"] as! [String], template = meta["template"] as! String
        let path = Fixtures.repo.appendingPathComponent(meta["video"] as! String).path
        let (_, _, pictures) = try await ZeroShot.decode(path, frames: 3)
        let padded = try XCTUnwrap(zero.naflexImages).paddedPixels(pictures)
        XCTAssertEqual(padded.shapes, meta["spatial_shapes"] as? [[Int]])
        assertClose(padded.pixels, try expected.tensor("pixel_values"), tolerance: 1e-6, "frame pixel values")
        let result = try await zero.classify(path: path, labels: labels, template: template, frames: 3)
        XCTAssertEqual(result.frames.map(\.index), meta["frame_indices"] as? [Int])
        assertClose(Tensor(shape: [3, labels.count], values: result.frames.flatMap(\.logits)), try expected.tensor("logits_per_image"), "per-frame logits")
        assertClose(Tensor(shape: [3, labels.count], values: result.frames.flatMap(\.probabilities)), try expected.tensor("probabilities"), "per-frame probabilities")
        for (a, b) in zip(result.probabilities, (meta["mean_probabilities"] as! [Double]).map(Float.init)) {
            XCTAssertEqual(a, b, accuracy: 1e-5, "mean probabilities")
        }
        let embedded = try await zero.embed(path: path, text: nil, frames: 3)
        assertClose(embedded.embeddings, try expected.tensor("image_embeds"), "embed: one row per frame")
        XCTAssertNotNil(embedded.mean)
    }

    /// An image processor saved as "Siglip2ImageProcessorPil": transformers' AutoProcessor still builds
    /// the torchvision class (the backend is a loading argument), so the pixel values and embeddings are
    /// the torchvision ones, not Pillow's (sweep_contrastive.py).
    func testPilClassNameStillResizesAsTorchvision() async throws {
        let (meta, expected, folder) = try load("pil_named")
        let zero = try ZeroShot.load(directory: Self.folder)
        let file = folder.appendingPathComponent("processor_config.json")
        let settings = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
        let section = try JSONSerialization.data(withJSONObject: try XCTUnwrap(settings["image_processor"]))
        let processor = try NaFlexImageProcessor(json: section, file: file.path)
        XCTAssertFalse(processor.pillow)
        var images: [RGBImage] = []
        for name in meta["images"] as! [String] {
            images.append(try await SmolVLMParityTests.decodeStill(Self.folder.appendingPathComponent(name).path))
        }
        let padded = try processor.paddedPixels(images)
        XCTAssertEqual(padded.shapes, meta["spatial_shapes"] as? [[Int]])
        assertClose(padded.pixels, try expected.tensor("pixel_values"), tolerance: 1e-6, "pixel values (torchvision resize)")
        let renamed = ZeroShot(model: zero.model, tokenizer: zero.tokenizer, images: nil, naflexImages: processor)
        assertClose(try renamed.imageEmbeddings(images), try expected.tensor("image_embeds"), "image embeddings")
    }

    /// transformers' binary search on sizes it was checked against by hand: the longer side
    /// gets the patches, each side at least one patch, the budget never exceeded.
    func testTargetSizes() {
        XCTAssertEqual(NaFlexImageProcessor.targetSize(height: 61, width: 100, patchSize: 8, maxNumPatches: 23).height, 32)
        XCTAssertEqual(NaFlexImageProcessor.targetSize(height: 61, width: 100, patchSize: 8, maxNumPatches: 23).width, 40)
        let thin = NaFlexImageProcessor.targetSize(height: 3, width: 4000, patchSize: 16, maxNumPatches: 256)
        XCTAssertEqual(thin.height, 16)
        XCTAssertLessThanOrEqual((thin.height / 16) * (thin.width / 16), 256)
        for (h, w) in [(224, 224), (480, 640), (1080, 1920), (17, 901)] {
            let s = NaFlexImageProcessor.targetSize(height: h, width: w, patchSize: 16, maxNumPatches: 256)
            XCTAssertLessThanOrEqual((s.height / 16) * (s.width / 16), 256, "\(h)x\(w)")
            XCTAssertEqual(s.height % 16, 0)
            XCTAssertEqual(s.width % 16, 0)
        }
    }

    /// Config mistakes are one sentence at load.
    func testBadConfigs() throws {
        func loadWith(_ edit: (inout [String: Any]) -> Void) throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("siglip2-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            for file in try FileManager.default.contentsOfDirectory(atPath: Self.folder.path) where file.contains(".") {
                try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(file), to: dir.appendingPathComponent(file))
            }
            let config = dir.appendingPathComponent("config.json")
            var o = try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as! [String: Any]
            edit(&o)
            try JSONSerialization.data(withJSONObject: o).write(to: config)
            _ = try ZeroShot.load(directory: dir)
        }
        XCTAssertThrowsError(try loadWith { o in
            var v = o["vision_config"] as! [String: Any]; v["num_patches"] = 24; o["vision_config"] = v
        }) { XCTAssertTrue("\($0)".contains("square number"), "\($0)") }
        XCTAssertThrowsError(try loadWith { o in
            var v = o["vision_config"] as! [String: Any]; v["vision_use_head"] = false; o["vision_config"] = v
        }) { XCTAssertTrue("\($0)".contains("no pooling head"), "\($0)") }
        XCTAssertThrowsError(try loadWith { o in
            var v = o["vision_config"] as! [String: Any]; v["patch_size"] = 4; o["vision_config"] = v
        }) { XCTAssertTrue("\($0)".contains("patch"), "\($0)") }
    }
}
