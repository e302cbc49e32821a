/// A `normalizer` of tokenizer.json, applied to the text between added tokens.
indirect enum TextNormalizer: Sendable {
    case sequence([TextNormalizer])
    case unicode(CharacterClasses.NormalizationForm)
    case lowercase
    case strip(left: Bool, right: Bool)
    case stripAccents
    case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case prepend([Unicode.Scalar])
    case replace(TextPattern, [Unicode.Scalar])
    case byteLevel

    static func parse(_ value: TokenizerJSON, path: String, file: String) throws(TokenizerError) -> TextNormalizer {
        let obj = try TokenizerJSONObject(value, path: path, file: file)
        guard let type = try obj.typeTag() else {
            throw TokenizerError.invalid(file: file, message: "'\(path)' has no \"type\".")
        }
        switch type {
        case "Sequence":
            let items = try obj.array("normalizers")
            var parts: [TextNormalizer] = []
            for (i, item) in items.enumerated() { parts.append(try parse(item, path: "\(obj.key("normalizers"))[\(i)]", file: file)) }
            return .sequence(parts)
        case "NFC": return .unicode(.nfc)
        case "NFD": return .unicode(.nfd)
        case "NFKC": return .unicode(.nfkc)
        case "NFKD": return .unicode(.nfkd)
        case "Lowercase": return .lowercase
        case "Strip":
            return .strip(left: try obj.bool("strip_left", default: true), right: try obj.bool("strip_right", default: true))
        case "StripAccents": return .stripAccents
        case "BertNormalizer":
            let lowercase = try obj.bool("lowercase", default: true)
            return .bert(cleanText: try obj.bool("clean_text", default: true),
                         handleChineseChars: try obj.bool("handle_chinese_chars", default: true),
                         stripAccents: try obj.optionalBool("strip_accents") ?? lowercase,
                         lowercase: lowercase)
        case "Prepend":
            return .prepend(Array(try obj.string("prepend").unicodeScalars))
        case "Replace":
            let pattern = try TextPattern.parse(obj.field("pattern") ?? .null, path: obj.key("pattern"), file: file)
            return .replace(pattern, Array(try obj.string("content").unicodeScalars))
        case "ByteLevel": return .byteLevel
        default:
            throw TokenizerError.unsupported(file: file, component: "normalizer", type: type)
        }
    }

    func normalize(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case .sequence(let parts):
            var s = s
            for p in parts { s = p.normalize(s) }
            return s
        case .unicode(let form):
            return CharacterClasses.normalize(s, form)
        case .lowercase:
            return CharacterClasses.lowercase(s)
        case .strip(let left, let right):
            var lo = 0, hi = s.count
            if left { while lo < hi, CharacterClasses.isWhitespace(s[lo]) { lo += 1 } }
            if right { while hi > lo, CharacterClasses.isWhitespace(s[hi - 1]) { hi -= 1 } }
            return Array(s[lo..<hi])
        case .stripAccents:
            return s.filter { !CharacterClasses.isCombiningMark($0) }
        case .bert(let cleanText, let chinese, let stripAccents, let lowercase):
            var s = s
            if cleanText {
                s = s.compactMap { c in
                    if CharacterClasses.isBertControl(c) { return nil }
                    return CharacterClasses.isWhitespace(c) ? " " : c
                }
            }
            if chinese, s.contains(where: CharacterClasses.isChineseCharacter) {
                var out: [Unicode.Scalar] = []
                out.reserveCapacity(s.count + 8)
                for c in s {
                    if CharacterClasses.isChineseCharacter(c) { out += [" ", c, " "] } else { out.append(c) }
                }
                s = out
            }
            if stripAccents {
                s = CharacterClasses.normalize(s, .nfd).filter { !CharacterClasses.isNonspacingMark($0) }
            }
            if lowercase { s = CharacterClasses.lowercase(s) }
            return s
        case .prepend(let p):
            return s.isEmpty ? s : p + s
        case .replace(let pattern, let content):
            return pattern.replace(in: s, with: content)
        case .byteLevel:
            return ByteLevelAlphabet.encode(s)
        }
    }
}
