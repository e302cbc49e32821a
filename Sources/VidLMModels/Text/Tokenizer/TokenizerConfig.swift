import Foundation

/// The parts of `tokenizer_config.json` (transformers) that change how a tokenizer behaves.
struct TokenizerConfig: Sendable {
    var bosToken: AddedToken?
    var eosTokens: [AddedToken] = []
    var unkToken: AddedToken?
    var padToken: AddedToken?
    var sepToken: AddedToken?
    var clsToken: AddedToken?
    var maskToken: AddedToken?
    /// `additional_special_tokens` / `extra_special_tokens`.
    var extraSpecialTokens: [AddedToken] = []
    var addBosToken: Bool?
    var addEosToken: Bool?
    var modelMaxLength: Int?
    /// `clean_up_tokenization_spaces` (transformers 5's default: false) and the flag that forces it
    /// on BPE models, which transformers otherwise exempts.
    var cleanUpTokenizationSpaces = false
    var cleanUpTokenizationSpacesForBPE = false
    /// `added_tokens_decoder`, ordered by id.
    var addedTokens: [AddedToken] = []

    static let file = "tokenizer_config.json"

    init() {}

    init(_ data: Data) throws(TokenizerError) {
        let obj = try TokenizerJSONObject(try TokenizerJSON.parse(data, file: Self.file), path: "", file: Self.file)
        func token(_ name: String) throws(TokenizerError) -> AddedToken? {
            guard let v = obj.value(name) else { return nil }
            switch v {
            case .string, .object: return try AddedToken.parse(v, path: name, file: Self.file, defaultSpecial: true)
            default: throw obj.fail(name, "a string or an AddedToken object")
            }
        }
        bosToken = try token("bos_token")
        unkToken = try token("unk_token")
        padToken = try token("pad_token")
        if case .array(let items)? = obj.value("eos_token") {
            for (i, item) in items.enumerated() {
                eosTokens.append(try AddedToken.parse(item, path: "eos_token[\(i)]", file: Self.file, defaultSpecial: true))
            }
        } else if let eos = try token("eos_token") {
            eosTokens = [eos]
        }
        sepToken = try token("sep_token")
        clsToken = try token("cls_token")
        maskToken = try token("mask_token")
        for name in ["additional_special_tokens", "extra_special_tokens"] {
            guard let v = obj.value(name) else { continue }
            // transformers v5 also allows a {name: token} mapping here.
            let items: [(String, TokenizerJSON)]
            switch v {
            case .array(let a): items = a.enumerated().map { ("\(name)[\($0.offset)]", $0.element) }
            case .object(let o): items = o.keys.map(\.string).sorted().map { ("\(name).\($0)", o[TokenString($0)]!) }
            default: throw obj.fail(name, "a list")
            }
            for (path, item) in items {
                extraSpecialTokens.append(try AddedToken.parse(item, path: path, file: Self.file, defaultSpecial: true))
            }
        }
        addBosToken = try obj.optionalBool("add_bos_token")
        addEosToken = try obj.optionalBool("add_eos_token")
        cleanUpTokenizationSpaces = try obj.optionalBool("clean_up_tokenization_spaces") ?? false
        cleanUpTokenizationSpacesForBPE =
            try obj.optionalBool("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output") ?? false
        if let v = obj.value("model_max_length") {
            guard case .number(let d) = v, d >= 0 else { throw obj.fail("model_max_length", "a non-negative number") }
            // transformers writes "no limit" as 1e30.
            modelMaxLength = d < 1e15 ? Int(d) : nil
        }
        if let decoderTable = try obj.optionalObject("added_tokens_decoder") {
            var entries: [(Int, AddedToken)] = []
            for (tokenKey, value) in decoderTable.fields {
                let key = tokenKey.string
                guard let id = Int(key) else {
                    throw TokenizerError.invalid(file: Self.file, message: "'added_tokens_decoder' keys must be token ids, not '\(key)'.")
                }
                entries.append((id, try AddedToken.parse(value, path: decoderTable.key(key), file: Self.file, defaultSpecial: false)))
            }
            addedTokens = entries.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// The named special tokens, in transformers' order (bos, eos, unk, sep, pad, cls, mask, extras).
    var namedSpecialTokens: [AddedToken] {
        var out: [AddedToken] = []
        if let bosToken { out.append(bosToken) }
        out += eosTokens
        out += [unkToken, sepToken, padToken, clsToken, maskToken].compactMap { $0 }
        return out + extraSpecialTokens
    }
}
