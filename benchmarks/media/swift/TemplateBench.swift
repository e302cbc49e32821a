// Chat-template render timer for benchmarks/chat_template/run.sh, the Swift side of
// benchmarks/chat_template/jinja2_bench.py (same template, conversation and context).
//
//   vidlm-bench template --template NAME [--conversation long-20-turns] [--renders 2000] [--warmup 50]
//
// Reads Tests/Fixtures/chat_templates (templates/NAME.jinja, conversations.json, expected.json's
// `context`), compiles the template once, then times `ChatTemplate.render` (messages,
// add_generation_prompt=true, tools and documents of the conversation, the context's special
// tokens and variables) per render; reports the median in microseconds.
import Foundation
import VidLMJinja
import VidLMModels

enum TemplateBench {
    static func run(_ args: [String]) throws -> [String: Any] {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../Tests/Fixtures/chat_templates").standardized
        guard let name = TextBench.string(args, "--template") else { throw CocoaError(.coderValueNotFound) }
        let conversationName = TextBench.string(args, "--conversation") ?? "long-20-turns"
        let renders = TextBench.value(args, "--renders", 2000), warmup = TextBench.value(args, "--warmup", 50)

        func json(_ file: String) throws -> JinjaValue {
            try JinjaJSON.parse(String(contentsOf: fixtures.appendingPathComponent(file), encoding: .utf8))
        }
        guard case .list(let conversations) = try json("conversations.json"),
              case .dict(let conversation)? = conversations.first(where: {
                  if case .dict(let d) = $0, case .string(conversationName)? = d["name"] { return true } else { return false }
              }),
              let messages = conversation["messages"],
              case .dict(let expected) = try json("expected.json"), case .dict(let context)? = expected["context"]
        else { throw CocoaError(.coderReadCorrupt) }
        var specialTokens: [String: String] = [:], variables: [String: JinjaValue] = [:]
        for (k, v) in context.pairs {
            if k.hasSuffix("_token"), case .string(let s) = v { specialTokens[k] = s } else { variables[k] = v }
        }
        let source = try String(contentsOf: fixtures.appendingPathComponent("templates/\(name).jinja"), encoding: .utf8)
        let template = try ChatTemplate(source: source, origin: name)
        func render() throws -> String {
            try template.render(messages: messages, addGenerationPrompt: true, specialTokens: specialTokens,
                                tools: conversation["tools"], documents: conversation["documents"], variables: variables)
        }
        var length = 0
        for _ in 0..<warmup { length = try render().count }
        var times: [Double] = []
        for _ in 0..<renders {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try render()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000)
        }
        times.sort()
        return ["tool": "vidlm", "template": name, "conversation": conversationName, "renders": renders,
                "median_us": (times[renders / 2] * 100).rounded() / 100, "characters": length]
    }
}

/// Renders many (template, conversation) cases for tools/parity/sweep_chat_template.py:
///
///   vidlm-bench template-render --cases FILE.json
///
/// FILE holds a list of {"source", "messages", "add_generation_prompt", "tools", "documents",
/// "context"} objects; the result lists, per case, {"output": text} or {"error": message}, rendered
/// as `apply_chat_template` of a tokenizer would (the context's `…_token` strings as special tokens,
/// the rest as variables).
enum TemplateRender {
    static func run(_ args: [String]) throws -> [String: Any] {
        guard let file = TextBench.string(args, "--cases") else { throw CocoaError(.coderValueNotFound) }
        guard case .list(let cases) = try JinjaJSON.parse(String(contentsOfFile: file, encoding: .utf8)) else {
            throw CocoaError(.coderReadCorrupt)
        }
        var results: [[String: String]] = []
        for item in cases {
            guard case .dict(let c) = item, case .string(let source)? = c["source"], let messages = c["messages"] else {
                throw CocoaError(.coderReadCorrupt)
            }
            var specialTokens: [String: String] = [:], variables: [String: JinjaValue] = [:]
            if case .dict(let context)? = c["context"] {
                for (k, v) in context.pairs {
                    if k.hasSuffix("_token"), case .string(let s) = v { specialTokens[k] = s } else { variables[k] = v }
                }
            }
            func optional(_ key: String) -> JinjaValue? {
                if let v = c[key], case .none = v { return nil }
                return c[key]
            }
            var generation = false
            if case .bool(let b)? = c["add_generation_prompt"] { generation = b }
            do {
                let template = try ChatTemplate(source: source, origin: "template")
                let text = try template.render(messages: messages, addGenerationPrompt: generation, specialTokens: specialTokens,
                                               tools: optional("tools"), documents: optional("documents"), variables: variables)
                results.append(["output": text])
            } catch {
                results.append(["error": "\(error)"])
            }
        }
        return ["results": results]
    }
}

/// Encodes and decodes many texts for tools/parity/sweep_tokenizer.py:
///
///   vidlm-bench tokenize --cases FILE.json
///
/// FILE holds a list of {"tokenizer": folder, "text", "add_special_tokens"}; the result lists, per
/// case, {"ids", "decoded", "decoded_skip"}: the ids, and their text with and without special tokens.
enum TokenizeCases {
    static func run(_ args: [String]) throws -> [String: Any] {
        guard let file = TextBench.string(args, "--cases"),
              let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [[String: Any]]
        else { throw CocoaError(.coderReadCorrupt) }
        var loaded: [String: Tokenizer] = [:]
        var results: [[String: Any]] = []
        for c in cases {
            guard let folder = c["tokenizer"] as? String, let text = c["text"] as? String else { throw CocoaError(.coderReadCorrupt) }
            let tokenizer = try loaded[folder] ?? Tokenizer.load(directory: URL(fileURLWithPath: folder))
            loaded[folder] = tokenizer
            let ids = tokenizer.encode(text, addSpecialTokens: c["add_special_tokens"] as? Bool ?? true)
            results.append(["ids": ids, "decoded": tokenizer.decode(ids), "decoded_skip": tokenizer.decode(ids, skipSpecialTokens: true)])
        }
        return ["results": results]
    }
}
