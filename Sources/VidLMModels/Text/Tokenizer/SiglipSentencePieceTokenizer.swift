import Foundation

/// transformers 5.23's `SiglipTokenizer` (the sentencepiece-backed class `AutoTokenizer` builds for
/// a SigLIP checkpoint that ships only `spiece.model`):
/// - "▁" + the text (its own "▁" turned into spaces), cut at special tokens (pad / eos / unk /
///   added tokens, which strip the whitespace beside them);
/// - each other stretch canonicalised as big_vision does: lowercased (`do_lower_case`), ASCII
///   punctuation removed, whitespace runs → one space, trimmed;
/// - encoded as `"<unk>" + stretch` with the unknown token's own pieces dropped from the front;
/// - pieces → ids, a leading lone "▁" before a special token dropped, truncated to leave room for
///   EOS, EOS appended unless already last.
public struct SiglipSentencePieceTokenizer: TextIdEncoder {
    public let model: SentencePieceModel
    public let doLowerCase: Bool
    public let eosToken: String
    public let unkToken: String
    public let padToken: String
    /// Special / added tokens: content → (id, lstrip, rstrip).
    let specials: [String: (id: Int, lstrip: Bool, rstrip: Bool)]
    let specialsByLength: [[Unicode.Scalar]]
    let unknownPrefixCount: Int
    public let padsLeft: Bool

    public var eosTokenId: Int { specials[eosToken]?.id ?? model.id(forPiece: eosToken) }
    public var padTokenId: Int? { specials[padToken]?.id ?? model.id(forPiece: padToken) }

    public init(model: SentencePieceModel, configJSON: Data? = nil) throws(TokenizerError) {
        self.model = model
        let config = configJSON.flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] } ?? [:]
        if configJSON != nil && config.isEmpty, let data = configJSON, (try? JSONSerialization.jsonObject(with: data)) == nil {
            throw TokenizerError.unreadable(file: "tokenizer_config.json", reason: "is not JSON.")
        }
        func content(_ key: String, _ fallback: String) -> String {
            if let s = config[key] as? String { return s }
            if let o = config[key] as? [String: Any], let s = o["content"] as? String { return s }
            return fallback
        }
        doLowerCase = config["do_lower_case"] as? Bool ?? true
        eosToken = content("eos_token", "</s>")
        unkToken = content("unk_token", "<unk>")
        padToken = content("pad_token", "</s>")
        if let side = config["padding_side"] as? String {
            guard side == "left" || side == "right" else {
                throw TokenizerError.invalid(file: "tokenizer_config.json", message: "'padding_side' must be \"left\" or \"right\", not '\(side)'.")
            }
            padsLeft = side == "left"
        } else {
            padsLeft = false
        }
        var specials: [String: (id: Int, lstrip: Bool, rstrip: Bool)] = [:]
        // SiglipTokenizer makes eos / unk / pad AddedTokens with lstrip and rstrip.
        var nextId = model.pieces.count
        func add(_ text: String, lstrip: Bool, rstrip: Bool, id: Int? = nil) {
            guard !text.isEmpty, specials[text] == nil else { return }
            let known = model.id(forPiece: text)
            let inVocabulary = known != model.unknownId || text == model.pieces[model.unknownId].text
            let tokenId: Int
            if let id { tokenId = id } else if inVocabulary { tokenId = known } else { tokenId = nextId; nextId += 1 }
            specials[text] = (tokenId, lstrip, rstrip)
        }
        if let table = config["added_tokens_decoder"] as? [String: Any] {
            for (key, value) in table.sorted(by: { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }) {
                guard let id = Int(key), let o = value as? [String: Any], let text = o["content"] as? String else {
                    throw TokenizerError.invalid(file: "tokenizer_config.json", message: "'added_tokens_decoder' entry '\(key)' is not an id with a token object.")
                }
                add(text, lstrip: o["lstrip"] as? Bool ?? false, rstrip: o["rstrip"] as? Bool ?? false, id: id)
                nextId = max(nextId, id + 1)
            }
        }
        for t in [eosToken, unkToken, padToken] { add(t, lstrip: true, rstrip: true) }
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            for item in config[key] as? [Any] ?? [] {
                if let s = item as? String { add(s, lstrip: false, rstrip: false) }
                else if let o = item as? [String: Any], let s = o["content"] as? String {
                    add(s, lstrip: o["lstrip"] as? Bool ?? false, rstrip: o["rstrip"] as? Bool ?? false)
                }
            }
        }
        self.specials = specials
        specialsByLength = specials.keys.map { Array($0.unicodeScalars) }.sorted { $0.count > $1.count }
        unknownPrefixCount = model.encode(unkToken).count
    }

    /// Reads `spiece.model` and, when present, `tokenizer_config.json` from `directory`.
    public static func load(directory: URL) throws(TokenizerError) -> SiglipSentencePieceTokenizer {
        let model = try SentencePieceModel(contentsOf: directory.appendingPathComponent(SentencePieceModel.file))
        let config = FileManager.default.contents(atPath: directory.appendingPathComponent("tokenizer_config.json").path)
        return try SiglipSentencePieceTokenizer(model: model, configJSON: config)
    }

    // MARK: Encoding

    /// transformers' `Trie.split`: the text cut around special tokens (earliest, then longest match).
    func split(_ scalars: [Unicode.Scalar]) -> [(text: String, special: Bool)] {
        var out: [(String, Bool)] = []
        var current = String.UnicodeScalarView()
        var i = 0
        outer: while i < scalars.count {
            for token in specialsByLength where i + token.count <= scalars.count && Array(scalars[i..<(i + token.count)]) == token {
                if !current.isEmpty { out.append((String(current), false)); current = String.UnicodeScalarView() }
                out.append((String(String.UnicodeScalarView(token)), true))
                i += token.count
                continue outer
            }
            current.append(scalars[i])
            i += 1
        }
        if !current.isEmpty { out.append((String(current), false)) }
        return out
    }

    /// The pieces of `text` (special tokens as themselves), as `SiglipTokenizer.tokenize`.
    public func tokenize(_ text: String) -> [String] {
        let prefixed = "\u{2581}" + text.replacingOccurrences(of: "\u{2581}", with: " ")
        var chunks = split(Array(prefixed.unicodeScalars))
        for i in chunks.indices where chunks[i].special {
            guard let s = specials[chunks[i].text] else { continue }
            if s.rstrip, i + 1 < chunks.count, !chunks[i + 1].text.isEmpty, !chunks[i + 1].special {
                chunks[i + 1].text = PythonText.strip(chunks[i + 1].text, leading: true, trailing: false)
            }
            if s.lstrip, i > 0, !chunks[i - 1].text.isEmpty, !chunks[i - 1].special {
                chunks[i - 1].text = PythonText.strip(chunks[i - 1].text, leading: false, trailing: true)
            }
        }
        var tokens: [String] = []
        for c in chunks where !c.text.isEmpty {
            if c.special { tokens.append(c.text) } else { tokens += pieces(of: c.text) }
        }
        if tokens.count > 1, tokens[0] == "\u{2581}", specials[tokens[1]] != nil { tokens.removeFirst() }
        return tokens
    }

    /// `SiglipTokenizer._tokenize`: canonicalised, then encoded behind the unknown token's text.
    func pieces(of text: String) -> [String] {
        let canonical = canonicalize(text)
        let all = model.encode(unkToken + canonical)
        return all.count >= unknownPrefixCount ? Array(all.dropFirst(unknownPrefixCount)) : all
    }

    /// big_vision's `canonicalize_text`: lowercase, no ASCII punctuation, whitespace runs → " ", trimmed.
    public func canonicalize(_ text: String) -> String {
        var t = doLowerCase ? PythonText.lower(text) : text
        t = String(String.UnicodeScalarView(t.unicodeScalars.filter { !PythonText.isASCIIPunctuation($0) }))
        var out = String.UnicodeScalarView()
        var inSpace = false
        for s in t.unicodeScalars {
            if PythonText.isSpace(s) {
                if !inSpace { out.append(" ") }
                inSpace = true
            } else {
                out.append(s)
                inSpace = false
            }
        }
        return PythonText.strip(String(out), leading: true, trailing: true)
    }

    func tokenId(_ piece: String) -> Int { specials[piece]?.id ?? model.id(forPiece: piece) }

    public func encode(_ text: String, truncatingTo maxLength: Int?) -> [Int] {
        var ids = tokenize(text).map(tokenId)
        let eos = eosTokenId
        if let maxLength, ids.count + 1 > maxLength { ids = Array(ids.prefix(max(0, maxLength - 1))) }
        if ids.last != eos { ids.append(eos) }
        return ids
    }
}

/// The pieces of Python's `str` behaviour that SigLIP's canonicalisation relies on.
enum PythonText {
    /// `str.isspace()` (and the `\s` of `re` on str patterns).
    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// `string.punctuation`.
    static func isASCIIPunctuation(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
        default: return false
        }
    }

    static func strip(_ text: String, leading: Bool, trailing: Bool) -> String {
        var scalars = Array(text.unicodeScalars)
        if trailing { while let last = scalars.last, isSpace(last) { scalars.removeLast() } }
        if leading { if let i = scalars.firstIndex(where: { !isSpace($0) }) { scalars.removeFirst(i) } else { scalars.removeAll() } }
        return String(String.UnicodeScalarView(scalars))
    }

    /// `str.lower()`: full lowercase mappings, with capital sigma → final sigma at the end of a
    /// word (preceded by a cased letter, not followed by one, case-ignorable characters skipped).
    static func lower(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        for (i, s) in scalars.enumerated() {
            if s.value == 0x03A3 {
                var before = false, after = false
                var j = i - 1
                while j >= 0, scalars[j].properties.isCaseIgnorable { j -= 1 }
                if j >= 0 { before = scalars[j].properties.isCased }
                j = i + 1
                while j < scalars.count, scalars[j].properties.isCaseIgnorable { j += 1 }
                if j < scalars.count { after = scalars[j].properties.isCased }
                out.append(before && !after ? "\u{03C2}" : "\u{03C3}")
                continue
            }
            out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
        }
        return String(out)
    }
}
