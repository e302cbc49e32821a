import Foundation
import VidLMTensor

/// Loads the vision tower of a Hugging Face-style model directory: a standalone vision model
/// (`model_type` "clip_vision_model", "blip_2_vision_model", …) or a composite model whose
/// config has a `vision_config` and whose weights live under `vision_model.`.
public enum VisionLoader {
    public struct Loaded: Sendable {
        public let model: VisionTransformer
        /// Where the weights were found (e.g. "vision_model." inside a BLIP-2 checkpoint).
        public let prefix: String
    }

    public static func load(directory: URL) throws -> Loaded {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw ConfigError(file: configURL.path, "not found; a model directory needs config.json.")
        }
        let (config, prefix) = try visionConfig(from: data, file: configURL.path)
        let store = try WeightStore(directory: directory)
        // A composite checkpoint also holds the Q-Former and the language model: only the vision
        // tower's names must all be used here.
        let model = try WeightBinder.load(store, ignoring: { !$0.hasPrefix(prefix) }) {
            try VisionTransformer(config: config, weights: $0, prefix: prefix)
        }
        return Loaded(model: model, prefix: prefix)
    }

    /// The vision config and weight prefix described by a config.json.
    public static func visionConfig(from data: Data, file: String) throws(ConfigError) -> (VisionConfig, String) {
        struct Head: Decodable { let modelType: String? }
        let head = try ConfigError.decode(Head.self, from: data, file: file)
        guard let type = head.modelType else {
            throw ConfigError(file: file, "the required field 'model_type' is missing.")
        }
        if VisionConfig.knownModelTypes.contains(type) {
            return (try ConfigError.decode(VisionConfig.self, from: data, file: file), "")
        }
        guard let composite = ModelTypes.composites[type] else {
            throw ConfigError(file: file, "unknown model_type '\(type)'; vision towers are read from \((ModelTypes.composites.keys.sorted() + VisionConfig.knownModelTypes.sorted()).joined(separator: ", ")).")
        }
        let (visionType, prefix) = (composite.visionType, composite.visionPrefix)
        // The nested config may omit model_type: supply the one its parent implies.
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError(file: file, "is not a JSON object.")
        }
        var vision = object["vision_config"] as? [String: Any] ?? [:]
        if object["vision_config"] != nil && !(object["vision_config"] is [String: Any]) {
            throw ConfigError(file: file, "'vision_config' must be an object.")
        }
        if vision["model_type"] == nil { vision["model_type"] = visionType }
        let nested: Data
        do { nested = try JSONSerialization.data(withJSONObject: vision) } catch {
            throw ConfigError(file: file, "'vision_config' cannot be read.")
        }
        do {
            return (try ConfigError.decode(VisionConfig.self, from: nested, file: file), prefix)
        } catch {
            throw ConfigError(file: file, error.message.replacingOccurrences(of: "'", with: "'vision_config.", options: [], range: error.message.range(of: "'")))
        }
    }
}
