// One vision-language family end to end, quantized against unquantized (issue 25's quality rows):
//
//   vidlm-bench agreement --model DIR --quantized QDIR --media FILE [--question Q] [--frames N]
//                         [--positions 512]
//
// Both models encode the same media with their own towers and build the prompt with their own
// processor and chat template (prompt ids must come out identical), prefill it with logits at
// every position, and compare the next-token distributions of the last `--positions` positions
// (the visual span and the question): top-1 agreement and mean KL(unquantized ‖ quantized).
import Foundation
import VidLM
import VidLMModels
import VidLMTensor

enum FamilyAgreementBench {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func run(_ args: [String], media: String) async throws -> [String: Any] {
        guard let a = TextBench.string(args, "--model"), let b = TextBench.string(args, "--quantized") else {
            throw Failure(description: "agreement needs --model DIR and --quantized QDIR")
        }
        let question = TextBench.string(args, "--question") ?? "What is in the image?"
        let frames = TextBench.value(args, "--frames", 8)
        let positions = TextBench.value(args, "--positions", 512)
        let reference = try await promptLogits(a, media: media, question: question, frames: frames)
        let quantized = try await promptLogits(b, media: media, question: question, frames: frames)
        guard reference.ids == quantized.ids else { throw Failure(description: "the two models built different prompt ids") }
        let count = reference.ids.count, used = min(positions, count)
        let vocabulary = reference.logits.count / count
        var agree = 0
        var kl = 0.0
        for p in (count - used)..<count {
            let r = Array(reference.logits[(p * vocabulary)..<((p + 1) * vocabulary)])
            let q = Array(quantized.logits[(p * vocabulary)..<((p + 1) * vocabulary)])
            if QuantBench.argmax(r) == QuantBench.argmax(q) { agree += 1 }
            let lr = QuantBench.logSoftmax(r), lq = QuantBench.logSoftmax(q)
            var s = 0.0
            for i in 0..<vocabulary { s += exp(lr[i]) * (lr[i] - lq[i]) }
            kl += s
        }
        return ["positions": used, "prompt_tokens": count, "top1_agreement": Double(agree) / Double(used),
                "mean_kl_nats": kl / Double(used), "media": media, "threads": ThreadBudget.computeThreads]
    }

    /// The prompt's ids and its logits at every position.
    static func promptLogits(_ path: String, media: String, question: String, frames: Int) async throws -> (ids: [Int], logits: [Float]) {
        let engine = try await Engine.load(directory: URL(fileURLWithPath: path))
        let encoded = try await engine.encodedMedia(.media(path: media), options: AskOptions(frames: frames))
        let prompt = try engine.model.prepare(PromptRequest(messages: ChatMessage.oneTurn(question, about: encoded.kind),
                                                            media: [encoded]))
        var cache = engine.model.language.makeCache(capacity: prompt.embeddings.shape[0])
        let logits = try engine.model.language.prefill(inputEmbeddings: prompt.embeddings, positions: prompt.positions,
                                                       cache: &cache, logits: .all)
        return (prompt.inputIds, logits.floats())
    }
}
