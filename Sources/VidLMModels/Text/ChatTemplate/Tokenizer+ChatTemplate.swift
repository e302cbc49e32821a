import VidLMJinja

extension Tokenizer {
    /// `tokenizer.apply_chat_template(messages, tokenize=True)`: the template rendered with this
    /// tokenizer's special tokens, then encoded without adding special tokens again (the
    /// template writes BOS itself where the model wants one).
    public func applyChatTemplate(_ template: ChatTemplate, messages: [ChatMessage], addGenerationPrompt: Bool,
                                  tools: JinjaValue? = nil, documents: JinjaValue? = nil,
                                  variables: [String: JinjaValue] = [:]) throws(ChatTemplateError) -> (text: String, ids: [Int]) {
        let text = try template.render(messages, addGenerationPrompt: addGenerationPrompt, specialTokens: specialTokenStrings,
                                       tools: tools, documents: documents, variables: variables)
        return (text, encode(text, addSpecialTokens: false))
    }
}
