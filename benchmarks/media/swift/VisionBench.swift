// Vision-tower and sgemm timers for benchmarks/vision/run.sh.
import Foundation
import VidLMModels
import VidLMTensor

enum VisionBench {
    static func value(_ args: [String], _ flag: String, _ fallback: Int) -> Int {
        guard let i = args.firstIndex(of: flag), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
        return v
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    static func run(_ args: [String]) throws -> [String: Any] {
        let repeats = value(args, "--repeat", 3)
        switch args[0] {
        case "sgemm":
            // Default: the ViT-L MLP shape for 8 frames (M = 8·257 tokens, K = 1024, N = 4096).
            let m = value(args, "--m", 2056), n = value(args, "--n", 4096), k = value(args, "--k", 1024)
            let a = Tensor(shape: [m, k], values: (0..<(m * k)).map { Float($0 % 7) * 0.01 })
            let b = Tensor(shape: [n, k], values: (0..<(n * k)).map { Float($0 % 5) * 0.01 })
            _ = a.linear(weight: b)
            var times: [Double] = []
            for _ in 0..<repeats {
                let t0 = now()
                _ = a.linear(weight: b)
                times.append(now() - t0)
            }
            let best = times.min()!
            return ["seconds": times, "gflops": 2.0 * Double(m * n * k) / best / 1e9, "m": m, "n": n, "k": k,
                    "threads": ThreadBudget.computeThreads]
        case "vision":
            let dir = URL(fileURLWithPath: args[1])
            let batch = value(args, "--batch", 8)
            let t0 = now()
            let vit = try VisionLoader.load(directory: dir).model
            let loadSeconds = now() - t0
            let c = vit.config
            let pixels = Tensor(shape: [batch, 3, c.imageSize, c.imageSize],
                                values: (0..<(batch * 3 * c.imageSize * c.imageSize)).map { Float(($0 * 7919) % 255) / 127.5 - 1 })
            var times: [Double] = []
            var checksum: Float = 0
            for _ in 0..<repeats {
                let t1 = now()
                let out = try vit(pixels)
                times.append(now() - t1)
                checksum = out.lastHiddenState.withFloats { $0.prefix(1000).reduce(0, +) }
            }
            return ["seconds": times, "batch": batch, "load_seconds": loadSeconds, "threads": ThreadBudget.computeThreads,
                    "gflop_per_frame": flopsPerFrame(c) / 1e9, "checksum": checksum]
        default:
            throw CocoaError(.featureUnsupported)
        }
    }

    /// Multiply-adds ×2 of one frame through the tower (GEMMs and attention products).
    static func flopsPerFrame(_ c: VisionConfig) -> Double {
        let n = Double(c.tokenCount), d = Double(c.hiddenSize), f = Double(c.intermediateSize)
        let patch = 2 * (n - 1) * d * Double(c.numChannels * c.patchSize * c.patchSize)
        let perLayer = 2 * n * d * 3 * d + 2 * n * n * d * 2 + 2 * n * d * d + 2 * n * d * f * 2
        return patch + Double(c.numHiddenLayers) * perLayer
    }
}
