import Foundation
import FuzzSupport
import VidLMModels

// A fixed, valid tokenizer (one of the committed fixtures, chosen by the first byte) and fuzzed
// text: the rest of the input is encoded as text (invalid UTF-8 becomes U+FFFD), and read as
// little-endian 16-bit ids (taken modulo the vocabulary size + 8, minus 4, so unknown and
// negative ids occur) to decode and stream-detokenize.

private let tokenizers: [Tokenizer] = ["gpt2", "llama2", "llama3", "metaspace", "qwen2", "roberta", "bert"].map { name in
    do {
        return try Tokenizer.load(directory: FuzzSupport.fixture("tokenizers/\(name)"))
    } catch {
        fatalError("fuzz: the fixture tokenizer \(name) does not load: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerText(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let tokenizer = tokenizers[Int(bytes[0]) % tokenizers.count]
    let rest = UnsafeBufferPointer(start: bytes + 1, count: size - 1)
    let text = String(decoding: rest, as: UTF8.self)

    let ids = tokenizer.encode(text, addSpecialTokens: true)
    _ = tokenizer.encode(text, addSpecialTokens: false)
    _ = tokenizer.decode(ids)
    _ = tokenizer.decode(ids, skipSpecialTokens: true)

    let span = tokenizer.vocabularySize + 8
    var raw: [Int] = []
    var i = 0
    while i + 1 < rest.count {
        raw.append(Int(UInt16(rest[i]) | UInt16(rest[i + 1]) << 8) % span - 4)
        i += 2
    }
    for skip in [false, true] {
        let whole = tokenizer.decode(raw, skipSpecialTokens: skip)
        var stream = tokenizer.streamingDetokenizer(skipSpecialTokens: skip)
        var pieces = ""
        for id in raw { pieces += stream.append(id) }
        pieces += stream.finish()
        // Documented: the chunks always add up to decode(allIds).
        precondition(whole.unicodeScalars.elementsEqual(pieces.unicodeScalars),
                     "streamed \(pieces.debugDescription) != decoded \(whole.debugDescription)")
        precondition(stream.text.unicodeScalars.elementsEqual(pieces.unicodeScalars))
    }
    return 0
}
