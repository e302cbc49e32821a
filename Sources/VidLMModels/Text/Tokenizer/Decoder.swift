/// A `decoder` of tokenizer.json. Decoding runs as a stream: each stage takes the previous
/// stage's tokens one at a time and holds back only what later tokens can still change (an
/// incomplete UTF-8 character, a run of `<0xNN>` byte tokens, a possible partial match), so
/// `decode(ids)` and the streaming detokenizer are the same computation.
indirect enum TokenDecoder: Sendable {
    case sequence([TokenDecoder])
    case replace(TextPattern, [Unicode.Scalar])
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case metaspace(replacement: Unicode.Scalar, stripFirst: Bool)
    case byteLevel
    case wordPiece(prefix: [Unicode.Scalar], cleanup: Bool)
    case bpe(suffix: [Unicode.Scalar])

    static func parse(_ value: TokenizerJSON, path: String, file: String) throws(TokenizerError) -> TokenDecoder {
        let obj = try TokenizerJSONObject(value, path: path, file: file)
        guard let type = try obj.typeTag() else {
            throw TokenizerError.invalid(file: file, message: "'\(path)' has no \"type\".")
        }
        switch type {
        case "Sequence":
            let items = try obj.array("decoders")
            var parts: [TokenDecoder] = []
            for (i, item) in items.enumerated() { parts.append(try parse(item, path: "\(obj.key("decoders"))[\(i)]", file: file)) }
            return .sequence(parts)
        case "Replace":
            let pattern = try TextPattern.parse(obj.field("pattern") ?? .null, path: obj.key("pattern"), file: file)
            return .replace(pattern, Array(try obj.string("content").unicodeScalars))
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Strip":
            let content = try obj.string("content").unicodeScalars
            guard content.count == 1, let c = content.first else {
                throw TokenizerError.invalid(file: file, message: "'\(obj.key("content"))' must be a single character.")
            }
            let start = try obj.int("start", default: 0), stop = try obj.int("stop", default: 0)
            guard start >= 0, stop >= 0 else {
                throw TokenizerError.invalid(file: file, message: "'\(obj.key("start"))' and 'stop' must not be negative.")
            }
            return .strip(content: c, start: start, stop: stop)
        case "Metaspace":
            let (replacement, scheme, _) = try TextPreTokenizer.parseMetaspace(obj)
            return .metaspace(replacement: replacement, stripFirst: scheme != .never)
        case "ByteLevel": return .byteLevel
        case "WordPiece":
            return .wordPiece(prefix: Array((try obj.optionalString("prefix") ?? "##").unicodeScalars),
                              cleanup: try obj.bool("cleanup", default: true))
        case "BPEDecoder":
            return .bpe(suffix: Array((try obj.optionalString("suffix") ?? "</w>").unicodeScalars))
        default:
            throw TokenizerError.unsupported(file: file, component: "decoder", type: type)
        }
    }

    /// The leaf stages in order.
    var stages: [TokenDecoder] {
        if case .sequence(let parts) = self { return parts.flatMap(\.stages) }
        return [self]
    }
}

/// One decoder stage's progress through a stream of tokens.
struct DecoderStageState {
    /// What flows between stages: whole tokens, or (after a stage that joins everything into one
    /// token, such as Fuse or ByteLevel) successive chunks of that single token.
    enum Item {
        case token([Unicode.Scalar])
        case chunk([Unicode.Scalar])
    }

    let decoder: TokenDecoder
    private var index = 0
    private var fused = false
    private var pending: [Unicode.Scalar] = []
    private var bytes: [UInt8] = []
    private var count = 0
    private var passThrough = false
    private var held: [Unicode.Scalar]? = nil

    init(_ decoder: TokenDecoder) { self.decoder = decoder }

    mutating func feed(_ item: Item, _ out: inout [Item]) {
        switch item {
        case .token(let t): feedToken(t, &out)
        case .chunk(let c): fused = true; feedChunk(c, &out)
        }
    }

    private mutating func feedToken(_ t: [Unicode.Scalar], _ out: inout [Item]) {
        let i = index
        index += 1
        switch decoder {
        case .sequence:
            out.append(.token(t))
        case .replace(let pattern, let content):
            out.append(.token(pattern.replace(in: t, with: content)))
        case .byteFallback:
            if let b = DecoderStageState.byteToken(t) {
                bytes.append(b)
                count += 1
            } else {
                flushBytes(&out)
                out.append(.token(t))
            }
        case .fuse:
            out.append(.chunk(t))
        case .strip(let content, let start, let stop):
            var lo = 0
            while lo < min(start, t.count), t[lo] == content { lo += 1 }
            var hi = t.count
            var k = 0
            while k < stop, hi > lo, t[hi - 1] == content { hi -= 1; k += 1 }
            out.append(.token(Array(t[lo..<hi])))
        case .metaspace(let replacement, let stripFirst):
            out.append(.token(DecoderStageState.metaspace(t, replacement, first: i == 0 && stripFirst)))
        case .byteLevel:
            var tokenString = String()
            tokenString.unicodeScalars.append(contentsOf: t)
            ByteLevelAlphabet.bytes(ofToken: tokenString, into: &bytes)
            let (text, pendingCount) = LossyUTF8.decode(bytes, final: false)
            bytes = Array(bytes.suffix(pendingCount))
            if !text.isEmpty { out.append(.chunk(Array(text.unicodeScalars))) }
        case .wordPiece(let prefix, let cleanup):
            var s = t
            if i != 0 {
                if s.starts(with: prefix) { s.removeFirst(prefix.count) } else { s.insert(" ", at: 0) }
            }
            out.append(.token(cleanup ? DecoderStageState.cleanup(s) : s))
        case .bpe(let suffix):
            if let h = held { out.append(.token(TextPattern.literal(suffix).replace(in: h, with: [" "]))) }
            held = t
        }
    }

    private mutating func feedChunk(_ c: [Unicode.Scalar], _ out: inout [Item]) {
        switch decoder {
        case .sequence, .fuse:
            out.append(.chunk(c))
        case .replace(let pattern, let content):
            pending.append(contentsOf: c)
            guard case .literal(let p) = pattern, !p.isEmpty else { return }  // regexes: held to the end
            var emit: [Unicode.Scalar] = []
            var i = 0
            while i < pending.count {
                let rest = pending.count - i
                if rest >= p.count, pending[i..<(i + p.count)].elementsEqual(p) {
                    emit.append(contentsOf: content)
                    i += p.count
                } else if rest < p.count, pending[i...].elementsEqual(p[0..<rest]) {
                    break  // might become a match
                } else {
                    emit.append(pending[i])
                    i += 1
                }
            }
            pending.removeFirst(i)
            if !emit.isEmpty { out.append(.chunk(emit)) }
        case .byteFallback:
            // One single token: it is a byte token only if it is exactly "<0xNN>".
            if passThrough { out.append(.chunk(c)); return }
            pending.append(contentsOf: c)
            if !DecoderStageState.mayBecomeByteToken(pending) {
                passThrough = true
                out.append(.chunk(pending))
                pending = []
            }
        case .strip(let content, let start, let stop):
            var emit: [Unicode.Scalar] = []
            for x in c {
                if !passThrough {
                    if count < start, x == content { count += 1; continue }
                    passThrough = true
                }
                if stop > 0, x == content {
                    pending.append(x)
                    if pending.count > stop { emit.append(pending.removeFirst()) }
                } else {
                    emit.append(contentsOf: pending)
                    pending = []
                    emit.append(x)
                }
            }
            if !emit.isEmpty { out.append(.chunk(emit)) }
        case .metaspace(let replacement, let stripFirst):
            out.append(.chunk(DecoderStageState.metaspace(c, replacement, first: stripFirst)))
        case .byteLevel, .wordPiece, .bpe:
            pending.append(contentsOf: c)  // needs the whole token: held to the end
        }
    }

    mutating func finish(_ out: inout [Item]) {
        switch decoder {
        case .byteFallback:
            if fused {
                if passThrough { return }
                if let b = DecoderStageState.byteToken(pending) {
                    out.append(.chunk(b < 0x80 ? [Unicode.Scalar(b)] : ["\u{FFFD}"]))
                } else if !pending.isEmpty {
                    out.append(.chunk(pending))
                }
                pending = []
            } else {
                flushBytes(&out)
            }
        case .replace(let pattern, let content):
            guard fused, !pending.isEmpty else { return }
            if case .literal = pattern { out.append(.chunk(pending)) } else { out.append(.chunk(pattern.replace(in: pending, with: content))) }
            pending = []
        case .strip(_, _, let stop):
            guard fused else { return }
            let keep = pending.count - min(stop, pending.count)
            if keep > 0 { out.append(.chunk(Array(pending[0..<keep]))) }
            pending = []
        case .byteLevel:
            if fused {
                var tokenString = String()
                tokenString.unicodeScalars.append(contentsOf: pending)
                ByteLevelAlphabet.bytes(ofToken: tokenString, into: &bytes)
                pending = []
            }
            if !bytes.isEmpty {
                out.append(.chunk(Array(LossyUTF8.decode(bytes, final: true).text.unicodeScalars)))
                bytes = []
            }
        case .wordPiece(_, let cleanup):
            guard fused else { return }
            out.append(.chunk(cleanup ? DecoderStageState.cleanup(pending) : pending))
            pending = []
        case .bpe(let suffix):
            if fused {
                out.append(.chunk(TextPattern.literal(suffix).replace(in: pending, with: [])))
                pending = []
            } else if let h = held {
                out.append(.token(TextPattern.literal(suffix).replace(in: h, with: [])))
                held = nil
            }
        case .sequence, .fuse, .metaspace:
            break
        }
    }

    private mutating func flushBytes(_ out: inout [Item]) {
        guard count > 0 else { return }
        if LossyUTF8.isValid(bytes) {
            out.append(.token(Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)))
        } else {
            for _ in 0..<count { out.append(.token(["\u{FFFD}"])) }
        }
        bytes = []
        count = 0
    }

    /// `<0xNN>` -> NN (Rust's `u8::from_str_radix` also takes a leading '+': "<0x+A>").
    static func byteToken(_ t: [Unicode.Scalar]) -> UInt8? {
        guard t.count == 6, mayBecomeByteToken(t) else { return nil }
        if t[3] == "+" { return hexDigit(t[4]) }
        return hexDigit(t[3])! << 4 | hexDigit(t[4])!
    }

    /// Whether `s` is a prefix of some `<0xNN>` token.
    static func mayBecomeByteToken(_ s: [Unicode.Scalar]) -> Bool {
        guard s.count <= 6 else { return false }
        for (k, c) in s.enumerated() {
            let ok: Bool
            switch k {
            case 0: ok = c == "<"
            case 1: ok = c == "0"
            case 2: ok = c == "x"
            case 3: ok = c == "+" || hexDigit(c) != nil
            case 4: ok = hexDigit(c) != nil
            default: ok = c == ">"
            }
            if !ok { return false }
        }
        return true
    }

    private static func hexDigit(_ c: Unicode.Scalar) -> UInt8? {
        switch c.value {
        case 0x30...0x39: return UInt8(c.value - 0x30)
        case 0x41...0x46: return UInt8(c.value - 0x41 + 10)
        case 0x61...0x66: return UInt8(c.value - 0x61 + 10)
        default: return nil
        }
    }

    static func metaspace(_ t: [Unicode.Scalar], _ replacement: Unicode.Scalar, first: Bool) -> [Unicode.Scalar] {
        if first { return t.filter { $0 != replacement } }
        return t.map { $0 == replacement ? " " : $0 }
    }

    private static let cleanupRules: [([Unicode.Scalar], [Unicode.Scalar])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
        (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.0.unicodeScalars), Array($0.1.unicodeScalars)) }

    /// WordPiece's `cleanup`: the tokenization spaces before punctuation and contractions.
    static func cleanup(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains(" ") else { return s }
        var s = s
        for (from, to) in cleanupRules { s = TextPattern.literal(from).replace(in: s, with: to) }
        return s
    }
}

/// The whole decoding pipeline's state: the stages, then the tokenizer's final join.
struct DecodingState {
    private var stages: [DecoderStageState]
    private let joinWithSpaces: Bool
    private var tokensOut = 0

    init(decoder: TokenDecoder?) {
        stages = (decoder?.stages ?? []).map(DecoderStageState.init)
        joinWithSpaces = decoder == nil
    }

    /// Feeds one token; returns the text that is now final.
    mutating func push(_ token: String) -> String {
        if joinWithSpaces {
            defer { tokensOut += 1 }
            return tokensOut == 0 ? token : " " + token
        }
        var items: [DecoderStageState.Item] = [.token(Array(token.unicodeScalars))]
        for k in stages.indices {
            var next: [DecoderStageState.Item] = []
            for item in items { stages[k].feed(item, &next) }
            items = next
            if items.isEmpty { return "" }
        }
        return DecodingState.text(items)
    }

    /// Flushes whatever the stages held back.
    mutating func finish() -> String {
        if joinWithSpaces { return "" }
        var items: [DecoderStageState.Item] = []
        for k in stages.indices {
            var next: [DecoderStageState.Item] = []
            for item in items { stages[k].feed(item, &next) }
            stages[k].finish(&next)
            items = next
        }
        return DecodingState.text(items)
    }

    private static func text(_ items: [DecoderStageState.Item]) -> String {
        var s = String()
        for item in items {
            switch item {
            case .token(let t), .chunk(let t): s.unicodeScalars.append(contentsOf: t)
            }
        }
        return s
    }
}
