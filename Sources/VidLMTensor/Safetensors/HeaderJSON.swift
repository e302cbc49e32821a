/// A small, strict JSON reader and writer for safetensors headers and shard indexes.
///
/// Why not JSONSerialization: it turns numbers into NSNumber (so `true` reads as the integer 1 and
/// `2.0` as an integer), rounds big integers through Double, silently keeps the last of duplicate
/// keys and differs between platforms. Headers come from untrusted files, so this parser keeps
/// integer literals exact, rejects duplicate keys, validates UTF-8 and bounds nesting depth
/// (a file of `[[[[…` must fail, not overflow the stack).
enum HeaderJSON {
    enum Value {
        case object([(key: String, value: Value)])
        case array([Value])
        case string(String)
        /// The literal as written (e.g. `-12`, `1.5e3`), so integers are never rounded.
        case number(String)
        case bool(Bool)
        case null

        /// The value of an integer literal (no fraction or exponent) that fits in `Int`; nil otherwise.
        var exactInt: Int? {
            guard case let .number(text) = self, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
            else { return nil }
            return Int(text)
        }

        /// A short description of the value's kind for error messages ("a string", "the number 1.5").
        var kindDescription: String {
            switch self {
            case .object: "an object"
            case .array: "an array"
            case let .string(s): "the string \"\(s.count > 40 ? String(s.prefix(40)) + "…" : s)\""
            case let .number(n): "the number \(n.count > 40 ? String(n.prefix(40)) + "…" : n)"
            case let .bool(b): b ? "true" : "false"
            case .null: "null"
            }
        }
    }

    struct ParseError: Error, Equatable {
        let message: String
    }

    /// Recursive-descent parser over raw bytes (RFC 8259; whitespace allowed around the value).
    struct Parser {
        static let maxDepth = 64

        private let bytes: UnsafeRawBufferPointer
        private var pos = 0

        private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        static func parse(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> Value {
            var p = Parser(bytes)
            p.skipWhitespace()
            let value = try p.parseValue(depth: 0)
            p.skipWhitespace()
            if p.pos != bytes.count { throw p.error("unexpected \(p.describeCurrent()) after the top-level value") }
            return value
        }

        // MARK: - Values

        private mutating func parseValue(depth: Int) throws(ParseError) -> Value {
            guard pos < bytes.count else { throw error("unexpected end of input") }
            switch bytes[pos] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            default: throw error("unexpected \(describeCurrent())")
            }
        }

        private mutating func parseObject(depth: Int) throws(ParseError) -> Value {
            if depth > Parser.maxDepth { throw error("nesting deeper than \(Parser.maxDepth) levels") }
            pos += 1  // {
            var members: [(key: String, value: Value)] = []
            var seen = Set<String>()
            skipWhitespace()
            if peek(UInt8(ascii: "}")) { pos += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard peek(UInt8(ascii: "\"")) else { throw error("expected a string key, found \(describeCurrent())") }
                let keyStart = pos
                let key = try parseString()
                // A duplicate name would make the file mean different things to different readers.
                if !seen.insert(key).inserted { throw ParseError(message: "duplicate key \"\(key)\" at byte \(keyStart)") }
                skipWhitespace()
                guard peek(UInt8(ascii: ":")) else { throw error("expected ':', found \(describeCurrent())") }
                pos += 1
                skipWhitespace()
                members.append((key, try parseValue(depth: depth)))
                skipWhitespace()
                if peek(UInt8(ascii: ",")) { pos += 1; continue }
                if peek(UInt8(ascii: "}")) { pos += 1; return .object(members) }
                throw error("expected ',' or '}', found \(describeCurrent())")
            }
        }

        private mutating func parseArray(depth: Int) throws(ParseError) -> Value {
            if depth > Parser.maxDepth { throw error("nesting deeper than \(Parser.maxDepth) levels") }
            pos += 1  // [
            var items: [Value] = []
            skipWhitespace()
            if peek(UInt8(ascii: "]")) { pos += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth))
                skipWhitespace()
                if peek(UInt8(ascii: ",")) { pos += 1; continue }
                if peek(UInt8(ascii: "]")) { pos += 1; return .array(items) }
                throw error("expected ',' or ']', found \(describeCurrent())")
            }
        }

        private mutating func parseNumber() throws(ParseError) -> String {
            let start = pos
            if peek(UInt8(ascii: "-")) { pos += 1 }
            if peek(UInt8(ascii: "0")) {
                pos += 1
            } else if pos < bytes.count, isDigit(bytes[pos]) {
                while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
            } else {
                throw error("invalid number")
            }
            if peek(UInt8(ascii: ".")) {
                pos += 1
                guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("invalid number: no digits after '.'") }
                while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
            }
            if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
                pos += 1
                if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { pos += 1 }
                guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("invalid number: no digits in exponent") }
                while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
            }
            // Only ASCII digits, signs, '.', 'e' were consumed, so this decoding is exact.
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        }

        /// Reads a string literal; validates UTF-8 and escapes (including surrogate pairs).
        private mutating func parseString() throws(ParseError) -> String {
            pos += 1  // opening quote
            var scalars = String.UnicodeScalarView()
            while true {
                guard pos < bytes.count else { throw error("unterminated string") }
                let b = bytes[pos]
                switch b {
                case UInt8(ascii: "\""):
                    pos += 1
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    pos += 1
                    scalars.append(try parseEscape())
                case 0..<0x20:
                    throw error("unescaped control character in string")
                case 0..<0x80:
                    scalars.append(Unicode.Scalar(b))
                    pos += 1
                default:
                    scalars.append(try decodeUTF8Scalar())
                }
            }
        }

        private mutating func parseEscape() throws(ParseError) -> Unicode.Scalar {
            guard pos < bytes.count else { throw error("unterminated string") }
            let c = bytes[pos]
            pos += 1
            switch c {
            case UInt8(ascii: "\""): return "\""
            case UInt8(ascii: "\\"): return "\\"
            case UInt8(ascii: "/"): return "/"
            case UInt8(ascii: "b"): return "\u{08}"
            case UInt8(ascii: "f"): return "\u{0C}"
            case UInt8(ascii: "n"): return "\n"
            case UInt8(ascii: "r"): return "\r"
            case UInt8(ascii: "t"): return "\t"
            case UInt8(ascii: "u"):
                let high = try parseHex4()
                if (0xD800..<0xDC00).contains(high) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard peek(UInt8(ascii: "\\")), pos + 1 < bytes.count, bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate escape")
                    }
                    pos += 2
                    let low = try parseHex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate escape") }
                    let value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    guard let s = Unicode.Scalar(value) else { throw error("invalid escape") }
                    return s
                }
                guard let s = Unicode.Scalar(high) else { throw error("unpaired surrogate escape") }
                return s
            default:
                pos -= 1
                throw error("invalid escape '\\\(describeByte(c))'")
            }
        }

        private mutating func parseHex4() throws(ParseError) -> UInt32 {
            guard pos + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[pos]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | UInt32(d)
                pos += 1
            }
            return v
        }

        /// Decodes one multi-byte UTF-8 sequence (rejecting overlong forms, surrogates, > U+10FFFF).
        private mutating func decodeUTF8Scalar() throws(ParseError) -> Unicode.Scalar {
            let b0 = bytes[pos]
            let (length, minimum, initial): (Int, UInt32, UInt32)
            switch b0 {
            case 0xC2...0xDF: (length, minimum, initial) = (2, 0x80, UInt32(b0 & 0x1F))
            case 0xE0...0xEF: (length, minimum, initial) = (3, 0x800, UInt32(b0 & 0x0F))
            case 0xF0...0xF4: (length, minimum, initial) = (4, 0x10000, UInt32(b0 & 0x07))
            default: throw error("invalid UTF-8")
            }
            guard pos + length <= bytes.count else { throw error("invalid UTF-8") }
            var v = initial
            for i in 1..<length {
                let b = bytes[pos + i]
                guard b & 0xC0 == 0x80 else { throw error("invalid UTF-8") }
                v = v << 6 | UInt32(b & 0x3F)
            }
            guard v >= minimum, let s = Unicode.Scalar(v) else { throw error("invalid UTF-8") }
            pos += length
            return s
        }

        // MARK: - Helpers

        private mutating func expectLiteral(_ word: StaticString) throws(ParseError) {
            let n = word.utf8CodeUnitCount
            guard pos + n <= bytes.count else { throw error("unexpected \(describeCurrent())") }
            for i in 0..<n where bytes[pos + i] != word.utf8Start[i] {
                throw error("unexpected \(describeCurrent())")
            }
            pos += n
        }

        private mutating func skipWhitespace() {
            while pos < bytes.count {
                switch bytes[pos] {
                case 0x20, 0x09, 0x0A, 0x0D: pos += 1
                default: return
                }
            }
        }

        private func peek(_ c: UInt8) -> Bool { pos < bytes.count && bytes[pos] == c }
        private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

        private func describeCurrent() -> String {
            pos < bytes.count ? "character \(describeByte(bytes[pos]))" : "end of input"
        }

        private func describeByte(_ c: UInt8) -> String {
            (0x21..<0x7F).contains(c) ? "'\(Character(Unicode.Scalar(c)))'" : "0x" + String(c, radix: 16, uppercase: true)
        }

        private func error(_ message: String) -> ParseError {
            ParseError(message: "\(message) at byte \(pos)")
        }
    }

    /// Compact JSON output with the same escaping as serde_json (the reference writer), so headers
    /// this package writes are byte-identical to the Python package's.
    enum Writer {
        static func appendString(_ s: String, to out: inout [UInt8]) {
            out.append(UInt8(ascii: "\""))
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
                case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
                case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
                case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 0xF)]]
                default: out.append(b)
                }
            }
            out.append(UInt8(ascii: "\""))
        }

        static func appendIntArray(_ values: [Int], to out: inout [UInt8]) {
            out.append(UInt8(ascii: "["))
            out += Array(values.map(String.init).joined(separator: ",").utf8)
            out.append(UInt8(ascii: "]"))
        }
    }
}
