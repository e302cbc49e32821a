import Foundation

/// jinja2's builtin filters that chat templates use, with transformers' `tojson` (no HTML
/// escaping, `ensure_ascii=False`, `indent` / `separators` / `sort_keys`).
enum Filters {
    /// The filter named `name` applied to `v`, or nil when there is no such filter.
    static func apply(_ name: String, _ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue? {
        switch name {
        case "abs": return try abs(i, v, a)
        case "attr": return try attr(i, v, a)
        case "batch": return try batch(i, v, a)
        case "capitalize": return try capitalize(i, v, a)
        case "center": return try center(i, v, a)
        case "default", "d": return try defaultValue(i, v, a)
        case "dictsort": return try dictsort(i, v, a)
        case "escape", "e", "forceescape": return try escape(i, v, a)
        case "first": return try first(i, v, a)
        case "float": return try float(i, v, a)
        case "format": return try format(i, v, a)
        case "groupby": return try groupby(i, v, a)
        case "indent": return try indent(i, v, a)
        case "int": return try int(i, v, a)
        case "items": return try items(i, v, a)
        case "join": return try join(i, v, a)
        case "last": return try last(i, v, a)
        case "length", "count": return try length(i, v, a)
        case "list": return try list(i, v, a)
        case "lower": return try lower(i, v, a)
        case "map": return try map(i, v, a)
        case "max": return try extreme(i, v, a, max: true)
        case "min": return try extreme(i, v, a, max: false)
        case "pprint": return .string(v.pythonRepr)
        case "reject": return try select(i, v, a, keep: false)
        case "rejectattr": return try selectattr(i, v, a, keep: false)
        case "replace": return try replace(i, v, a)
        case "reverse": return try reverse(i, v, a)
        case "round": return try round(i, v, a)
        case "safe": return v
        case "select": return try select(i, v, a, keep: true)
        case "selectattr": return try selectattr(i, v, a, keep: true)
        case "sort": return try sort(i, v, a)
        case "string": return .string(v.pythonString)
        case "striptags": return try striptags(i, v, a)
        case "sum": return try sum(i, v, a)
        case "title": return try title(i, v, a)
        case "tojson": return try tojson(i, v, a)
        case "trim": return try trim(i, v, a)
        case "truncate": return try truncate(i, v, a)
        case "unique": return try unique(i, v, a)
        case "upper": return try upper(i, v, a)
        case "wordcount": return try wordcount(i, v, a)
        default: return nil
        }
    }

    /// Every filter name `apply` knows (for the `filter` test).
    static let names: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "default", "d", "dictsort", "escape", "e", "forceescape",
        "first", "float", "format", "groupby", "indent", "int", "items", "join", "last", "length", "count", "list", "lower",
        "map", "max", "min", "pprint", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
        "selectattr", "sort", "string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique",
        "upper", "wordcount",
    ]

    // MARK: Helpers

    private static func sequence(_ i: Interpreter, _ v: JinjaValue) throws(JinjaError) -> [JinjaValue] {
        try i.iterate(v).get(line: 0)
    }

    private static func text(_ v: JinjaValue) -> String { v.pythonString }

    /// `make_attrgetter`: `attribute` may be dotted (`a.b`) or an integer index.
    static func getter(_ attribute: JinjaValue?) -> (@Sendable (JinjaValue) throws(JinjaError) -> JinjaValue)? {
        guard let attribute else { return nil }
        let parts: [JinjaValue]
        if case .string(let s) = attribute {
            parts = s.split(separator: ".", omittingEmptySubsequences: false).map { p in Int(p).map { .int($0) } ?? .string(String(p)) }
        } else {
            parts = [attribute]
        }
        return { item throws(JinjaError) in
            var v = item
            for p in parts {
                if case .undefined(let u) = v { throw .runtime(u.hint) }
                v = try Access.item(v, p).get(line: 0)
            }
            return v
        }
    }

    private static func sortKey(_ v: JinjaValue, caseSensitive: Bool) -> JinjaValue {
        if !caseSensitive, case .string(let s) = v { return .string(PythonString.lower(s)) }
        return v
    }

    private static func sorted(_ items: [JinjaValue], key: (JinjaValue) throws(JinjaError) -> JinjaValue,
                               reverse: Bool) throws(JinjaError) -> [JinjaValue] {
        var keyed: [(JinjaValue, JinjaValue)] = []
        for v in items { keyed.append((try key(v), v)) }
        // Stable insertion sort keeps Python's stable order and surfaces TypeError.
        var out: [(JinjaValue, JinjaValue)] = []
        for pair in keyed {
            var at = out.count
            while at > 0 {
                guard let o = try Operators.ordering(out[at - 1].0, pair.0) else {
                    throw .runtime("'<' not supported between instances of '\(pair.0.typeName)' and '\(out[at - 1].0.typeName)'")
                }
                if reverse ? o >= 0 : o <= 0 { break }
                at -= 1
            }
            out.insert(pair, at: at)
        }
        return out.map(\.1)
    }

    // MARK: Filters

    static func abs(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        switch v {
        case .int(let n):
            guard n != .min else { throw .runtime("an integer result is too large") }
            return .int(Swift.abs(n))
        case .float(let d): return .float(Swift.abs(d))
        case .bool(let b): return .int(b ? 1 : 0)
        default: throw .runtime("bad operand type for abs(): '\(v.typeName)'")
        }
    }

    static func attr(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        guard case .string(let name)? = a.value(0, "name") else { throw .runtime("attr() needs an attribute name") }
        return try Access.attribute(v, name).get(line: 0)
    }

    static func batch(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        guard let n = a.value(0, "linecount")?.integer, n > 0 else { throw .runtime("batch() needs a positive line count") }
        let fill = a.value(1, "fill_with")
        var out: [JinjaValue] = [], row: [JinjaValue] = []
        for item in try sequence(i, v) {
            row.append(item)
            if row.count == n { out.append(.list(row)); row = [] }
        }
        if !row.isEmpty {
            if let fill, !fill.isUndefined { while row.count < n { row.append(fill) } }
            out.append(.list(row))
        }
        return .list(out)
    }

    static func capitalize(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        .string(PythonString.capitalize(text(v)))
    }

    static func center(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let s = text(v), width = a.value(0, "width")?.integer ?? 80
        guard width <= i.limits.size else { throw .runtime("center() width \(width) is too large") }
        let n = s.unicodeScalars.count
        guard width > n else { return .string(s) }
        let total = width - n
        // Python puts the extra space on the right when the text is even-length, else the left.
        let left = total / 2 + (total & width & 1)
        return .string(String(repeating: " ", count: left) + s + String(repeating: " ", count: total - left))
    }

    static func defaultValue(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let fallback = a.value(0, "default_value") ?? .string("")
        let boolean = a.value(1, "boolean")?.isTruthy ?? false
        if v.isUndefined || (boolean && !v.isTruthy) { return fallback }
        return v
    }

    static func dictsort(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        guard case .dict(let d) = v else { throw .runtime("dictsort needs a dict, not \(v.typeName)") }
        let caseSensitive = a.value(0, "case_sensitive")?.isTruthy ?? false
        let byValue: Bool
        switch a.value(1, "by") {
        case nil, .string("key")?: byValue = false
        case .string("value")?: byValue = true
        default: throw .runtime("You can only sort by either \"key\" or \"value\"")
        }
        let reverse = a.value(2, "reverse")?.isTruthy ?? false
        let pairs = d.pairs.map { JinjaValue.tuple([.string($0.0), $0.1]) }
        return .list(try sorted(pairs, key: { p throws(JinjaError) in
            sortKey(p.sequence![byValue ? 1 : 0], caseSensitive: caseSensitive)
        }, reverse: reverse))
    }

    static func escape(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        var out = ""
        for u in text(v).unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(u)
            }
        }
        return .string(out)
    }

    static func first(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        try sequence(i, v).first ?? .undefined("No first item, sequence was empty.")
    }

    static func last(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        try sequence(i, v).last ?? .undefined("No last item, sequence was empty.")
    }

    static func float(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let fallback = a.value(0, "default") ?? .float(0)
        switch v {
        case .float: return v
        case .int(let n): return .float(Double(n))
        case .bool(let b): return .float(b ? 1 : 0)
        case .string(let s):
            return Double(PythonString.strip(s, chars: nil, left: true, right: true).replacingOccurrences(of: "_", with: "")).map { .float($0) } ?? fallback
        default: return fallback
        }
    }

    static func format(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        .string(try Format.percent(text(v), .tuple(a.positional)))
    }

    /// `groupby(attribute)`: (grouper, items) pairs sorted by the attribute; the pairs answer
    /// `.grouper` and `.list` as jinja2's named tuples do.
    static func groupby(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        guard let get = getter(a.value(0, "attribute")) else { throw .runtime("groupby() needs an attribute") }
        let fallback = a.value(1, "default")
        let caseSensitive = a.value(2, "case_sensitive")?.isTruthy ?? false
        func key(_ item: JinjaValue) throws(JinjaError) -> JinjaValue {
            let k = try get(item)
            return k.isUndefined ? (fallback ?? k) : k
        }
        let ordered = try sorted(try sequence(i, v), key: { x throws(JinjaError) in sortKey(try key(x), caseSensitive: caseSensitive) }, reverse: false)
        var groups: [(JinjaValue, JinjaValue, [JinjaValue])] = []  // (sort key, shown key, items)
        for item in ordered {
            let k = sortKey(try key(item), caseSensitive: caseSensitive)
            if let last = groups.last, last.0.pythonEquals(k) {
                groups[groups.count - 1].2.append(item)
            } else {
                groups.append((k, try key(item), [item]))
            }
        }
        return .list(groups.map { .tuple([$0.1, .list($0.2)]) })
    }

    static func indent(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let indention: String
        switch a.value(0, "width") {
        case .string(let s)?: indention = s
        case let w?:
            let n = w.integer ?? 4
            guard n <= 10_000 else { throw .runtime("indent() width \(n) is too large") }
            indention = String(repeating: " ", count: Swift.max(0, n))
        case nil: indention = "    "
        }
        let firstLine = a.value(1, "first")?.isTruthy ?? false
        let blank = a.value(2, "blank")?.isTruthy ?? false
        let lines = PythonString.splitLines(text(v) + "\n")
        var out: String
        if blank {
            out = lines.joined(separator: "\n" + indention)
        } else {
            out = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty { out += "\n" + rest.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n") }
        }
        return .string(firstLine ? indention + out : out)
    }

    static func int(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let fallback = a.value(0, "default") ?? .int(0)
        switch v {
        case .int: return v
        case .bool(let b): return .int(b ? 1 : 0)
        case .float(let d):
            guard d.isFinite else { return fallback }
            guard let n = Int(exactly: d.rounded(.towardZero)) else { throw .runtime("\(PythonFormat.float(d)) does not fit a 64-bit integer") }
            return .int(n)
        case .string(let s):
            let t = PythonString.strip(s, chars: nil, left: true, right: true).replacingOccurrences(of: "_", with: "")
            let base = a.value(1, "base")?.integer ?? 10
            guard (2...36).contains(base) else { throw .runtime("int() base must be >= 2 and <= 36") }
            if let n = Int(t, radix: base) { return .int(n) }
            if let d = Double(t), let n = Int(exactly: d.rounded(.towardZero)) { return .int(n) }
            return fallback
        default: return fallback
        }
    }

    static func items(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        switch v {
        case .undefined: return .list([])
        case .dict(let d): return .list(d.pairs.map { .tuple([.string($0.0), $0.1]) })
        default: throw .runtime("Can only get item pairs from a mapping.")
        }
    }

    static func join(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let separator = a.value(0, "d")?.pythonString ?? ""
        var items = try sequence(i, v)
        if let get = getter(a.value(1, "attribute")) {
            var mapped: [JinjaValue] = []
            for item in items { mapped.append(try get(item)) }
            items = mapped
        }
        return .string(items.map(\.pythonString).joined(separator: separator))
    }

    static func length(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        switch v {
        case .string(let s): return .int(s.unicodeScalars.count)
        case .list(let x), .tuple(let x): return .int(x.count)
        case .dict(let d): return .int(d.count)
        case .undefined: return .int(0)
        case .object(let ns as Namespace): return .int(ns.values.count)
        default: throw .runtime("object of type '\(v.typeName)' has no len()")
        }
    }

    static func list(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        .list(try sequence(i, v))
    }

    static func lower(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        .string(PythonString.lower(text(v)))
    }

    static func upper(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        .string(PythonString.upper(text(v)))
    }

    static func map(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let items = try sequence(i, v)
        var out: [JinjaValue] = []
        if let attribute = a.keyword.first(where: { $0.0 == "attribute" })?.1, let get = getter(attribute) {
            let fallback = a.keyword.first { $0.0 == "default" }?.1
            for item in items {
                let r = try get(item)
                out.append(r.isUndefined ? (fallback ?? r) : r)
            }
            return .list(out)
        }
        guard case .string(let name)? = a.positional.first else { throw .runtime("map() needs a filter name or attribute=") }
        guard Filters.names.contains(name) else { throw .runtime("no filter named '\(name)'") }
        let rest = JinjaArguments(Array(a.positional.dropFirst()), keyword: a.keyword)
        for item in items { out.append(try apply(name, i, item, rest) ?? item) }
        return .list(out)
    }

    private static func extreme(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments, max: Bool) throws(JinjaError) -> JinjaValue {
        let caseSensitive = a.value(0, "case_sensitive")?.isTruthy ?? false
        let get = getter(a.value(1, "attribute"))
        let items = try sequence(i, v)
        guard !items.isEmpty else { return .undefined("No aggregated item, sequence was empty.") }
        let ordered = try sorted(items, key: { x throws(JinjaError) in sortKey(try get?(x) ?? x, caseSensitive: caseSensitive) }, reverse: false)
        return max ? ordered.last! : ordered.first!
    }

    static func replace(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        guard let old = a.value(0, "old"), let new = a.value(1, "new") else { throw .runtime("replace() needs old and new") }
        let count = a.value(2, "count").flatMap { $0.integer } ?? -1
        return .string(PythonString.replace(text(v), old.pythonString, new.pythonString, count: count))
    }

    static func reverse(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        if case .string(let s) = v { return .string(PythonString.string(s.unicodeScalars.reversed())) }
        return .list(try sequence(i, v).reversed())
    }

    /// Python's `round(x, n)` for `common` (correctly rounded, ties to even: 2.5 → 2.0, 2.675 →
    /// 2.67; an int stays an int), `floor` / `ceil` scaled by 10ⁿ (always a float).
    static func round(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        guard let x = v.number else { throw .runtime("round() needs a number, not \(v.typeName)") }
        let precision = a.value(0, "precision")?.integer ?? 0
        let scale = pow(10.0, Double(precision))
        switch a.value(1, "method") {
        case nil, .string("common")?:
            if let n = v.integer, precision >= 0 { return .int(n) }
            guard x.isFinite else { return .float(x) }
            if precision >= 0 {
                // printf rounds the exact binary value to nearest, ties to even, as Python does.
                return .float(Double(String(format: "%.\(min(precision, 340))f", x)) ?? x)
            }
            return .float((x / pow(10, Double(-precision))).rounded(.toNearestOrEven) * pow(10, Double(-precision)))
        case .string("ceil")?: return .float((x * scale).rounded(.up) / scale)
        case .string("floor")?: return .float((x * scale).rounded(.down) / scale)
        default: throw .runtime("method must be common, ceil or floor")
        }
    }

    /// `select` / `reject`: items passing a test (or truthy without one).
    static func select(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments, keep: Bool) throws(JinjaError) -> JinjaValue {
        var out: [JinjaValue] = []
        let testName: String?
        if case .string(let n)? = a.positional.first { testName = n } else { testName = nil }
        let rest = JinjaArguments(Array(a.positional.dropFirst()), keyword: a.keyword)
        for item in try sequence(i, v) {
            let pass = try testName.map { n throws(JinjaError) in try i.applyTest(n, item, rest, line: 0) } ?? item.isTruthy
            if pass == keep { out.append(item) }
        }
        return .list(out)
    }

    /// `selectattr('role', 'equalto', 'user')` / `rejectattr(...)`.
    static func selectattr(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments, keep: Bool) throws(JinjaError) -> JinjaValue {
        guard let get = getter(a.positional.first) else { throw .runtime("selectattr() needs an attribute name") }
        let testName: String?
        if a.positional.count > 1, case .string(let n) = a.positional[1] { testName = n } else { testName = nil }
        let rest = JinjaArguments(Array(a.positional.dropFirst(2)), keyword: a.keyword)
        var out: [JinjaValue] = []
        for item in try sequence(i, v) {
            let value = try get(item)
            let pass = try testName.map { n throws(JinjaError) in try i.applyTest(n, value, rest, line: 0) } ?? value.isTruthy
            if pass == keep { out.append(item) }
        }
        return .list(out)
    }

    static func sort(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let reverse = a.value(0, "reverse")?.isTruthy ?? false
        let caseSensitive = a.value(1, "case_sensitive")?.isTruthy ?? false
        let get = getter(a.value(2, "attribute"))
        return .list(try sorted(try sequence(i, v), key: { x throws(JinjaError) in
            sortKey(try get?(x) ?? x, caseSensitive: caseSensitive)
        }, reverse: reverse))
    }

    static func striptags(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        var out = "", inTag = false
        for c in text(v) {
            if c == "<" { inTag = true } else if c == ">" && inTag { inTag = false } else if !inTag { out.append(c) }
        }
        return .string(PythonString.splitWhitespace(out).joined(separator: " "))
    }

    static func sum(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let get = getter(a.value(0, "attribute"))
        var total = a.value(1, "start") ?? .int(0)
        for item in try sequence(i, v) {
            total = try Operators.binary("+", total, try get?(item) ?? item, limit: i.limits.size)
        }
        return total
    }

    /// jinja's `title`: words split at whitespace, `-`, and opening brackets.
    static func title(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        var out = "", atWordStart = true
        for u in text(v).unicodeScalars {
            if Lexer.isSpace(u) || "-({[<".unicodeScalars.contains(u) {
                out.unicodeScalars.append(u)
                atWordStart = true
            } else {
                out += atWordStart ? u.properties.uppercaseMapping : u.properties.lowercaseMapping
                atWordStart = false
            }
        }
        return .string(out)
    }

    static func tojson(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        try a.check("tojson", names: ["ensure_ascii", "indent", "separators", "sort_keys"])
        var options = JinjaJSON.Options()
        switch a.value(1, "indent") {
        case nil, .none?: break
        case .string(let s)?: options.indent = s
        case let n?:
            guard let k = n.integer else { throw .runtime("indent must be an integer or a string") }
            guard k <= 10_000 else { throw .runtime("tojson indent \(k) is too large") }
            options.indent = String(repeating: " ", count: Swift.max(0, k))
        }
        if options.indent != nil { options.itemSeparator = "," }
        switch a.value(2, "separators") {
        case nil, .none?: break
        case let given?:
            guard let seps = given.sequence, seps.count == 2, case .string(let item) = seps[0], case .string(let key) = seps[1] else {
                throw .runtime("separators must be a pair of strings")
            }
            options.itemSeparator = item
            options.keySeparator = key
        }
        options.sortKeys = a.value(3, "sort_keys")?.isTruthy ?? false
        if a.value(0, "ensure_ascii")?.isTruthy == true {
            throw .runtime("tojson(ensure_ascii=True) is not supported")
        }
        return .string(try JinjaJSON.dumps(v, options))
    }

    static func trim(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        var chars: String? = nil
        if case .string(let c)? = a.value(0, "chars") { chars = c }
        return .string(PythonString.strip(text(v), chars: chars, left: true, right: true))
    }

    static func truncate(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let s = PythonString.scalars(text(v))
        let length = a.value(0, "length")?.integer ?? 255
        let killwords = a.value(1, "killwords")?.isTruthy ?? false
        let end = a.value(2, "end")?.pythonString ?? "..."
        let leeway = a.value(3, "leeway")?.integer ?? 5
        if length >= s.count || s.count - length <= leeway { return .string(text(v)) }
        let keep = Swift.max(0, length - end.unicodeScalars.count)
        if killwords { return .string(PythonString.string(s.prefix(keep)) + end) }
        var cut = PythonString.string(s.prefix(keep))
        if let space = cut.lastIndex(of: " ") { cut = String(cut[..<space]) }
        return .string(cut + end)
    }

    static func unique(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        let caseSensitive = a.value(0, "case_sensitive")?.isTruthy ?? false
        let get = getter(a.value(1, "attribute"))
        var seen: [JinjaValue] = [], out: [JinjaValue] = []
        for item in try sequence(i, v) {
            let key = sortKey(try get?(item) ?? item, caseSensitive: caseSensitive)
            if !seen.contains(where: { $0.pythonEquals(key) }) {
                seen.append(key)
                out.append(item)
            }
        }
        return .list(out)
    }

    static func wordcount(_ i: Interpreter, _ v: JinjaValue, _ a: JinjaArguments) throws(JinjaError) -> JinjaValue {
        var count = 0, inWord = false
        for u in text(v).unicodeScalars {
            let word = u == "_" || u.properties.isAlphabetic || u.properties.numericType != nil
            if word && !inWord { count += 1 }
            inWord = word
        }
        return .int(count)
    }
}
