import VidLMJinja

/// One turn of a conversation: a role (`system`, `user`, `assistant`, `tool`) and its content,
/// either plain text or a list of text, image and video parts, as transformers passes messages
/// to a chat template.
public struct ChatMessage: Sendable {
    public var role: String
    public var content: Content
    /// Further fields a template may read (`tool_calls`, `name`, `reasoning_content`, …).
    public var extra: [(String, JinjaValue)]

    public enum Content: Sendable {
        case text(String)
        case parts([Part])
    }

    /// A content part. Media parts carry where they came from (a path or URL), which templates
    /// normally ignore; the family decides what the media becomes.
    public enum Part: Sendable {
        case text(String)
        case image(source: String?)
        case video(source: String?)
    }

    public init(role: String, content: Content, extra: [(String, JinjaValue)] = []) {
        self.role = role
        self.content = content
        self.extra = extra
    }

    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: "system", content: .text(text)) }
    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: "user", content: .text(text)) }
    public static func assistant(_ text: String) -> ChatMessage { ChatMessage(role: "assistant", content: .text(text)) }

    /// The message as the dict a template sees: `{"role": …, "content": "…" | [{"type": "text",
    /// "text": …}, {"type": "image"}, {"type": "video", "path": …}], …extra}`.
    public var templateValue: JinjaValue {
        var d = JinjaDict()
        d["role"] = .string(role)
        switch content {
        case .text(let t):
            d["content"] = .string(t)
        case .parts(let parts):
            d["content"] = .list(parts.map { part in
                switch part {
                case .text(let t):
                    return .dict(JinjaDict([("type", .string("text")), ("text", .string(t))]))
                case .image(let source):
                    var p = JinjaDict([("type", .string("image"))])
                    if let source { p["url"] = .string(source) }
                    return .dict(p)
                case .video(let source):
                    var p = JinjaDict([("type", .string("video"))])
                    if let source { p["path"] = .string(source) }
                    return .dict(p)
                }
            })
        }
        for (k, v) in extra { d[k] = v }
        return .dict(d)
    }

    /// The message with plain-text content as a list of one text part, empty text included: an
    /// empty answer kept by a chat must still give templates that read `content[0]` a part.
    public var withContentParts: ChatMessage {
        guard case .text(let t) = content else { return self }
        return ChatMessage(role: role, content: .parts([.text(t)]), extra: extra)
    }

    /// The files of this message's image and video parts, in order (nil for a part naming none).
    public var mediaSources: [String?] {
        guard case .parts(let parts) = content else { return [] }
        return parts.compactMap { part in
            switch part {
            case .image(let source), .video(let source): return .some(source)
            case .text: return nil
            }
        }
    }

    /// The text of the message with media parts left out.
    public var text: String {
        switch content {
        case .text(let t): return t
        case .parts(let parts):
            return parts.compactMap { if case .text(let t) = $0 { return t } else { return nil } }.joined()
        }
    }
}
