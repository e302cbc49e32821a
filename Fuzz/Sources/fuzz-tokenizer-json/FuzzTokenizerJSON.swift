import Foundation
import FuzzSupport
import VidLMModels

// The input is tokenizer.json, then optionally a NUL byte and tokenizer_config.json, then
// optionally a NUL byte and a text to encode. (Seeds: the committed tokenizers, with texts.)
// Building must fail with a TokenizerError or give a tokenizer that encodes and decodes
// anything without trapping.

private let fallbackText = "Hello world! <s> [CLS] héllo 日本語 \u{1F600}  tabs\tand\nnew lines 12345"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = FuzzSupport.split(bytes, size, parts: 3)
    let configJSON = parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil
    let tokenizer: Tokenizer
    do {
        tokenizer = try Tokenizer(tokenizerJSON: parts[0], configJSON: configJSON)
    } catch {
        FuzzSupport.note(error.description)
        return 0
    }
    let text = parts.count > 2 ? String(decoding: parts[2], as: UTF8.self) : fallbackText
    FuzzSupport.note("tokenizer of \(tokenizer.vocabularySize) tokens")
    TokenizerExercise.run(tokenizer, text: text)
    return 0
}

enum TokenizerExercise {
    static func run(_ tokenizer: Tokenizer, text: String) {
        let withSpecial = tokenizer.encode(text, addSpecialTokens: true)
        let plain = tokenizer.encode(text, addSpecialTokens: false)
        for ids in [withSpecial, plain] {
            for skip in [false, true] {
                let whole = tokenizer.decode(ids, skipSpecialTokens: skip)
                var stream = tokenizer.streamingDetokenizer(skipSpecialTokens: skip)
                var pieces = ""
                for id in ids { pieces += stream.append(id) }
                pieces += stream.finish()
                // Documented: the chunks always add up to decode(allIds).
                precondition(whole.unicodeScalars.elementsEqual(pieces.unicodeScalars),
                             "streamed \(pieces.debugDescription) != decoded \(whole.debugDescription)")
            }
            for id in ids.prefix(64) {
                _ = tokenizer.isSpecialToken(id)
                if let token = tokenizer.token(forId: id) { _ = tokenizer.id(forToken: token) }
            }
        }
        // Ids no vocabulary has.
        let n = tokenizer.vocabularySize
        let odd = [-1, n, n + 1, Int.max, Int.min, 0]
        _ = tokenizer.decode(odd)
        _ = tokenizer.decode(odd, skipSpecialTokens: true)
        var stream = tokenizer.streamingDetokenizer(skipSpecialTokens: true)
        for id in odd { _ = stream.append(id) }
        _ = stream.finish()
    }
}
