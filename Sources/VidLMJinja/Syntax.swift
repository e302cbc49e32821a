/// The parsed form of a template: statements (`Node`) holding expressions (`Expr`), each with
/// the template line it came from, so render errors can name it.
indirect enum Expr: Sendable {
    case literal(JinjaValue)
    case name(String)
    case list([Expr])
    case tuple([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String, line: Int)
    case item(Expr, Expr, line: Int)
    case slice(Expr, start: Expr?, stop: Expr?, step: Expr?, line: Int)
    case call(Expr, CallArguments, line: Int)
    case filter(Expr?, name: String, CallArguments, line: Int)
    case test(Expr, name: String, negated: Bool, CallArguments, line: Int)
    case unary(String, Expr, line: Int)
    case binary(String, Expr, Expr, line: Int)
    /// `a and b`, `a or b`: short-circuit, value of the deciding operand.
    case logical(isAnd: Bool, Expr, Expr)
    /// Python's chained comparisons: `a < b <= c`.
    case compare(Expr, [(String, Expr)], line: Int)
    case concat([Expr], line: Int)
    /// `a if cond else b` (`else` missing: undefined).
    case conditional(Expr, condition: Expr, otherwise: Expr?)
}

struct CallArguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(String, Expr)] = []
}

/// What `for` and `set` assign to: a name, a tuple of names, or `namespace.attribute`.
indirect enum Target: Sendable {
    case name(String)
    case tuple([Target])
    case attribute(Expr, String)
}

struct MacroDefinition: Sendable {
    let name: String
    let parameters: [(String, Expr?)]
    let body: [Node]
    let line: Int
}

indirect enum Node: Sendable {
    case text(String)
    case output(Expr, line: Int)
    case ifChain([(Expr, [Node])], otherwise: [Node]?, line: Int)
    case forLoop(ForLoop)
    case set(Target, Expr, line: Int)
    case setBlock(Target, filters: [(String, CallArguments, Int)], body: [Node], line: Int)
    case macro(MacroDefinition)
    case callBlock(call: Expr, callerParameters: [(String, Expr?)], body: [Node], line: Int)
    case filterBlock(filters: [(String, CallArguments, Int)], body: [Node], line: Int)
    case with(assignments: [(Target, Expr)], body: [Node], line: Int)
    /// transformers' `{% generation %}`: marks assistant text for masks; renders its body.
    case generation([Node])
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}

struct ForLoop: Sendable {
    let target: Target
    let iterable: Expr
    let condition: Expr?
    let body: [Node]
    let otherwise: [Node]?
    let recursive: Bool
    let line: Int
}
