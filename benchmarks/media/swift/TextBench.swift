// Decoder and memory-bandwidth timers for benchmarks/text/run.sh.
//
//   vidlm-bench text --model DIR [--prompt-tokens 128] [--new-tokens 64] [--runs 3]
//   vidlm-bench bandwidth [--mib 1024] [--runs 10]
//
// `text` loads the decoder with `LanguageModelLoader.load(directory:)` and runs
// `TextGenerator.generate` greedily with no stop tokens (exactly `--new-tokens` tokens) on a fixed
// prompt of `--prompt-tokens` ids. The token callback's timestamps split each run: prefill = start
// → first token (embedding, cache allocation, the 128-position forward pass, argmax); decode =
// first → last token (new-tokens − 1 single-position forward passes). One short untimed
// generation warms up first. `bandwidth` sums a buffer of floats with all compute threads
// (streaming reads, no writes) and reports GB/s per pass.
import Foundation
import VidLMModels
import VidLMTensor

enum TextBench {
    static func value(_ args: [String], _ flag: String, _ fallback: Int) -> Int {
        guard let i = args.firstIndex(of: flag), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
        return v
    }

    static func string(_ args: [String], _ flag: String) -> String? {
        guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
        return args[i + 1]
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// The benchmark prompt: deterministic ids spread over the vocabulary (the PyTorch side uses
    /// the same formula).
    static func promptIds(count: Int, vocabulary: Int) -> [Int] {
        (0..<count).map { 1 + ($0 * 7919) % (vocabulary - 1) }
    }

    static func run(_ args: [String]) throws -> [String: Any] {
        ThreadBudget.configureBLAS()
        switch args[0] {
        case "text": return try text(args)
        case "bandwidth": return bandwidth(args)
        default: throw CocoaError(.featureUnsupported)
        }
    }

    static func text(_ args: [String]) throws -> [String: Any] {
        guard let path = string(args, "--model") else { throw CocoaError(.fileNoSuchFile) }
        let promptTokens = value(args, "--prompt-tokens", 128)
        let newTokens = value(args, "--new-tokens", 64)
        let runs = value(args, "--runs", 3)
        let t0 = now()
        let model = try LanguageModelLoader.load(directory: URL(fileURLWithPath: path))
        let loadSeconds = now() - t0
        let ids = promptIds(count: promptTokens, vocabulary: model.vocabularySize)
        let generator = TextGenerator(model: model)
        _ = try generator.generate(.tokens(ids), parameters: GenerationParameters(maxNewTokens: 2, stopTokenIds: []))
        let parameters = GenerationParameters(maxNewTokens: newTokens, stopTokenIds: [])
        var prefill: [Double] = [], decode: [Double] = []
        var tokens: [Int] = []
        for _ in 0..<runs {
            var stamps: [Double] = []
            var generated: [Int] = []
            stamps.reserveCapacity(newTokens)
            let start = now()
            let finish = try generator.generate(.tokens(ids), parameters: parameters) { token in
                stamps.append(now())
                generated.append(token)
                return true
            }
            guard finish == .maxTokens, generated.count == newTokens else {
                throw CocoaError(.coderInvalidValue, userInfo: [NSDebugDescriptionErrorKey: "generation ended early: \(finish)"])
            }
            prefill.append(stamps[0] - start)
            decode.append(stamps[newTokens - 1] - stamps[0])
            tokens = generated
        }
        return ["prefill_seconds": prefill, "decode_seconds": decode, "decode_steps": newTokens - 1,
                "prompt_tokens": promptTokens, "new_tokens": newTokens, "tokens": tokens,
                "load_seconds": loadSeconds, "threads": ThreadBudget.computeThreads]
    }

    static func bandwidth(_ args: [String]) -> [String: Any] {
        let mib = value(args, "--mib", 1024)
        let runs = value(args, "--runs", 10)
        let count = mib * 1024 * 1024 / MemoryLayout<Float>.stride
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        for i in stride(from: 0, to: count, by: 1) { buffer[i] = Float(i & 1023) * 1e-3 }
        let threads = ThreadBudget.computeThreads
        let shared = SendablePointer(base: UnsafePointer(buffer))
        var seconds: [Double] = []
        var checksum: Float = 0
        for r in 0...runs {
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: threads)
            let sink = SendablePointer(base: UnsafePointer(partial))
            let t0 = now()
            DispatchQueue.concurrentPerform(iterations: threads) { c in
                let lo = count * c / threads, hi = count * (c + 1) / threads
                UnsafeMutablePointer(mutating: sink.base)[c] = sum(shared.base + lo, hi - lo)
            }
            let dt = now() - t0
            checksum = (0..<threads).reduce(0) { $0 + partial[$1] }
            partial.deallocate()
            if r > 0 { seconds.append(dt) }   // pass 0 warms the threads up
        }
        let bytes = Double(count * MemoryLayout<Float>.stride)
        return ["seconds": seconds, "bytes": bytes, "gbps": seconds.map { bytes / $0 / 1e9 },
                "threads": threads, "checksum": checksum]
    }

    struct SendablePointer: @unchecked Sendable { let base: UnsafePointer<Float> }

    /// Streaming sum with eight independent 16-wide accumulators (enough loads in flight to
    /// saturate the memory system rather than the add latency).
    @inline(never)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(),
                   SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())
        let v = UnsafeRawPointer(p)
        let blocks = n / 128
        for b in 0..<blocks {
            let q = v + b * 512
            acc.0 += q.loadUnaligned(fromByteOffset: 0, as: SIMD16<Float>.self)
            acc.1 += q.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            acc.2 += q.loadUnaligned(fromByteOffset: 128, as: SIMD16<Float>.self)
            acc.3 += q.loadUnaligned(fromByteOffset: 192, as: SIMD16<Float>.self)
            acc.4 += q.loadUnaligned(fromByteOffset: 256, as: SIMD16<Float>.self)
            acc.5 += q.loadUnaligned(fromByteOffset: 320, as: SIMD16<Float>.self)
            acc.6 += q.loadUnaligned(fromByteOffset: 384, as: SIMD16<Float>.self)
            acc.7 += q.loadUnaligned(fromByteOffset: 448, as: SIMD16<Float>.self)
        }
        var total = ((acc.0 + acc.1) + (acc.2 + acc.3) + (acc.4 + acc.5) + (acc.6 + acc.7)).sum()
        for i in (blocks * 128)..<n { total += p[i] }
        return total
    }
}
