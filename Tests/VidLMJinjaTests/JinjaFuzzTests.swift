import Foundation
import VidLMTestSupport
import XCTest
@testable import VidLMJinja

/// Mutation fuzzing of the lexer, parser and evaluator: corpus templates with random edits
/// (characters deleted, duplicated, replaced by Jinja punctuation, spans moved) must either
/// render or fail with a `JinjaError` — never trap, hang or recurse without bound. Seeded, so a
/// failure reproduces.
final class JinjaFuzzTests: XCTestCase {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
    }

    func testMutatedTemplatesNeverCrash() throws {
        let folder = TestFixtures.tests.appendingPathComponent("Fixtures/chat_templates/templates")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".jinja") }.sorted()
        XCTAssertGreaterThan(files.count, 20)
        let sources = try files.map { Array(try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8).unicodeScalars) }
        let messages = try JinjaJSON.parse("""
            [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]},
             {"role": "assistant", "content": "ok", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
             {"role": "tool", "content": "{}"}, {"role": "user", "content": "again"}]
            """)
        let context: [String: JinjaValue] = ["messages": messages, "add_generation_prompt": .bool(true), "tools": .none,
                                             "documents": .none, "bos_token": .string("<s>"), "eos_token": .string("</s>")]
        let pieces: [String] = ["{%", "%}", "{{", "}}", "{#", "#}", "-", "+", "(", ")", "[", "]", "{", "}", "'", "\"", "|", ".",
                                ",", ":", "=", "==", "~", "*", "**", "/", "//", "%", " if ", " else ", " endif ", " for ", " in ",
                                " endfor ", " macro ", " set ", " is ", " not ", "loop", "\\", "\n", "é", "\u{0}", "9999999999999999999"]
        var rng = SplitMix(state: 0x5EED)
        var rendered = 0, failed = 0
        let limits: JinjaLimits = { var l = JinjaLimits(); l.iterations = 20_000; l.size = 1 << 20; return l }()
        for round in 0..<3000 {
            var s = sources[round % sources.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !s.isEmpty {
                let at = Int.random(in: 0..<s.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: s.remove(at: at)
                case 1: s.insert(contentsOf: pieces.randomElement(using: &rng)!.unicodeScalars, at: at)
                case 2:
                    let end = min(s.count, at + Int.random(in: 1...40, using: &rng))
                    s.insert(contentsOf: s[at..<end], at: Int.random(in: 0...s.count, using: &rng))
                default:
                    let end = min(s.count, at + Int.random(in: 1...20, using: &rng))
                    s.removeSubrange(at..<end)
                }
            }
            let source = String(String.UnicodeScalarView(s))
            do {
                _ = try JinjaTemplate(source, limits: limits).render(context)
                rendered += 1
            } catch {
                failed += 1
                XCTAssertFalse("\(error)".isEmpty)
            }
        }
        // Both outcomes occur: the mutations are neither all harmless nor all fatal.
        XCTAssertGreaterThan(rendered, 100)
        XCTAssertGreaterThan(failed, 100)
    }
}
