import Foundation

/// The text encoder a zero-shot model's labels go through: a `tokenizer.json` tokenizer or a
/// SentencePiece model (`spiece.model`).
public protocol TextIdEncoder: Sendable {
    /// The ids of `text`, special tokens included, truncated to at most `maxLength` ids as
    /// transformers' `truncation=True` does (the text's ids are cut, the special tokens kept).
    func encode(_ text: String, truncatingTo maxLength: Int?) -> [Int]
    var padTokenId: Int? { get }
    /// Whether padding goes on the left (`padding_side`).
    var padsLeft: Bool { get }
}

extension Tokenizer: TextIdEncoder {
    /// `ids` with the special tokens the post-processor adds around one sequence.
    public func withSpecialTokens(_ ids: [Int]) -> [Int] {
        postProcessor?.process(ids) ?? ids
    }

    public func encode(_ text: String, truncatingTo maxLength: Int?) -> [Int] {
        let plain = encode(text, addSpecialTokens: false)
        guard let maxLength else { return withSpecialTokens(plain) }
        let special = withSpecialTokens([]).count
        return withSpecialTokens(Array(plain.prefix(max(0, maxLength - special))))
    }
}

extension Tokenizer {
    /// transformers 5.23's `Siglip2Tokenizer`, which `AutoTokenizer` builds for every siglip2
    /// checkpoint whatever class its files name: the vocabulary and merges of `tokenizer.json` in
    /// a BPE with byte fallback and fused unknowns, a `Lowercase` + `Replace(" ", "▁")` normalizer,
    /// `Split(" ", merged_with_previous)` pre-tokenization, the file's post-processor (or, when
    /// tokenizer_config.json sets `add_bos_token` / `add_eos_token`, one made from those flags), and
    /// padding on the left unless the configs say otherwise.
    public static func siglip2(directory: URL) throws(TokenizerError) -> Tokenizer {
        let json = directory.appendingPathComponent(file)
        guard let data = FileManager.default.contents(atPath: json.path) else { throw TokenizerError.missingFile(path: json.path) }
        let configURL = directory.appendingPathComponent(TokenizerConfig.file)
        let configData = FileManager.default.contents(atPath: configURL.path)
        guard var root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError.unreadable(file: file, reason: "is not a JSON object.")
        }
        let config = configData.flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] } ?? [:]
        guard var model = root["model"] as? [String: Any], (model["type"] as? String ?? "BPE") == "BPE" else {
            throw TokenizerError.unsupported(file: file, component: "siglip2 tokenizer model", type: ((root["model"] as? [String: Any])?["type"] as? String) ?? "?")
        }
        var unk = "<unk>"
        if let s = config["unk_token"] as? String { unk = s } else if let o = config["unk_token"] as? [String: Any], let s = o["content"] as? String { unk = s }
        model["type"] = "BPE"
        model["unk_token"] = unk
        model["fuse_unk"] = true
        model["byte_fallback"] = true
        model["dropout"] = NSNull()
        model["ignore_merges"] = false
        model["continuing_subword_prefix"] = NSNull()
        model["end_of_word_suffix"] = NSNull()
        root["model"] = model
        root["normalizer"] = ["type": "Sequence", "normalizers": [
            ["type": "Lowercase"],
            ["type": "Replace", "pattern": ["String": " "], "content": "\u{2581}"],
        ]]
        root["pre_tokenizer"] = ["type": "Split", "pattern": ["String": " "], "behavior": "MergedWithPrevious", "invert": false]
        root["decoder"] = ["type": "Sequence", "decoders": [
            ["type": "Replace", "pattern": ["String": "\u{2581}"], "content": " "], ["type": "ByteFallback"], ["type": "Fuse"],
        ]]
        if config["add_bos_token"] != nil || config["add_eos_token"] != nil { root["post_processor"] = NSNull() }
        guard let rebuilt = try? JSONSerialization.data(withJSONObject: root) else {
            throw TokenizerError.unreadable(file: file, reason: "cannot be rewritten as the siglip2 tokenizer.")
        }
        let side: String
        if let s = config["padding_side"] as? String {
            side = s
        } else if let padding = root["padding"] as? [String: Any], let direction = padding["direction"] as? String {
            side = direction.lowercased()
        } else {
            side = "left"
        }
        guard side == "left" || side == "right" else {
            throw TokenizerError.invalid(file: TokenizerConfig.file, message: "'padding_side' must be \"left\" or \"right\", not '\(side)'.")
        }
        return try Tokenizer(tokenizerJSON: rebuilt, configJSON: configData, padsLeft: side == "left")
    }
}
