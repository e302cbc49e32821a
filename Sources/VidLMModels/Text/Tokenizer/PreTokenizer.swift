/// A stretch of text on its way through the pipeline: either an added token already resolved to
/// its id, or text still to be pre-tokenized and given to the model.
struct TextPiece {
    var scalars: [Unicode.Scalar]
    var tokenId: Int?
    /// Whether the piece starts at offset 0 of the original input (Metaspace's "first" scheme).
    var atStart: Bool
}

/// How a split treats the pattern's matches (the library's `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    static func parse(_ obj: TokenizerJSONObject, _ name: String) throws(TokenizerError) -> SplitBehavior {
        let raw = try obj.string(name)
        guard let b = SplitBehavior(rawValue: raw) else {
            throw TokenizerError.invalid(file: obj.file, message: "'\(obj.key(name))' must be one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous, not '\(raw)'.")
        }
        return b
    }

    /// Applies the behaviour to `(range, isMatch)` segments; empty results are dropped later.
    func apply(_ segments: [(Range<Int>, Bool)]) -> [Range<Int>] {
        switch self {
        case .removed:
            return segments.filter { !$0.1 }.map(\.0)
        case .isolated:
            return segments.map(\.0)
        case .mergedWithPrevious:
            var out: [Range<Int>] = []
            var previousMatch = false
            for (r, isMatch) in segments {
                if isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
            return out
        case .mergedWithNext:
            var out: [Range<Int>] = []
            var previousMatch = false
            for (r, isMatch) in segments.reversed() {
                if isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
            return out.reversed()
        case .contiguous:
            var out: [Range<Int>] = []
            var previousMatch = false
            for (r, isMatch) in segments {
                if isMatch == previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
            return out
        }
    }
}

/// `(range, isMatch)` segments for a per-character predicate (each matching character is its own match).
func splitSegments(_ s: [Unicode.Scalar], _ pred: (Unicode.Scalar) -> Bool) -> [(Range<Int>, Bool)] {
    if s.isEmpty { return [(0..<0, false)] }
    var out: [(Range<Int>, Bool)] = []
    var last = 0
    for (i, c) in s.enumerated() where pred(c) {
        if last < i { out.append((last..<i, false)) }
        out.append((i..<(i + 1), true))
        last = i + 1
    }
    if last < s.count { out.append((last..<s.count, false)) }
    return out
}

/// A `pre_tokenizer` of tokenizer.json.
indirect enum TextPreTokenizer: Sendable {
    case sequence([TextPreTokenizer])
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(TextPattern, SplitBehavior, invert: Bool)
    case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme, split: Bool)
    case bert
    case whitespace
    case whitespaceSplit
    case digits(individual: Bool)
    case punctuation(SplitBehavior)
    case charDelimiter(Unicode.Scalar)

    enum PrependScheme: String, Sendable { case first, always, never }

    static func parse(_ value: TokenizerJSON, path: String, file: String) throws(TokenizerError) -> TextPreTokenizer {
        let obj = try TokenizerJSONObject(value, path: path, file: file)
        guard let type = try obj.typeTag() else {
            throw TokenizerError.invalid(file: file, message: "'\(path)' has no \"type\".")
        }
        switch type {
        case "Sequence":
            let items = try obj.array("pretokenizers")
            var parts: [TextPreTokenizer] = []
            for (i, item) in items.enumerated() { parts.append(try parse(item, path: "\(obj.key("pretokenizers"))[\(i)]", file: file)) }
            return .sequence(parts)
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try obj.bool("add_prefix_space", default: true),
                              useRegex: try obj.bool("use_regex", default: true))
        case "Split":
            let pattern = try TextPattern.parse(obj.field("pattern") ?? .null, path: obj.key("pattern"), file: file)
            return .split(pattern, try SplitBehavior.parse(obj, "behavior"), invert: try obj.bool("invert", default: false))
        case "Metaspace":
            let (replacement, scheme, split) = try parseMetaspace(obj)
            return .metaspace(replacement: replacement, prepend: scheme, split: split)
        case "BertPreTokenizer": return .bert
        case "Whitespace": return .whitespace
        case "WhitespaceSplit": return .whitespaceSplit
        case "Digits": return .digits(individual: try obj.bool("individual_digits", default: false))
        case "Punctuation":
            return .punctuation(obj.has("behavior") ? try SplitBehavior.parse(obj, "behavior") : .isolated)
        case "CharDelimiterSplit":
            let d = try obj.string("delimiter").unicodeScalars
            guard d.count == 1, let c = d.first else {
                throw TokenizerError.invalid(file: file, message: "'\(obj.key("delimiter"))' must be a single character.")
            }
            return .charDelimiter(c)
        default:
            throw TokenizerError.unsupported(file: file, component: "pre-tokenizer", type: type)
        }
    }

    /// Metaspace's fields, in the current form (`prepend_scheme`, `split`) or the legacy one
    /// (`add_prefix_space`, `str_rep`).
    static func parseMetaspace(_ obj: TokenizerJSONObject) throws(TokenizerError) -> (Unicode.Scalar, PrependScheme, Bool) {
        var rep = "▁"
        if let r = try obj.optionalString("replacement") { rep = r } else if let r = try obj.optionalString("str_rep") { rep = r }
        guard rep.unicodeScalars.count == 1, let c = rep.unicodeScalars.first else {
            throw TokenizerError.invalid(file: obj.file, message: "'\(obj.key("replacement"))' must be a single character.")
        }
        var scheme: PrependScheme = .always
        if let raw = try obj.optionalString("prepend_scheme") {
            guard let s = PrependScheme(rawValue: raw) else {
                throw TokenizerError.invalid(file: obj.file, message: "'\(obj.key("prepend_scheme"))' must be first, always or never, not '\(raw)'.")
            }
            scheme = s
        } else if let add = try obj.optionalBool("add_prefix_space") {
            scheme = add ? .always : .never
        }
        return (c, scheme, try obj.bool("split", default: true))
    }

    /// Splits every text piece (added-token pieces pass through untouched).
    func preTokenize(_ pieces: inout [TextPiece]) {
        switch self {
        case .sequence(let parts):
            for p in parts { p.preTokenize(&pieces) }
        case .byteLevel(let addPrefixSpace, let useRegex):
            split(&pieces) { piece in
                var s = piece.scalars
                if addPrefixSpace, s.first != " " { s.insert(" ", at: 0) }
                let ranges = useRegex ? SplitBehavior.isolated.apply(TextPattern.gpt2.segments(s)) : [0..<s.count]
                return ranges.map { (ByteLevelAlphabet.encode(s[$0]), $0.lowerBound) }
            }
        case .split(let pattern, let behavior, let invert):
            split(&pieces) { piece in
                var segs = pattern.segments(piece.scalars)
                if invert { segs = segs.map { ($0.0, !$0.1) } }
                return behavior.apply(segs).map { (Array(piece.scalars[$0]), $0.lowerBound) }
            }
        case .metaspace(let replacement, let scheme, let doSplit):
            split(&pieces) { piece in
                var s = piece.scalars.map { $0 == " " ? replacement : $0 }
                switch scheme {
                case .always: if s.first != replacement { s.insert(replacement, at: 0) }
                case .first: if s.first != replacement, piece.atStart { s.insert(replacement, at: 0) }
                case .never: break
                }
                guard doSplit else { return [(s, 0)] }
                let segs = splitSegments(s) { $0 == replacement }
                return SplitBehavior.mergedWithNext.apply(segs).map { (Array(s[$0]), $0.lowerBound) }
            }
        case .bert:
            TextPreTokenizer.whitespaceSplit.preTokenize(&pieces)
            TextPreTokenizer.punctuation(.isolated).preTokenize(&pieces)
        case .whitespace:
            split(&pieces) { piece in
                // \w+|[^\w\s]+ , everything else (whitespace) dropped.
                let s = piece.scalars
                var out: [([Unicode.Scalar], Int)] = []
                var i = 0
                while i < s.count {
                    let c = s[i]
                    if CharacterClasses.isWhitespace(c) { i += 1; continue }
                    let word = CharacterClasses.isRustWordCharacter(c)
                    var j = i + 1
                    while j < s.count {
                        let d = s[j]
                        if word ? !CharacterClasses.isRustWordCharacter(d)
                                : (CharacterClasses.isRustWordCharacter(d) || CharacterClasses.isWhitespace(d)) { break }
                        j += 1
                    }
                    out.append((Array(s[i..<j]), i))
                    i = j
                }
                return out
            }
        case .whitespaceSplit:
            split(&pieces) { piece in
                SplitBehavior.removed.apply(splitSegments(piece.scalars, CharacterClasses.isWhitespace))
                    .map { (Array(piece.scalars[$0]), $0.lowerBound) }
            }
        case .digits(let individual):
            split(&pieces) { piece in
                let segs = splitSegments(piece.scalars, CharacterClasses.isRustNumeric)
                return (individual ? SplitBehavior.isolated : .contiguous).apply(segs)
                    .map { (Array(piece.scalars[$0]), $0.lowerBound) }
            }
        case .punctuation(let behavior):
            split(&pieces) { piece in
                behavior.apply(splitSegments(piece.scalars, CharacterClasses.isBertPunctuation))
                    .map { (Array(piece.scalars[$0]), $0.lowerBound) }
            }
        case .charDelimiter(let d):
            split(&pieces) { piece in
                SplitBehavior.removed.apply(splitSegments(piece.scalars) { $0 == d })
                    .map { (Array(piece.scalars[$0]), $0.lowerBound) }
            }
        }
    }

    /// Replaces each text piece by the pieces `f` makes of it (`(text, start offset)`), dropping
    /// empty ones, as the library's `PreTokenizedString::split`.
    private func split(_ pieces: inout [TextPiece], _ f: (TextPiece) -> [([Unicode.Scalar], Int)]) {
        var out: [TextPiece] = []
        out.reserveCapacity(pieces.count)
        for piece in pieces {
            if piece.tokenId != nil { out.append(piece); continue }
            for (s, start) in f(piece) where !s.isEmpty {
                out.append(TextPiece(scalars: s, tokenId: nil, atStart: piece.atStart && start == 0))
            }
        }
        pieces = out
    }
}
