import Foundation
import XCTest
import VidLMMedia
import VidLMModels
import VidLMTensor
@testable import VidLM

/// CLIP zero-shot classification and embeddings against transformers 5.23's `CLIPModel` and
/// `CLIPProcessor` on a tiny random checkpoint (tools/parity/make_clip_fixtures.py): the CLIP
/// tokenizer's ids, pixels, image and text embeddings, `logits_per_image` and probabilities,
/// for an image, a clip's frames (per-frame and averaged) and a free text.
final class ClipZeroShotParityTests: XCTestCase {
    static let folder = Fixtures.parity("clip_tiny")

    struct Case {
        let folder: URL
        let meta: [String: Any]
        let expected: SafetensorsFile

        init(_ name: String) throws {
            folder = ClipZeroShotParityTests.folder.appendingPathComponent("cases/\(name)")
            meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
            expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        }
        var labels: [String] { meta["labels"] as! [String] }
        var template: String { meta["template"] as! String }
    }

    func testImageClassification() async throws {
        let c = try Case("image")
        let zero = try ZeroShot.load(directory: Self.folder)
        let texts = try ZeroShot.prompts(labels: c.labels, template: c.template)
        XCTAssertEqual(texts, c.meta["texts"] as? [String])
        XCTAssertEqual(texts.map(zero.ids), c.meta["input_ids"] as? [[Int]], "CLIP tokenizer ids")
        let path = c.folder.appendingPathComponent("input.png").path
        let image = try await SmolVLMParityTests.decodeStill(path)
        assertClose(try XCTUnwrap(zero.images).pixels([image]), try c.expected.tensor("pixel_values"), tolerance: 1e-6, "pixel values")
        let imageEmbeds = try zero.imageEmbeddings([image])
        assertClose(imageEmbeds, try c.expected.tensor("image_embeds"), "image embeddings")
        let textEmbeds = try zero.textEmbeddings(texts)
        assertClose(textEmbeds, try c.expected.tensor("text_embeds"), "text embeddings")
        XCTAssertEqual(zero.model.logitScale, Float(c.meta["logit_scale_exp"] as! Double), accuracy: 1e-5)
        assertClose(zero.model.logits(images: imageEmbeds, texts: textEmbeds), try c.expected.tensor("logits_per_image"), "logits_per_image")
        let result = try await zero.classify(path: path, labels: c.labels, template: c.template)
        XCTAssertEqual(result.kind, .image)
        assertClose(Tensor(shape: [1, c.labels.count], values: result.probabilities), try c.expected.tensor("probabilities"), "probabilities")
        XCTAssertEqual(result.ranked.first?.label, c.labels[0])
    }

    /// A clip through vidlm's decoder: three uniform frames, each scored, then averaged.
    func testClipFramesAveraged() async throws {
        let c = try Case("frames")
        let zero = try ZeroShot.load(directory: Self.folder)
        let path = Fixtures.repo.appendingPathComponent(c.meta["video"] as! String).path
        let (kind, frames, pictures) = try await ZeroShot.decode(path, frames: 3)
        XCTAssertEqual(kind, .video)
        XCTAssertEqual(frames.map(\.index), c.meta["frame_indices"] as? [Int])
        XCTAssertEqual(pictures.flatMap { $0.pixels.map(Float.init) }, try c.expected.tensor("frames_uint8").floats(), "decoded frames equal torchcodec's")
        assertClose(try XCTUnwrap(zero.images).pixels(pictures), try c.expected.tensor("pixel_values"), tolerance: 1e-6, "pixel values")
        assertClose(try zero.imageEmbeddings(pictures), try c.expected.tensor("image_embeds"), "image embeddings")
        let result = try await zero.classify(path: path, labels: c.labels, template: c.template, frames: 3)
        XCTAssertEqual(result.frames.map(\.index), c.meta["frame_indices"] as? [Int])
        assertClose(Tensor(shape: [3, c.labels.count], values: result.frames.flatMap(\.logits)), try c.expected.tensor("logits_per_image"), "per-frame logits")
        assertClose(Tensor(shape: [3, c.labels.count], values: result.frames.flatMap(\.probabilities)), try c.expected.tensor("probabilities"), "per-frame probabilities")
        let mean = (c.meta["mean_probabilities"] as! [Double]).map { Float($0) }
        for (a, b) in zip(result.probabilities, mean) { XCTAssertEqual(a, b, accuracy: 1e-5, "mean probabilities") }
    }

    /// Several files in one call (`vidlm classify A B C`): the labels embedded once, the still images
    /// through the tower together, a clip on its own; each result equals classifying its file alone.
    func testSeveralFilesEqualOneByOne() async throws {
        let image = try Case("image"), frames = try Case("frames")
        let zero = try ZeroShot.load(directory: Self.folder)
        let still = image.folder.appendingPathComponent("input.png").path
        let clip = Fixtures.repo.appendingPathComponent(frames.meta["video"] as! String).path
        let paths = [still, clip, still, still]
        let together = try await zero.classify(paths: paths, labels: image.labels, template: image.template, frames: 3)
        XCTAssertEqual(together.count, paths.count)
        XCTAssertEqual(together.map(\.kind), [.image, .video, .image, .image])
        for (path, result) in zip(paths, together) {
            let alone = try await zero.classify(path: path, labels: image.labels, template: image.template, frames: 3)
            XCTAssertEqual(result.frames.map(\.index), alone.frames.map(\.index))
            assertClose(Tensor(shape: [1, result.probabilities.count], values: result.probabilities),
                        Tensor(shape: [1, alone.probabilities.count], values: alone.probabilities), tolerance: 1e-6, "probabilities of \(path)")
        }
        assertClose(Tensor(shape: [1, image.labels.count], values: together[0].probabilities), try image.expected.tensor("probabilities"),
                    "probabilities vs transformers")
    }

    func testTextEmbedding() throws {
        let c = try Case("text")
        let zero = try ZeroShot.load(directory: Self.folder)
        let text = c.meta["text"] as! String
        XCTAssertEqual(zero.ids(text), c.meta["input_ids"] as? [Int], "CLIP tokenizer ids (lowercased, punctuation split)")
        assertClose(try zero.textEmbeddings([text]), try c.expected.tensor("text_embeds"), "text embeddings")
    }

    /// Labels lose the white space around them as Python's `str.strip()` does (NBSP, tab, ideographic
    /// space), but keep a ZERO WIDTH SPACE, which is a format character: the texts, ids, text
    /// embeddings and probabilities of transformers given the stripped labels (sweep_contrastive.py).
    func testLabelsTrimmedOfWhiteSpaceOnly() async throws {
        let c = try Case("trimmed")
        let zero = try ZeroShot.load(directory: Self.folder)
        let texts = try ZeroShot.prompts(labels: c.labels, template: c.template)
        XCTAssertEqual(texts, c.meta["texts"] as? [String], "a U+200B at a label's end stays")
        XCTAssertEqual(texts.map(zero.ids), c.meta["input_ids"] as? [[Int]])
        assertClose(try zero.textEmbeddings(texts), try c.expected.tensor("text_embeds"), "text embeddings")
        let path = Self.folder.appendingPathComponent(c.meta["image"] as! String).path
        let result = try await zero.classify(path: path, labels: c.labels, template: c.template)
        XCTAssertEqual(result.labels, c.meta["stripped_labels"] as? [String])
        assertClose(Tensor(shape: [1, c.labels.count], values: result.frames[0].logits), try c.expected.tensor("logits_per_image"), "logits_per_image")
        assertClose(Tensor(shape: [1, c.labels.count], values: result.probabilities), try c.expected.tensor("probabilities"), "probabilities")
        XCTAssertThrowsError(try ZeroShot.prompts(labels: ["a", "\u{3000}\t\u{a0}"], template: nil)) {
            XCTAssertTrue("\($0)".contains("label 2 is empty"), "\($0)")
        }
        // Python's str.isspace() also counts the separators U+001C–U+001F (str.strip() removes them).
        XCTAssertEqual(ZeroShot.trimmed("\u{1C}\u{1F} a dog \u{1D}\u{1E}"), "a dog")
        XCTAssertEqual(ZeroShot.trimmed("\u{200B}a\u{200B}"), "\u{200B}a\u{200B}")
    }

    /// Missing or empty labels, a template without {}, and a model with no text tower: one sentence each.
    func testBadInputs() throws {
        for labels in [[String](), [""], ["  "]] {
            XCTAssertThrowsError(try ZeroShot.prompts(labels: labels, template: nil)) { error in
                XCTAssertTrue("\(error)".contains("at least one non-empty label"), "\(error)")
            }
        }
        XCTAssertThrowsError(try ZeroShot.prompts(labels: ["a", ""], template: nil)) { XCTAssertTrue("\($0)".contains("label 2 is empty"), "\($0)") }
        XCTAssertThrowsError(try ZeroShot.prompts(labels: ["a"], template: "a photo")) { XCTAssertTrue("\($0)".contains("must contain {}"), "\($0)") }
        XCTAssertThrowsError(try ZeroShot.load(directory: Fixtures.parity("llava_tiny"))) { error in
            XCTAssertTrue("\(error)".contains("has an image tower but no text tower"), "\(error)")
        }
        XCTAssertThrowsError(try ZeroShot.load(directory: Fixtures.parity("clip_vision_tiny"))) { error in
            XCTAssertTrue("\(error)".contains("no text tower"), "\(error)")
        }
    }
}
