import Foundation
import VidLMTensor

/// The Qwen-VL vision tower's configuration (`Qwen2VLVisionConfig`, `Qwen2_5_VLVisionConfig`,
/// `Qwen3VLVisionConfig`) with transformers' defaults for absent fields.
public struct QwenVisionConfig: Sendable, Equatable {
    /// Qwen2-VL: LayerNorm + two-layer MLP, every block attends within a frame. Qwen2.5-VL:
    /// RMSNorm + SwiGLU, window attention except in `fullAttentionBlocks`. Qwen3-VL: LayerNorm +
    /// two-layer MLP with biases (patch embedding too), learned position embeddings interpolated
    /// to the grid, DeepStack mergers after `deepstackIndexes`.
    public enum Flavor: Sendable, Equatable { case qwen2, qwen2_5, qwen3 }

    public var flavor: Flavor
    public var depth: Int
    public var width: Int
    public var heads: Int
    public var intermediateSize: Int
    public var outputWidth: Int
    public var activation: Activation
    public var patchSize: Int
    public var temporalPatchSize: Int
    public var mergeSize: Int
    public var channels: Int
    public var ropeTheta: Double
    /// Qwen2.5-VL: the attention window in pixels and the blocks that attend over the whole frame.
    public var windowSize: Int
    public var fullAttentionBlocks: [Int]
    /// Qwen3-VL: rows of the learned position table (a square grid) and the blocks whose output
    /// feeds a DeepStack merger (their features go to decoder layers 0, 1, … in block order).
    public var positionEmbeddings: Int
    public var deepstackIndexes: [Int]

    public var headDim: Int { width / heads }
    /// Floats of one flattened patch as the processor writes it: channel × time × patch².
    public var patchFloats: Int { channels * temporalPatchSize * patchSize * patchSize }

    /// Reads `vision_config` (`file` names the config in errors).
    public init(_ v: [String: Any], flavor: Flavor, file: String) throws {
        func int(_ key: String, _ fallback: Int) throws -> Int {
            guard let raw = v[key], !(raw is NSNull) else { return fallback }
            guard let n = raw as? Int, n > 0 else { throw ConfigError(file: file, "'vision_config.\(key)' must be a positive integer.") }
            return n
        }
        self.flavor = flavor
        let qwen2 = flavor == .qwen2, qwen2_5 = flavor == .qwen2_5, qwen3 = flavor == .qwen3
        depth = try int("depth", qwen3 ? 27 : 32)
        width = try int(qwen2 ? "embed_dim" : "hidden_size", qwen2 ? 1280 : qwen3 ? 1152 : 3584)
        heads = try int("num_heads", 16)
        intermediateSize = qwen2 ? width * (try int("mlp_ratio", 4)) : try int("intermediate_size", qwen3 ? 4304 : 3420)
        outputWidth = try int(qwen2 ? "hidden_size" : "out_hidden_size", qwen2 ? 3584 : 3584)
        let act = v["hidden_act"] as? String ?? (qwen2 ? "quick_gelu" : qwen3 ? "gelu_pytorch_tanh" : "silu")
        guard let a = Activation(configName: act) else { throw ConfigError(file: file, "'vision_config.hidden_act' \"\(act)\" is not supported.") }
        activation = a
        patchSize = try int("patch_size", qwen3 ? 16 : 14)
        temporalPatchSize = try int("temporal_patch_size", 2)
        mergeSize = try int("spatial_merge_size", 2)
        channels = try int("in_channels", 3)
        let rope = v["rope_parameters"] as? [String: Any]
        ropeTheta = (rope?["rope_theta"] as? Double) ?? (rope?["rope_theta"] as? Int).map(Double.init) ?? 10000
        windowSize = try int("window_size", 112)
        fullAttentionBlocks = (v["fullatt_block_indexes"] as? [Int]) ?? (qwen2_5 ? [7, 15, 23, 31] : [])
        positionEmbeddings = qwen3 ? try int("num_position_embeddings", 2304) : 0
        deepstackIndexes = qwen3 ? ((v["deepstack_visual_indexes"] as? [Int]) ?? [8, 16, 24]) : []
        if qwen3 {
            let side = Int(Double(positionEmbeddings).squareRoot())
            guard side * side == positionEmbeddings else {
                throw ConfigError(file: file, "'vision_config.num_position_embeddings' (\(positionEmbeddings)) must be a square (a grid of learned positions).")
            }
            guard deepstackIndexes.allSatisfy({ $0 >= 0 && $0 < depth }), Set(deepstackIndexes).count == deepstackIndexes.count else {
                throw ConfigError(file: file, "'vision_config.deepstack_visual_indexes' \(deepstackIndexes) must name distinct blocks below depth \(depth).")
            }
        }
        guard width % heads == 0, headDim % 4 == 0 else {
            throw ConfigError(file: file, "the vision width \(width) must split into \(heads) heads of a multiple of 4 (2-D rotary positions).")
        }
        if qwen2_5, windowSize % (patchSize * mergeSize) != 0 {
            throw ConfigError(file: file, "'vision_config.window_size' (\(windowSize)) must be a multiple of patch_size × spatial_merge_size.")
        }
    }
}

/// One picture's or clip's patch grid: `t` temporal patches (frame pairs) of `h` × `w` patches.
public struct PatchGrid: Sendable, Equatable {
    public let t: Int, h: Int, w: Int
    public init(t: Int, h: Int, w: Int) { self.t = t; self.h = h; self.w = w }
    public var patches: Int { t * h * w }
}

/// The Qwen2-VL / Qwen2.5-VL / Qwen3-VL ViT (`Qwen2VisionTransformerPretrainedModel`,
/// `Qwen2_5_VisionTransformerPretrainedModel`, `Qwen3VLVisionModel`): a Conv3d patch embedding
/// over `temporal_patch_size` frames (a matrix product: the kernel covers the whole patch),
/// Qwen3-VL's learned positions added, 2-D rotary positions (height, width) on q and k, pre-norm
/// blocks, then the 2×2 patch merger MLP (and Qwen3-VL's DeepStack mergers). Patches arrive in
/// the processor's order (each 2×2 merge block's four patches consecutive). Computes in f32.
public struct QwenVisionTower: Sendable {
    public let config: QwenVisionConfig
    let patchEmbed: Linear
    let blocks: [Block]
    let merger: Merger
    /// Qwen3-VL: the learned position table [side², width] and one merger per DeepStack block.
    let positionTable: Tensor?
    let deepstackMergers: [Merger]
    let inverseFrequencies: [Float]

    /// Norm → 2×2 concatenation → Linear → GELU → Linear. DeepStack mergers normalise after the
    /// concatenation (`use_postshuffle_norm`).
    struct Merger: Sendable {
        let norm: any TensorLayer
        let up: Linear
        let down: Linear
        let normAfterShuffle: Bool
    }

    struct Block: Sendable {
        let norm1: any TensorLayer
        let norm2: any TensorLayer
        let qkv: Linear
        let proj: Linear
        let mlp: any TensorLayer
    }

    /// Projections keep their stored dtype (a bf16 checkpoint's tower runs the bf16 GEMM and
    /// holds half the bytes of a widened copy); activations are f32 throughout.
    public init(config: QwenVisionConfig, weights: ParameterSource, prefix: String) throws {
        self.config = config
        let e = config.width, p = config.patchSize
        let qwen3 = config.flavor == .qwen3
        let conv = try weights.take(prefix + "patch_embed.proj.weight", shape: [e, config.channels, config.temporalPatchSize, p, p]).toF32()
        patchEmbed = Linear(weight: conv.reshaped([e, config.patchFloats]),
                            bias: qwen3 ? try weights.take(prefix + "patch_embed.proj.bias", shape: [e]).toF32() : nil)
        func norm(_ name: String, _ width: Int) throws -> any TensorLayer {
            config.flavor == .qwen2_5 ? try RMSNorm(weights, name, width: width, eps: 1e-6)
                                      : try LayerNorm(weights, name, width: width, eps: 1e-6)
        }
        var blocks: [Block] = []
        for i in 0..<config.depth {
            let b = prefix + "blocks.\(i)."
            let mlp: any TensorLayer
            if qwen3 {
                mlp = FeedForward(up: try Linear(weights, b + "mlp.linear_fc1", input: e, output: config.intermediateSize),
                                  down: try Linear(weights, b + "mlp.linear_fc2", input: config.intermediateSize, output: e),
                                  activation: config.activation)
            } else if config.flavor == .qwen2 {
                mlp = FeedForward(up: try Linear(weights, b + "mlp.fc1", input: e, output: config.intermediateSize),
                                  down: try Linear(weights, b + "mlp.fc2", input: config.intermediateSize, output: e),
                                  activation: config.activation)
            } else {
                mlp = GatedFeedForward(gate: try Linear(weights, b + "mlp.gate_proj", input: e, output: config.intermediateSize),
                                       up: try Linear(weights, b + "mlp.up_proj", input: e, output: config.intermediateSize),
                                       down: try Linear(weights, b + "mlp.down_proj", input: config.intermediateSize, output: e),
                                       activation: config.activation)
            }
            blocks.append(Block(norm1: try norm(b + "norm1", e), norm2: try norm(b + "norm2", e),
                                qkv: try Linear(weights, b + "attn.qkv", input: e, output: 3 * e),
                                proj: try Linear(weights, b + "attn.proj", input: e, output: e), mlp: mlp))
        }
        self.blocks = blocks
        let merged = e * config.mergeSize * config.mergeSize
        if qwen3 {
            func bindMerger(_ name: String, afterShuffle: Bool) throws -> Merger {
                Merger(norm: try norm(name + "norm", afterShuffle ? merged : e),
                       up: try Linear(weights, name + "linear_fc1", input: merged, output: merged),
                       down: try Linear(weights, name + "linear_fc2", input: merged, output: config.outputWidth),
                       normAfterShuffle: afterShuffle)
            }
            merger = try bindMerger(prefix + "merger.", afterShuffle: false)
            deepstackMergers = try config.deepstackIndexes.indices.map { try bindMerger(prefix + "deepstack_merger_list.\($0).", afterShuffle: true) }
            positionTable = try weights.take(prefix + "pos_embed.weight", shape: [config.positionEmbeddings, e]).toF32()
        } else {
            merger = Merger(norm: try norm(prefix + "merger.ln_q", e),
                            up: try Linear(weights, prefix + "merger.mlp.0", input: merged, output: merged),
                            down: try Linear(weights, prefix + "merger.mlp.2", input: merged, output: config.outputWidth),
                            normAfterShuffle: false)
            deepstackMergers = []
            positionTable = nil
        }
        // Axial rotary: Dh/4 frequencies over a Dh/2-wide space, shared by height and width.
        let spatial = config.headDim / 2
        inverseFrequencies = (0..<(spatial / 2)).map { i in 1 / powf(Float(config.ropeTheta), Float(2 * i) / Float(spatial)) }
    }

    /// Visual tokens of a grid (after the 2×2 merge).
    public func tokens(_ grid: PatchGrid) -> Int { grid.patches / (config.mergeSize * config.mergeSize) }

    /// Patches [grid.patches, patchFloats] of one picture or clip → merged features [tokens, outputWidth].
    public func callAsFunction(_ patches: Tensor, grid: PatchGrid) throws -> Tensor {
        try features(patches, grid: grid).merged
    }

    /// The merged features and, for Qwen3-VL, the DeepStack features [tokens, outputWidth] of
    /// each `deepstackIndexes` block, in block order (decoder layer i takes the i-th).
    ///
    /// A clip runs `slicesPerBatch` temporal patches at a time (default: as many frames as
    /// `ThreadBudget.visionBatch` allows for one slice's patches). Every attention segment, full or
    /// windowed, lies within one temporal patch (transformers' `cu_seqlens`) and the other steps
    /// work row by row, so the features are the same; the activations are those of one batch
    /// (a 20-frame 720p clip through Qwen2.5-VL-3B's tower held all 28,800 patches at once).
    public func features(_ patches: Tensor, grid: PatchGrid, slicesPerBatch: Int? = nil) throws -> (merged: Tensor, deepstack: [Tensor]) {
        guard patches.rank == 2, patches.shape == [grid.patches, config.patchFloats] else {
            throw ConfigError(file: "pixel_values", "a \(grid.t)×\(grid.h)×\(grid.w) grid needs [\(grid.patches), \(config.patchFloats)] patches, got \(patches.shape)")
        }
        let m = config.mergeSize
        guard grid.h % m == 0, grid.w % m == 0 else {
            throw ConfigError(file: "pixel_values", "the patch grid \(grid.h)×\(grid.w) is not a multiple of the merge size \(m)")
        }
        let perFrame = grid.h * grid.w
        let batch = max(1, slicesPerBatch ?? ThreadBudget.visionBatch(tokensPerFrame: perFrame))
        guard grid.t > batch else { return features(ofSlices: patches, grid: grid) }
        let parts = stride(from: 0, to: grid.t, by: batch).map { t0 in
            let t1 = min(grid.t, t0 + batch)
            return features(ofSlices: patches.rows((t0 * perFrame)..<(t1 * perFrame)), grid: PatchGrid(t: t1 - t0, h: grid.h, w: grid.w))
        }
        return (Tensor.concatenate(parts.map(\.merged)),
                config.deepstackIndexes.indices.map { k in Tensor.concatenate(parts.map { $0.deepstack[k] }) })
    }

    /// `features` on checked patches of whole temporal patches, in one pass.
    private func features(ofSlices patches: Tensor, grid: PatchGrid) -> (merged: Tensor, deepstack: [Tensor]) {
        var x = patchEmbed(patches.toF32())
        if let table = positionTable { x = x + interpolatedPositions(table, grid: grid) }
        var rotary = rotaryTable(grid)
        let layout = attentionLayout(grid)
        // The blocks run in the layout's row order (every other step is row by row); the rows go
        // back to the processor's order before merging.
        if let order = layout.order {
            x = x.gatherRows(order)
            let half = config.headDim / 2
            func permuted(_ table: [Float]) -> [Float] { order.flatMap { table[($0 * half)..<(($0 + 1) * half)] } }
            rotary = (permuted(rotary.cos), permuted(rotary.sin))
        }
        func processorOrder(_ t: Tensor) -> Tensor {
            guard let order = layout.order else { return t }
            var inverse = [Int](repeating: 0, count: order.count)
            for (i, r) in order.enumerated() { inverse[r] = i }
            return t.gatherRows(inverse)
        }
        var deepstack: [Tensor] = []
        for (i, block) in blocks.enumerated() {
            let full = config.flavor != .qwen2_5 || config.fullAttentionBlocks.contains(i)
            let h = block.norm1(x)
            x = x + attention(block, h, rotary: rotary, segments: full ? layout.full : layout.windows)
            x = x + block.mlp(block.norm2(x))
            if let k = config.deepstackIndexes.firstIndex(of: i) { deepstack.append(merge(processorOrder(x), deepstackMergers[k])) }
        }
        return (merge(processorOrder(x), merger), deepstack)
    }

    /// Patch rows [N, width] → merged rows [N / m², outputWidth].
    func merge(_ x: Tensor, _ merger: Merger) -> Tensor {
        let unit = config.mergeSize * config.mergeSize, n = x.shape[0] / unit
        let merged = merger.normAfterShuffle ? merger.norm(x.reshaped([n, config.width * unit]))
                                             : merger.norm(x).reshaped([n, config.width * unit])
        return merger.down(merger.up(merged, then: .gelu))
    }

    /// Qwen3-VL's learned positions for every patch (processor order, repeated per temporal
    /// patch): the square table resampled to the h × w grid bilinearly with aligned corners, as
    /// transformers' `get_vision_interpolation_indices_and_weights` gathers it (float32 source
    /// coordinate row · (side − 1) / (h − 1), the two taps floor and floor + 1 clamped to the table).
    func interpolatedPositions(_ table: Tensor, grid: PatchGrid) -> Tensor {
        let e = config.width, m = config.mergeSize
        let side = Int(Double(config.positionEmbeddings).squareRoot())
        func taps(_ index: Int, _ size: Int) -> [(tap: Int, weight: Float)] {
            let src = Float(index) * Float(side - 1) / Float(max(size - 1, 1))
            let floor = src.rounded(.down)
            return (0..<2).map { offset in
                let distance = abs(src - floor - Float(offset))
                return (min(max(Int(floor) + offset, 0), side - 1), max(1 - distance, 0))
            }
        }
        let rowTaps = (0..<grid.h).map { taps($0, grid.h) }, colTaps = (0..<grid.w).map { taps($0, grid.w) }
        let perFrame = grid.h * grid.w
        var out = [Float](repeating: 0, count: grid.patches * e)
        table.withFloats { t in
            var row = 0
            for by in 0..<(grid.h / m) { for bx in 0..<(grid.w / m) { for iy in 0..<m { for ix in 0..<m {
                let o = row * e
                for a in rowTaps[by * m + iy] {
                    for b in colTaps[bx * m + ix] {
                        let w = a.weight * b.weight, src = t.baseAddress! + (a.tap * side + b.tap) * e
                        for j in 0..<e { out[o + j] += src[j] * w }
                    }
                }
                row += 1
            } } } }
        }
        for f in 1..<max(grid.t, 1) { out.replaceSubrange((f * perFrame * e)..<((f + 1) * perFrame * e), with: out[0..<(perFrame * e)]) }
        return Tensor(shape: [grid.patches, e], values: out)
    }

    /// Per patch (processor order), the cos/sin row of its height and width position: Dh/4
    /// angles of the row, then Dh/4 of the column ([patches, Dh/2]).
    func rotaryTable(_ grid: PatchGrid) -> (cos: [Float], sin: [Float]) {
        let m = config.mergeSize, half = config.headDim / 2, quarter = half / 2
        var c = [Float](repeating: 0, count: grid.patches * half), s = c
        var row = 0
        for _ in 0..<grid.t {
            for by in 0..<(grid.h / m) { for bx in 0..<(grid.w / m) { for iy in 0..<m { for ix in 0..<m {
                let (py, px) = (by * m + iy, bx * m + ix)
                for j in 0..<quarter {
                    for (k, p) in [(j, py), (quarter + j, px)] {
                        let angle = Float(p) * inverseFrequencies[j]
                        c[row * half + k] = Float(Foundation.cos(Double(angle)))
                        s[row * half + k] = Float(Foundation.sin(Double(angle)))
                    }
                }
                row += 1
            } } } }
        }
        return (c, s)
    }

    /// The order the blocks see the patch rows in, and the row ranges that attend to each other
    /// in it. Qwen2.5-VL: window order (`order`: the processor's row of each position), each
    /// window of `window_size` pixels within a frame pair one contiguous range, as transformers'
    /// `window_index` reorders the rows; a frame pair's rows stay one contiguous range (its
    /// windows are listed frame by frame), which the full-attention blocks use. Qwen2-VL and
    /// Qwen3-VL: the processor's order (`order` nil), whole frame pairs.
    func attentionLayout(_ grid: PatchGrid) -> (order: [Int]?, full: [Range<Int>], windows: [Range<Int>]) {
        let perFrame = grid.h * grid.w
        let full = (0..<grid.t).map { ($0 * perFrame)..<(($0 + 1) * perFrame) }
        guard config.flavor == .qwen2_5 else { return (nil, full, full) }
        let m = config.mergeSize, unit = m * m
        let side = max(1, config.windowSize / config.patchSize / m)  // merged tokens per window side
        let (gh, gw) = (grid.h / m, grid.w / m)
        var order: [Int] = [], windows: [Range<Int>] = []
        order.reserveCapacity(grid.patches)
        for t in 0..<grid.t {
            for wy in stride(from: 0, to: gh, by: side) {
                for wx in stride(from: 0, to: gw, by: side) {
                    let start = order.count
                    for y in wy..<min(wy + side, gh) {
                        for x in wx..<min(wx + side, gw) {
                            let token = t * gh * gw + y * gw + x
                            order += (token * unit)..<((token + 1) * unit)
                        }
                    }
                    windows.append(start..<order.count)
                }
            }
        }
        return (order, full, windows)
    }

    /// Self-attention of `x` [N, E] (rows in the layout's order, `rotary` rows likewise) with 2-D
    /// rotary positions, each segment attending within itself.
    func attention(_ block: Block, _ x: Tensor, rotary: (cos: [Float], sin: [Float]), segments: [Range<Int>]) -> Tensor {
        let n = x.shape[0], e = config.width, dh = config.headDim, heads = config.heads, half = dh / 2
        let qkv = block.qkv(x)
        // q and k rotated, v copied, side by side as the projection wrote them; rows in parallel.
        let rotated = qkv.withFloats { p in
            rotary.cos.withUnsafeBufferPointer { cb in
                rotary.sin.withUnsafeBufferPointer { sb in
                    Tensor.make(shape: [n, 3 * e], uninitialized: true) { out in
                        let (src, cos, sin, dst) = (p.baseAddress!, cb.baseAddress!, sb.baseAddress!, out.baseAddress!)
                        ParallelLoop.forEachChunk(n, minimumPerChunk: 64) { rows in
                            for i in rows {
                                let row = src + i * 3 * e, o = dst + i * 3 * e
                                let c = cos + i * half, s = sin + i * half
                                RotaryEmbedding.rotate(row, into: o, heads: heads, headDim: dh, cos: c, sin: s)
                                RotaryEmbedding.rotate(row + e, into: o + e, heads: heads, headDim: dh, cos: c, sin: s)
                                (o + 2 * e).update(from: row + 2 * e, count: e)
                            }
                        }
                    }
                }
            }
        }
        // bf16 projections → bf16 attention (q, k, probabilities, v rounded), as PyTorch computes a
        // tower loaded in bf16 and as `TransformerBlock` does for the other towers.
        let attended = Attention.segmentedSelfAttention(qkv: rotated, segments: segments, heads: heads,
                                                        bf16: block.qkv.weight.dtype == .bf16)
        return block.proj(attended)
    }
}
