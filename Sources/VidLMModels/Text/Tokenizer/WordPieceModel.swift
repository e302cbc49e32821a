/// WordPiece (BERT): greedy longest match from the left, `##`-prefixed continuations, the whole
/// word becomes `[UNK]` when any part cannot be matched or it is too long.
struct WordPieceModel: Sendable {
    let vocab: [TokenString: Int]
    let unkId: Int
    let prefix: String
    let maxInputCharsPerWord: Int

    init(_ obj: TokenizerJSONObject) throws(TokenizerError) {
        let vocabObj = try obj.object("vocab")
        var vocab: [TokenString: Int] = [:]
        vocab.reserveCapacity(vocabObj.fields.count)
        for (token, value) in vocabObj.fields {
            vocab[token] = try TokenizerJSONObject.int(value, path: vocabObj.key(token.string), file: obj.file)
        }
        self.vocab = vocab
        let unk = try obj.optionalString("unk_token") ?? "[UNK]"
        guard let id = vocab[TokenString(unk)] else {
            throw TokenizerError.invalid(file: obj.file, message: "'\(obj.key("unk_token"))' names '\(unk)', which is not in the vocabulary.")
        }
        unkId = id
        prefix = try obj.optionalString("continuing_subword_prefix") ?? "##"
        maxInputCharsPerWord = try obj.int("max_input_chars_per_word", default: 100)
    }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if word.isEmpty { return [] }
        if word.count > maxInputCharsPerWord { return [unkId] }
        var out: [Int] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int? = nil
            while start < end {
                var s = start > 0 ? prefix : ""
                s.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = vocab[TokenString(s)] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unkId] }
            out.append(id)
            start = end
        }
        return out
    }
}

/// WordLevel: one vocabulary entry per pre-token, or the unknown token.
struct WordLevelModel: Sendable {
    let vocab: [TokenString: Int]
    let unkId: Int?

    init(_ obj: TokenizerJSONObject) throws(TokenizerError) {
        let vocabObj = try obj.object("vocab")
        var vocab: [TokenString: Int] = [:]
        for (token, value) in vocabObj.fields {
            vocab[token] = try TokenizerJSONObject.int(value, path: vocabObj.key(token.string), file: obj.file)
        }
        self.vocab = vocab
        if let unk = try obj.optionalString("unk_token") {
            guard let id = vocab[TokenString(unk)] else {
                throw TokenizerError.invalid(file: obj.file, message: "'\(obj.key("unk_token"))' names '\(unk)', which is not in the vocabulary.")
            }
            unkId = id
        } else {
            unkId = nil
        }
    }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if let id = vocab[TokenString(word)] { return [id] }
        return unkId.map { [$0] } ?? []
    }
}

/// The `model` of tokenizer.json.
enum TokenizerModel: Sendable {
    case bpe(BPEModel)
    case wordPiece(WordPieceModel)
    case wordLevel(WordLevelModel)

    static func parse(_ value: TokenizerJSON, file: String) throws(TokenizerError) -> TokenizerModel {
        let obj = try TokenizerJSONObject(value, path: "model", file: file)
        var type = try obj.typeTag()
        if type == nil {
            // Files written before the "type" tag: recognise the model by its fields.
            if obj.has("merges") { type = "BPE" }
            else if case .array? = obj.field("vocab") { type = "Unigram" }
            else if obj.has("max_input_chars_per_word") || obj.has("continuing_subword_prefix") { type = "WordPiece" }
            else if obj.has("vocab") { type = "WordLevel" }
        }
        switch type {
        case "BPE": return .bpe(try BPEModel(obj))
        case "WordPiece": return .wordPiece(try WordPieceModel(obj))
        case "WordLevel": return .wordLevel(try WordLevelModel(obj))
        case nil: throw TokenizerError.invalid(file: file, message: "'model' has no \"type\".")
        case let other?: throw TokenizerError.unsupported(file: file, component: "model", type: other)
        }
    }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        switch self {
        case .bpe(let m): return m.tokenize(word)
        case .wordPiece(let m): return m.tokenize(word)
        case .wordLevel(let m): return m.tokenize(word)
        }
    }

    var vocab: [TokenString: Int] {
        switch self {
        case .bpe(let m): return m.vocab
        case .wordPiece(let m): return m.vocab
        case .wordLevel(let m): return m.vocab
        }
    }
}
