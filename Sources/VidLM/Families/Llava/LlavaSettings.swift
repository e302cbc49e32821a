import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// What a LLaVA config.json says beyond its tower and decoder configs (transformers'
/// `LlavaConfig` defaults), and where the checkpoint keeps its weights.
public struct LlavaSettings: Sendable, Equatable {
    /// Hidden states the projector reads (`vision_feature_layer`: one index or a list whose
    /// states are concatenated), as indices into the tower's `hidden_states` (0 = embeddings).
    public var featureLayers: [Int]
    /// `vision_feature_select_strategy`: "default" drops the class token, "full" keeps it.
    public var keepClassToken: Bool
    public var imageTokenId: Int
    public var projectorActivation: Activation
    public var projectorBias: Bool

    /// A LLaVA config.json must nest its tower and decoder configs (vidlm does not invent
    /// transformers' default 7B shapes for a file that leaves them out).
    public static func requireSubconfigs(_ dir: ModelDirectory) throws {
        for key in ["vision_config", "text_config"] where dir.value(key) == nil {
            throw ConfigError(file: dir.configPath, "the required field '\(key)' is missing (a \(dir.modelType) config nests its vision tower and decoder configs).")
        }
    }

    /// The defaults are `LlavaConfig`'s; other LLaVA configs give theirs.
    public init(directory dir: ModelDirectory, towerLayers: Int, defaultLayer: Int = -2, defaultStrategy: String = "default",
                defaultImageToken: Int = 32000) throws {
        let file = dir.configPath
        let raw: [Int]
        switch dir.value("vision_feature_layer") {
        case nil: raw = [defaultLayer]
        case let n as Int: raw = [n]
        case let list as [Int] where !list.isEmpty: raw = list
        default: throw ConfigError(file: file, "'vision_feature_layer' must be an integer or a non-empty list of integers.")
        }
        featureLayers = try raw.map { index in
            let resolved = index < 0 ? towerLayers + 1 + index : index
            guard resolved >= 0 && resolved <= towerLayers else {
                throw ConfigError(file: file, "'vision_feature_layer' \(index) is not a hidden state of the \(towerLayers)-layer vision tower.")
            }
            return resolved
        }
        let strategy = try dir.string("vision_feature_select_strategy", default: defaultStrategy)
        guard strategy == "default" || strategy == "full" else {
            throw ConfigError(file: file, "'vision_feature_select_strategy' must be \"default\" or \"full\", not \"\(strategy)\".")
        }
        keepClassToken = strategy == "full"
        // transformers 5 reads either name (attribute_map image_token_id → image_token_index).
        imageTokenId = try dir.value("image_token_index") != nil ? dir.int("image_token_index") : dir.int("image_token_id", default: defaultImageToken)
        let act = try dir.string("projector_hidden_act", default: "gelu")
        guard let activation = Activation(configName: act) else {
            throw ConfigError(file: file, "'projector_hidden_act' \"\(act)\" is not a supported activation.")
        }
        projectorActivation = activation
        switch dir.value("multimodal_projector_bias") {
        case nil: projectorBias = true
        case let b as Bool: projectorBias = b
        default: throw ConfigError(file: file, "'multimodal_projector_bias' must be true or false.")
        }
    }

    /// Where the checkpoint keeps each part. transformers 5 writes `vision_tower.…`,
    /// `multi_modal_projector.…`, `language_model.model.…` + `language_model.lm_head.weight`
    /// (its loader maps them to `model.vision_tower.…` in memory); published 4.x checkpoints have
    /// `vision_tower.vision_model.…`; other tools save the in-memory names. Each part is found
    /// by a weight it must have.
    public struct Layout: Sendable, Equatable {
        public var tower: String
        public var projector: String
        public var text: TextWeightNames

        static let towerPrefixes = ["vision_tower.vision_model.", "vision_tower.", "model.vision_tower.vision_model.", "model.vision_tower."]
        static let projectorPrefixes = ["multi_modal_projector.", "model.multi_modal_projector."]

        /// Weights the checkpoint may hold that no LLaVA model runs: rotary tables, and a SigLIP
        /// tower's pooling head (`vision_use_head`; the LLaVA models read the tower's hidden
        /// states, never its pooled output, and transformers loads the head and leaves it idle).
        public func isUnused(_ name: String) -> Bool {
            name.hasSuffix("rotary_emb.inv_freq") || name.hasPrefix(tower + "head.")
        }

        /// The names the store holds (the first candidate of each part when none matches, so the
        /// binder's error lists what was expected).
        public static func of(_ store: WeightStore) -> Layout {
            Layout(tower: towerPrefixes.first { store.contains($0 + "embeddings.patch_embedding.weight") } ?? towerPrefixes[0],
                   projector: projectorPrefixes.first { store.contains($0 + "linear_1.weight") } ?? projectorPrefixes[0],
                   text: ModelTypes.textLayout(among: ModelTypes.llavaTextLayouts, whereStoreHas: store.contains) ?? ModelTypes.llavaTextLayouts[0])
        }
    }
}

/// The processor side of a LLaVA checkpoint: the image processor's settings (with LLaVA's
/// `do_pad`) and the `LlavaProcessor` fields that fix the image-token count.
public struct LlavaProcessorSettings: Sendable {
    public let image: TorchvisionImageProcessor
    public let imageToken: String
    public let videoToken: String
    /// `patch_size`, `num_additional_image_tokens`, `vision_feature_select_strategy` when the
    /// processor config gives them (transformers' processor counts tokens with these).
    public let patchSize: Int?
    public let additionalTokens: Int
    public let strategy: String?

    /// LLaVA-NeXT's `image_grid_pinpoints` ([height, width] pairs) when the image processor has them.
    public let gridPinpoints: [[Int]]?
    public let imageFile: String

    /// `padToSquare`: whether `do_pad` means LLaVA-1.5's pad to a square (LLaVA-NeXT's `do_pad`
    /// pads batches of tiles, which a single request never needs).
    /// `defaults`: the transformers class whose attributes fill fields the file leaves out (the
    /// LLaVA, LLaVA-NeXT and Video-LLaVA image processors all have CLIP's); nil reads it from
    /// `image_processor_type`.
    public init(directory dir: ModelDirectory, padToSquare squarePad: Bool = true, defaults: PreprocessConfig.Family? = .clip) throws {
        guard let (json, file) = try dir.processorSettings(.image) else {
            throw ConfigError(file: dir.url.path, "has no image processor settings (preprocessor_config.json or processor_config.json); LLaVA images are sized by them.")
        }
        let config: PreprocessConfig
        do {
            config = try PreprocessConfig.decode(json: json, family: defaults)
        } catch let e as DecodingError {
            throw ConfigError(file: file, ConfigError.describe(e))
        } catch {
            throw ConfigError(file: file, "\(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: json) as? [String: Any]) ?? [:]
        imageFile = file
        gridPinpoints = try Self.pinpoints(object["image_grid_pinpoints"], key: "image_grid_pinpoints", file: file)
        var pad = false
        if squarePad, let v = object["do_pad"], !(v is NSNull) {
            guard let b = v as? Bool else { throw ConfigError(file: file, "'do_pad' must be true or false.") }
            pad = b
        }
        do { image = try TorchvisionImageProcessor(config, padToSquare: pad) } catch {
            throw ConfigError(file: file, "\(error)")
        }
        // LlavaProcessor's own fields: processor_config.json (top level).
        let processorFile = dir.url.appendingPathComponent("processor_config.json")
        var top: [String: Any] = [:]
        if let data = FileManager.default.contents(atPath: processorFile.path) {
            guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ConfigError(file: processorFile.path, "is not a JSON object.")
            }
            top = o
        }
        imageToken = top["image_token"] as? String ?? "<image>"
        videoToken = top["video_token"] as? String ?? "<video>"
        patchSize = (top["patch_size"] as? NSNumber)?.intValue
        additionalTokens = (top["num_additional_image_tokens"] as? NSNumber)?.intValue ?? 0
        strategy = top["vision_feature_select_strategy"] as? String
    }

    /// A list of [height, width] pairs of positive integers (nil when absent).
    public static func pinpoints(_ value: Any?, key: String, file: String) throws -> [[Int]]? {
        guard let value, !(value is NSNull) else { return nil }
        guard let list = value as? [[Int]], !list.isEmpty, list.allSatisfy({ $0.count == 2 && $0[0] > 0 && $0[1] > 0 }) else {
            throw ConfigError(file: file, "'\(key)' must be a non-empty list of [height, width] pairs of positive integers.")
        }
        return list
    }

    /// What `LlavaProcessor.replace_image_token` counts for a picture of `side` pixels
    /// (nil when the processor config does not say).
    public func processorTokenCount(side: Int) -> Int? {
        guard let patchSize, patchSize > 0 else { return nil }
        var n = (side / patchSize) * (side / patchSize) + additionalTokens
        if strategy == "default" { n -= 1 }
        return n
    }
}
