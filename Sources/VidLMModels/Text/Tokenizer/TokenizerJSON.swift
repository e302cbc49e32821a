import Foundation

/// A parsed JSON value. The tokenizer files are read with this small parser rather than
/// JSONSerialization so that numbers and booleans never blur into each other and a bad file
/// always becomes a `TokenizerError`.
enum TokenizerJSON: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([TokenizerJSON])
    case object([TokenString: TokenizerJSON])

    static func parse(_ data: Data, file: String) throws(TokenizerError) -> TokenizerJSON {
        var parser = TokenizerJSONParser(bytes: [UInt8](data))
        do {
            parser.skipWhitespace()
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            if parser.index != parser.bytes.count { throw TokenizerJSONParser.Failure(offset: parser.index, what: "unexpected text after the JSON value") }
            return value
        } catch let failure as TokenizerJSONParser.Failure {
            throw TokenizerError.unreadable(file: file, reason: "is not valid JSON (\(failure.what) at byte \(failure.offset)).")
        } catch {
            throw TokenizerError.unreadable(file: file, reason: "is not valid JSON.")
        }
    }

    var isNull: Bool { if case .null = self { return true } else { return false } }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "true or false"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}

private struct TokenizerJSONParser {
    struct Failure: Error { let offset: Int; let what: String }

    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
        // A UTF-8 byte order mark is tolerated.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws -> TokenizerJSON {
        guard depth < 512 else { throw Failure(offset: index, what: "nesting too deep") }
        guard index < bytes.count else { throw Failure(offset: index, what: "unexpected end of file") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var object: [TokenString: TokenizerJSON] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw Failure(offset: index, what: "expected a key") }
                let key = try string()
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                object[TokenString(key)] = try value(depth: depth + 1)
                skipWhitespace()
                guard index < bytes.count else { throw Failure(offset: index, what: "unexpected end of file") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
                throw Failure(offset: index, what: "expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            index += 1
            var array: [TokenizerJSON] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(array) }
            while true {
                skipWhitespace()
                array.append(try value(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw Failure(offset: index, what: "unexpected end of file") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(array) }
                throw Failure(offset: index, what: "expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true"); return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null"); return .null
        default:
            return .number(try number())
        }
    }

    mutating func expect(_ byte: UInt8) throws {
        guard index < bytes.count, bytes[index] == byte else {
            throw Failure(offset: index, what: "expected '\(Character(Unicode.Scalar(byte)))'")
        }
        index += 1
    }

    mutating func literal(_ word: String) throws {
        for b in word.utf8 { try expect(b) }
    }

    mutating func number() throws -> Double {
        let start = index
        func digits() { while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 } }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let intStart = index
        digits()
        guard index > intStart else { throw Failure(offset: start, what: "unexpected character") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fracStart = index
            digits()
            guard index > fracStart else { throw Failure(offset: index, what: "bad number") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let expStart = index
            digits()
            guard index > expStart else { throw Failure(offset: index, what: "bad number") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let value = Double(text) else { throw Failure(offset: start, what: "bad number") }
        return value
    }

    mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw Failure(offset: index, what: "bad \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: throw Failure(offset: index, what: "bad \\u escape")
            }
            v = v * 16 + d
            index += 1
        }
        return v
    }

    mutating func string() throws -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: bytes[start..<index], as: UTF8.self)
                index += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw Failure(offset: index, what: "control character in a string") }
            index += 1
        }
        var out = [UInt8](bytes[start..<index])
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw Failure(offset: index, what: "control character in a string") }
            if b != UInt8(ascii: "\\") { out.append(b); index += 1; continue }
            index += 1
            guard index < bytes.count else { break }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), index + 6 <= bytes.count,
                   bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                    let save = index
                    index += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        index = save
                    }
                }
                // A lone surrogate cannot be a Swift scalar: it becomes U+FFFD.
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(scalar).utf8))
            default:
                throw Failure(offset: index - 1, what: "bad escape")
            }
        }
        throw Failure(offset: index, what: "unterminated string")
    }
}

/// Typed access to one JSON object with errors that name the key path ("'model.vocab' must be an object").
struct TokenizerJSONObject {
    let fields: [TokenString: TokenizerJSON]
    let path: String
    let file: String

    init(_ value: TokenizerJSON, path: String, file: String) throws(TokenizerError) {
        guard case .object(let fields) = value else {
            throw TokenizerError.invalid(file: file, message: path.isEmpty ? "the top level must be an object, not \(value.typeName)."
                                                                           : "'\(path)' must be an object, not \(value.typeName).")
        }
        self.fields = fields
        self.path = path
        self.file = file
    }

    func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    func has(_ name: String) -> Bool { fields[TokenString(name)] != nil }

    /// The raw value of a field (null included).
    func field(_ name: String) -> TokenizerJSON? { fields[TokenString(name)] }

    /// The value if present and not null.
    func value(_ name: String) -> TokenizerJSON? {
        guard let v = field(name), !v.isNull else { return nil }
        return v
    }

    func fail(_ name: String, _ expected: String) -> TokenizerError {
        if let v = field(name) {
            return .invalid(file: file, message: "'\(key(name))' must be \(expected), not \(v.typeName).")
        }
        return .invalid(file: file, message: "the required field '\(key(name))' is missing.")
    }

    func string(_ name: String) throws(TokenizerError) -> String {
        guard case .string(let s)? = field(name) else { throw fail(name, "a string") }
        return s
    }

    func optionalString(_ name: String) throws(TokenizerError) -> String? {
        guard let v = value(name) else { return nil }
        guard case .string(let s) = v else { throw fail(name, "a string") }
        return s
    }

    func bool(_ name: String, default def: Bool) throws(TokenizerError) -> Bool {
        guard let v = value(name) else { return def }
        guard case .bool(let b) = v else { throw fail(name, "true or false") }
        return b
    }

    func optionalBool(_ name: String) throws(TokenizerError) -> Bool? {
        guard let v = value(name) else { return nil }
        guard case .bool(let b) = v else { throw fail(name, "true or false") }
        return b
    }

    func int(_ name: String) throws(TokenizerError) -> Int {
        guard let v = value(name) else { throw fail(name, "a whole number") }
        return try TokenizerJSONObject.int(v, path: key(name), file: file)
    }

    func int(_ name: String, default def: Int) throws(TokenizerError) -> Int {
        guard let v = value(name) else { return def }
        return try TokenizerJSONObject.int(v, path: key(name), file: file)
    }

    func object(_ name: String) throws(TokenizerError) -> TokenizerJSONObject {
        guard let v = field(name) else { throw fail(name, "an object") }
        return try TokenizerJSONObject(v, path: key(name), file: file)
    }

    func optionalObject(_ name: String) throws(TokenizerError) -> TokenizerJSONObject? {
        guard let v = value(name) else { return nil }
        return try TokenizerJSONObject(v, path: key(name), file: file)
    }

    func array(_ name: String) throws(TokenizerError) -> [TokenizerJSON] {
        guard case .array(let a)? = field(name) else { throw fail(name, "a list") }
        return a
    }

    static func int(_ v: TokenizerJSON, path: String, file: String) throws(TokenizerError) -> Int {
        guard case .number(let d) = v, d.rounded() == d, abs(d) < 9.0e15 else {
            throw TokenizerError.invalid(file: file, message: "'\(path)' must be a whole number, not \(v.typeName == "a number" ? "a fraction or a huge number" : v.typeName).")
        }
        return Int(d)
    }

    static func string(_ v: TokenizerJSON, path: String, file: String) throws(TokenizerError) -> String {
        guard case .string(let s) = v else {
            throw TokenizerError.invalid(file: file, message: "'\(path)' must be a string, not \(v.typeName).")
        }
        return s
    }

    /// The component's "type" tag, or nil when the object has none.
    func typeTag() throws(TokenizerError) -> String? {
        try optionalString("type")
    }
}
