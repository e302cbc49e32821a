/// A compiled Jinja template, rendered the way transformers renders chat templates (jinja2's
/// `ImmutableSandboxedEnvironment` with `trim_blocks`, `lstrip_blocks`, loop controls, the
/// `{% generation %}` tag, its `tojson`, `raise_exception` and `strftime_now`).
///
///     let template = try JinjaTemplate("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
///     let text = try template.render(["messages": try JinjaJSON.parse(json)])
///
/// Parsing happens once; a template is immutable and can be rendered from any thread.
public struct JinjaTemplate: Sendable {
    private let nodes: [Node]
    public let limits: JinjaLimits

    public init(_ source: String, limits: JinjaLimits = JinjaLimits()) throws(JinjaError) {
        self.nodes = try Parser.parse(try Lexer.tokenize(source))
        self.limits = limits
    }

    /// Renders with `context` as the template's variables (globals stay reachable unless shadowed).
    public func render(_ context: [String: JinjaValue]) throws(JinjaError) -> String {
        let interpreter = Interpreter(limits: limits)
        return try interpreter.render(nodes, scope: Scope(context, parent: nil))
    }
}
