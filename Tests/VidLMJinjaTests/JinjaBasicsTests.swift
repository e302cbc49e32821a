import XCTest
@testable import VidLMJinja

/// Engine behaviours with their expected strings taken from jinja2 3.1.6 configured as
/// transformers configures it (`_compile_jinja_template`), plus the limits that keep a bad
/// template from hanging. The template corpus parity lives in VidLMModelsTests.
final class JinjaBasicsTests: XCTestCase {
    private func render(_ source: String, _ context: [String: JinjaValue] = ["messages": .list([.string("p"), .string("q")])]) throws -> String {
        try JinjaTemplate(source).render(context)
    }

    func testMatchesJinja2() throws {
        let cases: [(String, String)] = [
            ("{% for m in messages %}\n  {{- m }}\n  {% if loop.last %}!{% endif %}\n{% endfor %}\n", "p\nq\n!"),
            ("a\n  {%+ if true %}x{% endif %}\n", "a\n  x"),
            ("a\n  {# c #}\nb\n", "a\nb"),
            ("{{ 1e16 }} {{ 1e-5 }} {{ 0.1 + 0.2 }} {{ 1.5e300 * 1e10 }} {{ 123456789012345.6 }}", "1e+16 1e-05 0.30000000000000004 inf 123456789012345.6"),
            ("{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", "231"),
            ("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "6"),
            ("{{ {'a': [1, 2.5, none, true], 'b': 'é\"\\n'} | tojson }}|{{ [1,{'x':2}] | tojson(indent=2) }}",
             "{\"a\": [1, 2.5, null, true], \"b\": \"é\\\"\\n\"}|[\n  1,\n  {\n    \"x\": 2\n  }\n]"),
            ("{{ ['it\\'s', \"q\\\"\", '\\x01', 'é'] }}", "[\"it's\", 'q\"', '\\x01', 'é']"),
            ("{{ '  a  b '.split() }} {{ 'a,b,,c'.split(',', 1) }} {{ 'AbC dEf'.title() }} {{ 'hello world' | title }}",
             "['a', 'b'] ['a', 'b,,c'] Abc Def Hello World"),
            ("{{ 'abcdef'[1:-1:2] }} {{ [1,2,3,4][::-1] }} {{ 'abc'[5:] }}", "bd [4, 3, 2, 1] "),
            ("{% macro m(a, b='B') %}[{{ a }}{{ b }}{{ varargs }}]{% endmacro %}{{ m(1) }}{{ m(1, 2, 3) }}", "[1B()][12(3,)]"),
            ("{% for x in 'abc' %}{{ loop.revindex }}{{ loop.cycle('x','y') }}{{ loop.previtem }}{% endfor %}", "3x2ya1xb"),
        ]
        for (source, expected) in cases {
            XCTAssertEqual(try render(source), expected, source)
        }
    }

    func testErrorsNameTheLine() {
        func failure(_ source: String) -> JinjaError? {
            do { _ = try render(source); return nil } catch let e as JinjaError { return e } catch { return nil }
        }
        XCTAssertEqual(failure("a\n{% if x %}\nb")?.line, 3)
        XCTAssertEqual(failure("a\n\n{{ foo.bar }}")?.message, "'foo' is undefined")
        XCTAssertEqual(failure("a\n\n{{ foo.bar }}")?.line, 3)
        XCTAssertEqual(failure("x\n{{ raise_exception('no system role') }}"), .raised("no system role", line: 2))
        if case .unsupported(_, let line)? = failure("\n{% include 'other.jinja' %}") { XCTAssertEqual(line, 2) } else { XCTFail("include") }
        XCTAssertEqual(failure("{{ 'a' | shout }}")?.description, "chat template line 1: no filter named 'shout'.")
    }

    func testLimitsStopRunawayTemplates() {
        let cases = [
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",         // recursion that does not end
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",  // 10¹⁰ iterations
            "{{ range(1000000) | length }}",                                  // the sandbox's range limit
            "{{ 'x' * 100000000 }}",                                          // a huge string
            String(repeating: "{% if true %}", count: 500),                   // nesting
            "{{ " + String(repeating: "(", count: 400) + "1" + String(repeating: ")", count: 400) + " }}",
        ]
        for source in cases {
            let start = ContinuousClock.now
            XCTAssertThrowsError(try render(source), String(source.prefix(40))) { error in
                XCTAssertTrue(error is JinjaError)
                XCTAssertGreaterThan((error as? JinjaError)?.line ?? 0, 0, "\(error)")
            }
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(20), String(source.prefix(40)))
        }
    }

    /// Values at the edges of 64-bit integers and of memory: an error or Python's answer, no trap.
    func testArithmeticEdgesNeverTrap() throws {
        let minInt = "(-9223372036854775807 - 1)"
        for source in ["{{ -\(minInt) }}", "{{ \(minInt) // -1 }}", "{{ \(minInt) % -1 }}", "{{ \(minInt) | abs }}",
                       "{{ 'ab' * 9223372036854775807 }}", "{{ [1] * 9223372036854775807 }}",
                       "{{ range(-9223372036854775807, 9223372036854775807) }}", "{{ '%99999d' % 1 }}",
                       "{{ 'x' | center(9223372036854775807) }}", "{{ 'x' | indent(9223372036854775807) }}",
                       "{{ 2 ** 63 }}", "{{ 9223372036854775807 + 1 }}", "{{ '1' | int(base=99) }}",
                       "{{ 1e300 | int }}", "{{ '%d' % 1e300 }}"] {
            XCTAssertThrowsError(try render(source), source)
        }
        XCTAssertEqual(try render("{{ \(minInt) is divisibleby(-1) }} {{ 'abc' | truncate(9223372036854775807) }} {{ range(9223372036854775806, 9223372036854775807) | list }}"),
                       "True abc [9223372036854775806]")
    }

    func testStrftimeNowIsTheLocalDate() throws {
        let year = Calendar.current.component(.year, from: Date())
        let rendered = try render("{{ strftime_now('%Y') }}")
        // Around midnight on New Year's Eve the two clocks may straddle the change.
        XCTAssertTrue([year, year + 1].map(String.init).contains(rendered), rendered)
    }

    func testJSONKeepsOrderAndIntegers() throws {
        let value = try JinjaJSON.parse(#"{"z": 1, "a": [1.0, 2, "\u00e9\ud83d\ude00"], "m": null}"#)
        XCTAssertEqual(try render("{{ v | tojson }} {{ v }}", ["v": value]),
                       #"{"z": 1, "a": [1.0, 2, "é😀"], "m": null} {'z': 1, 'a': [1.0, 2, 'é😀'], 'm': None}"#)
        XCTAssertThrowsError(try JinjaJSON.parse("{\"a\": }"))
    }
}
