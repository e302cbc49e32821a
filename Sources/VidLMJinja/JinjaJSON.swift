/// JSON in and out of template values. Reading keeps what Python's `json.loads` keeps and
/// Foundation's parser loses: key order, and the difference between `1` and `1.0`. Writing is
/// transformers' `tojson` filter: `json.dumps(x, ensure_ascii=False, indent=…, separators=…,
/// sort_keys=…)`.
public enum JinjaJSON {
    /// Parses JSON text into a value (objects become ordered dicts).
    public static func parse(_ text: String) throws(JinjaError) -> JinjaValue {
        var reader = Reader(Array(text.utf8))
        reader.skipSpace()
        let v = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.atEnd else { throw .runtime("JSON has extra text after the value (byte \(reader.offset))") }
        return v
    }

    struct Options {
        var indent: String? = nil
        var itemSeparator = ", "
        var keySeparator = ": "
        var sortKeys = false
    }

    static func dumps(_ value: JinjaValue, _ options: Options) throws(JinjaError) -> String {
        var out = ""
        try write(value, options, level: 0, into: &out)
        return out
    }

    private static func write(_ value: JinjaValue, _ o: Options, level: Int, into out: inout String) throws(JinjaError) {
        func newline(_ l: Int) {
            guard let indent = o.indent else { return }
            out += "\n" + String(repeating: indent, count: l)
        }
        switch value {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .float(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" }
            else { out += PythonFormat.float(d) }
        case .string(let s): quote(s, into: &out)
        case .list(let a), .tuple(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += o.itemSeparator }
                newline(level + 1)
                try write(v, o, level: level + 1, into: &out)
            }
            newline(level)
            out += "]"
        case .dict(let d):
            if d.count == 0 { out += "{}"; return }
            out += "{"
            let keys = o.sortKeys ? d.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) } : d.keys
            for (i, k) in keys.enumerated() {
                if i > 0 { out += o.itemSeparator }
                newline(level + 1)
                quote(k, into: &out)
                out += o.keySeparator
                try write(d[k]!, o, level: level + 1, into: &out)
            }
            newline(level)
            out += "}"
        case .object(let ns as Namespace):
            try write(.dict(ns.values), o, level: level, into: &out)
        default:
            throw .runtime("Object of type \(value.typeName) is not JSON serializable")
        }
    }

    /// A JSON string as Python writes it with ensure_ascii=False.
    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    private struct Reader {
        let b: [UInt8]
        var offset = 0
        init(_ bytes: [UInt8]) { b = bytes }

        var atEnd: Bool { offset >= b.count }

        mutating func skipSpace() {
            while offset < b.count, b[offset] == 0x20 || b[offset] == 0x0A || b[offset] == 0x0D || b[offset] == 0x09 { offset += 1 }
        }

        func fail(_ what: String) -> JinjaError { .runtime("JSON: \(what) at byte \(offset)") }

        mutating func value(depth: Int) throws(JinjaError) -> JinjaValue {
            guard depth < 512 else { throw fail("nesting deeper than 512") }
            guard offset < b.count else { throw fail("unexpected end") }
            switch b[offset] {
            case UInt8(ascii: "{"):
                offset += 1
                var d = JinjaDict()
                skipSpace()
                if offset < b.count, b[offset] == UInt8(ascii: "}") { offset += 1; return .dict(d) }
                while true {
                    skipSpace()
                    guard offset < b.count, b[offset] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    let key = try string()
                    skipSpace()
                    guard offset < b.count, b[offset] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    offset += 1
                    skipSpace()
                    d[key] = try value(depth: depth + 1)
                    skipSpace()
                    guard offset < b.count else { throw fail("unexpected end") }
                    if b[offset] == UInt8(ascii: ",") { offset += 1; continue }
                    if b[offset] == UInt8(ascii: "}") { offset += 1; return .dict(d) }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                offset += 1
                var a: [JinjaValue] = []
                skipSpace()
                if offset < b.count, b[offset] == UInt8(ascii: "]") { offset += 1; return .list(a) }
                while true {
                    skipSpace()
                    a.append(try value(depth: depth + 1))
                    skipSpace()
                    guard offset < b.count else { throw fail("unexpected end") }
                    if b[offset] == UInt8(ascii: ",") { offset += 1; continue }
                    if b[offset] == UInt8(ascii: "]") { offset += 1; return .list(a) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .none)
            default:
                return try number()
            }
        }

        mutating func literal(_ word: String, _ v: JinjaValue) throws(JinjaError) -> JinjaValue {
            let w = Array(word.utf8)
            guard offset + w.count <= b.count, Array(b[offset..<(offset + w.count)]) == w else { throw fail("unexpected character") }
            offset += w.count
            return v
        }

        mutating func number() throws(JinjaError) -> JinjaValue {
            let start = offset
            var isFloat = false
            while offset < b.count {
                let c = b[offset]
                if (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { offset += 1 }
                else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { isFloat = true; offset += 1 }
                else { break }
            }
            let text = String(decoding: b[start..<offset], as: UTF8.self)
            if !isFloat, let i = Int(text) { return .int(i) }
            guard !text.isEmpty, let d = Double(text) else { throw fail("unexpected character") }
            return .float(d)
        }

        mutating func string() throws(JinjaError) -> String {
            offset += 1
            var bytes: [UInt8] = []
            while offset < b.count {
                let c = b[offset]
                offset += 1
                if c == UInt8(ascii: "\"") { return String(decoding: bytes, as: UTF8.self) }
                if c != UInt8(ascii: "\\") { bytes.append(c); continue }
                guard offset < b.count else { break }
                let e = b[offset]
                offset += 1
                switch e {
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), offset + 1 < b.count, b[offset] == UInt8(ascii: "\\"), b[offset + 1] == UInt8(ascii: "u") {
                        offset += 2
                        let low = try hex4()
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    bytes.append(contentsOf: Array(String(Unicode.Scalar(code) ?? "\u{FFFD}").utf8))
                default: bytes.append(e)
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws(JinjaError) -> UInt32 {
            guard offset + 4 <= b.count, let v = UInt32(String(decoding: b[offset..<(offset + 4)], as: UTF8.self), radix: 16) else {
                throw fail("bad \\u escape")
            }
            offset += 4
            return v
        }
    }
}
