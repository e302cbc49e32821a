import Foundation

/// A Hugging Face tokenizer read from `tokenizer.json` (+ `tokenizer_config.json`), producing the
/// same ids and text as the `tokenizers` library: byte-level BPE (GPT-2, OPT, LLaMA-3, Qwen),
/// SentencePiece-style BPE with byte fallback (LLaMA-2, Vicuna, Mistral) and WordPiece (BERT).
///
/// Pipeline: added tokens are cut out of the raw text, the rest is normalized, pre-tokenized and
/// given to the model; with `addSpecialTokens` the post-processor adds BOS/EOS/[CLS]/[SEP] (when
/// tokenizer.json has none, tokenizer_config.json's `add_bos_token` / `add_eos_token` do).
public final class Tokenizer: Sendable {
    let normalizer: TextNormalizer?
    let preTokenizer: TextPreTokenizer?
    let model: TokenizerModel
    let postProcessor: TokenPostProcessor?
    let decoder: TokenDecoder?
    let addedVocabulary: AddedVocabulary
    private let idToToken: [Int: String]

    /// `bos_token` of tokenizer_config.json, as an id.
    public let bosTokenId: Int?
    /// `eos_token` of tokenizer_config.json, as ids.
    public let eosTokenIds: [Int]
    public let padTokenId: Int?
    public let unkTokenId: Int?
    /// The named special tokens as text (`bos_token`, `eos_token`, `unk_token`, `sep_token`,
    /// `pad_token`, `cls_token`, `mask_token`): what transformers passes to a chat template.
    public let specialTokenStrings: [String: String]
    /// `model_max_length`, unless the config leaves it unlimited.
    public let modelMaxLength: Int?
    /// Whether decoded text gets transformers' `clean_up_tokenization` (the config's
    /// `clean_up_tokenization_spaces`, which transformers 5 ignores for BPE models unless forced).
    public let cleansUpTokenizationSpaces: Bool
    /// Distinct tokens, model vocabulary and added tokens together (the library's
    /// `get_vocab_size(with_added_tokens: true)`).
    public let vocabularySize: Int
    /// Padding goes on the left (`padding_side`; only the siglip2 tokenizer sets it here).
    public let padsLeft: Bool

    static let file = "tokenizer.json"

    /// Reads `tokenizer.json` and, when present, `tokenizer_config.json` from `directory`.
    public static func load(directory: URL) throws(TokenizerError) -> Tokenizer {
        let json = directory.appendingPathComponent(file)
        let config = directory.appendingPathComponent(TokenizerConfig.file)
        let configData = FileManager.default.fileExists(atPath: config.path) ? try read(config, name: TokenizerConfig.file) : nil
        return try Tokenizer(tokenizerJSON: try read(json, name: file), configJSON: configData)
    }

    private static func read(_ url: URL, name: String) throws(TokenizerError) -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TokenizerError.missingFile(path: url.path)
        }
        guard !isDirectory.boolValue, let data = try? Data(contentsOf: url) else {
            throw TokenizerError.unreadable(file: name, reason: "cannot be read.")
        }
        return data
    }

    /// Builds a tokenizer from the two files' contents.
    public init(tokenizerJSON: Data, configJSON: Data? = nil, padsLeft: Bool = false) throws(TokenizerError) {
        let file = Tokenizer.file
        self.padsLeft = padsLeft
        let root = try TokenizerJSONObject(try TokenizerJSON.parse(tokenizerJSON, file: file), path: "", file: file)
        let config = try configJSON.map { data throws(TokenizerError) in try TokenizerConfig(data) } ?? TokenizerConfig()

        normalizer = try root.value("normalizer").map { v throws(TokenizerError) in try TextNormalizer.parse(v, path: "normalizer", file: file) }
        preTokenizer = try root.value("pre_tokenizer").map { v throws(TokenizerError) in try TextPreTokenizer.parse(v, path: "pre_tokenizer", file: file) }
        guard let modelValue = root.field("model") else { throw root.fail("model", "an object") }
        model = try TokenizerModel.parse(modelValue, file: file)
        decoder = try root.value("decoder").map { v throws(TokenizerError) in try TokenDecoder.parse(v, path: "decoder", file: file) }
        let processor = try root.value("post_processor").map { v throws(TokenizerError) in try TokenPostProcessor.parse(v, path: "post_processor", file: file) }

        let vocab = model.vocab
        var added = AddedVocabulary()
        if root.has("added_tokens") {
            var list: [AddedToken] = []
            for (i, item) in try root.array("added_tokens").enumerated() {
                list.append(try AddedToken.parse(item, path: "added_tokens[\(i)]", file: file, defaultSpecial: false))
            }
            added.add(list, modelVocab: vocab, normalizer: normalizer)
        }

        // transformers then adds the config's added_tokens_decoder entries it does not already
        // have, and any named special token missing from the added tokens.
        var fromConfig = config.addedTokens.filter { t in !added.tokens.values.contains(t) }
        var known = Set(added.contentToId.keys).union(fromConfig.map { TokenString($0.content) })
        for var t in config.namedSpecialTokens where !known.contains(TokenString(t.content)) {
            t.special = true
            fromConfig.append(t)
            known.insert(TokenString(t.content))
        }
        if !fromConfig.isEmpty { added.add(fromConfig, modelVocab: vocab, normalizer: normalizer) }
        addedVocabulary = added

        func id(_ token: AddedToken?) -> Int? {
            guard let token else { return nil }
            let key = TokenString(token.content)
            return added.contentToId[key] ?? vocab[key]
        }
        bosTokenId = id(config.bosToken)
        eosTokenIds = config.eosTokens.compactMap { id($0) }
        padTokenId = id(config.padToken)
        unkTokenId = id(config.unkToken)
        modelMaxLength = config.modelMaxLength
        if case .bpe = model {
            cleansUpTokenizationSpaces = config.cleanUpTokenizationSpaces && config.cleanUpTokenizationSpacesForBPE
        } else {
            cleansUpTokenizationSpaces = config.cleanUpTokenizationSpaces
        }
        var named: [String: String] = [:]
        for (key, token) in [("bos_token", config.bosToken), ("eos_token", config.eosTokens.first), ("unk_token", config.unkToken),
                             ("sep_token", config.sepToken), ("pad_token", config.padToken), ("cls_token", config.clsToken),
                             ("mask_token", config.maskToken)] {
            if let token { named[key] = token.content }
        }
        specialTokenStrings = named

        // The post-processor of tokenizer.json decides (transformers 5 drops add_bos_token /
        // add_eos_token whenever tokenizer.json exists). Without one, the config's flags add
        // BOS / EOS, as transformers 4's LLaMA-style tokenizers did.
        if let processor {
            postProcessor = processor
        } else {
            let bos = (config.addBosToken ?? false) ? bosTokenId : nil
            let eos = (config.addEosToken ?? false) ? eosTokenIds.first : nil
            var pieces: [TokenPostProcessor.TemplatePiece] = []
            if let bos { pieces.append(.special([bos])) }
            pieces.append(.sequence)
            if let eos { pieces.append(.special([eos])) }
            postProcessor = pieces.count == 1 ? nil : .template(pieces)
        }

        var reverse: [Int: String] = [:]
        reverse.reserveCapacity(vocab.count + added.tokens.count)
        for (token, id) in vocab where reverse[id] == nil { reverse[id] = token.string }
        idToToken = reverse
        vocabularySize = vocab.count + added.contentToId.keys.filter { vocab[$0] == nil }.count
    }

    // MARK: Encoding

    /// The ids of `text`; with `addSpecialTokens` also the BOS/EOS (or [CLS]/[SEP]) the
    /// tokenizer adds around a single sequence.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var pieces = addedVocabulary.extract(Array(text.unicodeScalars), normalizer: normalizer)
        preTokenizer?.preTokenize(&pieces)
        var ids: [Int] = []
        ids.reserveCapacity(pieces.count * 2)
        for piece in pieces {
            if let id = piece.tokenId { ids.append(id) } else { ids.append(contentsOf: model.tokenize(piece.scalars)) }
        }
        if addSpecialTokens, let postProcessor { ids = postProcessor.process(ids) }
        return ids
    }

    // MARK: Decoding

    /// The text of `ids`, as transformers' `tokenizer.decode` gives it: the library's decode (ids
    /// outside the vocabulary ignored), then `clean_up_tokenization` when the config asks for it.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var state = DecodingState(decoder: decoder)
        var out = String()
        for id in ids {
            guard let token = decodeToken(id, skipSpecialTokens: skipSpecialTokens) else { continue }
            out += state.push(token)
        }
        out += state.finish()
        return cleansUpTokenizationSpaces ? Self.cleanUpTokenization(out) : out
    }

    /// transformers' `clean_up_tokenization`: over the whole decoded text, the spaces a
    /// WordPiece-style tokenization leaves before punctuation and contractions are removed (the
    /// library's WordPiece decoder does the same per token only, so " ' " between tokens stays).
    /// (Matched on scalars, as Python's `str.replace` does, not on Swift's characters.)
    static func cleanUpTokenization(_ text: String) -> String {
        var s = Array(text.unicodeScalars)
        for (from, to) in cleanUpRules { s = TextPattern.literal(from).replace(in: s, with: to) }
        var out = String()
        out.unicodeScalars.append(contentsOf: s)
        return out
    }

    private static let cleanUpRules: [([Unicode.Scalar], [Unicode.Scalar])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"),
        (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.0.unicodeScalars), Array($0.1.unicodeScalars)) }

    /// The token string the decoder sees for `id`, or nil when it is skipped.
    func decodeToken(_ id: Int, skipSpecialTokens: Bool) -> String? {
        guard let token = addedVocabulary.decodeString(id) ?? idToToken[id] else { return nil }
        if skipSpecialTokens, addedVocabulary.specialContents.contains(TokenString(token)) { return nil }
        return token
    }

    /// A detokenizer that turns ids into text one at a time.
    public func streamingDetokenizer(skipSpecialTokens: Bool = false) -> StreamingDetokenizer {
        StreamingDetokenizer(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }

    // MARK: Vocabulary

    /// The id of a token string (an added token's content or a vocabulary entry).
    public func id(forToken token: String) -> Int? {
        let key = TokenString(token)
        return addedVocabulary.contentToId[key] ?? model.vocab[key]
    }

    /// The token string of an id (for a normalized added token, its normalized form).
    public func token(forId id: Int) -> String? {
        addedVocabulary.decodeString(id) ?? idToToken[id]
    }

    /// Whether `id` is an added token marked special (skipped by `skipSpecialTokens`).
    public func isSpecialToken(_ id: Int) -> Bool {
        guard let token = addedVocabulary.decodeString(id) ?? idToToken[id] else { return false }
        return addedVocabulary.specialContents.contains(TokenString(token))
    }
}

/// Turns ids into text as they are generated. Each `append` returns the text that no later id can
/// change — never half a UTF-8 character or part of a `<0xNN>` byte sequence — and `finish`
/// returns the rest, so the chunks always add up to `decode(allIds)`. (A run of byte-fallback
/// tokens comes out when the next ordinary token arrives: until then a later invalid byte could
/// still turn the whole run into U+FFFDs, as the library decodes it. Call `finish` at the end.)
public struct StreamingDetokenizer: Sendable {
    private let tokenizer: Tokenizer
    private let skipSpecialTokens: Bool
    private var state: DecodingState
    /// Everything emitted so far.
    public private(set) var text = ""
    /// With `clean_up_tokenization_spaces`: the decoded text (since the last `finish`) before
    /// clean-up, and how many scalars of its cleaned form were emitted. Text still to come can
    /// only change the cleaned text's end: each of the ten replacement passes matches at most four
    /// scalars, so it widens the unsettled end by at most three; all but the last `heldBack`
    /// scalars are final.
    private var raw = ""
    private var cleanedEmitted = 0
    private static let heldBack = 32

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
        state = DecodingState(decoder: tokenizer.decoder)
    }

    /// Feeds one id; returns the newly final text (often empty while bytes are pending).
    public mutating func append(_ id: Int) -> String {
        guard let token = tokenizer.decodeToken(id, skipSpecialTokens: skipSpecialTokens) else { return "" }
        return emit(state.push(token), final: false)
    }

    private mutating func emit(_ chunk: String, final: Bool) -> String {
        guard tokenizer.cleansUpTokenizationSpaces else {
            text += chunk
            return chunk
        }
        raw += chunk
        let cleaned = Tokenizer.cleanUpTokenization(raw).unicodeScalars
        let stable = final ? cleaned.count : cleaned.count - Self.heldBack
        guard stable > cleanedEmitted else { return "" }
        var new = String()
        new.unicodeScalars.append(contentsOf: cleaned.dropFirst(cleanedEmitted).prefix(stable - cleanedEmitted))
        cleanedEmitted = stable
        text += new
        return new
    }

    /// Flushes what was held back (an unfinished character becomes U+FFFD, as in `decode`).
    /// The detokenizer starts over afterwards.
    public mutating func finish() -> String {
        let chunk = emit(state.finish(), final: true)
        state = DecodingState(decoder: tokenizer.decoder)
        raw = ""
        cleanedEmitted = 0
        return chunk
    }
}
