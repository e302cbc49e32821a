/// Every `model_type` the model layer knows, in one place: vision towers, decoders, and how a
/// composite (vision-language) checkpoint lays out its tower and decoder weights. Families
/// (Sources/VidLM/Families) add one registry line each on top of this.
public enum ModelTypes {
    /// Vision tower configs by `model_type`, with the layout their weights follow.
    public static let visionTowers: [String: VisionConfig.Kind] = [
        "blip_2_vision_model": .eva, "instructblip_vision_model": .eva, "instructblipvideo_vision_model": .eva, "eva_vit": .eva,
        "clip_vision_model": .clip,
        "siglip_vision_model": .siglip, "siglip2_vision_model": .siglip, "smolvlm_vision": .siglip, "idefics3_vision": .siglip,
    ]

    /// Decoder configs by `model_type` → the decoder implementation ("llama" or "opt").
    public static let decoders: [String: String] = ["llama": "llama", "mistral": "llama", "qwen2": "llama", "opt": "opt"]
    /// transformers class name → decoder, for configs without `model_type`.
    public static let decoderArchitectures: [String: String] = [
        "LlamaForCausalLM": "llama", "LLaMAForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "llama",
        "OPTForCausalLM": "opt",
    ]

    /// Where a composite checkpoint keeps its parts.
    public struct Composite: Sendable {
        /// The `vision_config.model_type` implied when the nested config omits it.
        public let visionType: String
        /// Prefix of the tower's weights.
        public let visionPrefix: String
        /// The decoder's weights when they are not `language_model.<causal LM>`: every layout
        /// the checkpoints come in (empty: `language_model.<causal LM>`).
        public let textLayouts: [TextWeightNames]

        public init(visionType: String, visionPrefix: String, textLayouts: [TextWeightNames] = []) {
            self.visionType = visionType
            self.visionPrefix = visionPrefix
            self.textLayouts = textLayouts
        }

        /// The decoder's weights in the first layout (nil: `language_model.<causal LM>`).
        public var textWeights: TextWeightNames? { textLayouts.first }

        /// `ModelTypes.textLayout(among: textLayouts, whereStoreHas:)`.
        public func textWeights(whereStoreHas contains: (String) -> Bool) -> TextWeightNames? {
            ModelTypes.textLayout(among: textLayouts, whereStoreHas: contains)
        }
    }

    /// The layout among `layouts` whose embeddings `contains` finds, else the first (so a binding
    /// error names what was expected); nil when there is none.
    public static func textLayout(among layouts: [TextWeightNames], whereStoreHas contains: (String) -> Bool) -> TextWeightNames? {
        layouts.first { contains($0.base + "embed_tokens.weight") } ?? layouts.first
    }

    /// LLaVA-line checkpoints: transformers saves `language_model.model.…` +
    /// `language_model.lm_head.weight` (its loader renames them to `model.language_model.…` +
    /// `lm_head.weight` in memory, the names other tools save).
    public static let llavaTextLayouts = [TextWeightNames(base: "language_model.model.", lmHead: "language_model.lm_head.weight"),
                                          TextWeightNames(base: "model.language_model.", lmHead: "lm_head.weight")]

    /// Vision-language checkpoints whose families bind their own weights (not `composites`) but
    /// whose decoder `LanguageModelLoader` loads alone (`vidlm generate`): the `model_type` the
    /// decoder's config takes (from `text_config`, or the root itself in published checkpoints
    /// without one) and the layouts of its weights.
    public struct SeparateDecoder: Sendable {
        public let textType: String
        public let textLayouts: [TextWeightNames]
    }

    /// Qwen-VL: transformers 5 saves `model.language_model.…`, published checkpoints `model.…`,
    /// both with `lm_head.weight`.
    public static let qwenVLTextLayouts = [TextWeightNames(base: "model.language_model.", lmHead: "lm_head.weight"),
                                           TextWeightNames(base: "model.", lmHead: "lm_head.weight")]

    public static let separateDecoders: [String: SeparateDecoder] = [
        "qwen2_vl": SeparateDecoder(textType: "qwen2_vl_text", textLayouts: qwenVLTextLayouts),
        "qwen2_5_vl": SeparateDecoder(textType: "qwen2_5_vl_text", textLayouts: qwenVLTextLayouts),
        "qwen3_vl": SeparateDecoder(textType: "qwen3_vl_text", textLayouts: qwenVLTextLayouts),
    ]

    public static let composites: [String: Composite] = {
        let standard = { (vision: String) in Composite(visionType: vision, visionPrefix: "vision_model.") }
        let idefics = { (vision: String) in
            Composite(visionType: vision, visionPrefix: "model.vision_model.",
                      textLayouts: [TextWeightNames(base: "model.text_model.", lmHead: "lm_head.weight")])
        }
        let llava = Composite(visionType: "clip_vision_model", visionPrefix: "model.vision_tower.", textLayouts: llavaTextLayouts)
        return [
            "blip-2": standard("blip_2_vision_model"),
            "instructblip": standard("instructblip_vision_model"),
            "instructblipvideo": standard("instructblipvideo_vision_model"),
            "clip": standard("clip_vision_model"),
            "siglip": standard("siglip_vision_model"),
            "vidlm": standard("blip_2_vision_model"),
            "smolvlm": idefics("smolvlm_vision"),
            "idefics3": idefics("idefics3_vision"),
            // transformers 5 layout; published (4.x) checkpoints use vision_tower.vision_model.,
            // multi_modal_projector. and language_model.{model.,lm_head.}: the family reads both.
            "llava": llava,
            "llava_next": llava,
            "llava_next_video": llava,
            "video_llava": llava,
            "llava_onevision": Composite(visionType: "siglip_vision_model", visionPrefix: "model.vision_tower.",
                                         textLayouts: llavaTextLayouts),
        ]
    }()
}
