/// A value inside a template: the Python objects a chat template sees (str, int, float, bool,
/// None, list, tuple, dict), plus Jinja's undefined, callables and attribute objects (`loop`,
/// `namespace()`). Semantics follow Python where templates can observe them: truthiness,
/// equality across int/float/bool, `str()` and `repr()` formatting, dict insertion order.
public enum JinjaValue: Sendable {
    case undefined(JinjaUndefined)
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case list([JinjaValue])
    case tuple([JinjaValue])
    case dict(JinjaDict)
    case callable(JinjaCallable)
    case object(any JinjaObject)

    /// A plain undefined value (a missing variable), printed as the empty string.
    public static func undefined(_ hint: String) -> JinjaValue { .undefined(JinjaUndefined(hint: hint)) }
}

/// Jinja's default `Undefined`: empty when printed or iterated, false when tested, an error when
/// an attribute, item, arithmetic or call is taken from it (the hint says what was missing).
public struct JinjaUndefined: Sendable {
    /// "'foo' is undefined" or "'dict object' has no attribute 'bar'".
    public let hint: String
    /// An access the sandbox refused (`list.append`): calling it is a security error, not undefined.
    public var unsafe = false
}

/// A dict with string keys that keeps insertion order, as Python's does (tojson and `items()`
/// print keys in the order the conversation gave them).
public struct JinjaDict: Sendable {
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    public init() {}

    public init(_ pairs: [(String, JinjaValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var count: Int { keys.count }
    public var pairs: [(String, JinjaValue)] { keys.map { ($0, storage[$0]!) } }
    public var values: [JinjaValue] { keys.map { storage[$0]! } }
}

/// Something with attributes that is not a dict: `loop`, `namespace(...)`, a macro's `caller`.
public protocol JinjaObject: AnyObject, Sendable {
    /// The Python type name used in messages ("namespace", "LoopContext").
    var typeName: String { get }
    func attribute(_ name: String) -> JinjaValue?
    /// Assignment through `{% set ns.attr = … %}`; false where the object refuses it.
    func setAttribute(_ name: String, _ value: JinjaValue) -> Bool
}

/// A function a template can call: globals (`range`, `raise_exception`), bound methods
/// (`"a b".split()`), macros. Arguments arrive already evaluated.
public struct JinjaCallable: Sendable {
    public let name: String
    let body: @Sendable (JinjaArguments) throws(JinjaError) -> JinjaValue

    public init(name: String, _ body: @escaping @Sendable (JinjaArguments) throws(JinjaError) -> JinjaValue) {
        self.name = name
        self.body = body
    }
}

/// Positional and keyword arguments of a call.
public struct JinjaArguments: Sendable {
    public var positional: [JinjaValue]
    public var keyword: [(String, JinjaValue)]

    public init(_ positional: [JinjaValue] = [], keyword: [(String, JinjaValue)] = []) {
        self.positional = positional
        self.keyword = keyword
    }

    /// The argument at `index` or named `name`, in Python's binding order.
    public func value(_ index: Int, _ name: String) -> JinjaValue? {
        if index < positional.count { return positional[index] }
        return keyword.first { $0.0 == name }?.1
    }

    /// Fails on more positional arguments or other keyword names than a function takes.
    public func check(_ function: String, names: [String]) throws(JinjaError) {
        if positional.count > names.count {
            throw .runtime("\(function)() takes at most \(names.count) argument\(names.count == 1 ? "" : "s") (\(positional.count) given)")
        }
        for (k, _) in keyword where !names.contains(k) {
            throw .runtime("\(function)() got an unexpected keyword argument '\(k)'")
        }
    }
}

// MARK: - Python semantics

extension JinjaValue {
    /// Python's `bool(x)`.
    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .float(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let a), .tuple(let a): return !a.isEmpty
        case .dict(let d): return d.count > 0
        case .callable, .object: return true
        }
    }

    public var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    /// The elements when the value is a list or tuple.
    var sequence: [JinjaValue]? {
        switch self {
        case .list(let a), .tuple(let a): return a
        default: return nil
        }
    }

    /// A number as Double (bool counts as 0/1, as in Python).
    var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .float(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// An integer (bool counts as 0/1).
    var integer: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// Python's type name, as its error messages print it.
    public var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .callable: return "function"
        case .object(let o): return o.typeName
        }
    }

    /// Python's `str(x)`: what `{{ x }}` prints.
    public var pythonString: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return pythonRepr
        }
    }

    /// Python's `repr(x)`: how values print inside lists and dicts.
    public var pythonRepr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .float(let d): return PythonFormat.float(d)
        case .string(let s): return PythonFormat.repr(s)
        case .list(let a): return "[" + a.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .tuple(let a): return "(" + a.map(\.pythonRepr).joined(separator: ", ") + (a.count == 1 ? ",)" : ")")
        case .dict(let d):
            return "{" + d.pairs.map { PythonFormat.repr($0.0) + ": " + $0.1.pythonRepr }.joined(separator: ", ") + "}"
        case .callable(let f): return "<function \(f.name)>"
        case .object(let o): return "<\(o.typeName) object>"
        }
    }

    /// Python's `==` (1 == 1.0 == True; list and dict compare by contents).
    public func pythonEquals(_ other: JinjaValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1) }
        case (.dict(let a), .dict(let b)):
            return a.count == b.count && a.pairs.allSatisfy { k, v in b[k].map { v.pythonEquals($0) } ?? false }
        case (.object(let a), .object(let b)): return a === b
        default:
            if let x = integer, let y = other.integer { return x == y }
            if let x = number, let y = other.number { return x == y }
            return false
        }
    }
}

/// Python's formatting of floats and strings.
enum PythonFormat {
    /// `repr(float)`: the shortest round-tripping digits, exponent form below 1e-4 and from 1e16.
    static func float(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description gives the same shortest digits; only the layout differs.
        let swift = "\(d)"
        var mantissa = swift, exponent = 0
        if let e = swift.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = String(swift[..<e])
            exponent = Int(swift[swift.index(after: e)...]) ?? 0
        }
        let negative = mantissa.hasPrefix("-")
        if negative { mantissa.removeFirst() }
        var digits = mantissa.replacingOccurrences(of: ".", with: "")
        let pointAt = (mantissa.firstIndex(of: ".").map { mantissa.distance(from: mantissa.startIndex, to: $0) } ?? mantissa.count) + exponent
        // Normalise to digits d1d2… with the decimal exponent of d1.
        let leadingZeros = digits.prefix { $0 == "0" }.count
        digits.removeFirst(leadingZeros)
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        let exp10 = pointAt - leadingZeros - 1
        var out: String
        if exp10 < -4 || exp10 >= 16 {
            let first = digits.prefix(1), rest = digits.dropFirst()
            out = String(first) + (rest.isEmpty ? "" : "." + rest)
            out += "e" + (exp10 < 0 ? "-" : "+") + (abs(exp10) < 10 ? "0" : "") + String(abs(exp10))
        } else if exp10 < 0 {
            out = "0." + String(repeating: "0", count: -exp10 - 1) + digits
        } else if digits.count <= exp10 + 1 {
            out = digits + String(repeating: "0", count: exp10 + 1 - digits.count) + ".0"
        } else {
            let i = digits.index(digits.startIndex, offsetBy: exp10 + 1)
            out = String(digits[..<i]) + "." + String(digits[i...])
        }
        return negative ? "-" + out : out
    }

    /// `repr(str)`: single quotes unless the text has ' and no ", Python's escapes.
    static func repr(_ s: String) -> String {
        let quote: Character = (s.contains("'") && !s.contains("\"")) ? "\"" : "'"
        var out = String(quote)
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(u) == quote { out += "\\" + String(quote) }
                else if !isPrintable(u) { out += escape(u) }
                else { out.unicodeScalars.append(u) }
            }
        }
        out.append(quote)
        return out
    }

    private static func escape(_ u: Unicode.Scalar) -> String {
        let v = u.value
        func hex(_ n: UInt32, _ width: Int) -> String {
            let h = String(n, radix: 16)
            return String(repeating: "0", count: max(0, width - h.count)) + h
        }
        if v < 0x100 { return "\\x" + hex(v, 2) }
        if v < 0x10000 { return "\\u" + hex(v, 4) }
        return "\\U" + hex(v, 8)
    }

    /// Python's `str.isprintable` for one character: not a control, format, separator (other
    /// than space), surrogate, private-use or unassigned code point.
    private static func isPrintable(_ u: Unicode.Scalar) -> Bool {
        if u == " " { return true }
        switch u.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
             .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }
}
