/// A token added on top of the model's vocabulary (special tokens such as `<|im_start|>`,
/// `<image>`, `[CLS]`): matched inside the text before the model sees it.
public struct AddedToken: Sendable, Equatable {
    /// Equal when the contents are the same characters (not merely canonically equivalent) and the flags agree.
    public static func == (a: AddedToken, b: AddedToken) -> Bool {
        TokenString(a.content) == TokenString(b.content) && a.singleWord == b.singleWord && a.lstrip == b.lstrip
            && a.rstrip == b.rstrip && a.normalized == b.normalized && a.special == b.special
    }

    public var content: String
    public var singleWord = false
    public var lstrip = false
    public var rstrip = false
    /// Matched against the normalized text (its own normalized form) rather than the raw text.
    public var normalized = true
    /// Skipped by `decode(_:skipSpecialTokens: true)`.
    public var special = false

    public init(content: String, singleWord: Bool = false, lstrip: Bool = false, rstrip: Bool = false,
                normalized: Bool = true, special: Bool = false) {
        self.content = content
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
        self.special = special
    }

    /// An `added_tokens` entry of tokenizer.json or an AddedToken object of tokenizer_config.json.
    /// A bare string (config form) is a special token, not normalized.
    static func parse(_ value: TokenizerJSON, path: String, file: String, defaultSpecial: Bool) throws(TokenizerError) -> AddedToken {
        if case .string(let s) = value {
            return AddedToken(content: s, normalized: false, special: true)
        }
        let obj = try TokenizerJSONObject(value, path: path, file: file)
        let special = try obj.bool("special", default: defaultSpecial)
        return AddedToken(content: try obj.string("content"),
                          singleWord: try obj.bool("single_word", default: false),
                          lstrip: try obj.bool("lstrip", default: false),
                          rstrip: try obj.bool("rstrip", default: false),
                          normalized: try obj.bool("normalized", default: !special),
                          special: special)
    }
}

/// The added tokens, with the library's id assignment and matching rules: leftmost-longest match,
/// non-normalized tokens on the raw text first, then normalized ones on each normalized stretch;
/// `single_word` needs no word character (Rust regex `\w`) on either side; `lstrip`/`rstrip` take
/// the neighbouring whitespace into the token.
struct AddedVocabulary: Sendable {
    private(set) var tokens: [Int: AddedToken] = [:]
    private(set) var contentToId: [TokenString: Int] = [:]
    /// The normalized form of normalized tokens whose form differs (what decoding sees).
    private(set) var normalizedForm: [Int: String] = [:]
    private(set) var specialContents: Set<TokenString> = []
    private var rawTrie = TokenTrie()
    private var normalizedTrie = TokenTrie()

    /// Adds `list` as one `add_tokens` call of the library: new tokens take ids after the
    /// model's vocabulary (or after the largest added id), tokens already in the vocabulary keep theirs.
    mutating func add(_ list: [AddedToken], modelVocab: [TokenString: Int], normalizer: TextNormalizer?) {
        let vocabCount = modelVocab.count
        var nextId: Int
        if let m = tokens.keys.max() {
            nextId = (m >= vocabCount || vocabCount == 0) ? m + 1 : vocabCount
        } else {
            nextId = vocabCount
        }
        for token in list where !token.content.isEmpty {
            let content = TokenString(token.content)
            if let id = contentToId[content], tokens[id] == token { continue }
            let id: Int
            if let existing = contentToId[content] ?? modelVocab[content] {
                id = existing
            } else {
                id = nextId
                nextId += 1
            }
            if token.normalized, let normalizer {
                var form = String()
                form.unicodeScalars.append(contentsOf: normalizer.normalize(Array(token.content.unicodeScalars)))
                if !form.unicodeScalars.elementsEqual(token.content.unicodeScalars) { normalizedForm[id] = form }
            }
            contentToId[content] = id
            if token.special { specialContents.insert(content) }
            tokens[id] = token
        }
        rebuildTries()
    }

    private mutating func rebuildTries() {
        rawTrie = TokenTrie()
        normalizedTrie = TokenTrie()
        for (id, token) in tokens.sorted(by: { $0.key < $1.key }) {
            if token.normalized {
                normalizedTrie.insert(Array((normalizedForm[id] ?? token.content).unicodeScalars), id: id)
            } else {
                rawTrie.insert(Array(token.content.unicodeScalars), id: id)
            }
        }
    }

    /// The string decoding uses for an added token.
    func decodeString(_ id: Int) -> String? {
        guard let token = tokens[id] else { return nil }
        return normalizedForm[id] ?? token.content
    }

    /// Splits the input around added tokens and normalizes the text between them.
    func extract(_ text: [Unicode.Scalar], normalizer: TextNormalizer?) -> [TextPiece] {
        var out: [TextPiece] = []
        for piece in split(TextPiece(scalars: text, tokenId: nil, atStart: true), rawTrie) {
            if piece.tokenId != nil { out.append(piece); continue }
            var normalized = piece
            if let normalizer { normalized.scalars = normalizer.normalize(piece.scalars) }
            out.append(contentsOf: split(normalized, normalizedTrie))
        }
        return out
    }

    private func split(_ piece: TextPiece, _ trie: TokenTrie) -> [TextPiece] {
        let s = piece.scalars
        if s.isEmpty { return [] }
        if trie.isEmpty { return [piece] }
        var out: [TextPiece] = []
        var startOffset = 0
        var i = 0
        func text(_ r: Range<Int>) {
            if !r.isEmpty { out.append(TextPiece(scalars: Array(s[r]), tokenId: nil, atStart: piece.atStart && r.lowerBound == 0)) }
        }
        while i < s.count {
            guard let (end, id) = trie.longestMatch(s, at: i) else { i += 1; continue }
            var start = i
            var stop = end
            i = end
            let token = tokens[id]!
            if token.singleWord {
                let startOK = start == 0 || !CharacterClasses.isRustWordCharacter(s[start - 1])
                let stopOK = stop == s.count || !CharacterClasses.isRustWordCharacter(s[stop])
                if !startOK || !stopOK { continue }
            }
            if token.lstrip {
                var k = start
                while k > 0, CharacterClasses.isWhitespace(s[k - 1]) { k -= 1 }
                start = max(k, startOffset)
            }
            if token.rstrip {
                while stop < s.count, CharacterClasses.isWhitespace(s[stop]) { stop += 1 }
                i = stop
            }
            text(startOffset..<start)
            out.append(TextPiece(scalars: Array(s[start..<stop]), tokenId: id, atStart: false))
            startOffset = stop
        }
        text(startOffset..<s.count)
        return out
    }
}

/// A character trie over the added tokens' patterns.
struct TokenTrie: Sendable {
    private var children: [[Unicode.Scalar: Int32]] = [[:]]
    private var terminal: [Int?] = [nil]

    var isEmpty: Bool { children[0].isEmpty }

    mutating func insert(_ pattern: [Unicode.Scalar], id: Int) {
        guard !pattern.isEmpty else { return }
        var node = 0
        for c in pattern {
            if let n = children[node][c] {
                node = Int(n)
            } else {
                children.append([:])
                terminal.append(nil)
                children[node][c] = Int32(children.count - 1)
                node = children.count - 1
            }
        }
        if terminal[node] == nil { terminal[node] = id }
    }

    /// The longest pattern starting at `i`: its end and id.
    func longestMatch(_ s: [Unicode.Scalar], at i: Int) -> (Int, Int)? {
        var node = 0
        var best: (Int, Int)? = nil
        var j = i
        while j < s.count, let n = children[node][s[j]] {
            node = Int(n)
            j += 1
            if let id = terminal[node] { best = (j, id) }
        }
        return best
    }
}
