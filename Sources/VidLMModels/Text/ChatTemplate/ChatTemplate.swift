import Foundation
import VidLMJinja

/// A checkpoint's chat template: the Jinja program that turns a conversation into the prompt
/// text (transformers' `apply_chat_template`). Read once from the model directory, compiled once,
/// rendered per request.
public struct ChatTemplate: Sendable {
    /// The template text.
    public let source: String
    /// The file it came from (for messages), with the template's name where it was one of several.
    public let origin: String
    /// Whose `apply_chat_template` this template follows (they prepare messages differently).
    public let reader: Reader
    private let compiled: JinjaTemplate

    /// Compiles `source`; `origin` names it in errors.
    public init(source: String, origin: String = "chat template", reader: Reader = .tokenizer) throws(ChatTemplateError) {
        self.source = source
        self.origin = origin
        self.reader = reader
        do { compiled = try JinjaTemplate(source) } catch { throw ChatTemplateError.template(origin: origin, error) }
    }

    public static let jinjaFile = "chat_template.jinja"
    public static let jsonFile = "chat_template.json"
    public static let tokenizerConfigFile = "tokenizer_config.json"
    /// transformers 5 keeps extra named templates as `additional_chat_templates/NAME.jinja`.
    public static let additionalTemplatesFolder = "additional_chat_templates"

    /// Who reads the template: transformers' tokenizer and processor look in different files.
    public enum Reader: Sendable {
        /// `AutoTokenizer`: `chat_template.jinja`, else tokenizer_config.json's `chat_template`
        /// (a `chat_template.json` is ignored).
        case tokenizer
        /// `AutoProcessor` (vision-language checkpoints): `chat_template.json`, else
        /// `chat_template.jinja`; vidlm then falls back to tokenizer_config.json's entry, which
        /// the processor's tokenizer carries.
        case processor
    }

    /// The template of the checkpoint in `directory`, or nil when it has none. `name` picks one
    /// of several named templates (`tool_use`, `rag`, …); without it the one named `default`.
    public static func load(directory: URL, name: String? = nil, reader: Reader = .tokenizer) throws(ChatTemplateError) -> ChatTemplate? {
        var named: [(String, String, String)] = []  // (name, source, origin)
        var main: (String, String)? = nil
        let fm = FileManager.default
        func exists(_ file: String) -> Bool { fm.fileExists(atPath: directory.appendingPathComponent(file).path) }

        let order: [String] = reader == .processor ? [jsonFile, jinjaFile, tokenizerConfigFile] : [jinjaFile, tokenizerConfigFile]
        for file in order where main == nil && named.isEmpty && exists(file) {
            let url = directory.appendingPathComponent(file)
            switch file {
            case jinjaFile:
                main = (try readText(url), jinjaFile)
            case jsonFile:
                guard case .dict(let d) = try parseJSON(url, file: file), let entry = d["chat_template"] else {
                    throw ChatTemplateError.invalid(file: file, "must be an object with a 'chat_template' entry")
                }
                try collect(entry, file: file, main: &main, named: &named)
            default:
                if case .dict(let d) = try parseJSON(url, file: file), let entry = d["chat_template"] {
                    try collect(entry, file: file, main: &main, named: &named)
                }
            }
        }
        let extraFolder = directory.appendingPathComponent(additionalTemplatesFolder)
        if let files = try? fm.contentsOfDirectory(atPath: extraFolder.path) {
            for file in files.sorted() where file.hasSuffix(".jinja") {
                let templateName = String(file.dropLast(".jinja".count))
                named.append((templateName, try readText(extraFolder.appendingPathComponent(file)), "\(additionalTemplatesFolder)/\(file)"))
            }
        }

        if let name, name != "default" {
            guard let hit = named.first(where: { $0.0 == name }) else {
                let known = (main == nil ? [] : ["default"]) + named.map(\.0)
                throw ChatTemplateError.noSuchTemplate(name: name, known: known)
            }
            return try ChatTemplate(source: hit.1, origin: hit.2, reader: reader)
        }
        if let main { return try ChatTemplate(source: main.0, origin: main.1, reader: reader) }
        if let hit = named.first(where: { $0.0 == "default" }) { return try ChatTemplate(source: hit.1, origin: hit.2, reader: reader) }
        if !named.isEmpty { throw ChatTemplateError.noDefault(known: named.map(\.0)) }
        return nil
    }

    /// A `chat_template` entry: a string, or a list of `{"name", "template"}` (transformers
    /// writes several templates that way).
    private static func collect(_ entry: JinjaValue, file: String, main: inout (String, String)?,
                                named: inout [(String, String, String)]) throws(ChatTemplateError) {
        switch entry {
        case .string(let s):
            main = (s, file)
        case .list(let items):
            for (i, item) in items.enumerated() {
                guard case .dict(let d) = item, case .string(let n)? = d["name"], case .string(let t)? = d["template"] else {
                    throw ChatTemplateError.invalid(file: file, "'chat_template[\(i)]' must be an object with string 'name' and 'template'")
                }
                if n == "default" { main = (t, "\(file) (template 'default')") } else { named.append((n, t, "\(file) (template '\(n)')")) }
            }
        default:
            throw ChatTemplateError.invalid(file: file, "'chat_template' must be a string or a list of named templates")
        }
    }

    private static func readText(_ url: URL) throws(ChatTemplateError) -> String {
        guard let data = try? Data(contentsOf: url), let text = String(data: data, encoding: .utf8) else {
            throw ChatTemplateError.invalid(file: url.lastPathComponent, "cannot be read as UTF-8 text")
        }
        return text
    }

    private static func parseJSON(_ url: URL, file: String) throws(ChatTemplateError) -> JinjaValue {
        let text = try readText(url)
        do { return try JinjaJSON.parse(text) } catch {
            throw ChatTemplateError.invalid(file: file, "is not valid JSON (\(error.message))")
        }
    }

    // MARK: Rendering

    /// What transformers does to each message before rendering: the tokenizer's
    /// `apply_chat_template` drops keys whose value is None (the processor's keeps them), and a
    /// message's reasoning given as `reasoning_content`, `thinking` or `reasoning` is also offered
    /// as `thinking` (first) and `reasoning_content` (last).
    static func normalize(_ message: JinjaValue, dropNone: Bool) throws(ChatTemplateError) -> JinjaValue {
        guard case .dict(let d) = message else {
            throw ChatTemplateError.invalid(file: "the conversation", "every message must be an object, not \(message.typeName)")
        }
        var kept = dropNone ? JinjaDict(d.pairs.filter { if case .none = $0.1 { return false } else { return true } }) : d
        let reasoningFields = ["reasoning_content", "thinking", "reasoning"]
        if let reasoning = reasoningFields.lazy.compactMap({ kept[$0] }).first(where: { if case .none = $0 { return false } else { return true } }) {
            var aliased = JinjaDict([("thinking", reasoning)])
            for (k, v) in kept.pairs { aliased[k] = v }
            aliased["reasoning_content"] = reasoning
            kept = aliased
        }
        return .dict(kept)
    }

    /// The prompt text for `messages`, rendered with the variables transformers passes:
    /// `messages`, `add_generation_prompt`, `tools`, `documents`, the tokenizer's special tokens
    /// (`bos_token`, `eos_token`, …) and any `variables` (`date_string`, `enable_thinking`, …).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, specialTokens: [String: String] = [:],
                       tools: JinjaValue? = nil, documents: JinjaValue? = nil,
                       variables: [String: JinjaValue] = [:]) throws(ChatTemplateError) -> String {
        try render(messages: .list(messages.map(\.templateValue)), addGenerationPrompt: addGenerationPrompt,
                   specialTokens: specialTokens, tools: tools, documents: documents, variables: variables)
    }

    /// As above, with the messages already as template values (e.g. parsed from JSON).
    public func render(messages: JinjaValue, addGenerationPrompt: Bool, specialTokens: [String: String] = [:],
                       tools: JinjaValue? = nil, documents: JinjaValue? = nil,
                       variables: [String: JinjaValue] = [:]) throws(ChatTemplateError) -> String {
        guard case .list(let list) = messages else { throw ChatTemplateError.invalid(file: origin, "the messages must be a list") }
        guard !list.isEmpty else { throw ChatTemplateError.emptyConversation }
        var context: [String: JinjaValue] = [:]
        for (k, v) in specialTokens { context[k] = .string(v) }
        for (k, v) in variables { context[k] = v }
        context["messages"] = .list(try list.map { m throws(ChatTemplateError) in try Self.normalize(m, dropNone: reader == .tokenizer) })
        context["tools"] = tools ?? JinjaValue.none
        context["documents"] = documents ?? JinjaValue.none
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        do { return try compiled.render(context) } catch { throw ChatTemplateError.template(origin: origin, error) }
    }
}

/// Why a chat template could not be read or rendered, in one sentence.
public enum ChatTemplateError: Error, Sendable, CustomStringConvertible {
    case invalid(file: String, String)
    case template(origin: String, JinjaError)
    case noSuchTemplate(name: String, known: [String])
    case noDefault(known: [String])
    case emptyConversation

    public var description: String {
        switch self {
        case .invalid(let file, let message): return "\(file): \(message)."
        case .template(let origin, let error): return "\(origin): \(error.description)"
        case .noSuchTemplate(let name, let known):
            return "The model has no chat template named '\(name)' (it has: \(known.isEmpty ? "none" : known.joined(separator: ", ")))."
        case .noDefault(let known):
            return "The model has several chat templates (\(known.joined(separator: ", "))) and none named 'default'; choose one by name."
        case .emptyConversation:
            return "Cannot apply the chat template to an empty conversation: give at least one message."
        }
    }
}
