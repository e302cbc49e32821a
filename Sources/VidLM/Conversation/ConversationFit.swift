import VidLMModels

/// Families whose prompt is written by a chat template, so they take a whole conversation
/// (system turn, earlier questions and answers). A family with a template adds itself here.
public protocol ConversationalModel: VisionLanguageModel {}

extension SmolVLMFamily: ConversationalModel {}
extension LlavaFamily: ConversationalModel {}
extension LlavaNextFamily: ConversationalModel {}
extension LlavaOneVisionFamily: ConversationalModel {}
extension VideoLlavaFamily: ConversationalModel {}

extension VisionLanguageModel {
    /// True when the family's prompt can hold a multi-turn conversation.
    public var takesConversations: Bool { self is any ConversationalModel }
}

/// Fits a conversation to what a family's prompt can hold. Families without a chat template
/// answer one question about one piece of media, so a longer conversation becomes one user turn:
/// every media part of the conversation (in order, so the request's media inputs still match
/// them) followed by the last user turn's text. Servers and the terminal chat use this so a
/// follow-up question works with every family; only conversational families see the history.
public enum ConversationFit {
    public struct Fitted: Sendable {
        public let messages: [ChatMessage]
        /// True when earlier turns were left out because the family cannot take them.
        public let droppedHistory: Bool
    }

    public static func fit(_ messages: [ChatMessage], for model: any VisionLanguageModel) -> Fitted {
        if model.takesConversations { return Fitted(messages: messages, droppedHistory: false) }
        let users = messages.filter { $0.role == "user" }
        if messages.count == 1, users.count == 1 { return Fitted(messages: messages, droppedHistory: false) }
        var media: [ChatMessage.Part] = []
        for message in messages {
            guard case .parts(let parts) = message.content else { continue }
            for part in parts {
                switch part {
                case .image, .video: media.append(part)
                case .text: break
                }
            }
        }
        let question = users.last?.text ?? ""
        let parts = media + (question.isEmpty ? [] : [ChatMessage.Part.text(question)])
        return Fitted(messages: [ChatMessage(role: "user", content: .parts(parts))], droppedHistory: true)
    }
}
