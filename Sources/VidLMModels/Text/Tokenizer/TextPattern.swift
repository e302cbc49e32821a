import Foundation

/// A `Split` / `Replace` pattern: a literal string or a regex. The regexes of GPT-2, LLaMA-3 and
/// Qwen2 are matched by hand-written scanners that reproduce Oniguruma exactly (leftmost match,
/// alternatives tried in order, ASCII-only `(?i:...)`, `\s+(?!\S)` backtracking); any other regex
/// goes to NSRegularExpression (ICU), whose syntax and classes agree with Oniguruma's for ordinary
/// patterns.
enum TextPattern: Sendable {
    case literal([Unicode.Scalar])
    case gpt2
    case llama3
    case qwen2
    case icu(ICURegex)

    static let gpt2Source = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Reads `{"String": "..."}` or `{"Regex": "..."}`.
    static func parse(_ value: TokenizerJSON, path: String, file: String) throws(TokenizerError) -> TextPattern {
        let obj = try TokenizerJSONObject(value, path: path, file: file)
        if obj.has("String") {
            return .literal(Array(try obj.string("String").unicodeScalars))
        }
        if obj.has("Regex") {
            return try regex(try obj.string("Regex"), path: obj.key("Regex"), file: file)
        }
        throw TokenizerError.invalid(file: file, message: "'\(path)' must hold a \"String\" or a \"Regex\".")
    }

    static func regex(_ source: String, path: String, file: String) throws(TokenizerError) -> TextPattern {
        switch source {
        case gpt2Source: return .gpt2
        case llama3Source: return .llama3
        case qwen2Source: return .qwen2
        default:
            do {
                return .icu(ICURegex(try NSRegularExpression(pattern: source, options: [])))
            } catch {
                throw TokenizerError.invalid(file: file, message: "'\(path)' is not a regex this implementation can compile: \(source)")
            }
        }
    }

    /// The matches in `s` (ranges of scalar indices), leftmost first, not overlapping.
    func matches(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        switch self {
        case .literal(let p):
            guard !p.isEmpty, p.count <= s.count else { return [] }
            var out: [Range<Int>] = []
            var i = 0
            let first = p[0]
            while i + p.count <= s.count {
                if s[i] == first, s[i..<(i + p.count)].elementsEqual(p) {
                    out.append(i..<(i + p.count))
                    i += p.count
                } else {
                    i += 1
                }
            }
            return out
        case .gpt2, .llama3, .qwen2:
            var out: [Range<Int>] = []
            var i = 0
            while i < s.count {
                let end: Int
                switch self {
                case .gpt2: end = PretokenizerScanner.gpt2(s, i)
                case .llama3: end = PretokenizerScanner.llama(s, i, maxDigits: 3)
                default: end = PretokenizerScanner.llama(s, i, maxDigits: 1)
                }
                out.append(i..<end)
                i = end
            }
            return out
        case .icu(let re):
            return re.matches(s)
        }
    }

    /// `(range, isMatch)` pieces covering all of `s`, as the library's `find_matches`.
    func segments(_ s: [Unicode.Scalar]) -> [(Range<Int>, Bool)] {
        if s.isEmpty { return [(0..<0, false)] }
        var out: [(Range<Int>, Bool)] = []
        var prev = 0
        for m in matches(s) {
            if prev != m.lowerBound { out.append((prev..<m.lowerBound, false)) }
            out.append((m, true))
            prev = m.upperBound
        }
        if prev != s.count { out.append((prev..<s.count, false)) }
        return out
    }

    /// Replaces every match with `content`.
    func replace(in s: [Unicode.Scalar], with content: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let ms = matches(s)
        if ms.isEmpty { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var prev = 0
        for m in ms {
            out.append(contentsOf: s[prev..<m.lowerBound])
            out.append(contentsOf: content)
            prev = m.upperBound
        }
        out.append(contentsOf: s[prev...])
        return out
    }
}

/// NSRegularExpression is immutable once built; the wrapper makes that explicit for Sendable.
final class ICURegex: @unchecked Sendable {
    let regex: NSRegularExpression

    init(_ regex: NSRegularExpression) { self.regex = regex }

    func matches(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var string = String()
        string.unicodeScalars.append(contentsOf: s)
        // UTF-16 offset -> scalar index.
        var index: [Int] = []
        index.reserveCapacity(s.count + 1)
        for (i, c) in s.enumerated() {
            index.append(i)
            if c.value > 0xFFFF { index.append(i) }
        }
        index.append(s.count)
        let ns = string as NSString
        return regex.matches(in: string, options: [], range: NSRange(location: 0, length: ns.length)).map {
            index[$0.range.location]..<index[$0.range.location + $0.range.length]
        }
    }

    static func == (a: ICURegex, b: ICURegex) -> Bool { a === b }
}

/// The known pre-tokenizer regexes, one match at a time: each returns the end of the match that
/// starts at `i` (these patterns match at every position, so matches are contiguous).
enum PretokenizerScanner {
    typealias C = CharacterClasses

    @inline(__always) static func isLNS(_ c: Unicode.Scalar) -> Bool {
        C.isWhitespace(c) || C.isLetter(c) || C.isNumber(c)
    }

    @inline(__always) static func isCRLF(_ c: Unicode.Scalar) -> Bool { c == "\r" || c == "\n" }

    /// The contractions `'s|'t|'re|'ve|'m|'ll|'d`, case-sensitive or ASCII case-insensitive.
    static func contraction(_ s: [Unicode.Scalar], _ i: Int, ignoreCase: Bool) -> Int? {
        guard s[i] == "'", i + 1 < s.count else { return nil }
        func at(_ k: Int) -> UInt32? {
            guard k < s.count else { return nil }
            let v = s[k].value
            if ignoreCase, v >= 0x41, v <= 0x5A { return v + 0x20 }
            return v
        }
        let a = at(i + 1), b = at(i + 2)
        switch a {
        case UInt32(UInt8(ascii: "s")), UInt32(UInt8(ascii: "t")), UInt32(UInt8(ascii: "m")), UInt32(UInt8(ascii: "d")):
            return i + 2
        case UInt32(UInt8(ascii: "r")), UInt32(UInt8(ascii: "v")):
            return b == UInt32(UInt8(ascii: "e")) ? i + 3 : nil
        case UInt32(UInt8(ascii: "l")):
            return b == UInt32(UInt8(ascii: "l")) ? i + 3 : nil
        default:
            return nil
        }
    }

    /// End of the run of characters satisfying `pred` from `i`.
    @inline(__always)
    static func run(_ s: [Unicode.Scalar], _ i: Int, _ pred: (Unicode.Scalar) -> Bool) -> Int {
        var j = i
        while j < s.count, pred(s[j]) { j += 1 }
        return j
    }

    /// `\s+(?!\S)` then `\s+`, at a whitespace character.
    @inline(__always)
    static func whitespace(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        let e = run(s, i, C.isWhitespace)
        if e == s.count || e - i < 2 { return e }
        return e - 1
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    static func gpt2(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        if let e = contraction(s, i, ignoreCase: false) { return e }
        let j = s[i] == " " && i + 1 < s.count ? i + 1 : i
        let c = s[j]
        if C.isLetter(c) { return run(s, j, C.isLetter) }
        if C.isNumber(c) { return run(s, j, C.isNumber) }
        if !isLNS(c) { return run(s, j) { !isLNS($0) } }
        // s[i] is whitespace (a lone ' ' before whitespace, a letter or a number failed above).
        return whitespace(s, i)
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    static func llama(_ s: [Unicode.Scalar], _ i: Int, maxDigits: Int) -> Int {
        if let e = contraction(s, i, ignoreCase: true) { return e }
        let c = s[i]
        let isL = C.isLetter(c), isN = !isL && C.isNumber(c)
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !isL, !isN, !isCRLF(c), i + 1 < s.count, C.isLetter(s[i + 1]) { return run(s, i + 1, C.isLetter) }
        if isL { return run(s, i, C.isLetter) }
        // \p{N}{1,N}
        if isN {
            var j = i
            while j < s.count, j - i < maxDigits, C.isNumber(s[j]) { j += 1 }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let j = c == " " && i + 1 < s.count ? i + 1 : i
        if !isLNS(s[j]) {
            let e = run(s, j) { !isLNS($0) }
            return run(s, e, isCRLF)
        }
        // Here s[i] is whitespace. `\s*[\r\n]+`: up to the last CR/LF of the whitespace run.
        let e = run(s, i, C.isWhitespace)
        var k = e - 1
        while k >= i, !isCRLF(s[k]) { k -= 1 }
        if k >= i { return k + 1 }
        return whitespace(s, i)
    }
}
