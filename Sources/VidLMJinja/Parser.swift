/// Builds the syntax tree from tokens with jinja2's grammar and operator precedence:
/// `if`-expressions < `or` < `and` < `not` < comparisons < `+ -` < `~` < `* / // %` < `**` <
/// unary `- +` < postfix (`.x`, `[i]`, `(…)`) and filters / tests.
struct Parser {
    private let tokens: [Token]
    private var index = 0
    private var depth = 0
    /// The blocks being parsed (tag, line), innermost last, for "unexpected end tag" messages.
    private var openBlocks: [(String, Int)] = []
    /// Nesting bound for blocks and expressions: a hostile template cannot exhaust the stack.
    static let maxDepth = 128

    static func parse(_ tokens: [Token]) throws(JinjaError) -> [Node] {
        var parser = Parser(tokens: tokens)
        let (nodes, end) = try parser.subparse(until: [])
        if let end { throw .syntax("encountered unknown tag '\(end.name)'", line: end.line) }
        return nodes
    }

    private init(tokens: [Token]) { self.tokens = tokens }

    // MARK: Token helpers

    private var current: Token { tokens[index] }
    private mutating func advance() -> Token {
        let t = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return t
    }

    private func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    private func isName(_ name: String) -> Bool { current.kind == .name(name) }

    private mutating func skipOp(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        _ = advance()
        return true
    }

    private mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        _ = advance()
        return true
    }

    private mutating func expectOp(_ op: String) throws(JinjaError) {
        guard skipOp(op) else { throw unexpected(expected: "'\(op)'") }
    }

    private mutating func expectName() throws(JinjaError) -> String {
        guard case .name(let n) = current.kind else { throw unexpected(expected: "a name") }
        _ = advance()
        return n
    }

    private mutating func expectBlockEnd() throws(JinjaError) {
        guard current.kind == .blockEnd else { throw unexpected(expected: "the end of the block tag ('%}')") }
        _ = advance()
    }

    private func unexpected(expected: String) -> JinjaError {
        let found: String
        switch current.kind {
        case .eof: found = "the end of the template"
        case .blockEnd: found = "'%}'"
        case .variableEnd: found = "'}}'"
        case .name(let n): found = "'\(n)'"
        case .op(let o): found = "'\(o)'"
        case .string: found = "a string"
        case .int, .float: found = "a number"
        default: found = "text"
        }
        return .syntax("expected \(expected), found \(found)", line: current.line)
    }

    private mutating func enter() throws(JinjaError) {
        depth += 1
        if depth > Self.maxDepth { throw .syntax("the template nests deeper than \(Self.maxDepth) levels", line: current.line) }
    }

    // MARK: Statements

    /// Nodes until a block tag named in `until` (returned with its line, the tag still open) or
    /// the end of the template.
    private mutating func subparse(until: Set<String>) throws(JinjaError) -> ([Node], (name: String, line: Int)?) {
        var nodes: [Node] = []
        while true {
            let token = advance()
            switch token.kind {
            case .eof:
                return (nodes, nil)
            case .text(let t):
                nodes.append(.text(t))
            case .variableBegin:
                let e = try tupleExpression()
                guard current.kind == .variableEnd else { throw unexpected(expected: "the end of the expression ('}}')") }
                _ = advance()
                nodes.append(.output(e, line: token.line))
            case .blockBegin:
                guard case .name(let tag) = current.kind else { throw unexpected(expected: "a tag name") }
                if until.contains(tag) { return (nodes, (tag, current.line)) }
                _ = advance()
                nodes.append(try statement(tag, line: token.line))
            default:
                throw .syntax("unexpected token", line: token.line)
            }
        }
    }

    /// The body of a block up to one of `ends`; fails at the end of the template naming the
    /// block that was never closed.
    private mutating func body(of tag: String, line: Int, ends: Set<String>) throws(JinjaError) -> ([Node], String) {
        try enter()
        openBlocks.append((tag, line))
        defer { depth -= 1; openBlocks.removeLast() }
        let (nodes, end) = try subparse(until: ends)
        guard let end else {
            let expected = ends.sorted().map { "'\($0)'" }.joined(separator: " or ")
            // Named at the end of the template, as jinja2 does, with the line that opened it.
            throw .syntax("the template ends inside the '\(tag)' block opened on line \(line) (expected \(expected))", line: current.line)
        }
        _ = advance()  // the end tag's name
        return (nodes, end.name)
    }

    private mutating func statement(_ tag: String, line: Int) throws(JinjaError) -> Node {
        switch tag {
        case "if": return try ifStatement(line: line)
        case "for": return try forStatement(line: line)
        case "set": return try setStatement(line: line)
        case "macro": return try macroStatement(line: line)
        case "call": return try callStatement(line: line)
        case "filter":
            let filters = try filterChain(first: true)
            try expectBlockEnd()
            let (body, _) = try self.body(of: "filter", line: line, ends: ["endfilter"])
            try expectBlockEnd()
            return .filterBlock(filters: filters, body: body, line: line)
        case "with":
            var assignments: [(Target, Expr)] = []
            while current.kind != .blockEnd {
                if !assignments.isEmpty { try expectOp(",") }
                let target = try assignTarget()
                try expectOp("=")
                assignments.append((target, try expression()))
            }
            try expectBlockEnd()
            let (body, _) = try self.body(of: "with", line: line, ends: ["endwith"])
            try expectBlockEnd()
            return .with(assignments: assignments, body: body, line: line)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try self.body(of: "generation", line: line, ends: ["endgeneration"])
            try expectBlockEnd()
            return .generation(body)
        case "break":
            try expectBlockEnd()
            return .breakLoop(line: line)
        case "continue":
            try expectBlockEnd()
            return .continueLoop(line: line)
        case "extends", "block", "include", "import", "from", "autoescape", "trans", "pluralize", "do", "debug":
            throw .unsupported("the '\(tag)' tag is not supported in chat templates", line: line)
        default:
            if tag.hasPrefix("end") || tag == "elif" || tag == "else" {
                guard let (open, openLine) = openBlocks.last else {
                    throw .syntax("'\(tag)' has no block to close", line: line)
                }
                throw .syntax("'\(tag)' cannot close the '\(open)' block opened on line \(openLine)", line: line)
            }
            throw .syntax("encountered unknown tag '\(tag)'", line: line)
        }
    }

    private mutating func ifStatement(line: Int) throws(JinjaError) -> Node {
        var branches: [(Expr, [Node])] = []
        var otherwise: [Node]? = nil
        var condition = try expression()
        while true {
            try expectBlockEnd()
            let (nodes, end) = try body(of: "if", line: line, ends: ["elif", "else", "endif"])
            if otherwise != nil {
                // Only `endif` may follow `else`.
                guard end == "endif" else { throw .syntax("'\(end)' after 'else' in the 'if' block opened on line \(line)", line: tokens[index - 1].line) }
                otherwise = nodes
                try expectBlockEnd()
                break
            }
            branches.append((condition, nodes))
            if end == "endif" { try expectBlockEnd(); break }
            if end == "else" { otherwise = []; continue }
            condition = try expression()
        }
        return .ifChain(branches, otherwise: otherwise, line: line)
    }

    private mutating func forStatement(line: Int) throws(JinjaError) -> Node {
        let target = try assignTarget(allowAttribute: false)
        guard skipName("in") else { throw unexpected(expected: "'in'") }
        let iterable = try tupleExpression(allowConditional: false, stopAtName: "recursive")
        var condition: Expr? = nil
        if skipName("if") { condition = try expression() }
        let recursive = skipName("recursive")
        try expectBlockEnd()
        let (body, end) = try self.body(of: "for", line: line, ends: ["endfor", "else"])
        var otherwise: [Node]? = nil
        try expectBlockEnd()
        if end == "else" {
            (otherwise, _) = try self.body(of: "for", line: line, ends: ["endfor"])
            try expectBlockEnd()
        }
        return .forLoop(ForLoop(target: target, iterable: iterable, condition: condition, body: body,
                                otherwise: otherwise, recursive: recursive, line: line))
    }

    private mutating func setStatement(line: Int) throws(JinjaError) -> Node {
        let target = try assignTarget()
        if skipOp("=") {
            let value = try tupleExpression()
            try expectBlockEnd()
            return .set(target, value, line: line)
        }
        let filters = isOp("|") ? try filterChain(first: false) : []
        try expectBlockEnd()
        let (body, _) = try self.body(of: "set", line: line, ends: ["endset"])
        try expectBlockEnd()
        return .setBlock(target, filters: filters, body: body, line: line)
    }

    private mutating func macroStatement(line: Int) throws(JinjaError) -> Node {
        let name = try expectName()
        let parameters = try parameterList()
        try expectBlockEnd()
        let (body, _) = try self.body(of: "macro", line: line, ends: ["endmacro"])
        if case .name = current.kind { _ = advance() }  // `endmacro name` is allowed
        try expectBlockEnd()
        return .macro(MacroDefinition(name: name, parameters: parameters, body: body, line: line))
    }

    private mutating func callStatement(line: Int) throws(JinjaError) -> Node {
        let callerParameters = isOp("(") ? try parameterList() : []
        let call = try expression()
        guard case .call = call else { throw .syntax("'call' needs a macro call", line: line) }
        try expectBlockEnd()
        let (body, _) = try self.body(of: "call", line: line, ends: ["endcall"])
        try expectBlockEnd()
        return .callBlock(call: call, callerParameters: callerParameters, body: body, line: line)
    }

    /// `(a, b=default, …)` of a macro or a call block's caller.
    private mutating func parameterList() throws(JinjaError) -> [(String, Expr?)] {
        try expectOp("(")
        var parameters: [(String, Expr?)] = []
        while !skipOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if skipOp(")") { break }
            let name = try expectName()
            parameters.append((name, skipOp("=") ? try expression() : nil))
        }
        return parameters
    }

    /// A name, `a, b`, `(a, b)` or (for `set`) `ns.attr`.
    private mutating func assignTarget(allowAttribute: Bool = true) throws(JinjaError) -> Target {
        func single(_ p: inout Parser) throws(JinjaError) -> Target {
            if p.skipOp("(") {
                var items: [Target] = []
                while !p.skipOp(")") {
                    if !items.isEmpty { try p.expectOp(",") }
                    if p.skipOp(")") { break }
                    items.append(try single(&p))
                }
                return .tuple(items)
            }
            let name = try p.expectName()
            if allowAttribute && p.skipOp(".") {
                return .attribute(.name(name), try p.expectName())
            }
            return .name(name)
        }
        var items = [try single(&self)]
        while skipOp(",") {
            if isName("in") || isOp("=") || current.kind == .blockEnd { break }
            items.append(try single(&self))
        }
        return items.count == 1 && !(tokens[index - 1].kind == .op(",")) ? items[0] : .tuple(items)
    }

    /// `| name(args) | name …` for `{% filter %}` and `{% set x | f %}`.
    private mutating func filterChain(first: Bool) throws(JinjaError) -> [(String, CallArguments, Int)] {
        var filters: [(String, CallArguments, Int)] = []
        var needBar = !first
        while current.kind != .blockEnd {
            if needBar || !filters.isEmpty { try expectOp("|") }
            needBar = false
            let line = current.line
            let name = try dottedName()
            filters.append((name, isOp("(") ? try callArguments() : CallArguments(), line))
        }
        return filters
    }

    private mutating func dottedName() throws(JinjaError) -> String {
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        return name
    }

    // MARK: Expressions

    /// An expression, or a tuple when commas follow (`{{ a, b }}`, `set a, b = 1, 2`).
    private mutating func tupleExpression(allowConditional: Bool = true, stopAtName: String? = nil) throws(JinjaError) -> Expr {
        var items: [Expr] = []
        var sawComma = false
        repeat {
            // A trailing comma: the tuple ends at the tag end or a closing parenthesis.
            if !items.isEmpty, current.kind == .blockEnd || current.kind == .variableEnd || isOp(")") || isName("if")
                || stopAtName.map(isName) == true { break }
            items.append(allowConditional ? try expression() : try orExpression())
            if skipOp(",") { sawComma = true } else { break }
        } while true
        return sawComma ? .tuple(items) : items[0]
    }

    private mutating func expression() throws(JinjaError) -> Expr {
        try enter()
        defer { depth -= 1 }
        var e = try orExpression()
        while skipName("if") {
            let condition = try orExpression()
            let otherwise: Expr? = skipName("else") ? try expression() : nil
            e = .conditional(e, condition: condition, otherwise: otherwise)
        }
        return e
    }

    private mutating func orExpression() throws(JinjaError) -> Expr {
        var left = try andExpression()
        while skipName("or") { left = .logical(isAnd: false, left, try andExpression()) }
        return left
    }

    private mutating func andExpression() throws(JinjaError) -> Expr {
        var left = try notExpression()
        while skipName("and") { left = .logical(isAnd: true, left, try notExpression()) }
        return left
    }

    private mutating func notExpression() throws(JinjaError) -> Expr {
        let line = current.line
        if skipName("not") { return .unary("not", try notExpression(), line: line) }
        return try comparison()
    }

    private mutating func comparison() throws(JinjaError) -> Expr {
        let line = current.line
        let left = try additive()
        var ops: [(String, Expr)] = []
        while true {
            if case .op(let o) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                _ = advance()
                ops.append((o, try additive()))
            } else if skipName("in") {
                ops.append(("in", try additive()))
            } else if isName("not"), index + 1 < tokens.count, tokens[index + 1].kind == .name("in") {
                _ = advance(); _ = advance()
                ops.append(("not in", try additive()))
            } else {
                break
            }
        }
        return ops.isEmpty ? left : .compare(left, ops, line: line)
    }

    private mutating func additive() throws(JinjaError) -> Expr {
        var left = try concatenation()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            let line = advance().line
            left = .binary(o, left, try concatenation(), line: line)
        }
        return left
    }

    private mutating func concatenation() throws(JinjaError) -> Expr {
        let line = current.line
        var items = [try multiplicative()]
        while skipOp("~") { items.append(try multiplicative()) }
        return items.count == 1 ? items[0] : .concat(items, line: line)
    }

    private mutating func multiplicative() throws(JinjaError) -> Expr {
        var left = try power()
        while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o) {
            let line = advance().line
            left = .binary(o, left, try power(), line: line)
        }
        return left
    }

    private mutating func power() throws(JinjaError) -> Expr {
        var left = try unary()
        while isOp("**") {
            let line = advance().line
            left = .binary("**", left, try unary(), line: line)
        }
        return left
    }

    private mutating func unary(withFilters: Bool = true) throws(JinjaError) -> Expr {
        try enter()
        defer { depth -= 1 }
        let line = current.line
        var e: Expr
        if skipOp("-") {
            e = .unary("-", try unary(withFilters: false), line: line)
        } else if skipOp("+") {
            e = .unary("+", try unary(withFilters: false), line: line)
        } else {
            e = try postfix(try primary())
        }
        if withFilters { e = try filtersAndTests(e) }
        return e
    }

    private mutating func primary() throws(JinjaError) -> Expr {
        let token = advance()
        switch token.kind {
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .string(var text):
            while case .string(let more) = current.kind { text += more; _ = advance() }
            return .literal(.string(text))
        case .int(let i): return .literal(.int(i))
        case .float(let d): return .literal(.float(d))
        case .op("("):
            if skipOp(")") { return .tuple([]) }
            let e = try tupleExpression()
            try expectOp(")")
            return e
        case .op("["):
            var items: [Expr] = []
            while !skipOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if skipOp("]") { break }
                items.append(try expression())
            }
            return .list(items)
        case .op("{"):
            var pairs: [(Expr, Expr)] = []
            while !skipOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if skipOp("}") { break }
                let key = try expression()
                try expectOp(":")
                pairs.append((key, try expression()))
            }
            return .dict(pairs)
        default:
            index -= 1
            throw unexpected(expected: "an expression")
        }
    }

    private mutating func postfix(_ base: Expr) throws(JinjaError) -> Expr {
        var e = base
        while true {
            let line = current.line
            if skipOp(".") {
                switch advance().kind {
                case .name(let n): e = .attribute(e, n, line: line)
                case .int(let i): e = .item(e, .literal(.int(i)), line: line)
                default: index -= 1; throw unexpected(expected: "an attribute name")
                }
            } else if skipOp("[") {
                e = try subscriptExpression(e, line: line)
            } else if isOp("(") {
                e = .call(e, try callArguments(), line: line)
            } else {
                return e
            }
        }
    }

    private mutating func subscriptExpression(_ base: Expr, line: Int) throws(JinjaError) -> Expr {
        func part(_ p: inout Parser) throws(JinjaError) -> Expr? {
            p.isOp(":") || p.isOp("]") ? nil : try p.expression()
        }
        let start = try part(&self)
        if skipOp("]") {
            guard let start else { throw unexpected(expected: "an index") }
            return .item(base, start, line: line)
        }
        try expectOp(":")
        let stop = try part(&self)
        var step: Expr? = nil
        if skipOp(":") { step = try part(&self) }
        try expectOp("]")
        return .slice(base, start: start, stop: stop, step: step, line: line)
    }

    private mutating func callArguments() throws(JinjaError) -> CallArguments {
        try expectOp("(")
        var args = CallArguments()
        while !skipOp(")") {
            if !args.positional.isEmpty || !args.keyword.isEmpty { try expectOp(",") }
            if skipOp(")") { break }
            if isOp("*") || isOp("**") { throw .unsupported("'*args' / '**kwargs' in calls are not supported", line: current.line) }
            if case .name(let n) = current.kind, index + 1 < tokens.count, tokens[index + 1].kind == .op("=") {
                _ = advance(); _ = advance()
                args.keyword.append((n, try expression()))
            } else {
                if !args.keyword.isEmpty { throw .syntax("a positional argument follows a keyword argument", line: current.line) }
                args.positional.append(try expression())
            }
        }
        return args
    }

    private mutating func filtersAndTests(_ base: Expr) throws(JinjaError) -> Expr {
        var e = base
        while true {
            let line = current.line
            if skipOp("|") {
                let name = try dottedName()
                let args = isOp("(") ? try callArguments() : CallArguments()
                e = .filter(e, name: name, args, line: line)
            } else if skipName("is") {
                let negated = skipName("not")
                let name = try dottedName()
                var args = CallArguments()
                if isOp("(") {
                    args = try callArguments()
                } else {
                    switch current.kind {
                    case .name(let n) where !["else", "or", "and", "if", "is"].contains(n):
                        args.positional = [try postfix(try primary())]
                    case .string, .int, .float, .op("["), .op("{"):
                        args.positional = [try postfix(try primary())]
                    default: break
                    }
                }
                e = .test(e, name: name, negated: negated, args, line: line)
            } else if isOp("(") {
                e = .call(e, try callArguments(), line: line)
            } else {
                return e
            }
        }
    }
}
