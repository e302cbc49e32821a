/// jinja2's builtin tests (`x is defined`, `x is string`, `n is divisibleby 3`, …).
enum Predicates {
    typealias Function = @Sendable (Interpreter, JinjaValue, JinjaArguments) throws(JinjaError) -> Bool

    private static func argument(_ a: JinjaArguments, _ test: String) throws(JinjaError) -> JinjaValue {
        guard let v = a.positional.first ?? a.keyword.first?.1 else { throw .runtime("the '\(test)' test needs an argument") }
        return v
    }

    private static func compare(_ op: String) -> Function {
        { _, v, a throws(JinjaError) in try Operators.compare(op, v, try argument(a, op)) }
    }

    static let table: [String: Function] = [
        "defined": { _, v, _ in !v.isUndefined },
        "undefined": { _, v, _ in v.isUndefined },
        "none": { _, v, _ in if case .none = v { return true } else { return false } },
        "boolean": { _, v, _ in if case .bool = v { return true } else { return false } },
        "true": { _, v, _ in if case .bool(true) = v { return true } else { return false } },
        "false": { _, v, _ in if case .bool(false) = v { return true } else { return false } },
        "integer": { _, v, _ in if case .int = v { return true } else { return false } },
        "float": { _, v, _ in if case .float = v { return true } else { return false } },
        "number": { _, v, _ in v.number != nil },
        "string": { _, v, _ in if case .string = v { return true } else { return false } },
        "mapping": { _, v, _ in if case .dict = v { return true } else { return false } },
        "iterable": { _, v, _ in
            switch v {
            case .list, .tuple, .dict, .string, .undefined: return true
            default: return false
            }
        },
        "sequence": { _, v, _ in
            switch v {
            case .list, .tuple, .dict, .string: return true
            default: return false
            }
        },
        "callable": { _, v, _ in
            switch v {
            case .callable: return true
            case .object(let o as LoopContext): return o.recurse != nil
            default: return false
            }
        },
        "odd": { _, v, _ throws(JinjaError) in
            guard let n = v.integer else { throw .runtime("the 'odd' test needs an integer, not \(v.typeName)") }
            return n % 2 != 0
        },
        "even": { _, v, _ throws(JinjaError) in
            guard let n = v.integer else { throw .runtime("the 'even' test needs an integer, not \(v.typeName)") }
            return n % 2 == 0
        },
        "divisibleby": { _, v, a throws(JinjaError) in
            guard let n = v.integer, let d = try argument(a, "divisibleby").integer else {
                throw .runtime("the 'divisibleby' test needs integers")
            }
            guard d != 0 else { throw .runtime("integer division or modulo by zero") }
            return n.remainderReportingOverflow(dividingBy: d).partialValue == 0
        },
        "eq": compare("=="), "equalto": compare("=="), "==": compare("=="),
        "ne": compare("!="), "!=": compare("!="),
        "lt": compare("<"), "lessthan": compare("<"), "<": compare("<"),
        "le": compare("<="), "<=": compare("<="),
        "gt": compare(">"), "greaterthan": compare(">"), ">": compare(">"),
        "ge": compare(">="), ">=": compare(">="),
        "in": { _, v, a throws(JinjaError) in try Operators.contains(try argument(a, "in"), v) },
        "sameas": { _, v, a throws(JinjaError) in
            let other = try argument(a, "sameas")
            switch (v, other) {
            case (.none, .none): return true
            case (.bool(let x), .bool(let y)): return x == y
            case (.object(let x), .object(let y)): return x === y
            case (.int(let x), .int(let y)): return x == y && (-5...256).contains(x)
            default: return false
            }
        },
        "lower": { _, v, _ in if case .string(let s) = v { return hasCase(s, upper: false) } else { return false } },
        "upper": { _, v, _ in if case .string(let s) = v { return hasCase(s, upper: true) } else { return false } },
        "escaped": { _, _, _ in false },
        "filter": { _, v, _ in if case .string(let s) = v { return Filters.names.contains(s) } else { return false } },
        "test": { _, v, _ in if case .string(let s) = v { return Predicates.table[s] != nil } else { return false } },
    ]

    /// Python's `str.isupper()` / `islower()`: at least one cased character, none of the other case.
    static func hasCase(_ s: String, upper: Bool) -> Bool {
        var cased = false
        for u in s.unicodeScalars {
            if upper ? u.properties.isLowercase : u.properties.isUppercase { return false }
            if upper ? u.properties.isUppercase : u.properties.isLowercase { cased = true }
        }
        return cased
    }
}
