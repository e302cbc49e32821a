/// One token of a template. `text` is literal output between tags; the rest is tag content.
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case int(Int)
        case float(Double)
        case op(String)
        case eof
    }
    let kind: Kind
    let line: Int
}

/// Splits a template into tokens as jinja2's lexer does with the settings transformers uses for
/// chat templates (`trim_blocks`, `lstrip_blocks`, no kept trailing newline): `{%-`/`-%}` strip
/// whitespace, `{%+` keeps it, a block or comment tag alone on its line takes the line's
/// indentation and newline with it, `{% raw %}` passes text through.
struct Lexer {
    private let s: [Unicode.Scalar]
    private var pos = 0
    private var line = 1
    private var tokens: [Token] = []
    /// Whether the next text starts a line (for lstrip_blocks at the start of the template).
    private var lineStarting = true

    static func tokenize(_ source: String) throws(JinjaError) -> [Token] {
        var lexer = Lexer(source: source)
        try lexer.run()
        return lexer.tokens
    }

    private init(source: String) {
        // jinja2 normalises \r\n and \r to \n, and drops one trailing newline.
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var previousCR = false
        for u in source.unicodeScalars {
            if u == "\r" { scalars.append("\n"); previousCR = true; continue }
            if u == "\n" && previousCR { previousCR = false; continue }
            previousCR = false
            scalars.append(u)
        }
        if scalars.last == "\n" { scalars.removeLast() }
        s = scalars
    }

    // MARK: Root state: text and tag openers

    private mutating func run() throws(JinjaError) {
        while pos < s.count {
            guard let (tagAt, kind) = nextTag(from: pos) else {
                emitText(String(String.UnicodeScalarView(s[pos...])))
                pos = s.count
                break
            }
            var text = Array(s[pos..<tagAt])
            let sign: Unicode.Scalar? = tagAt + 2 < s.count && (s[tagAt + 2] == "-" || s[tagAt + 2] == "+") ? s[tagAt + 2] : nil
            if sign == "-" {
                while let last = text.last, Self.isSpace(last) { text.removeLast() }
            } else if sign != "+" && kind != .variable {
                // lstrip_blocks: only whitespace between the line start and the tag goes.
                let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? 0
                if (lineStart > 0 || lineStarting) && lineStart < text.count && text[lineStart...].allSatisfy(Self.isSpace) {
                    text.removeSubrange(lineStart...)
                }
            }
            let textLines = s[pos..<tagAt].reduce(0) { $0 + ($1 == "\n" ? 1 : 0) }
            emitText(String(String.UnicodeScalarView(text)))
            line += textLines
            pos = tagAt + 2 + (sign == nil ? 0 : 1)
            lineStarting = false
            switch kind {
            case .comment: try comment()
            case .variable:
                tokens.append(Token(kind: .variableBegin, line: line))
                try tagBody(endsWith: "}")
            case .block:
                if try rawBlock() { continue }
                tokens.append(Token(kind: .blockBegin, line: line))
                try tagBody(endsWith: "%")
            }
        }
        tokens.append(Token(kind: .eof, line: line))
    }

    private enum TagKind { case variable, block, comment }

    private func nextTag(from start: Int) -> (Int, TagKind)? {
        var i = start
        while i + 1 < s.count {
            if s[i] == "{" {
                switch s[i + 1] {
                case "{": return (i, .variable)
                case "%": return (i, .block)
                case "#": return (i, .comment)
                default: break
                }
            }
            i += 1
        }
        return nil
    }

    private mutating func emitText(_ text: String) {
        if !text.isEmpty { tokens.append(Token(kind: .text(text), line: line)) }
    }

    // MARK: Tag ends

    /// After the closing delimiter: `-` strips following whitespace, `+` keeps the newline, and
    /// (blocks and comments only) trim_blocks removes one newline.
    private mutating func finishTag(sign: Unicode.Scalar?, trimNewline: Bool) {
        let start = pos
        if sign == "-" {
            while pos < s.count, Self.isSpace(s[pos]) { pos += 1 }
        } else if sign != "+" && trimNewline && pos < s.count && s[pos] == "\n" {
            pos += 1
        }
        let consumed = s[start..<pos]
        line += consumed.reduce(0) { $0 + ($1 == "\n" ? 1 : 0) }
        lineStarting = consumed.last == "\n"
    }

    private mutating func comment() throws(JinjaError) {
        let startLine = line
        var i = pos
        while i + 1 < s.count {
            if s[i] == "#" && s[i + 1] == "}" {
                let sign: Unicode.Scalar? = i > pos && (s[i - 1] == "-" || s[i - 1] == "+") ? s[i - 1] : nil
                line += s[pos..<i].reduce(0) { $0 + ($1 == "\n" ? 1 : 0) }
                pos = i + 2
                finishTag(sign: sign, trimNewline: true)
                return
            }
            i += 1
        }
        throw .syntax("missing end of comment tag", line: startLine)
    }

    /// `{% raw %}…{% endraw %}`: the text between passes through untouched (with the same
    /// whitespace control on the endraw tag as on any block).
    private mutating func rawBlock() throws(JinjaError) -> Bool {
        var i = pos
        while i < s.count, Self.isSpace(s[i]) { i += 1 }
        guard match("raw", at: i) else { return false }
        i += 3
        guard i < s.count, !Self.isNameChar(s[i]) else { return false }
        while i < s.count, Self.isSpace(s[i]) { i += 1 }
        if match("-%}", at: i) {
            i += 3
            while i < s.count, Self.isSpace(s[i]) { i += 1 }
        } else if match("%}", at: i) {
            i += 2
        } else {
            return false
        }
        line += s[pos..<i].reduce(0) { $0 + ($1 == "\n" ? 1 : 0) }
        let bodyStart = i
        while i + 1 < s.count {
            if s[i] == "{" && s[i + 1] == "%" {
                var j = i + 2
                let sign: Unicode.Scalar? = j < s.count && (s[j] == "-" || s[j] == "+") ? s[j] : nil
                if sign != nil { j += 1 }
                while j < s.count, Self.isSpace(s[j]) { j += 1 }
                if match("endraw", at: j) {
                    j += 6
                    while j < s.count, Self.isSpace(s[j]) { j += 1 }
                    var endSign: Unicode.Scalar? = nil
                    if j < s.count, s[j] == "-" || s[j] == "+" { endSign = s[j]; j += 1 }
                    guard match("%}", at: j) else { break }
                    var body = Array(s[bodyStart..<i])
                    if sign == "-" { while let last = body.last, Self.isSpace(last) { body.removeLast() } }
                    emitText(String(String.UnicodeScalarView(body)))
                    line += s[bodyStart..<(j + 2)].reduce(0) { $0 + ($1 == "\n" ? 1 : 0) }
                    pos = j + 2
                    finishTag(sign: endSign, trimNewline: true)
                    return true
                }
            }
            i += 1
        }
        throw .syntax("missing end of raw directive", line: line)
    }

    private func match(_ literal: String, at i: Int) -> Bool {
        var j = i
        for u in literal.unicodeScalars {
            guard j < s.count, s[j] == u else { return false }
            j += 1
        }
        return true
    }

    // MARK: Inside a tag

    private static let operators: [String] = ["//", "**", "==", "!=", ">=", "<=",
                                              "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
                                              ">", "<", "=", ".", ":", "|", ",", ";"]

    /// Tokens up to the tag's end (`}}` or `%}`), which only counts outside brackets.
    private mutating func tagBody(endsWith first: Unicode.Scalar) throws(JinjaError) {
        var brackets: [Unicode.Scalar] = []
        let isBlock = first == "%"
        let openLine = line
        while pos < s.count {
            let c = s[pos]
            if brackets.isEmpty {
                // The end delimiter, optionally preceded by a whitespace-control sign.
                if c == "-" || c == "+", pos + 2 < s.count, s[pos + 1] == first, s[pos + 2] == "}" {
                    // `+}}` is not an end in jinja2 (only `+%}`); treat it like jinja2: an operator.
                    if !(c == "+" && !isBlock) {
                        pos += 3
                        tokens.append(Token(kind: isBlock ? .blockEnd : .variableEnd, line: line))
                        finishTag(sign: c, trimNewline: isBlock)
                        return
                    }
                }
                if c == first, pos + 1 < s.count, s[pos + 1] == "}" {
                    pos += 2
                    tokens.append(Token(kind: isBlock ? .blockEnd : .variableEnd, line: line))
                    finishTag(sign: nil, trimNewline: isBlock)
                    return
                }
            }
            if Self.isSpace(c) {
                if c == "\n" { line += 1 }
                pos += 1
                continue
            }
            if c == "\"" || c == "'" { try string(quote: c); continue }
            if ("0"..."9").contains(c) { try number(); continue }
            if Self.isNameStart(c) {
                let start = pos
                while pos < s.count, Self.isNameChar(s[pos]) { pos += 1 }
                tokens.append(Token(kind: .name(String(String.UnicodeScalarView(s[start..<pos]))), line: line))
                continue
            }
            guard let op = Self.operators.first(where: { match($0, at: pos) }) else {
                throw .syntax("unexpected character '\(Character(c))'", line: line)
            }
            switch op {
            case "(": brackets.append(")")
            case "[": brackets.append("]")
            case "{": brackets.append("}")
            case ")", "]", "}":
                guard let expected = brackets.popLast() else { throw .syntax("unexpected '\(op)'", line: line) }
                if String(expected) != op { throw .syntax("unexpected '\(op)', expected '\(expected)'", line: line) }
            default: break
            }
            tokens.append(Token(kind: .op(op), line: line))
            pos += op.unicodeScalars.count
        }
        throw .syntax("unexpected end of template: the \(isBlock ? "block tag" : "expression") opened here is never closed", line: openLine)
    }

    /// A quoted string with Python's escapes (jinja2 decodes them with `unicode-escape`).
    private mutating func string(quote: Unicode.Scalar) throws(JinjaError) {
        let startLine = line
        pos += 1
        var out = String.UnicodeScalarView()
        while pos < s.count {
            let c = s[pos]
            if c == quote {
                pos += 1
                tokens.append(Token(kind: .string(String(out)), line: startLine))
                return
            }
            if c == "\n" { line += 1 }
            if c == "\\", pos + 1 < s.count {
                let e = s[pos + 1]
                pos += 2
                switch e {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\\": out.append("\\")
                case "'": out.append("'")
                case "\"": out.append("\"")
                case "a": out.append("\u{07}")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "v": out.append("\u{0B}")
                case "\n": line += 1  // a backslash-newline joins lines
                case "x", "u", "U":
                    let width = e == "x" ? 2 : e == "u" ? 4 : 8
                    guard pos + width <= s.count,
                          let v = UInt32(String(String.UnicodeScalarView(s[pos..<(pos + width)])), radix: 16),
                          let u = Unicode.Scalar(v) else {
                        throw .syntax("a string has a truncated \\\(e) escape", line: line)
                    }
                    out.append(u)
                    pos += width
                case "0"..."7":
                    var v = e.value - 48, n = 1
                    while n < 3, pos < s.count, ("0"..."7").contains(s[pos]) { v = v * 8 + s[pos].value - 48; pos += 1; n += 1 }
                    out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
                default:
                    out.append("\\")
                    out.append(e)
                }
                continue
            }
            out.append(c)
            pos += 1
        }
        throw .syntax("a string opened here is never closed", line: startLine)
    }

    private mutating func number() throws(JinjaError) {
        let start = pos
        func digits() { while pos < s.count, ("0"..."9").contains(s[pos]) || (s[pos] == "_" && pos + 1 < s.count && ("0"..."9").contains(s[pos + 1])) { pos += 1 } }
        digits()
        var isFloat = false
        if pos + 1 < s.count, s[pos] == ".", ("0"..."9").contains(s[pos + 1]), !(start > 0 && s[start - 1] == ".") {
            isFloat = true
            pos += 1
            digits()
        }
        if pos < s.count, s[pos] == "e" || s[pos] == "E" {
            var j = pos + 1
            if j < s.count, s[j] == "+" || s[j] == "-" { j += 1 }
            if j < s.count, ("0"..."9").contains(s[j]) {
                isFloat = true
                pos = j
                digits()
            }
        }
        let text = String(String.UnicodeScalarView(s[start..<pos])).replacingOccurrences(of: "_", with: "")
        if isFloat {
            guard let d = Double(text) else { throw .syntax("bad number '\(text)'", line: line) }
            tokens.append(Token(kind: .float(d), line: line))
        } else {
            guard let i = Int(text) else { throw .syntax("the integer \(text) is too large", line: line) }
            tokens.append(Token(kind: .int(i), line: line))
        }
    }

    // MARK: Character classes

    /// Python's `str.isspace` (what jinja2's `\s` and `rstrip()` strip).
    static func isSpace(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    static func isNameStart(_ u: Unicode.Scalar) -> Bool {
        u == "_" || u.properties.isXIDStart
    }

    static func isNameChar(_ u: Unicode.Scalar) -> Bool {
        u == "_" || u.properties.isXIDContinue
    }
}
