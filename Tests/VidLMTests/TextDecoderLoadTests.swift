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
            let renamed = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-renamed-\(name)-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: renamed, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: renamed) }
            try FileManager.default.copyItem(at: folder.appendingPathComponent("config.json"), to: renamed.appendingPathComponent("config.json"))
            let file = try SafetensorsFile(url: folder.appendingPathComponent("model.safetensors"))
            var tensors: [String: Tensor] = [:]
            for key in file.names {
                let moved = key.hasPrefix("language_model.model.") ? "model.language_model." + key.dropFirst("language_model.model.".count)
                    : key == "language_model.lm_head.weight" ? "lm_head.weight" : key
                tensors[moved] = try file.tensor(key)
            }
            XCTAssertNotNil(tensors["model.language_model.embed_tokens.weight"], name)
            try SafetensorsWriter.write(tensors, to: renamed.appendingPathComponent("model.safetensors"))
            XCTAssertEqual(try logits(try LanguageModelLoader.load(directory: renamed)), expected, "\(name): in-memory layout")
        }
    }

    /// A checkpoint with neither layout is refused in one sentence that names what was expected,
    /// the first eight names of each list and how many more.
    func testADecoderInNeitherLayoutIsRefusedBriefly() throws {
        let folder = Fixtures.parity("llava_onevision_tiny")
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-broken-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: broken) }
        try FileManager.default.copyItem(at: folder.appendingPathComponent("config.json"), to: broken.appendingPathComponent("config.json"))
        let file = try SafetensorsFile(url: folder.appendingPathComponent("model.safetensors"))
        var tensors: [String: Tensor] = [:]
        for key in file.names { tensors["decoder." + key] = try file.tensor(key) }
        try SafetensorsWriter.write(tensors, to: broken.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try LanguageModelLoader.load(directory: broken)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("missing ('language_model.model.embed_tokens.weight'"), message)
            XCTAssertTrue(message.contains(" more)"), message)
            XCTAssertLessThan(message.count, 1500, message)
            XCTAssertFalse(message.contains("\n"), message)
        }
    }
}
