import Foundation

/// Python's arithmetic and comparison operators on template values.
enum Operators {
    private static func undefinedOperand(_ a: JinjaValue, _ b: JinjaValue) -> JinjaError? {
        if case .undefined(let u) = a { return .runtime(u.hint) }
        if case .undefined(let u) = b { return .runtime(u.hint) }
        return nil
    }

    private static func unsupported(_ op: String, _ a: JinjaValue, _ b: JinjaValue) -> JinjaError {
        if op == "+", case .string = a {
            return .runtime("can only concatenate str (not \"\(b.typeName)\") to str")
        }
        return .runtime("unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
    }

    static func unary(_ op: String, _ v: JinjaValue) throws(JinjaError) -> JinjaValue {
        if case .undefined(let u) = v { throw .runtime(u.hint) }
        switch (op, v) {
        case ("-", .float(let d)): return .float(-d)
        case ("+", .float(let d)): return .float(d)
        case ("-", _):
            guard let i = v.integer else { throw .runtime("bad operand type for unary -: '\(v.typeName)'") }
            let r = 0.subtractingReportingOverflow(i)
            if r.overflow { throw .runtime("an integer result is too large") }
            return .int(r.partialValue)
        default:
            guard let i = v.integer else { throw .runtime("bad operand type for unary +: '\(v.typeName)'") }
            return .int(i)
        }
    }

    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue, limit: Int) throws(JinjaError) -> JinjaValue {
        if let e = undefinedOperand(a, b) { throw e }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)):
            return .string(x + y)
        case ("+", .list(let x), .list(let y)):
            return .list(x + y)
        case ("+", .tuple(let x), .tuple(let y)):
            return .tuple(x + y)
        case ("*", .string(let s), _), ("*", _, .string(let s)):
            guard let n = (a.integer ?? b.integer) else { throw unsupported(op, a, b) }
            let size = s.utf8.count.multipliedReportingOverflow(by: Swift.max(n, 0))
            guard !size.overflow, size.partialValue <= limit else { throw .runtime("a string grew past \(limit) bytes") }
            return .string(n > 0 ? String(repeating: s, count: n) : "")
        case ("*", .list(let x), _), ("*", _, .list(let x)):
            guard let n = (a.integer ?? b.integer) else { throw unsupported(op, a, b) }
            let size = x.count.multipliedReportingOverflow(by: Swift.max(n, 0))
            guard !size.overflow, size.partialValue <= limit else { throw .runtime("a list grew past \(limit) items") }
            return .list(n > 0 ? Array([[JinjaValue]](repeating: x, count: n).joined()) : [])
        case ("%", .string(let s), _):
            return .string(try Format.percent(s, b))
        default:
            break
        }
        if let x = a.integer, let y = b.integer { return try integer(op, x, y, a, b) }
        guard let x = a.number, let y = b.number else { throw unsupported(op, a, b) }
        switch op {
        case "+": return .float(x + y)
        case "-": return .float(x - y)
        case "*": return .float(x * y)
        case "/":
            guard y != 0 else { throw .runtime("float division by zero") }
            return .float(x / y)
        case "//":
            guard y != 0 else { throw .runtime("float floor division by zero") }
            return .float((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw .runtime("float modulo") }
            let r = x.truncatingRemainder(dividingBy: y)
            return .float(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case "**": return .float(pow(x, y))
        default: throw unsupported(op, a, b)
        }
    }

    private static func integer(_ op: String, _ x: Int, _ y: Int, _ a: JinjaValue, _ b: JinjaValue) throws(JinjaError) -> JinjaValue {
        func checked(_ r: (partialValue: Int, overflow: Bool)) throws(JinjaError) -> JinjaValue {
            if r.overflow { throw .runtime("an integer result is too large") }
            return .int(r.partialValue)
        }
        switch op {
        case "+": return try checked(x.addingReportingOverflow(y))
        case "-": return try checked(x.subtractingReportingOverflow(y))
        case "*": return try checked(x.multipliedReportingOverflow(by: y))
        case "/":
            guard y != 0 else { throw .runtime("division by zero") }
            return .float(Double(x) / Double(y))
        case "//", "%":
            guard y != 0 else { throw .runtime(op == "%" ? "integer modulo by zero" : "integer division or modulo by zero") }
            let qr = x.dividedReportingOverflow(by: y)
            if qr.overflow { throw .runtime("an integer result is too large") }
            var q = qr.partialValue, r = x - q * y
            if r != 0 && (r < 0) != (y < 0) { q -= 1; r += y }
            return .int(op == "//" ? q : r)
        case "**":
            if y < 0 { return .float(pow(Double(x), Double(y))) }
            var result = 1, base = x, e = y
            while e > 0 {
                if e & 1 == 1 {
                    let r = result.multipliedReportingOverflow(by: base)
                    if r.overflow { throw .runtime("an integer result is too large") }
                    result = r.partialValue
                }
                e >>= 1
                if e > 0 {
                    let r = base.multipliedReportingOverflow(by: base)
                    if r.overflow { throw .runtime("an integer result is too large") }
                    base = r.partialValue
                }
            }
            return .int(result)
        default:
            throw unsupported(op, a, b)
        }
    }

    static func compare(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws(JinjaError) -> Bool {
        switch op {
        case "==": return a.pythonEquals(b)
        case "!=": return !a.pythonEquals(b)
        case "in": return try contains(b, a)
        case "not in": return try !contains(b, a)
        default:
            if let e = undefinedOperand(a, b) { throw e }
            guard let order = try ordering(a, b) else {
                throw .runtime("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
            }
            switch op {
            case "<": return order < 0
            case "<=": return order <= 0
            case ">": return order > 0
            default: return order >= 0
            }
        }
    }

    /// -1, 0 or 1 where Python orders the pair; nil where it raises TypeError.
    static func ordering(_ a: JinjaValue, _ b: JinjaValue) throws(JinjaError) -> Int? {
        switch (a, b) {
        case (.string(let x), .string(let y)):
            let xs = Array(x.unicodeScalars), ys = Array(y.unicodeScalars)
            for (p, q) in zip(xs, ys) where p != q { return p.value < q.value ? -1 : 1 }
            return xs.count == ys.count ? 0 : (xs.count < ys.count ? -1 : 1)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where !p.pythonEquals(q) {
                guard let o = try ordering(p, q) else { return nil }
                return o
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            if let x = a.integer, let y = b.integer { return x == y ? 0 : (x < y ? -1 : 1) }
            if let x = a.number, let y = b.number { return x == y ? 0 : (x < y ? -1 : 1) }
            return nil
        }
    }

    /// Python's `needle in container`.
    static func contains(_ container: JinjaValue, _ needle: JinjaValue) throws(JinjaError) -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else {
                throw .runtime("'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return n.isEmpty || PythonString.find(s, n, fromEnd: false) >= 0
        case .list(let a), .tuple(let a):
            return a.contains { $0.pythonEquals(needle) }
        case .dict(let d):
            if case .string(let k) = needle { return d[k] != nil }
            return false
        case .undefined:
            return false
        case .object(let o as Namespace):
            if case .string(let k) = needle { return o.values[k] != nil }
            return false
        default:
            throw .runtime("argument of type '\(container.typeName)' is not iterable")
        }
    }
}

/// Python's string formatting: `"%s" % x` and `"{}".format(x)` (the common conversions).
enum Format {
    static func percent(_ format: String, _ values: JinjaValue) throws(JinjaError) -> String {
        var args: [JinjaValue]
        if case .tuple(let t) = values { args = t } else { args = [values] }
        var out = ""
        let s = Array(format.unicodeScalars)
        var i = 0
        while i < s.count {
            guard s[i] == "%" else { out.unicodeScalars.append(s[i]); i += 1; continue }
            i += 1
            // %[flags][width][.precision]conversion
            var flags = ""
            while i < s.count, "-+ 0#".unicodeScalars.contains(s[i]) { flags.unicodeScalars.append(s[i]); i += 1 }
            var width = ""
            while i < s.count, ("0"..."9").contains(s[i]) { width.unicodeScalars.append(s[i]); i += 1 }
            // Python would pad to any width; a bound keeps a hostile format from exhausting memory.
            guard width.count <= 4 else { throw .runtime("a format width above 9999 is not supported") }
            var precision: String? = nil
            if i < s.count, s[i] == "." {
                i += 1
                var p = ""
                while i < s.count, ("0"..."9").contains(s[i]) { p.unicodeScalars.append(s[i]); i += 1 }
                precision = p.isEmpty ? "0" : p
                guard p.count <= 3 else { throw .runtime("a format precision above 999 is not supported") }
            }
            guard i < s.count else { throw .runtime("incomplete format") }
            let conversion = s[i]
            i += 1
            if conversion == "%" { out += "%"; continue }
            guard !args.isEmpty else { throw .runtime("not enough arguments for format string") }
            let v = args.removeFirst()
            let spec = "%" + flags + width + (precision.map { "." + $0 } ?? "")
            switch conversion {
            case "s", "r":
                var text = conversion == "s" ? v.pythonString : v.pythonRepr
                if let p = precision.flatMap({ Int($0) }) { text = PythonString.string(text.unicodeScalars.prefix(p)) }
                let pad = max(0, (Int(width) ?? 0) - text.unicodeScalars.count)
                out += flags.contains("-") ? text + String(repeating: " ", count: pad) : String(repeating: " ", count: pad) + text
            case "d", "i", "x", "X", "o":
                guard let n = v.number, n.isFinite else { throw .runtime("%\(conversion) format: a real number is required, not \(v.typeName)") }
                guard let whole = v.integer ?? Int(exactly: n.rounded(.towardZero)) else {
                    throw .runtime("\(v.pythonRepr) does not fit a 64-bit integer")
                }
                let c = conversion == "i" ? "d" : String(conversion)
                out += String(format: spec + "ll" + c, Int64(whole))
            case "f", "F", "e", "E", "g", "G":
                guard let n = v.number else { throw .runtime("must be real number, not \(v.typeName)") }
                out += String(format: spec + String(conversion), n)
            case "c":
                if case .string(let ch) = v, ch.unicodeScalars.count == 1 { out += ch }
                else if let n = v.integer, let u = Unicode.Scalar(UInt32(clamping: n)) { out.unicodeScalars.append(u) }
                else { throw .runtime("%c requires an int or a unicode character") }
            default:
                throw .runtime("unsupported format character '\(conversion)'")
            }
        }
        if !args.isEmpty, case .tuple = values { throw .runtime("not all arguments converted during string formatting") }
        return out
    }

    /// `str.format`: `{}`, `{0}` and `{name}` fields, `{{` / `}}` escapes.
    static func braces(_ format: String, _ args: JinjaArguments) throws(JinjaError) -> String {
        var out = ""
        let s = Array(format.unicodeScalars)
        var i = 0, auto = 0
        while i < s.count {
            if s[i] == "{" {
                if i + 1 < s.count, s[i + 1] == "{" { out += "{"; i += 2; continue }
                guard let close = s[i...].firstIndex(of: "}") else { throw .runtime("Single '{' encountered in format string") }
                let field = PythonString.string(s[(i + 1)..<close])
                let v: JinjaValue?
                if field.isEmpty { v = args.positional.count > auto ? args.positional[auto] : nil; auto += 1 }
                else if let n = Int(field) { v = n < args.positional.count ? args.positional[n] : nil }
                else { v = args.keyword.first { $0.0 == field }?.1 }
                guard let v else { throw .runtime("format() has no value for field '{\(field)}'") }
                out += v.pythonString
                i = close + 1
            } else if s[i] == "}" {
                guard i + 1 < s.count, s[i + 1] == "}" else { throw .runtime("Single '}' encountered in format string") }
                out += "}"
                i += 2
            } else {
                out.unicodeScalars.append(s[i])
                i += 1
            }
        }
        return out
    }
}
