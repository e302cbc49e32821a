import Foundation
import XCTest
import VidLMModels
import VidLMTensor
@testable import VidLM

/// `vidlm generate` on a vision-language checkpoint runs its decoder alone
/// (`LanguageModelLoader.load(directory:)`). For every LLaVA-line fixture that decoder gives, bit
/// for bit, the logits of the one the family builds from the same checkpoint (the family's
/// parity tests hold that one to transformers), in both layouts such checkpoints are saved in:
/// transformers' `language_model.model.…` and the in-memory `model.language_model.…` names.
final class TextDecoderLoadTests: XCTestCase {
    private let ids = [1, 5, 9, 2, 7, 3, 11, 4]

    private func logits(_ model: any LanguageModel) throws -> [UInt32] {
        var cache = model.makeCache(capacity: ids.count)
        return try model.forward(ids: ids, cache: &cache, logits: .all).floats().map(\.bitPattern)
    }

    func testGenerateReadsTheDecoderOfEveryLlavaCheckpoint() async throws {
        for name in ["llava_tiny", "llava_next_tiny", "llava_next_video_tiny", "video_llava_tiny", "llava_onevision_tiny"] {
            let folder = Fixtures.parity(name)
            let family = try await Engine.load(directory: folder).model
            let expected = try logits(family.language)
            XCTAssertEqual(try logits(try LanguageModelLoader.load(directory: folder)), expected, "\(name): saved layout")

            // The same checkpoint under the names transformers uses in memory.
            let renamed = try copy(folder, name: name) { key in
                key.hasPrefix("language_model.model.") ? "model.language_model." + key.dropFirst("language_model.model.".count)
                    : key == "language_model.lm_head.weight" ? "lm_head.weight" : key
            }
            defer { try? FileManager.default.removeItem(at: renamed) }
            XCTAssertTrue(FileManager.default.fileExists(atPath: renamed.appendingPathComponent("model.safetensors").path))
            XCTAssertEqual(try logits(try LanguageModelLoader.load(directory: renamed)), expected, "\(name): in-memory layout")
        }
    }

    /// Qwen2-VL, Qwen2.5-VL and Qwen3-VL: the decoder alone (its config read as the family reads
    /// it, Qwen3-VL's tied embeddings from the root config) gives on text positions (1-D) the
    /// logits the family's decoder gives with the same positions on every M-RoPE axis, as the
    /// processor builds them for text, in both weight layouts (transformers 5's
    /// `model.language_model.…`, published checkpoints' `model.…`).
    func testGenerateReadsTheDecoderOfQwenVLCheckpoints() async throws {
        for name in ["qwen2_vl_tiny", "qwen2_5_vl_tiny", "qwen3_vl_tiny"] {
            let folder = Fixtures.parity(name)
            let family = try await Engine.load(directory: folder).model.language
            let axes = try XCTUnwrap((family as? LlamaModel)?.config.mropeSection).count
            var cache = family.makeCache(capacity: ids.count)
            let embeddings = try family.embed(ids)
            let expected = try family.forward(inputEmbeddings: embeddings, positions: .multimodal(Array(repeating: Array(ids.indices), count: axes)),
                                              cache: &cache, logits: .all).floats().map(\.bitPattern)
            XCTAssertEqual(try logits(try LanguageModelLoader.load(directory: folder)), expected, "\(name): transformers 5 layout")

            let renamed = try copy(folder, name: name) { key in
                key.hasPrefix("model.language_model.") ? "model." + key.dropFirst("model.language_model.".count)
                    : key.hasPrefix("model.visual.") ? "visual." + key.dropFirst("model.visual.".count) : key
            }
            defer { try? FileManager.default.removeItem(at: renamed) }
            XCTAssertEqual(try logits(try LanguageModelLoader.load(directory: renamed)), expected, "\(name): published layout")
        }
    }

    /// `folder`'s config.json and its weights under the names `rename` gives, in a new temporary folder.
    private func copy(_ folder: URL, name: String, rename: (String) -> String) throws -> URL {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-renamed-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: folder.appendingPathComponent("config.json"), to: out.appendingPathComponent("config.json"))
        let file = try SafetensorsFile(url: folder.appendingPathComponent("model.safetensors"))
        var tensors: [String: Tensor] = [:]
        for key in file.names { tensors[rename(key)] = try file.tensor(key) }
        XCTAssertEqual(tensors.count, file.names.count, "\(name): renaming kept every weight apart")
        try SafetensorsWriter.write(tensors, to: out.appendingPathComponent("model.safetensors"))
        return out
    }

    /// A checkpoint with neither layout is refused in one sentence that names what was expected,
    /// the first eight names of each list and how many more.
    func testADecoderInNeitherLayoutIsRefusedBriefly() throws {
        let broken = try copy(Fixtures.parity("llava_onevision_tiny"), name: "broken") { "decoder." + $0 }
        defer { try? FileManager.default.removeItem(at: broken) }
        XCTAssertThrowsError(try LanguageModelLoader.load(directory: broken)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("missing ('language_model.model.embed_tokens.weight'"), message)
            XCTAssertTrue(message.contains(" more)"), message)
            XCTAssertLessThan(message.count, 1500, message)
            XCTAssertFalse(message.contains("\n"), message)
        }
    }
}
