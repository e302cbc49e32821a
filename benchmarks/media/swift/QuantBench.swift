// Quantization quality for docs/quantization.md (benchmarks/quant/run.sh):
//
//   vidlm-bench agreement --model DIR --quantized QDIR [--positions 512]
//   (with --media FILE: a vision-language family end to end, FamilyAgreementBench.swift)
//
// Runs the same prompt (TextBench's deterministic ids) through both decoders with logits at every
// position and reports top-1 agreement of the next-token distributions and their mean
// KL(unquantized ‖ quantized) in nats.
import Foundation
import VidLMModels
import VidLMTensor

enum QuantBench {
    static func run(_ args: [String]) throws -> [String: Any] {
        ThreadBudget.configureBLAS()
        guard let a = TextBench.string(args, "--model"), let b = TextBench.string(args, "--quantized") else {
            throw CocoaError(.fileNoSuchFile)
        }
        let positions = TextBench.value(args, "--positions", 512)
        let reference = try logits(a, positions: positions)
        let quantized = try logits(b, positions: positions)
        let vocabulary = reference.count / positions
        var agree = 0
        var kl = 0.0
        for p in 0..<positions {
            let r = Array(reference[(p * vocabulary)..<((p + 1) * vocabulary)])
            let q = Array(quantized[(p * vocabulary)..<((p + 1) * vocabulary)])
            if argmax(r) == argmax(q) { agree += 1 }
            let lr = logSoftmax(r), lq = logSoftmax(q)
            var s = 0.0
            for i in 0..<vocabulary { s += exp(lr[i]) * (lr[i] - lq[i]) }
            kl += s
        }
        return ["positions": positions, "top1_agreement": Double(agree) / Double(positions),
                "mean_kl_nats": kl / Double(positions), "threads": ThreadBudget.computeThreads]
    }

    static func logits(_ path: String, positions: Int) throws -> [Float] {
        let model = try LanguageModelLoader.load(directory: URL(fileURLWithPath: path))
        let ids = TextBench.promptIds(count: positions, vocabulary: model.vocabularySize)
        var cache = model.makeCache(capacity: positions)
        return try model.forward(inputEmbeddings: try model.embed(ids), cache: &cache, logits: .all).floats()
    }

    static func argmax(_ v: [Float]) -> Int { v.indices.max { v[$0] < v[$1] } ?? 0 }

    static func logSoftmax(_ v: [Float]) -> [Double] {
        let m = Double(v.max() ?? 0)
        let lse = m + log(v.reduce(0.0) { $0 + exp(Double($1) - m) })
        return v.map { Double($0) - lse }
    }
}
