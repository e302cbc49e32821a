import Foundation

/// Why a template could not be parsed or rendered: one sentence that names the template line.
public enum JinjaError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The template text is not valid Jinja (unclosed block, bad expression, unknown filter).
    case syntax(String, line: Int)
    /// A construct the engine deliberately does not implement (`include`, `extends`, …).
    case unsupported(String, line: Int)
    /// The template called `raise_exception(message)` (it rejects the conversation).
    case raised(String, line: Int)
    /// Rendering failed: an undefined value used strictly, a type error, a limit reached.
    case render(String, line: Int)
    /// A failure inside a builtin before the interpreter attached the line.
    case runtime(String)

    /// The template line (1-based), 0 where unknown.
    public var line: Int {
        switch self {
        case .syntax(_, let l), .unsupported(_, let l), .raised(_, let l), .render(_, let l): return l
        case .runtime: return 0
        }
    }

    /// The message without the line prefix.
    public var message: String {
        switch self {
        case .syntax(let m, _), .unsupported(let m, _), .raised(let m, _), .render(let m, _), .runtime(let m): return m
        }
    }

    public var description: String {
        let where_ = line > 0 ? "chat template line \(line)" : "chat template"
        switch self {
        case .syntax(let m, _): return "\(where_): syntax error: \(Self.sentence(m))"
        case .unsupported(let m, _): return "\(where_): \(Self.sentence(m))"
        case .raised(let m, _): return "\(where_): the template rejected the conversation: \(Self.sentence(m))"
        case .render(let m, _), .runtime(let m): return "\(where_): \(Self.sentence(m))"
        }
    }

    /// Attaches `line` to a builtin's error (errors that already carry a line keep theirs).
    func at(_ line: Int) -> JinjaError {
        switch self {
        case .runtime(let m): return .render(m, line: line)
        case .raised(let m, 0): return .raised(m, line: line)
        default: return self
        }
    }

    private static func sentence(_ m: String) -> String {
        // One line: a template's message may span several.
        let t = m.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
        guard let last = t.last else { return "(no message)." }
        return ".!?".contains(last) ? t : t + "."
    }
}
