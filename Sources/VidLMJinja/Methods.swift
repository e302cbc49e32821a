/// The Python methods templates call on strings, dicts and lists (`content.strip()`,
/// `message.get('x')`, `tools.items()`). Methods that change a list are refused, as in jinja2's
/// immutable sandbox; `namespace` is the only mutable object.
enum Methods {
    static let mutatingListMethods: Set<String> = ["append", "extend", "insert", "pop", "remove", "sort", "reverse", "clear"]

    private static func method(_ name: String, _ body: @escaping @Sendable (JinjaArguments) throws(JinjaError) -> JinjaValue) -> JinjaValue {
        .callable(JinjaCallable(name: name, body))
    }

    private static func stringArgument(_ args: JinjaArguments, _ i: Int, _ name: String, method: String) throws(JinjaError) -> String? {
        switch args.value(i, name) {
        case nil, .none?: return nil
        case .string(let s)?: return s
        case let v?: throw .runtime("\(method)() argument must be str or None, not \(v.typeName)")
        }
    }

    private static func intArgument(_ args: JinjaArguments, _ i: Int, _ name: String, defaultValue: Int) throws(JinjaError) -> Int {
        guard let v = args.value(i, name) else { return defaultValue }
        guard let n = v.integer else { throw .runtime("'\(v.typeName)' object cannot be interpreted as an integer") }
        return n
    }

    static func string(_ s: String, _ name: String) -> JinjaValue? {
        switch name {
        case "strip", "lstrip", "rstrip":
            return method(name) { args throws(JinjaError) in
                let chars = try stringArgument(args, 0, "chars", method: name)
                return .string(PythonString.strip(s, chars: chars, left: name != "rstrip", right: name != "lstrip"))
            }
        case "split", "rsplit":
            return method(name) { args throws(JinjaError) in
                try args.check(name, names: ["sep", "maxsplit"])
                let sep = try stringArgument(args, 0, "sep", method: name)
                let maxSplit = try intArgument(args, 1, "maxsplit", defaultValue: -1)
                let parts = name == "split" ? try PythonString.split(s, separator: sep, maxSplit: maxSplit)
                                            : try PythonString.rsplit(s, separator: sep, maxSplit: maxSplit)
                return .list(parts.map { .string($0) })
            }
        case "splitlines":
            return method(name) { args throws(JinjaError) in
                .list(PythonString.splitLines(s, keepEnds: args.value(0, "keepends")?.isTruthy ?? false).map { .string($0) })
            }
        case "startswith", "endswith":
            return method(name) { args throws(JinjaError) in
                guard let arg = args.positional.first else { throw .runtime("\(name)() takes at least 1 argument (0 given)") }
                let candidates: [JinjaValue] = arg.sequence ?? [arg]
                let scalars = PythonString.scalars(s)
                for c in candidates {
                    guard case .string(let p) = c else {
                        throw .runtime("\(name) first arg must be str or a tuple of str, not \(c.typeName)")
                    }
                    let ps = PythonString.scalars(p)
                    if name == "startswith" ? scalars.starts(with: ps) : scalars.reversed().starts(with: ps.reversed()) {
                        return .bool(true)
                    }
                }
                return .bool(false)
            }
        case "upper": return method(name) { _ in .string(PythonString.upper(s)) }
        case "lower": return method(name) { _ in .string(PythonString.lower(s)) }
        case "title": return method(name) { _ in .string(PythonString.title(s)) }
        case "capitalize": return method(name) { _ in .string(PythonString.capitalize(s)) }
        case "replace":
            return method(name) { args throws(JinjaError) in
                guard case .string(let old)? = args.value(0, "old"), case .string(let new)? = args.value(1, "new") else {
                    throw .runtime("replace() arguments must be strings")
                }
                return .string(PythonString.replace(s, old, new, count: try intArgument(args, 2, "count", defaultValue: -1)))
            }
        case "find", "rfind", "index", "rindex":
            return method(name) { args throws(JinjaError) in
                guard case .string(let needle)? = args.positional.first else { throw .runtime("\(name)() argument must be str") }
                let i = PythonString.find(s, needle, fromEnd: name.hasPrefix("r"))
                if i < 0 && name.hasSuffix("index") { throw .runtime("substring not found") }
                return .int(i)
            }
        case "count":
            return method(name) { args throws(JinjaError) in
                guard case .string(let needle)? = args.positional.first else { throw .runtime("count() argument must be str") }
                return .int(PythonString.count(s, needle))
            }
        case "join":
            return method(name) { args throws(JinjaError) in
                guard let items = args.positional.first else { throw .runtime("join() takes exactly one argument (0 given)") }
                var parts: [String] = []
                let list: [JinjaValue]
                switch items {
                case .dict(let d): list = d.keys.map { .string($0) }
                case .string(let t): list = t.unicodeScalars.map { .string(String($0)) }
                default: list = items.sequence ?? []
                }
                for (i, v) in list.enumerated() {
                    guard case .string(let p) = v else {
                        throw .runtime("sequence item \(i): expected str instance, \(v.typeName) found")
                    }
                    parts.append(p)
                }
                return .string(parts.joined(separator: s))
            }
        case "removeprefix", "removesuffix":
            return method(name) { args throws(JinjaError) in
                guard case .string(let affix)? = args.positional.first else { throw .runtime("\(name)() argument must be str") }
                let a = PythonString.scalars(s), f = PythonString.scalars(affix)
                if name == "removeprefix", a.starts(with: f) { return .string(PythonString.string(a.dropFirst(f.count))) }
                if name == "removesuffix", !f.isEmpty, a.reversed().starts(with: f.reversed()) {
                    return .string(PythonString.string(a.dropLast(f.count)))
                }
                return .string(s)
            }
        case "isdigit", "isnumeric", "isdecimal":
            return method(name) { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil }) }
        case "isalpha":
            return method(name) { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic }) }
        case "isalnum":
            return method(name) { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil }) }
        case "isspace":
            return method(name) { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(Lexer.isSpace)) }
        case "isupper", "islower":
            return method(name) { _ in .bool(Predicates.hasCase(s, upper: name == "isupper")) }
        case "format":
            return method(name) { args throws(JinjaError) in .string(try Format.braces(s, args)) }
        default:
            return nil
        }
    }

    static func dict(_ d: JinjaDict, _ name: String) -> JinjaValue? {
        switch name {
        case "items": return method(name) { _ in .list(d.pairs.map { .tuple([.string($0.0), $0.1]) }) }
        case "keys": return method(name) { _ in .list(d.keys.map { .string($0) }) }
        case "values": return method(name) { _ in .list(d.values) }
        case "get":
            return method(name) { args throws(JinjaError) in
                guard let key = args.value(0, "key") else { throw .runtime("get expected at least 1 argument, got 0") }
                if case .string(let k) = key, let v = d[k] { return v }
                return args.value(1, "default") ?? JinjaValue.none
            }
        case "copy": return method(name) { _ in .dict(d) }
        default: return nil
        }
    }

    static func list(_ a: [JinjaValue], _ name: String) -> JinjaValue? {
        switch name {
        case "index":
            return method(name) { args throws(JinjaError) in
                guard let x = args.positional.first, let i = a.firstIndex(where: { $0.pythonEquals(x) }) else {
                    throw .runtime("the value is not in the list")
                }
                return .int(i)
            }
        case "count":
            return method(name) { args throws(JinjaError) in
                guard let x = args.positional.first else { throw .runtime("count() takes exactly one argument (0 given)") }
                return .int(a.filter { $0.pythonEquals(x) }.count)
            }
        case "copy": return method(name) { _ in .list(a) }
        default: return nil
        }
    }
}
