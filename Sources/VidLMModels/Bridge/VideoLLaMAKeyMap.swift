import Foundation

/// Video-LLaMA's released (LAVIS) checkpoint names for the video Q-Former → the transformers
/// `Blip2QFormerModel` names vidlm binds (`video_Qformer.layernorm.…`,
/// `video_Qformer.encoder.layer.N.attention.attention.query.…`). The same ordered list as
/// `VIDEO_LLAMA_KEY_MAP` in `tools/reference/vidlm_bridge.py` (Python replacement syntax, `\1`):
/// the first rule whose pattern matches is applied once and ends the search; a nil replacement
/// drops the key; keys no rule matches are unchanged (`video_query_tokens`,
/// `video_frame_position_embedding.weight`, `llama_proj.*`).
public enum VideoLLaMAKeyMap {
    public static let rules: [(pattern: String, replacement: String?)] = [
        (#"^video_Qformer\.bert\.embeddings\.LayerNorm\."#, "video_Qformer.layernorm."),
        (#"^video_Qformer\.bert\.embeddings\."#, nil),
        (#"^video_Qformer\.bert\.encoder\.layer\.(\d+)\.(attention|crossattention)\.self\."#,
         #"video_Qformer.encoder.layer.\1.\2.attention."#),
        (#"^video_Qformer\.bert\.encoder\.layer\.\d+\.(intermediate|output)\."#, nil),
        (#"^video_Qformer\.bert\.encoder\."#, "video_Qformer.encoder."),
        (#"^video_Qformer\.(cls|bert\.pooler)\."#, nil),
    ]

    private struct Compiled: @unchecked Sendable {
        let rules: [(NSRegularExpression, String?)]
    }

    // The patterns are constants: one that fails to compile is dropped here and caught by the
    // test that compares `compiledRuleCount` with `rules.count`, rather than crashing at load.
    private static let compiled = Compiled(rules: rules.compactMap { rule -> (NSRegularExpression, String?)? in
        guard let regex = try? NSRegularExpression(pattern: rule.pattern) else { return nil }
        // Python's \N → NSRegularExpression's $N.
        let template = rule.replacement.map { $0.replacingOccurrences(of: #"\\(\d)"#, with: "\\$$1", options: .regularExpression) }
        return (regex, template)
    })

    /// How many of `rules` compiled (all of them, unless a pattern is malformed).
    static var compiledRuleCount: Int { compiled.rules.count }

    /// The vidlm name of a Video-LLaMA checkpoint key; nil when the key is to be dropped.
    public static func sanitize(_ key: String) -> String? {
        let range = NSRange(key.startIndex..., in: key)
        for (regex, template) in compiled.rules {
            guard let match = regex.firstMatch(in: key, range: range) else { continue }
            guard let template else { return nil }
            let replaced = regex.replacementString(for: match, in: key, offset: 0, template: template)
            let ns = key as NSString
            return ns.replacingCharacters(in: match.range, with: replaced)
        }
        return key
    }
}
