import Foundation
import XCTest
import VidLMTestSupport
@testable import VidLMModels

/// SigLIP's SentencePiece tokenizer against transformers 5.23's `SiglipTokenizer` on two small
/// trained models (tools/parity/make_sentencepiece_fixtures.py): a unigram model and a BPE model
/// with byte fallback, both with the nmt_nfkc precompiled character map. Tokens and padded ids
/// equal for unicode, whitespace runs, punctuation, special tokens, empty and over-long texts.
final class SentencePieceTokenizerTests: XCTestCase {
    static func folder(_ kind: String) -> URL {
        TestFixtures.tests.appendingPathComponent("Fixtures/tokenizers/siglip_spiece_\(kind)")
    }

    func testTokensAndIdsEqualTransformers() throws {
        for kind in ["unigram", "bpe"] {
            let tok = try SiglipSentencePieceTokenizer.load(directory: Self.folder(kind))
            let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.folder(kind).appendingPathComponent("cases.json"))) as! [String: Any]
            XCTAssertEqual(tok.model.algorithm == .unigram ? "unigram" : "bpe", kind)
            for c in fixture["cases"] as! [[String: Any]] {
                let text = c["text"] as! String
                XCTAssertEqual(tok.tokenize(text), c["tokens"] as? [String], "\(kind) tokens of \(text.debugDescription)")
                var ids = tok.encode(text, truncatingTo: 64)
                ids += Array(repeating: tok.padTokenId ?? 0, count: 64 - ids.count)
                XCTAssertEqual(ids, c["input_ids"] as? [Int], "\(kind) ids of \(text.debugDescription)")
            }
        }
    }

    /// The library's own encoding (no SigLIP layer) on texts that reach the normalizer directly.
    func testCharsMapNormalization() throws {
        let model = try SentencePieceModel(contentsOf: Self.folder("unigram").appendingPathComponent("spiece.model"))
        XCTAssertNotNil(model.charsMap, "trained with nmt_nfkc")
        // NFKC through the map: full-width letters and the ideographic space become ASCII.
        XCTAssertEqual(String(decoding: model.normalize("ＦＵＬＬ　ｗｉｄｔｈ"), as: UTF8.self), "\u{2581}FULL\u{2581}width")
        XCTAssertEqual(String(decoding: model.normalize("  a   b  "), as: UTF8.self), "\u{2581}a\u{2581}b")
        XCTAssertEqual(model.normalize("   "), [])
    }

    /// Damaged files: one TokenizerError naming the file, never a crash (truncations, flipped
    /// bytes, random data, an empty file).
    func testMalformedProtobuf() throws {
        let good = try Data(contentsOf: Self.folder("unigram").appendingPathComponent("spiece.model"))
        XCTAssertThrowsError(try SentencePieceModel(data: Data())) { XCTAssertTrue("\($0)".contains("SentencePiece model"), "\($0)") }
        XCTAssertThrowsError(try SentencePieceModel(data: Data([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]))) {
            XCTAssertTrue("\($0)".contains("spiece.model"), "\($0)")
        }
        XCTAssertThrowsError(try SentencePieceModel(data: Data("not a protobuf at all".utf8)))
        var seed: UInt64 = 0x5EED
        func next() -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int(truncatingIfNeeded: seed >> 33) }
        for trial in 0..<300 {
            var bytes = [UInt8](good)
            switch trial % 3 {
            case 0: bytes = Array(bytes.prefix(next() % bytes.count))
            case 1: for _ in 0..<(1 + next() % 8) { bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next()) }
            default: bytes = (0..<(next() % 512)).map { _ in UInt8(truncatingIfNeeded: next()) }
            }
            let result = Result { () throws(TokenizerError) -> SentencePieceModel in try SentencePieceModel(data: Data(bytes)) }
            switch result {
            case .success(let model): _ = model.encode("A photo of a cat, ＦＵＬＬ 猫 😀")   // a model that loads must still encode
            case .failure(let e): XCTAssertTrue("\(e)".contains("spiece.model"), "\(e)")
            }
        }
    }
}
