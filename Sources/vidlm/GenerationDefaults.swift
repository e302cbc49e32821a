import Foundation
import VidLMModels

/// The generation defaults a model directory ships in `generation_config.json` (transformers'
/// `GenerationConfig`), as `generate()` applies them, for the settings the engine implements:
/// `repetition_penalty` (`--repetition-penalty` overrides it) and `bad_words_ids`. Other keys are
/// ignored; a missing file or key leaves the engine's default. Read by ask, caption and image.
struct GenerationDefaults: Decodable {
    var repetitionPenalty: Float?
    var badWordsIds: [[Int]]?

    enum CodingKeys: String, CodingKey {
        case repetitionPenalty = "repetition_penalty"
        case badWordsIds = "bad_words_ids"
    }

    static func load(directory: URL) throws -> GenerationDefaults {
        let url = directory.appendingPathComponent("generation_config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return GenerationDefaults() }
        guard (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
            throw CLIError(message: "\(url.path) is not a JSON object.")
        }
        let defaults: GenerationDefaults
        do {
            defaults = try JSONDecoder().decode(GenerationDefaults.self, from: data)
        } catch let error as DecodingError {
            throw CLIError(message: "\(url.path) is not a valid generation config: \(ConfigError.describe(error))")
        }
        if let p = defaults.repetitionPenalty, !(p > 0 && p.isFinite) {
            throw CLIError(message: "\(url.path): repetition_penalty must be positive, not \(p).")
        }
        if let words = defaults.badWordsIds, words.contains(where: \.isEmpty) {
            throw CLIError(message: "\(url.path): bad_words_ids must not hold an empty list.")
        }
        return defaults
    }
}
