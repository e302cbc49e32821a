import Foundation
import XCTest
import VidLMModels
import VidLMTensor
@testable import VidLM

/// `ModelQuantizer` on every family: the quantized folder loads through the normal loaders, its
/// decoder (and tower, bridge) weights are block tables, prompt handling is identical, and the
/// next-token logits stay close to the unquantized model's (whose parity with transformers the
/// e2e fixtures prove).
final class QuantizedFamilyTests: XCTestCase {
    struct Family {
        let name: String
        let folder: URL
        let media: String
        /// A decoder linear weight that must come out quantized.
        let decoderWeight: String
    }

    static let families: [Family] = [
        Family(name: "BLIP-2 / OPT", folder: TestFixtures.tests.appendingPathComponent("Fixtures/quant/blip2_opt"),
               media: "samples/photo.png", decoderWeight: "language_model.model.decoder.layers.0.fc1.weight"),
        Family(name: "InstructBLIP-Video / LLaMA", folder: TestFixtures.tests.appendingPathComponent("Fixtures/quant/instructblipvideo_llama"),
               media: "samples/clip.mp4", decoderWeight: "language_model.model.layers.0.mlp.gate_proj.weight"),
        Family(name: "vidlm (shipped)", folder: TestFixtures.repository.appendingPathComponent("models/vidlm-shapes"),
               media: "samples/clip.mp4", decoderWeight: "language_model.model.layers.0.self_attn.q_proj.weight"),
        Family(name: "SmolVLM", folder: TestFixtures.parity("smolvlm_tiny"),
               media: "samples/photo.png", decoderWeight: "model.text_model.layers.0.mlp.down_proj.weight"),
        Family(name: "LLaVA / LLaMA", folder: TestFixtures.parity("llava_tiny"),
               media: "samples/photo.png", decoderWeight: "language_model.model.layers.0.mlp.down_proj.weight"),
        Family(name: "LLaVA-OneVision / Qwen2", folder: TestFixtures.parity("llava_onevision_tiny"),
               media: "samples/clip.mp4", decoderWeight: "language_model.model.layers.0.self_attn.q_proj.weight"),
    ]

    /// Last-position logits and prompt ids for `media` + the caption question.
    static func lastLogits(_ engine: Engine, media: String) async throws -> (logits: [Float], ids: [Int]) {
        let encoded = try await engine.encodedMedia(.media(path: TestFixtures.repository.appendingPathComponent(media).path),
                                                    options: AskOptions(frames: 2))
        let prompt = try engine.model.prepare(PromptRequest(messages: ChatMessage.oneTurn("what is shown?", about: encoded.kind),
                                                            media: [encoded]))
        var cache = engine.model.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try engine.model.language.prefill(inputEmbeddings: prompt.embeddings, positions: prompt.positions, cache: &cache)
        return (logits.floats(), prompt.inputIds)
    }

    func testEveryFamilyLoadsQuantizedAndStaysClose() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-qfam-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for family in Self.families {
            let reference = try await Self.lastLogits(try await Engine.load(directory: family.folder), media: family.media)
            let scale = reference.logits.map(abs).max() ?? 1
            // Max logit error relative to the largest logit. The random-weight fixtures amplify
            // every rounding through their layers: measured q8_0 up to 0.11 (the decoder alone
            // 0.03-0.07 on the BLIP-2 and InstructBLIP ones), q4_0 up to 0.6. A wrong layout, scale
            // or nibble order would give errors of the order of the logits themselves.
            // q4_k: the tiny fixtures' inner sizes (32-128) are not multiples of 256, so their
            // weights fall back to q8_0; the shipped model's 512-wide ones are q4_k.
            for (format, bound) in [(DType.q8_0, Float(0.15)), (.q4_0, 0.75), (.q4_k, 0.75)] {
                let out = scratch.appendingPathComponent("\(family.folder.lastPathComponent)-\(format.rawValue)")
                let summary = try ModelQuantizer.quantize(input: family.folder, output: out, format: format)
                XCTAssertGreaterThan(summary.quantized, 4, family.name)
                let store = try WeightStore(directory: out)
                let original = try WeightStore(directory: family.folder)
                for name in try [family.decoderWeight] + original.names.filter({ try ModelQuantizer.isLinearWeight($0, dtype: original.info($0).dtype, shape: original.info($0).shape) }) {
                    let k = try original.info(name).shape[1]
                    let expected: DType = k % format.blockElements == 0 ? format : ModelQuantizer.fallback
                    XCTAssertEqual(try store.info(name).dtype, expected, "\(family.name) \(format): \(name) [\(k) wide]")
                }
                XCTAssertEqual(summary.fallback, format == .q4_k ? summary.quantized - (try Self.count(store, .q4_k)) : 0, family.name)
                let visionQuantized = try store.names.contains { try ModelQuantizer.component(of: $0) == .vision && store.info($0).dtype.isBlockQuantized }
                XCTAssertTrue(visionQuantized, "\(family.name): vision tower quantized")

                let engine = try await Engine.load(directory: out)
                // Quantized decoders keep keys and values in f16, as llama.cpp does.
                XCTAssertEqual(engine.model.language.makeCache(capacity: 4).precision, .f16, "\(family.name) \(format): cache")
                let quantized = try await Self.lastLogits(engine, media: family.media)
                XCTAssertEqual(quantized.ids, reference.ids, "\(family.name) \(format): prompt ids")
                XCTAssertEqual(quantized.logits.count, reference.logits.count)
                let err = zip(quantized.logits, reference.logits).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(err, bound * scale, "\(family.name) \(format): max logit error \(err), scale \(scale)")
                // Decoding runs on the quantized weights too.
                let answer = try await engine.answer(.media(path: TestFixtures.repository.appendingPathComponent(family.media).path),
                                                     question: "what is shown?",
                                                     options: AskOptions(frames: 2, generation: .greedy(maxNewTokens: 4)))
                XCTAssertFalse(answer.tokenIds.isEmpty, "\(family.name) \(format): generated tokens")
            }
        }
    }

    static func count(_ store: WeightStore, _ format: DType) throws -> Int {
        try store.names.filter { try store.info($0).dtype == format }.count
    }

    func testQ4KQuantizesTheShippedModelWhereItFitsAndRecordsTheFallback() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-q4k-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let input = TestFixtures.repository.appendingPathComponent("models/vidlm-shapes")
        let summary = try ModelQuantizer.quantize(input: input, output: scratch, format: .q4_k)
        let store = try WeightStore(directory: scratch)
        // The decoder's down projections (512 wide) and the Q-Former's output layers are q4_k.
        XCTAssertEqual(try store.info("language_model.model.layers.0.mlp.down_proj.weight").dtype, .q4_k)
        XCTAssertEqual(try store.info("language_model.model.layers.0.self_attn.q_proj.weight").dtype, .q8_0)
        XCTAssertGreaterThanOrEqual(try Self.count(store, .q4_k), 4)
        XCTAssertEqual(summary.fallback, try Self.count(store, .q8_0))
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: scratch.appendingPathComponent("config.json"))) as? [String: Any]
        let q = config?[ModelQuantizer.configKey] as? [String: Any]
        XCTAssertEqual(q?["format"] as? String, "q4_k")
        XCTAssertEqual(q?["fallback_format"] as? String, "q8_0")
        XCTAssertEqual(q?["fallback_tensors"] as? Int, summary.fallback)
        // One file holds both formats; its metadata names them.
        let file = try SafetensorsFile(url: scratch.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(file.metadata?[QuantizedSafetensors.metadataKey], "q4_k,q8_0")
    }

    func testSkippedPartsKeepTheirDtype() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-qskip-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let input = TestFixtures.repository.appendingPathComponent("models/vidlm-shapes")
        try ModelQuantizer.quantize(input: input, output: scratch, format: .q8_0, skip: [.vision, .bridge])
        let original = try WeightStore(directory: input), store = try WeightStore(directory: scratch)
        XCTAssertEqual(store.names, original.names)
        var decoderQuantized = 0
        for name in store.names {
            let (info, before) = (try store.info(name), try original.info(name))
            XCTAssertEqual(info.shape, before.shape, name)
            let part = ModelQuantizer.component(of: name)
            if info.dtype == .q8_0 {
                XCTAssertEqual(part, .decoder, name)
                decoderQuantized += 1
            } else {
                XCTAssertEqual(info.dtype, before.dtype, name)
                XCTAssertEqual(Array(try store.tensor(name).rawBytes), Array(try original.tensor(name).rawBytes), name)
            }
        }
        XCTAssertGreaterThan(decoderQuantized, 0)
        // Embeddings and norms are never quantized.
        XCTAssertEqual(try store.info("language_model.model.embed_tokens.weight").dtype, try original.info("language_model.model.embed_tokens.weight").dtype)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: scratch.appendingPathComponent("config.json"))) as? [String: Any]
        let q = config?[ModelQuantizer.configKey] as? [String: Any]
        XCTAssertEqual(q?["format"] as? String, "q8_0")
        XCTAssertEqual(q?["quantized_components"] as? [String], ["decoder"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("tokenizer.json").path))
        // A second run refuses the existing folder, and a quantized model is refused as input.
        XCTAssertThrowsError(try ModelQuantizer.quantize(input: input, output: scratch, format: .q4_0)) {
            XCTAssertEqual($0 as? QuantizeError, .outputExists(scratch.path))
        }
        XCTAssertThrowsError(try ModelQuantizer.quantize(input: scratch, output: scratch.appendingPathExtension("again"), format: .q4_0)) {
            XCTAssertEqual($0 as? QuantizeError, .alreadyQuantized(scratch.path))
        }
    }
}
