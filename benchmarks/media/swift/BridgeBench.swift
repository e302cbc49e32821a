// Bridge timer for benchmarks/bridge/run.sh: token merger + BLIP-2 Q-Former + language
// projection on ViT-g-shaped features.
//
//   vidlm-bench bridge DIR [--runs 3] [--clips static_8,motion_8,...] [--mergers none,spatial_pool,...]
//
// DIR (benchmarks/bridge/make_inputs.py): config.json (`qformer_config`, `num_query_tokens`,
// `text_hidden_size`, `grid_side`), model.safetensors (`query_tokens`, `qformer.*`,
// `language_projection.*`, and `merger.proj.*` for concat_linear) and features.safetensors (one
// [T, 1 + g², 1408] f32 tensor per clip). For every clip × merger: one untimed pass, then `--runs`
// timed passes of
//   merged = TokenMerger(features)                         (merge)
//   QFormerBridge.images(merged.tokens, logCounts: merged.encoderLogCounts)   (Q-Former + projection)
// Per-frame mergers give [T, L, 1408] (T sequences, the queries repeated per frame); the temporal
// merger gives one clip-level sequence [1, M, 1408], so `images` runs the Q-Former once with
// batch 1 (the same as `QFormer.callAsFunction(queries:encoder:encoderLogCounts:)` on the 32 query
// tokens, followed by the language projection). Prints one JSON object with a row per case.
import Foundation
import VidLMModels
import VidLMTensor

enum BridgeBench {
    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    static func mergerConfig(_ name: String) -> MergerConfig? {
        switch name {
        case "none": return MergerConfig.none
        case "spatial_pool": return .spatialPool(k: 2, proportionalAttention: true)
        case "temporal": return .temporal(tau: 0.9, proportionalAttention: true)
        case "concat_linear": return .concatLinear(k: 4, outSize: nil)
        default: return nil
        }
    }

    static func run(_ args: [String]) throws -> [String: Any] {
        ThreadBudget.configureBLAS()
        let dir = URL(fileURLWithPath: args[1])
        let runs = TextBench.value(args, "--runs", 3)
        let clips = (TextBench.string(args, "--clips") ?? "static_8,motion_8,static_32,motion_32").split(separator: ",").map(String.init)
        let mergerNames = (TextBench.string(args, "--mergers") ?? "none,spatial_pool,temporal,concat_linear").split(separator: ",").map(String.init)

        let configData = try Data(contentsOf: dir.appendingPathComponent("config.json"))
        guard let config = try JSONSerialization.jsonObject(with: configData) as? [String: Any],
              let qformerObject = config["qformer_config"],
              let queries = config["num_query_tokens"] as? Int,
              let textWidth = config["text_hidden_size"] as? Int,
              let gridSide = config["grid_side"] as? Int
        else { throw CocoaError(.coderReadCorrupt) }
        let qformerConfig = try ConfigError.decode(QFormerConfig.self, from: JSONSerialization.data(withJSONObject: qformerObject),
                                                   file: "config.json")
        let width = qformerConfig.encoderHiddenSize

        let t0 = now()
        let store = try WeightStore(file: dir.appendingPathComponent("model.safetensors"))
        let (bridge, mergers) = try WeightBinder.load(store) { weights in
            let bridge = try QFormerBridge(qformerConfig: qformerConfig, numQueryTokens: queries, textHiddenSize: textWidth,
                                           instructionAware: false, weights: weights)
            var mergers: [String: TokenMerger] = [:]
            for name in ["none", "spatial_pool", "temporal", "concat_linear"] {
                mergers[name] = try TokenMerger(config: mergerConfig(name)!, width: width, gridSide: gridSide,
                                                weights: name == "concat_linear" ? weights : nil)
            }
            return (bridge, mergers)
        }
        let loadSeconds = now() - t0
        let features = try WeightStore(file: dir.appendingPathComponent("features.safetensors"))

        var rows: [[String: Any]] = []
        for clip in clips {
            let x = try features.tensor(clip).toF32()
            for name in mergerNames {
                guard let merger = mergers[name] else { throw CocoaError(.featureUnsupported) }
                func pass() throws -> (MergedTokens, QFormerBridge.Output, Double, Double) {
                    let a = now()
                    let merged = try merger(x)
                    let b = now()
                    let out = try bridge.images(merged.tokens, logCounts: merged.encoderLogCounts)
                    return (merged, out, b - a, now() - b)
                }
                _ = try pass()
                var merge: [Double] = [], qformer: [Double] = []
                var last: (MergedTokens, QFormerBridge.Output)? = nil
                for _ in 0..<runs {
                    let (merged, out, m, q) = try pass()
                    merge.append(m)
                    qformer.append(q)
                    last = (merged, out)
                }
                let (merged, out) = last!
                let projected = out.projected.floats()
                rows.append([
                    "clip": clip, "merger": name, "frames": x.shape[0],
                    "tokens_in": x.shape[0] * x.shape[1],
                    "tokens_to_qformer": merged.tokens.shape[0] * merged.tokens.shape[1],
                    "sequences": merged.tokens.shape[0], "output_shape": out.projected.shape,
                    "merge_seconds": merge, "qformer_seconds": qformer,
                    "checksum": Double(projected.prefix(1000).reduce(0, +)),
                    "abs_mean": Double(projected.reduce(0) { $0 + abs($1) }) / Double(projected.count),
                ])
            }
        }
        return ["rows": rows, "load_seconds": loadSeconds, "threads": ThreadBudget.computeThreads]
    }
}
