import Foundation
import XCTest
@testable import VidLMModels

/// The tokenizers against the `tokenizers` library (fixtures: tools/parity/make_tokenizer_fixtures.py).
enum TokenizerFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizers")
    static let kinds = ["gpt2", "roberta", "llama3", "qwen2", "llama2", "metaspace", "bert"]

    static func json(_ name: String) throws -> TokenizerJSON {
        try TokenizerJSON.parse(Data(contentsOf: root.appendingPathComponent(name)), file: name)
    }

    static func corpus() throws -> [String] {
        guard case .array(let items) = try json("corpus.json") else { throw XCTSkip("corpus.json is not a list") }
        return items.map { if case .string(let s) = $0 { return s } else { return "" } }
    }

    static func load(_ kind: String) throws -> Tokenizer {
        try Tokenizer.load(directory: root.appendingPathComponent(kind))
    }
}

extension TokenizerJSON {
    subscript(_ key: String) -> TokenizerJSON {
        if case .object(let o) = self, let v = o[TokenString(key)] { return v }
        return .null
    }
    var items: [TokenizerJSON] { if case .array(let a) = self { return a } else { return [] } }
    var int: Int? { if case .number(let d) = self { return Int(d) } else { return nil } }
    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var ints: [Int] { items.compactMap(\.int) }
    var strings: [String] { items.compactMap(\.string) }
}

/// Exact (scalar by scalar) string equality: Swift's `==` treats "é" and "e\u{301}" as equal.
private func same(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }

/// Shows a string with its invisible characters.
private func show(_ s: String) -> String {
    s.unicodeScalars.map { c in
        c.value < 0x20 || c.value >= 0x7F ? "\\u{\(String(c.value, radix: 16))}" : String(c)
    }.joined()
}

final class TokenizerParityTests: XCTestCase {
    /// Every corpus string through every tokenizer: ids with and without special tokens, the
    /// decoded text keeping and skipping special tokens, and the streaming detokenizer.
    func testCorpusMatchesTheLibrary() throws {
        let corpus = try TokenizerFixtures.corpus()
        var summary: [String] = []
        for kind in TokenizerFixtures.kinds {
            let tok = try TokenizerFixtures.load(kind)
            let expected = try TokenizerFixtures.json("expected_\(kind).json")
            let cases = expected["cases"].items
            XCTAssertEqual(cases.count, corpus.count, kind)
            var matched = 0
            for (i, text) in corpus.enumerated() where i < cases.count {
                let c = cases[i]
                var ok = true
                let ids = tok.encode(text, addSpecialTokens: false)
                if ids != c["ids"].ints {
                    ok = false
                    XCTFail("\(kind) #\(i) '\(show(text))': ids \(ids) != \(c["ids"].ints)")
                }
                let withSpecial = tok.encode(text)
                if withSpecial != c["ids_special"].ints {
                    ok = false
                    XCTFail("\(kind) #\(i) '\(show(text))': ids with special tokens \(withSpecial) != \(c["ids_special"].ints)")
                }
                let special = c["ids_special"].ints
                for (skip, key) in [(false, "decoded"), (true, "decoded_skip")] {
                    let want = c[key].string ?? "<missing>"
                    let got = tok.decode(special, skipSpecialTokens: skip)
                    if !same(got, want) {
                        ok = false
                        XCTFail("\(kind) #\(i) \(key): '\(show(got))' != '\(show(want))'")
                    }
                    var stream = tok.streamingDetokenizer(skipSpecialTokens: skip)
                    var chunks = ""
                    for id in special { chunks += stream.append(id) }
                    chunks += stream.finish()
                    if !same(chunks, want) {
                        ok = false
                        XCTFail("\(kind) #\(i) streaming \(key): '\(show(chunks))' != '\(show(want))'")
                    }
                }
                if ok { matched += 1 }
            }
            summary.append("\(kind) \(matched)/\(corpus.count)")
        }
        print("tokenizer parity: " + summary.joined(separator: ", "))
    }

    /// Random id sequences (byte tokens split mid-character, ids outside the vocabulary).
    func testDecodingArbitraryIdsMatchesTheLibrary() throws {
        for kind in TokenizerFixtures.kinds {
            let tok = try TokenizerFixtures.load(kind)
            let expected = try TokenizerFixtures.json("expected_\(kind).json")
            for (n, c) in expected["decode_cases"].items.enumerated() {
                let ids = c["ids"].ints
                for (skip, key) in [(false, "text"), (true, "text_skip")] {
                    let want = c[key].string ?? "<missing>"
                    XCTAssertTrue(same(tok.decode(ids, skipSpecialTokens: skip), want), "\(kind) decode case \(n) \(ids)")
                    var stream = tok.streamingDetokenizer(skipSpecialTokens: skip)
                    var chunks = ids.map { stream.append($0) }
                    chunks.append(stream.finish())
                    XCTAssertTrue(same(chunks.joined(), want), "\(kind) streaming decode case \(n)")
                }
            }
        }
    }

    func testVocabularyAndConfigMatchTheLibrary() throws {
        for kind in TokenizerFixtures.kinds {
            let tok = try TokenizerFixtures.load(kind)
            let expected = try TokenizerFixtures.json("expected_\(kind).json")
            XCTAssertEqual(tok.vocabularySize, expected["vocab_size"].int, kind)
            if case .object(let probes) = expected["token_ids"] {
                for (token, id) in probes {
                    XCTAssertEqual(tok.id(forToken: token.string), id.int, "\(kind) id(forToken: \(token))")
                }
            }
            XCTAssertEqual(tok.bosTokenId, expected["bos_token_id"].int, "\(kind) bos")
            XCTAssertEqual(tok.eosTokenIds.first, expected["eos_token_id"].int, "\(kind) eos")
            XCTAssertEqual(tok.padTokenId, expected["pad_token_id"].int, "\(kind) pad")
            XCTAssertEqual(tok.unkTokenId, expected["unk_token_id"].int, "\(kind) unk")
        }
        let llama2 = try TokenizerFixtures.load("llama2")
        XCTAssertEqual(llama2.modelMaxLength, 4096)
        XCTAssertNil(try TokenizerFixtures.load("metaspace").modelMaxLength)  // 1e30: no limit
        XCTAssertEqual(llama2.token(forId: 1), "<s>")
        XCTAssertTrue(llama2.isSpecialToken(1))
        XCTAssertFalse(llama2.isSpecialToken(llama2.id(forToken: "<video>")!))
    }

    /// Single normalizers, pre-tokenizers and decoders against the library.
    func testComponentsMatchTheLibrary() throws {
        let corpus = try TokenizerFixtures.corpus()
        let fixtures = try TokenizerFixtures.json("expected_components.json")
        let file = "expected_components.json"
        for (n, entry) in fixtures["normalizers"].items.enumerated() {
            let normalizer = try TextNormalizer.parse(entry["config"], path: "normalizers[\(n)]", file: file)
            for (i, want) in entry["outputs"].strings.enumerated() {
                var got = String()
                got.unicodeScalars.append(contentsOf: normalizer.normalize(Array(corpus[i].unicodeScalars)))
                XCTAssertEqual(show(got), show(want), "normalizer \(n) on #\(i)")
            }
        }
        for (n, entry) in fixtures["pre_tokenizers"].items.enumerated() {
            let pre = try TextPreTokenizer.parse(entry["config"], path: "pre_tokenizers[\(n)]", file: file)
            for (i, want) in entry["outputs"].items.enumerated() {
                var pieces = [TextPiece(scalars: Array(corpus[i].unicodeScalars), tokenId: nil, atStart: true)]
                if pieces[0].scalars.isEmpty { pieces = [] }
                pre.preTokenize(&pieces)
                let got = pieces.map { p -> String in
                    var s = String()
                    s.unicodeScalars.append(contentsOf: p.scalars)
                    return s
                }
                XCTAssertEqual(got.map(show), want.strings.map(show), "pre-tokenizer \(n) \(entry["config"]) on #\(i)")
            }
        }
        for (n, entry) in fixtures["decoders"].items.enumerated() {
            let decoder = try TokenDecoder.parse(entry["config"], path: "decoders[\(n)]", file: file)
            for (i, want) in entry["outputs"].items.enumerated() {
                guard let want = want.string else { continue }  // the library panics on this one
                var state = DecodingState(decoder: decoder)
                var got = entry["inputs"].items[i].strings.map { state.push($0) }.joined()
                got += state.finish()
                XCTAssertEqual(show(got), show(want), "decoder \(n) \(entry["config"]) on \(entry["inputs"].items[i].strings)")
            }
        }
    }
}

final class TokenizerBehaviourTests: XCTestCase {
    func testStreamingHoldsBackPartialCharacters() throws {
        // Byte fallback: nothing comes out until the <0xNN> run ends.
        let llama2 = try TokenizerFixtures.load("llama2")
        let bytes = ["<0xE2>", "<0x82>", "<0xAC>"].map { llama2.id(forToken: $0)! }
        var stream = llama2.streamingDetokenizer()
        XCTAssertEqual(bytes.map { stream.append($0) }, ["", "", ""])
        XCTAssertEqual(stream.append(llama2.id(forToken: "▁a")!), "€ a")
        XCTAssertEqual(stream.finish(), "")

        // Byte-level BPE: the three byte characters of '€' come out together.
        let gpt2 = try TokenizerFixtures.load("gpt2")
        let euro = "€".utf8.map { gpt2.id(forToken: String(ByteLevelAlphabet.byteToScalar[Int($0)]))! }
        var s2 = gpt2.streamingDetokenizer()
        XCTAssertEqual(euro.map { s2.append($0) }, ["", "", "€"])
        // An unfinished character at the end becomes U+FFFD, as decode does.
        var s3 = gpt2.streamingDetokenizer()
        XCTAssertEqual(s3.append(euro[0]), "")
        XCTAssertEqual(s3.finish(), "\u{FFFD}")
        XCTAssertEqual(gpt2.decode([euro[0]]), "\u{FFFD}")
    }

    func testRoundTripsAndSpecialTokensInText() throws {
        let qwen = try TokenizerFixtures.load("qwen2")
        let prompt = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is this?<|im_end|>\n"
        let ids = qwen.encode(prompt)
        XCTAssertEqual(ids.first, qwen.id(forToken: "<|im_start|>"))
        XCTAssertTrue(ids.contains(qwen.id(forToken: "<|image_pad|>")!))
        XCTAssertEqual(qwen.decode(ids), prompt)
        XCTAssertEqual(qwen.decode(ids, skipSpecialTokens: true), "user\nWhat is this?\n")

        let bert = try TokenizerFixtures.load("bert")
        let b = bert.encode("Hello world")
        XCTAssertEqual(b.first, bert.id(forToken: "[CLS]"))
        XCTAssertEqual(b.last, bert.id(forToken: "[SEP]"))
        XCTAssertEqual(bert.decode(b, skipSpecialTokens: true), "hello world")
    }

    func testOlderFileFormsLoad() throws {
        // No model "type", merges as "a b" strings, the legacy Metaspace fields (add_prefix_space,
        // str_rep) and a TemplateProcessing given as a string (an extension: the library writes lists).
        let legacy = #"""
        {"pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "str_rep": "▁", "add_prefix_space": true},
         "decoder": {"type": "Metaspace", "replacement": "▁", "add_prefix_space": true},
         "post_processor": {"type": "TemplateProcessing", "single": "<s> $A </s>",
                            "special_tokens": {"<s>": {"id": "<s>", "ids": [5], "tokens": ["<s>"]},
                                               "</s>": {"id": "</s>", "ids": [6], "tokens": ["</s>"]}}},
         "model": {"vocab": {"▁": 0, "a": 1, "b": 2, "▁a": 3, "▁ab": 4, "<s>": 5, "</s>": 6}, "merges": ["▁ a", "▁a b"]}}
        """#
        let tok = try Tokenizer(tokenizerJSON: Data(legacy.utf8))
        XCTAssertEqual(tok.encode("ab a", addSpecialTokens: false), [4, 3])
        XCTAssertEqual(tok.encode("ab"), [5, 4, 6])
        XCTAssertEqual(tok.decode([4, 3]), "ab a")

        let roberta = #"""
        {"post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 6], "cls": ["<s>", 5], "trim_offsets": true, "add_prefix_space": true},
         "model": {"type": "WordLevel", "vocab": {"a": 1, "<unk>": 0, "<s>": 5, "</s>": 6}, "unk_token": "<unk>"},
         "pre_tokenizer": {"type": "WhitespaceSplit"}}
        """#
        let r = try Tokenizer(tokenizerJSON: Data(roberta.utf8))
        XCTAssertEqual(r.encode("a b a"), [5, 1, 0, 1, 6])
    }

    func testConcurrentEncodingIsConsistent() async throws {
        let tok = try TokenizerFixtures.load("llama3")
        let corpus = try TokenizerFixtures.corpus()
        let serial = corpus.map { tok.encode($0) }
        let parallel = await withTaskGroup(of: (Int, [Int]).self) { group in
            for (i, text) in corpus.enumerated() { group.addTask { (i, tok.encode(text)) } }
            var out = [[Int]](repeating: [], count: corpus.count)
            for await (i, ids) in group { out[i] = ids }
            return out
        }
        XCTAssertEqual(parallel, serial)
    }

    func testLongPromptIsFast() throws {
        let tok = try TokenizerFixtures.load("llama3")
        let corpus = try TokenizerFixtures.corpus()
        let text = String(repeating: corpus.joined(separator: "\n"), count: 3)
        let start = Date()
        let ids = tok.encode(text)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThan(ids.count, 3000)
        XCTAssertEqual(tok.decode(ids, skipSpecialTokens: false).count, tok.decode(ids).count)
        XCTAssertLessThan(elapsed, 5, "\(ids.count) tokens took \(elapsed) s")
    }
}

final class TokenizerErrorTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private let minimal = #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}"#

    private func fails(_ json: String, config: String? = nil, _ expected: TokenizerError? = nil, containing text: String,
                       line: UInt = #line) {
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: Data(json.utf8), configJSON: config.map { Data($0.utf8) }), line: line) { error in
            guard let e = error as? TokenizerError else { return XCTFail("not a TokenizerError: \(error)", line: line) }
            if let expected { XCTAssertEqual(e, expected, line: line) }
            XCTAssertTrue(e.description.contains(text), "'\(e.description)' lacks '\(text)'", line: line)
            XCTAssertFalse(e.description.contains("\n"), line: line)
        }
    }

    func testMinimalTokenizerWorks() throws {
        let tok = try Tokenizer(tokenizerJSON: Data(minimal.utf8))
        XCTAssertEqual(tok.encode("abab"), [2, 2])
        XCTAssertEqual(tok.decode([2, 0]), "ab a")  // no decoder: tokens joined by spaces
        XCTAssertNil(tok.bosTokenId)
        XCTAssertEqual(tok.eosTokenIds, [])
    }

    func testUnsupportedComponentsAreNamed() {
        fails(#"{"model": {"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 0}}"#,
              .unsupported(file: "tokenizer.json", component: "model", type: "Unigram"), containing: "'Unigram' is not supported")
        fails(#"{"model": {"vocab": [["a", 0.0]], "unk_id": 0}}"#, containing: "Unigram")
        fails(#"{"pre_tokenizer": {"type": "UnicodeScripts"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
              .unsupported(file: "tokenizer.json", component: "pre-tokenizer", type: "UnicodeScripts"), containing: "UnicodeScripts")
        fails(#"{"normalizer": {"type": "Precompiled", "precompiled_charsmap": "AAA"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
              containing: "normalizer type 'Precompiled'")
        fails(#"{"decoder": {"type": "CTC"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#, containing: "decoder type 'CTC'")
        fails(#"{"post_processor": {"type": "Fancy"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
              containing: "post-processor type 'Fancy'")
        fails(#"{"model": {"type": "BPE", "vocab": {}, "merges": [], "dropout": 0.1}}"#, containing: "dropout")
    }

    func testMalformedFilesFailWithOneSentence() {
        fails("not json", containing: "is not valid JSON")
        fails(#"{"model": {"type": "BPE", "vocab": {"a": 0}"#, containing: "is not valid JSON")
        fails("[1, 2]", containing: "top level must be an object")
        fails("{}", containing: "'model' is missing")
        fails(#"{"model": {"type": "BPE", "vocab": [1], "merges": []}}"#, containing: "'model.vocab' must be an object, not a list")
        fails(#"{"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}}"#, containing: "'model.vocab.a' must be a whole number")
        fails(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a c"]}}"#, containing: "'c', which is not in the vocabulary")
        fails(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}}"#, containing: "'model.merges[0]' must be")
        fails(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}}"#, containing: "'<unk>', which is not in the vocabulary")
        fails(#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}}"#, containing: "'[UNK]', which is not in the vocabulary")
        fails(#"{"added_tokens": [{"id": 3, "content": 5}], "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
              containing: "'added_tokens[0].content' must be a string, not a number")
        fails(#"{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
              containing: "'pre_tokenizer.pattern.Regex' is not a regex")
        fails(#"{"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
              containing: "'pre_tokenizer.behavior' must be one of")
        fails(#"{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}], "special_tokens": {}}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
              containing: "'<s>', which 'special_tokens' does not define")
        fails(minimal, config: "{", containing: "tokenizer_config.json: is not valid JSON")
        fails(minimal, config: #"{"bos_token": 5}"#, containing: "'bos_token' must be a string or an AddedToken object, not a number")
        fails(minimal, config: #"{"add_bos_token": "yes"}"#, containing: "'add_bos_token' must be true or false, not a string")
        fails(minimal, config: #"{"model_max_length": "big"}"#, containing: "'model_max_length' must be a non-negative number")
    }

    func testMissingAndUnreadableFiles() throws {
        XCTAssertThrowsError(try Tokenizer.load(directory: folder)) { error in
            guard case .missingFile(let path)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("tokenizer.json"))
            XCTAssertTrue((error as! TokenizerError).description.hasSuffix("the file does not exist."))
        }
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("tokenizer.json"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try Tokenizer.load(directory: folder)) { error in
            XCTAssertEqual(error as? TokenizerError, .unreadable(file: "tokenizer.json", reason: "cannot be read."))
        }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tokenizer.json"))
        try Data(minimal.utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        XCTAssertNoThrow(try Tokenizer.load(directory: folder))  // tokenizer_config.json is optional
        try Data("{\"bos_token\": [".utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        XCTAssertThrowsError(try Tokenizer.load(directory: folder)) { error in
            XCTAssertTrue("\(error)".hasPrefix("tokenizer_config.json: is not valid JSON"), "\(error)")
        }
    }

    func testConfigOverridesAndAddsSpecialTokens() throws {
        // Without a post-processor in tokenizer.json, add_bos_token / add_eos_token add BOS / EOS;
        // a named special token that is only in the model vocabulary becomes an added (matchable,
        // skippable) token. (With a post-processor the flags are ignored, as transformers 5 does:
        // the metaspace fixture sets both.)
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "<s>": 2, "</s>": 3}, "merges": []}}"#
        let config = #"{"bos_token": "<s>", "eos_token": {"__type": "AddedToken", "content": "</s>", "special": true}, "add_bos_token": true, "add_eos_token": true, "pad_token": "<pad>"}"#
        let tok = try Tokenizer(tokenizerJSON: Data(json.utf8), configJSON: Data(config.utf8))
        XCTAssertEqual(tok.bosTokenId, 2)
        XCTAssertEqual(tok.eosTokenIds, [3])
        XCTAssertEqual(tok.padTokenId, 4)  // added after the vocabulary
        XCTAssertEqual(tok.vocabularySize, 5)
        XCTAssertEqual(tok.encode("ab</s>a"), [2, 0, 1, 3, 0, 3])
        XCTAssertEqual(tok.encode("ab", addSpecialTokens: false), [0, 1])
        XCTAssertEqual(tok.decode([2, 0, 3, 4], skipSpecialTokens: true), "a")
    }
}
