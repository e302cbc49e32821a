import Foundation
import VidLMJinja
import VidLMModels
import VidLMTestSupport
import XCTest

/// The chat-template corpus (Tests/Fixtures/chat_templates, written by
/// tools/parity/make_chat_template_fixtures.py) against transformers' `apply_chat_template`:
/// every template × conversation × add_generation_prompt renders to the identical string, or
/// fails where transformers fails (the template's own `raise_exception` message, or a Python
/// error at the same construct).
final class ChatTemplateParityTests: XCTestCase {
    static let folder = TestFixtures.tests.appendingPathComponent("Fixtures/chat_templates")

    struct Conversation {
        let messages: JinjaValue
        let tools: JinjaValue?
        let documents: JinjaValue?
    }

    static func json(_ name: String) throws -> JinjaValue {
        try JinjaJSON.parse(String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8))
    }

    static func conversations() throws -> [String: Conversation] {
        guard case .list(let items) = try json("conversations.json") else { throw XCTSkip("conversations.json is not a list") }
        var out: [String: Conversation] = [:]
        for item in items {
            guard case .dict(let d) = item, case .string(let name)? = d["name"], let messages = d["messages"] else {
                XCTFail("bad conversation entry")
                continue
            }
            out[name] = Conversation(messages: messages, tools: d["tools"], documents: d["documents"])
        }
        return out
    }

    func testCorpusRendersLikeTransformers() throws {
        guard case .dict(let root) = try Self.json("expected.json"), case .list(let cases)? = root["cases"],
              case .dict(let context)? = root["context"] else {
            return XCTFail("expected.json has no cases")
        }
        let conversations = try Self.conversations()
        var specialTokens: [String: String] = [:]
        var variables: [String: JinjaValue] = [:]
        for (k, v) in context.pairs {
            if k.hasSuffix("_token"), case .string(let s) = v { specialTokens[k] = s } else { variables[k] = v }
        }
        var templates: [String: ChatTemplate] = [:]
        var rendered = 0, rejected = 0
        for case .dict(let c) in cases {
            guard case .string(let name)? = c["template"], case .string(let conversationName)? = c["conversation"],
                  case .bool(let addGenerationPrompt)? = c["add_generation_prompt"],
                  let conversation = conversations[conversationName] else {
                XCTFail("bad case \(c.keys)")
                continue
            }
            if templates[name] == nil {
                let source = try String(contentsOf: Self.folder.appendingPathComponent("templates/\(name).jinja"), encoding: .utf8)
                templates[name] = try ChatTemplate(source: source, origin: name)
            }
            let label = "\(name) × \(conversationName) × add_generation_prompt=\(addGenerationPrompt)"
            do {
                let text = try templates[name]!.render(messages: conversation.messages, addGenerationPrompt: addGenerationPrompt,
                                                       specialTokens: specialTokens, tools: conversation.tools,
                                                       documents: conversation.documents, variables: variables)
                if case .string(let expected)? = c["output"] {
                    // Only the first differing place is printed: full prompts are too long to read.
                    if text != expected { XCTFail("\(label): \(firstDifference(text, expected))") }
                    rendered += 1
                } else {
                    XCTFail("\(label): rendered, but transformers failed with: \(c["error"]?.pythonString ?? "?")")
                }
            } catch {
                guard case .string(let expectedError)? = c["error"] else {
                    XCTFail("\(label): \(error)")
                    continue
                }
                // The same failure: the template's own message, or Python's error text.
                XCTAssertTrue("\(error)".contains(expectedError.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "."))),
                              "\(label): got «\(error)», transformers said «\(expectedError)»")
                rejected += 1
            }
        }
        XCTAssertGreaterThanOrEqual(templates.count, 25)
        XCTAssertGreaterThan(rendered, 500)
        XCTAssertGreaterThan(rejected, 0)
    }

    private func firstDifference(_ a: String, _ b: String) -> String {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        var i = 0
        while i < min(x.count, y.count), x[i] == y[i] { i += 1 }
        func snippet(_ s: [Unicode.Scalar]) -> String {
            String(String.UnicodeScalarView(s[max(0, i - 30)..<min(s.count, i + 30)])).debugDescription
        }
        return "first difference at \(i): got \(snippet(x)) expected \(snippet(y))"
    }
}

/// Bad templates (Tests/Fixtures/chat_templates/error_templates): each fails with one sentence
/// that names the line jinja2 names.
final class ChatTemplateErrorTests: XCTestCase {
    func testBadTemplatesFailOnJinjasLine() throws {
        guard case .dict(let root) = try ChatTemplateParityTests.json("errors.json"), case .list(let cases)? = root["cases"],
              case .string(let conversationName)? = root["conversation"],
              let conversation = try ChatTemplateParityTests.conversations()[conversationName] else {
            return XCTFail("errors.json has no cases")
        }
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        for case .dict(let c) in cases {
            guard case .string(let file)? = c["template"], case .int(let line)? = c["line"], case .string(let kind)? = c["kind"],
                  case .string(let message)? = c["message"] else { XCTFail("bad case"); continue }
            let source = try String(contentsOf: ChatTemplateParityTests.folder.appendingPathComponent("error_templates/\(file)"), encoding: .utf8)
            do {
                let template = try ChatTemplate(source: source, origin: file)
                let text = try template.render(messages: conversation.messages, addGenerationPrompt: true,
                                               specialTokens: ["bos_token": "<s>", "eos_token": "</s>"])
                XCTFail("\(file): rendered \(text.prefix(80)) but jinja2 failed with \(message)")
            } catch {
                let text = "\(error)"
                XCTAssertTrue(text.contains("line \(line):"), "\(file): «\(text)» does not name line \(line)")
                XCTAssertFalse(text.contains("\n"), "\(file): more than one line: \(text)")
                switch kind {
                case "raise", "undefined", "type", "unsupported":
                    // The same words as jinja2 (the template's own message, or Python's).
                    let core = message.trimmingCharacters(in: CharacterSet(charactersIn: ". "))
                    XCTAssertTrue(text.contains(core), "\(file): «\(text)» vs jinja2 «\(message)»")
                default:
                    break
                }
            }
        }
    }
}

/// Token ids identical to `tokenizer.apply_chat_template(..., tokenize=True)` for three
/// checkpoint-shaped folders whose templates live in the three places transformers reads.
final class ChatTemplateTokenIdTests: XCTestCase {
    func testIdsEqualApplyChatTemplate() throws {
        guard case .dict(let root) = try ChatTemplateParityTests.json("expected_ids.json"), case .list(let cases)? = root["cases"],
              case .dict(let folders)? = root["folders"] else {
            return XCTFail("expected_ids.json has no cases")
        }
        let conversations = try ChatTemplateParityTests.conversations()
        var checked = Set<String>()
        for case .dict(let c) in cases {
            guard case .string(let folder)? = c["tokenizer"], case .string(let name)? = c["conversation"],
                  case .bool(let addGenerationPrompt)? = c["add_generation_prompt"], case .string(let expectedText)? = c["text"],
                  case .list(let expectedIds)? = c["ids"], let conversation = conversations[name],
                  case .dict(let info)? = folders[folder], case .string(let loader)? = info["loaded_by"] else {
                XCTFail("bad case"); continue
            }
            let directory = TestFixtures.repository.appendingPathComponent(folder)
            let tokenizer = try Tokenizer.load(directory: directory)
            guard let template = try ChatTemplate.load(directory: directory, reader: loader == "AutoProcessor" ? .processor : .tokenizer) else {
                XCTFail("\(folder): no chat template found"); continue
            }
            if case .string(let file)? = info["template_file"] { XCTAssertTrue(template.origin.hasPrefix(file), "\(folder): read \(template.origin), transformers read \(file)") }
            if case .dict(let special)? = info["special_tokens"] {
                for (k, v) in special.pairs { XCTAssertEqual(tokenizer.specialTokenStrings[k], v.pythonString, "\(folder): \(k)") }
            }
            let text = try template.render(messages: conversation.messages, addGenerationPrompt: addGenerationPrompt,
                                           specialTokens: tokenizer.specialTokenStrings, tools: conversation.tools)
            XCTAssertEqual(text, expectedText, "\(folder) × \(name)")
            XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: false), expectedIds.compactMap(\.integerValue), "\(folder) × \(name)")
            checked.insert(folder)
        }
        XCTAssertEqual(checked.count, 3)
    }
}

private extension JinjaValue {
    var integerValue: Int? { if case .int(let i) = self { return i } else { return nil } }
}
