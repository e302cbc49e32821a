/// Variables visible at one point of a render: a chain of scopes. `for` bodies and macro calls
/// open a scope (so a `set` inside a loop does not leak out, as in Jinja); `if` does not.
/// Scopes live within one render on one thread (macros capture theirs), hence `@unchecked`.
final class Scope: @unchecked Sendable {
    var variables: [String: JinjaValue]
    let parent: Scope?

    init(_ variables: [String: JinjaValue] = [:], parent: Scope?) {
        self.variables = variables
        self.parent = parent
    }

    func lookup(_ name: String) -> JinjaValue? {
        var scope: Scope? = self
        while let s = scope {
            if let v = s.variables[name] { return v }
            scope = s.parent
        }
        return nil
    }
}

/// Limits that keep a hostile or broken template from hanging or exhausting memory.
public struct JinjaLimits: Sendable {
    /// Nested macro calls and recursive loops (Python's own limit surfaces as RecursionError).
    public var callDepth = 64
    /// Loop iterations in one render, over all loops.
    public var iterations = 2_000_000
    /// UTF-8 bytes of the output and of any one string (items of any one list) a template builds.
    public var size = 32 << 20

    public init() {}
}

/// Renders a parsed template. One interpreter per render; it is not shared between threads
/// (macros and `loop` refer back to it), hence `@unchecked Sendable`.
final class Interpreter: @unchecked Sendable {
    let limits: JinjaLimits
    private(set) var output = ""
    private var callDepth = 0
    private var iterations = 0

    private enum Flow { case normal, breakLoop, continueLoop }

    init(limits: JinjaLimits) { self.limits = limits }

    func render(_ nodes: [Node], scope: Scope) throws(JinjaError) -> String {
        _ = try run(nodes, scope)
        return output
    }

    // MARK: Statements

    private func run(_ nodes: [Node], _ scope: Scope) throws(JinjaError) -> Flow {
        for node in nodes {
            let flow = try execute(node, scope)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func emit(_ text: String, line: Int) throws(JinjaError) {
        output += text
        // utf8.count is O(1) for native strings; counting scalars here would make rendering quadratic.
        if output.utf8.count > limits.size {
            throw .render("the rendered prompt grew past \(limits.size) bytes", line: line)
        }
    }

    private func execute(_ node: Node, _ scope: Scope) throws(JinjaError) -> Flow {
        switch node {
        case .text(let t):
            try emit(t, line: 0)
        case .output(let e, let line):
            try emit(try evaluate(e, scope, line: line).pythonString, line: line)
        case .ifChain(let branches, let otherwise, let line):
            for (condition, body) in branches where try evaluate(condition, scope, line: line).isTruthy {
                return try run(body, scope)
            }
            if let otherwise { return try run(otherwise, scope) }
        case .forLoop(let loop):
            try forLoop(loop, iterable: try evaluate(loop.iterable, scope), scope: scope, depth: 0)
        case .set(let target, let e, let line):
            try assign(target, try evaluate(e, scope, line: line), scope: scope, line: line)
        case .setBlock(let target, let filters, let body, let line):
            var value = JinjaValue.string(try capture(body, Scope(parent: scope)))
            for (name, args, fline) in filters {
                value = try applyFilter(name, value, try arguments(args, scope), line: fline)
            }
            try assign(target, value, scope: scope, line: line)
        case .macro(let definition):
            scope.variables[definition.name] = .callable(makeMacro(definition, scope: scope, caller: nil))
        case .callBlock(let call, let callerParameters, let body, let line):
            guard case .call(let callee, let args, let callLine) = call else { return .normal }
            let caller = makeMacro(MacroDefinition(name: "caller", parameters: callerParameters, body: body, line: line),
                                   scope: scope, caller: nil)
            var evaluated = try arguments(args, scope)
            evaluated.keyword.append(("caller", .callable(caller)))
            try emit(try invoke(try evaluate(callee, scope), evaluated, line: callLine).pythonString, line: line)
        case .filterBlock(let filters, let body, _):
            var value = JinjaValue.string(try capture(body, Scope(parent: scope)))
            for (name, args, fline) in filters {
                value = try applyFilter(name, value, try arguments(args, scope), line: fline)
            }
            try emit(value.pythonString, line: 0)
        case .with(let assignments, let body, let line):
            let inner = Scope(parent: scope)
            for (target, e) in assignments { try assign(target, try evaluate(e, scope), scope: inner, line: line) }
            return try run(body, inner)
        case .generation(let body):
            return try run(body, scope)
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    /// Renders `nodes` into a separate buffer (block set, filter block, macro body).
    private func capture(_ nodes: [Node], _ scope: Scope) throws(JinjaError) -> String {
        let saved = output
        output = ""
        defer { output = saved }
        _ = try run(nodes, scope)
        return output
    }

    private func forLoop(_ loop: ForLoop, iterable: JinjaValue, scope: Scope, depth: Int) throws(JinjaError) {
        var items = try iterate(iterable).get(line: loop.line)
        if let condition = loop.condition {
            let inner = Scope(parent: scope)
            // The inline `if` filters before the loop runs, so `loop.*` counts only kept items.
            var kept: [JinjaValue] = []
            for item in items {
                try assign(loop.target, item, scope: inner, line: loop.line)
                if try evaluate(condition, inner).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            if let otherwise = loop.otherwise { _ = try run(otherwise, scope) }
            return
        }
        let context = LoopContext(items: items, depth: depth)
        if loop.recursive {
            context.recurse = JinjaCallable(name: "loop") { [unowned self] args throws(JinjaError) in
                guard let next = args.positional.first else { throw .runtime("loop() takes one argument") }
                try self.enterCall()
                defer { self.callDepth -= 1 }
                let text = try self.captureLoop(loop, iterable: next, scope: scope, depth: depth + 1)
                return .string(text)
            }
        }
        for (i, item) in items.enumerated() {
            iterations += 1
            if iterations > limits.iterations {
                throw .render("the template ran more than \(limits.iterations) loop iterations (a loop that does not end?)", line: loop.line)
            }
            context.index0 = i
            // Each iteration starts from the enclosing scope: a `set` in the body lasts until the
            // iteration ends (jinja2 compiles the body as a fresh frame per item).
            let inner = Scope(["loop": .object(context)], parent: scope)
            try assign(loop.target, item, scope: inner, line: loop.line)
            if try run(loop.body, inner) == .breakLoop { break }
        }
    }

    private func captureLoop(_ loop: ForLoop, iterable: JinjaValue, scope: Scope, depth: Int) throws(JinjaError) -> String {
        let saved = output
        output = ""
        defer { output = saved }
        try forLoop(loop, iterable: iterable, scope: scope, depth: depth)
        return output
    }

    private func assign(_ target: Target, _ value: JinjaValue, scope: Scope, line: Int) throws(JinjaError) {
        switch target {
        case .name(let n):
            scope.variables[n] = value
        case .tuple(let targets):
            let items = try iterate(value).get(line: line)
            guard items.count == targets.count else {
                throw .render(items.count > targets.count ? "too many values to unpack (expected \(targets.count))"
                                                          : "not enough values to unpack (expected \(targets.count), got \(items.count))", line: line)
            }
            for (t, v) in zip(targets, items) { try assign(t, v, scope: scope, line: line) }
        case .attribute(let base, let name):
            let object = try evaluate(base, scope)
            guard case .object(let o) = object, o.setAttribute(name, value) else {
                throw .render("cannot assign attribute on non-namespace object", line: line)
            }
        }
    }

    // MARK: Macros and calls

    /// Counts a macro call or recursive loop; the error gets the innermost call site's line.
    private func enterCall() throws(JinjaError) {
        callDepth += 1
        if callDepth > limits.callDepth {
            callDepth -= 1
            throw .runtime("macro calls nest deeper than \(limits.callDepth) (recursion that does not end?)")
        }
    }

    private func makeMacro(_ m: MacroDefinition, scope: Scope, caller: JinjaCallable?) -> JinjaCallable {
        JinjaCallable(name: m.name) { [unowned self] args throws(JinjaError) in
            try self.enterCall()
            defer { self.callDepth -= 1 }
            let local = Scope(parent: scope)
            for (i, (name, defaultValue)) in m.parameters.enumerated() {
                if let v = args.value(i, name) {
                    local.variables[name] = v
                } else if let defaultValue {
                    local.variables[name] = try self.evaluate(defaultValue, local)
                } else {
                    local.variables[name] = .undefined("parameter '\(name)' was not provided")
                }
            }
            local.variables["varargs"] = .tuple(Array(args.positional.dropFirst(m.parameters.count)))
            var extra = JinjaDict()
            for (k, v) in args.keyword where !m.parameters.contains(where: { $0.0 == k }) && k != "caller" { extra[k] = v }
            local.variables["kwargs"] = .dict(extra)
            if let c = args.keyword.first(where: { $0.0 == "caller" })?.1 { local.variables["caller"] = c }
            return .string(try self.capture(m.body, local))
        }
    }

    func invoke(_ callee: JinjaValue, _ args: JinjaArguments, line: Int) throws(JinjaError) -> JinjaValue {
        switch callee {
        case .callable(let f):
            do { return try f.body(args) } catch { throw error.at(line) }
        case .object(let o as LoopContext):
            guard let recurse = o.recurse else { throw .render("'loop' is only callable in a recursive for loop", line: line) }
            do { return try recurse.body(args) } catch { throw error.at(line) }
        case .object(let j as Joiner):
            return j.call()
        case .undefined(let u):
            throw .render(u.hint, line: line)
        default:
            throw .render("'\(callee.typeName)' object is not callable", line: line)
        }
    }

    func arguments(_ args: CallArguments, _ scope: Scope) throws(JinjaError) -> JinjaArguments {
        var out = JinjaArguments()
        out.positional.reserveCapacity(args.positional.count)
        for e in args.positional { out.positional.append(try evaluate(e, scope)) }
        for (k, e) in args.keyword { out.keyword.append((k, try evaluate(e, scope))) }
        return out
    }

    // MARK: Expressions

    /// Evaluates `expr`; an error without a line of its own gets the statement's.
    private func evaluate(_ expr: Expr, _ scope: Scope, line: Int) throws(JinjaError) -> JinjaValue {
        do { return try evaluate(expr, scope) } catch { throw error.at(line) }
    }

    func evaluate(_ expr: Expr, _ scope: Scope) throws(JinjaError) -> JinjaValue {
        switch expr {
        case .literal(let v):
            return v
        case .name(let n):
            return scope.lookup(n) ?? Globals.value(n) ?? .undefined("'\(n)' is undefined")
        case .list(let items):
            var out: [JinjaValue] = []
            out.reserveCapacity(items.count)
            for e in items { out.append(try evaluate(e, scope)) }
            return .list(out)
        case .tuple(let items):
            var out: [JinjaValue] = []
            for e in items { out.append(try evaluate(e, scope)) }
            return .tuple(out)
        case .dict(let pairs):
            var d = JinjaDict()
            for (k, v) in pairs {
                let key = try evaluate(k, scope)
                guard case .string(let s) = key else {
                    throw .runtime("dictionary keys other than strings are not supported in chat templates (got \(key.typeName))")
                }
                d[s] = try evaluate(v, scope)
            }
            return .dict(d)
        case .attribute(let base, let name, let line):
            return try Access.attribute(try evaluate(base, scope), name).get(line: line)
        case .item(let base, let key, let line):
            return try Access.item(try evaluate(base, scope), try evaluate(key, scope)).get(line: line)
        case .slice(let base, let start, let stop, let step, let line):
            let value = try evaluate(base, scope)
            func bound(_ e: Expr?) throws(JinjaError) -> Int? {
                guard let e else { return nil }
                let v = try evaluate(e, scope)
                if case .none = v { return nil }
                guard let i = v.integer else { throw .render("slice indices must be integers or None", line: line) }
                return i
            }
            return try Access.slice(value, start: try bound(start), stop: try bound(stop), step: try bound(step)).get(line: line)
        case .call(let callee, let args, let line):
            let f = try evaluate(callee, scope)
            return try invoke(f, try arguments(args, scope), line: line)
        case .filter(let base, let name, let args, let line):
            let value = try base.map { b throws(JinjaError) in try evaluate(b, scope) } ?? .undefined("no value")
            return try applyFilter(name, value, try arguments(args, scope), line: line)
        case .test(let base, let name, let negated, let args, let line):
            // `x is defined` must not fail on an undefined x: evaluate the operand leniently.
            let value = try evaluate(base, scope)
            let result = try applyTest(name, value, try arguments(args, scope), line: line)
            return .bool(result != negated)
        case .unary(let op, let operand, let line):
            let v = try evaluate(operand, scope)
            switch op {
            case "not": return .bool(!v.isTruthy)
            default:
                do { return try Operators.unary(op, v) } catch { throw error.at(line) }
            }
        case .binary(let op, let l, let r, let line):
            let left = try evaluate(l, scope), right = try evaluate(r, scope)
            do { return try Operators.binary(op, left, right, limit: limits.size) } catch { throw error.at(line) }
        case .logical(let isAnd, let l, let r):
            let left = try evaluate(l, scope)
            if isAnd { return left.isTruthy ? try evaluate(r, scope) : left }
            return left.isTruthy ? left : try evaluate(r, scope)
        case .compare(let first, let rest, let line):
            var left = try evaluate(first, scope)
            for (op, e) in rest {
                let right = try evaluate(e, scope)
                let holds: Bool
                do { holds = try Operators.compare(op, left, right) } catch { throw error.at(line) }
                if !holds { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .concat(let items, let line):
            var s = ""
            for e in items { s += try evaluate(e, scope).pythonString }
            if s.utf8.count > limits.size { throw .render("a string grew past \(limits.size) bytes", line: line) }
            return .string(s)
        case .conditional(let value, let condition, let otherwise):
            if try evaluate(condition, scope).isTruthy { return try evaluate(value, scope) }
            return try otherwise.map { e throws(JinjaError) in try evaluate(e, scope) } ?? .undefined("the inline if-expression evaluated to false and no else section was defined")
        }
    }

    private func applyFilter(_ name: String, _ value: JinjaValue, _ args: JinjaArguments, line: Int) throws(JinjaError) -> JinjaValue {
        let result: JinjaValue?
        do { result = try Filters.apply(name, self, value, args) } catch { throw error.at(line) }
        guard let result else { throw .render("no filter named '\(name)'", line: line) }
        return result
    }

    func applyTest(_ name: String, _ value: JinjaValue, _ args: JinjaArguments, line: Int) throws(JinjaError) -> Bool {
        guard let test = Predicates.table[name] else { throw .render("no test named '\(name)'", line: line) }
        do { return try test(self, value, args) } catch { throw error.at(line) }
    }

    /// The elements Python's `iter()` yields: a dict's keys, a string's characters.
    func iterate(_ value: JinjaValue) -> Result<[JinjaValue], JinjaError> {
        switch value {
        case .list(let a), .tuple(let a): return .success(a)
        case .dict(let d): return .success(d.keys.map { .string($0) })
        case .string(let s): return .success(s.unicodeScalars.map { .string(String($0)) })
        case .undefined: return .success([])
        default: return .failure(.runtime("'\(value.typeName)' object is not iterable"))
        }
    }
}

extension Result where Failure == JinjaError {
    /// The value, or the error with `line` attached.
    func get(line: Int) throws(JinjaError) -> Success {
        switch self {
        case .success(let v): return v
        case .failure(let e): throw e.at(line)
        }
    }
}

/// Jinja's `loop` variable.
final class LoopContext: JinjaObject, @unchecked Sendable {
    let items: [JinjaValue]
    let depth: Int
    var index0 = 0
    var recurse: JinjaCallable?
    private var lastChanged: [JinjaValue]?

    init(items: [JinjaValue], depth: Int) {
        self.items = items
        self.depth = depth
    }

    var typeName: String { "LoopContext" }

    func attribute(_ name: String) -> JinjaValue? {
        let n = items.count
        switch name {
        case "index": return .int(index0 + 1)
        case "index0": return .int(index0)
        case "revindex": return .int(n - index0)
        case "revindex0": return .int(n - index0 - 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(index0 == n - 1)
        case "length": return .int(n)
        case "depth": return .int(depth + 1)
        case "depth0": return .int(depth)
        case "previtem": return index0 > 0 ? items[index0 - 1] : .undefined("there is no previous item")
        case "nextitem": return index0 + 1 < n ? items[index0 + 1] : .undefined("there is no next item")
        case "cycle":
            let i = index0
            return .callable(JinjaCallable(name: "cycle") { args throws(JinjaError) in
                guard !args.positional.isEmpty else { throw .runtime("no items for cycling given") }
                return args.positional[i % args.positional.count]
            })
        case "changed":
            return .callable(JinjaCallable(name: "changed") { [self] args throws(JinjaError) in
                defer { lastChanged = args.positional }
                guard let last = lastChanged, last.count == args.positional.count else { return .bool(true) }
                return .bool(!zip(last, args.positional).allSatisfy { $0.pythonEquals($1) })
            })
        default: return nil
        }
    }

    func setAttribute(_ name: String, _ value: JinjaValue) -> Bool { false }
}

/// `namespace(...)`: the one mutable object templates may change (`set ns.x = …`).
final class Namespace: JinjaObject, @unchecked Sendable {
    var values: JinjaDict

    init(_ values: JinjaDict) { self.values = values }

    var typeName: String { "Namespace" }
    func attribute(_ name: String) -> JinjaValue? { values[name] }
    func setAttribute(_ name: String, _ value: JinjaValue) -> Bool {
        values[name] = value
        return true
    }
}
