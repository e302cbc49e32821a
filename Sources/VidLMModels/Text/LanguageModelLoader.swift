import Foundation
import VidLMTensor

/// A decoder configuration of a supported family.
public enum TextConfig: Sendable, Equatable {
    case llama(LlamaConfig)
    case opt(OPTConfig)

    public var modelType: String {
        switch self {
        case .llama(let c): return c.modelType
        case .opt(let c): return c.modelType
        }
    }
}

/// Loads the language model of a Hugging Face-style directory: a causal LM (`model_type` "llama"
/// or "opt", or only `architectures` naming `LlamaForCausalLM` / `OPTForCausalLM`), or a VLM whose
/// config has a `text_config` and whose decoder weights live under `language_model.`.
public enum LanguageModelLoader {
    /// model_type → decoder (`ModelTypes.decoders`).
    public static var modelTypes: [String: String] { ModelTypes.decoders }
    /// transformers class name → decoder, for configs without `model_type`.
    public static var architectures: [String: String] { ModelTypes.decoderArchitectures }

    /// The decoder config in a config.json and the prefix of its weights ("" for a causal LM,
    /// "language_model." for a VLM's `text_config`).
    public static func textConfig(from data: Data, file: String) throws(ConfigError) -> (config: TextConfig, prefix: String) {
        guard let parsed = try? JSONSerialization.jsonObject(with: data) else {
            // Let the decoder word the syntax error.
            struct Any_: Decodable {}
            _ = try ConfigError.decode(Any_.self, from: data, file: file)
            throw ConfigError(file: file, "is not valid JSON.")
        }
        guard let object = parsed as? [String: Any] else { throw ConfigError(file: file, "is not a JSON object.") }
        if let type = object["model_type"] as? String, let separate = ModelTypes.separateDecoders[type] {
            return (.llama(try separateDecoderConfig(object, type: separate.textType, file: file)), "")
        }
        if object["text_config"] != nil && !(object["text_config"] is NSNull) {
            guard let text = object["text_config"] as? [String: Any] else {
                throw ConfigError(file: file, "'text_config' must be an object.")
            }
            let type = try modelType(of: text, file: file, path: "text_config.")
            let nested: Data
            do { nested = try JSONSerialization.data(withJSONObject: text) } catch {
                throw ConfigError(file: file, "'text_config' cannot be read.")
            }
            do {
                return (try decode(type: type, nested, file: file), "language_model.")
            } catch {
                // Name the nested key path: 'hidden_size' → 'text_config.hidden_size'.
                var message = error.message
                if let r = message.range(of: "'") { message.replaceSubrange(r, with: "'text_config.") }
                throw ConfigError(file: file, message)
            }
        }
        let type = try modelType(of: object, file: file, path: "")
        return (try decode(type: type, data, file: file), "")
    }

    /// The decoder config of a `ModelTypes.separateDecoders` checkpoint (Qwen-VL): `text_config`,
    /// or the root without `vision_config` where there is none, as `model_type` `type`, with the
    /// root's `tie_word_embeddings` when the text config leaves it out (Qwen3-VL).
    public static func separateDecoderConfig(_ root: [String: Any], type: String, file: String) throws(ConfigError) -> LlamaConfig {
        var text = (root["text_config"] as? [String: Any]) ?? root.filter { $0.key != "vision_config" }
        text["model_type"] = type
        if text["tie_word_embeddings"] == nil, let tied = root["tie_word_embeddings"] { text["tie_word_embeddings"] = tied }
        guard let data = try? JSONSerialization.data(withJSONObject: text) else { throw ConfigError(file: file, "'text_config' cannot be read.") }
        return try ConfigError.decode(LlamaConfig.self, from: data, file: file)
    }

    /// The family of a config object, from `model_type` or else `architectures`.
    static func modelType(of object: [String: Any], file: String, path: String) throws(ConfigError) -> String {
        let known = modelTypes.keys.sorted().joined(separator: ", ")
        if let raw = object["model_type"], !(raw is NSNull) {
            guard let type = raw as? String else { throw ConfigError(file: file, "'\(path)model_type' must be a string.") }
            guard let family = modelTypes[type] else {
                throw ConfigError(file: file, "unknown language model_type '\(type)'; supported: \(known) (or a config with a text_config holding one).")
            }
            return family
        }
        if let raw = object["architectures"], !(raw is NSNull) {
            guard let names = raw as? [String] else { throw ConfigError(file: file, "'\(path)architectures' must be a list of strings.") }
            for name in names { if let family = architectures[name] { return family } }
            throw ConfigError(file: file, "unknown architecture \(names.map { "'\($0)'" }.joined(separator: ", ")) and no model_type; supported: \(architectures.keys.sorted().joined(separator: ", ")).")
        }
        throw ConfigError(file: file, "the required field '\(path)model_type' is missing.")
    }

    static func decode(type: String, _ data: Data, file: String) throws(ConfigError) -> TextConfig {
        switch type {
        case "llama": return .llama(try ConfigError.decode(LlamaConfig.self, from: data, file: file))
        default: return .opt(try ConfigError.decode(OPTConfig.self, from: data, file: file))
        }
    }

    /// Builds the decoder for `config` from `weights` (names prefixed with `prefix`).
    public static func build(_ config: TextConfig, weights: ParameterSource, prefix: String) throws -> any LanguageModel {
        switch config {
        case .llama(let c): return try LlamaModel(config: c, weights: weights, prefix: prefix)
        case .opt(let c): return try OPTModel(config: c, weights: weights, prefix: prefix)
        }
    }

    /// Builds a LLaMA decoder bound by explicit names (`ModelTypes.Composite.textLayouts`).
    public static func build(_ config: TextConfig, weights: ParameterSource, names: TextWeightNames) throws -> any LanguageModel {
        switch config {
        case .llama(let c): return try LlamaModel(config: c, weights: weights, names: names)
        case .opt: throw ConfigError(file: "config.json", "an OPT decoder is only read from language_model.* weights.")
        }
    }

    /// Reads `config.json` and the weights of `directory`. Every weight under the decoder's prefix
    /// must be used (a VLM's vision and bridge weights are left to their own loaders);
    /// `rotary_emb.inv_freq` buffers of old LLaMA checkpoints are ignored. `prefix` overrides the
    /// prefix the config implies.
    public static func load(directory: URL, prefix override: String? = nil) throws -> any LanguageModel {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw ConfigError(file: configURL.path, "not found; a model directory needs config.json.")
        }
        let (config, implied) = try textConfig(from: data, file: configURL.path)
        let store = try WeightStore(directory: directory)
        struct Head: Decodable { let modelType: String? }
        if override == nil, let type = (try? JSONDecoder.snakeCase.decode(Head.self, from: data))?.modelType,
           let names = ModelTypes.textLayout(among: ModelTypes.composites[type]?.textLayouts ?? ModelTypes.separateDecoders[type]?.textLayouts ?? [],
                                             whereStoreHas: store.contains) {
            return try WeightBinder.load(store, ignoring: { !($0.hasPrefix(names.base) || $0 == names.lmHead) || $0.hasSuffix("rotary_emb.inv_freq") }) {
                try build(config, weights: $0, names: names)
            }
        }
        let prefix = override ?? implied
        return try WeightBinder.load(store, ignoring: { !$0.hasPrefix(prefix) || $0.hasSuffix("rotary_emb.inv_freq") }) {
            try build(config, weights: $0, prefix: prefix)
        }
    }
}

extension JSONDecoder {
    /// A decoder for transformers' snake_case JSON keys.
    static var snakeCase: JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }
}
