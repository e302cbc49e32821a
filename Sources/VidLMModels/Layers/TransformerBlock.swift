import VidLMTensor

/// A pre-norm transformer block: `h = x + attention(norm₁(x))`, then `h + mlp(norm₂(h))`. The
/// attention is given per call because it differs by use: bidirectional over the whole sequence
/// (towers) or causal over a KV cache at given positions (decoders).
public struct PreNormBlock<Norm: TensorLayer, MLP: TensorLayer>: Sendable {
    public let attentionNorm: Norm
    public let mlpNorm: Norm
    public let mlp: MLP

    public init(attentionNorm: Norm, mlpNorm: Norm, mlp: MLP) {
        self.attentionNorm = attentionNorm
        self.mlpNorm = mlpNorm
        self.mlp = mlp
    }

    public func callAsFunction<E: Error>(_ x: Tensor, attention: (Tensor) throws(E) -> Tensor) throws(E) -> Tensor {
        let h = x + (try attention(attentionNorm(x)))
        return mlpResidual(h)
    }

    /// The block's output at rows `kept` of x only ([kept.count, D]): `attention` gets the whole
    /// normalised x (a causal decoder stores every row's keys and values) and returns those rows.
    /// A decoder's last layer feeds only the logits, so it runs the MLP on the rows they need,
    /// as llama.cpp does: none for a prefill chunk that returns no logits, one for `.last`.
    public func callAsFunction<E: Error>(_ x: Tensor, keeping kept: Range<Int>,
                                         attention: (Tensor) throws(E) -> Tensor) throws(E) -> Tensor {
        let attended = try attention(attentionNorm(x))
        guard !kept.isEmpty else { return attended }
        return mlpResidual(x.rows(kept) + attended)
    }

    /// `h + mlp(mlpNorm(h))`, the same values; a layer norm and a bf16 MLP on AMX go through
    /// packed rows (the norm writes the first product's packed x, that product the second's,
    /// which adds h as it stores), and other two-layer and gated MLPs add h as their last product
    /// stores where that product can.
    func mlpResidual(_ h: Tensor) -> Tensor {
        if let gated = mlp as? GatedFeedForward { return gated(mlpNorm(h), adding: h) }
        guard let ff = mlp as? FeedForward else { return h + mlp(mlpNorm(h)) }
        if let norm = mlpNorm as? LayerNorm, let y = ff.residualOnAMX(h, norm: norm) { return y }
        return ff(mlpNorm(h), adding: h)
    }
}

extension PreNormBlock where Norm == LayerNorm {
    /// The block around bidirectional self-attention (towers): `callAsFunction(_:attention:)`
    /// with `attention`, through packed rows on AMX where the projections are bf16
    /// (`BidirectionalSelfAttention.residualOnAMX`), the same values.
    public func callAsFunction(_ x: Tensor, selfAttention attention: BidirectionalSelfAttention) -> Tensor {
        mlpResidual(attention.residualOnAMX(x, norm: attentionNorm) ?? attention(attentionNorm(x), adding: x))
    }
}

/// Multi-head self-attention over the whole sequence (no mask), q/k/v from one fused projection.
public struct BidirectionalSelfAttention: TensorLayer {
    public let qkv: FusedLinear
    public let output: Linear
    public let heads: Int

    public init(qkv: FusedLinear, output: Linear, heads: Int) {
        self.qkv = qkv
        self.output = output
        self.heads = heads
    }

    /// Computed as a bf16 model is (q, k, probabilities, v rounded to bf16) when the projections
    /// are stored in bf16, as PyTorch does for a tower loaded in its bf16 dtype.
    public var computesInBF16: Bool { qkv.parts.allSatisfy { $0.weight.dtype == .bf16 } }

    /// x [B, L, D] → [B, L, D].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        output(Attention.fusedSelfAttention(qkv: qkv(x), heads: heads, bf16: computesInBF16))
    }

    /// `residual + self(x)`, the same values, the residual added as the output projection stores
    /// where it can (`Linear.callAsFunction(_:adding:)`).
    public func callAsFunction(_ x: Tensor, adding residual: Tensor) -> Tensor {
        output(Attention.fusedSelfAttention(qkv: qkv(x), heads: heads, bf16: computesInBF16), adding: residual)
    }

    /// `x + self(norm(x))`, bit for bit, with the norm written straight into the q/k/v
    /// product's packed bf16 x and x added as the output projection stores; nil unless the
    /// projections are bf16 on AMX and x is large enough for the tile layout
    /// (`Tensor.layerNormPackedForAMX`).
    public func residualOnAMX(_ x: Tensor, norm: LayerNorm) -> Tensor? {
        guard computesInBF16, output.weight.dtype == .bf16,
              let packed = x.layerNormPackedForAMX(weight: norm.weight, bias: norm.bias, eps: norm.eps),
              packed.takes(qkv.parts.map(\.weight)) else { return nil }
        let attended = Attention.fusedSelfAttention(qkv: packed.linear(parts: qkv.parts.map { ($0.weight, $0.bias) }),
                                                    heads: heads, bf16: true)
        guard let rows = attended.packedForAMX(), rows.takes([output.weight]) else { return x + output(attended) }
        return rows.linear(parts: [(output.weight, output.bias)], adding: x)
    }
}

/// Causal self-attention for decoding: q/k/v from one fused projection, optional rotary
/// positions (LLaMA), grouped-query heads, keys and values appended to the request's KV cache,
/// an optional sliding window (Mistral: a position sees at most `window` positions, itself
/// included), and optional RMSNorms over each q and k head before the rotary positions (Qwen3).
public struct CausalSelfAttention: Sendable {
    public let qkv: FusedLinear
    public let output: Linear
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public let window: Int?
    /// Qwen3's `q_norm` / `k_norm`: RMSNorm weights [headDim] shared by every head, and their eps.
    public let headNorms: (q: [Float], k: [Float], eps: Float)?

    public init(qkv: FusedLinear, output: Linear, heads: Int, kvHeads: Int, headDim: Int, window: Int? = nil,
                headNorms: (q: [Float], k: [Float], eps: Float)? = nil) {
        self.qkv = qkv
        self.output = output
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.window = window
        self.headNorms = headNorms
    }

    /// RMSNorm of each q and k head of the projected rows [n, q | k | v], in place (f32, as
    /// transformers' Qwen3 RMSNorm: x · rsqrt(mean(x²) + eps) · weight).
    private func normalizeHeads(_ projected: Tensor) -> Tensor {
        guard let norms = headNorms else { return projected }
        let n = projected.shape[0], dh = headDim, qw = heads * dh, kvw = kvHeads * dh, stride = qw + 2 * kvw
        var values = projected.toF32().floats()
        values.withUnsafeMutableBufferPointer { p in
            for i in 0..<n {
                for (offset, count, weight) in [(0, heads, norms.q), (qw, kvHeads, norms.k)] {
                    for h in 0..<count {
                        let x = p.baseAddress! + i * stride + offset + h * dh
                        var sum: Float = 0
                        for j in 0..<dh { sum += x[j] * x[j] }
                        let scale = 1 / (sum / Float(dh) + norms.eps).squareRoot()
                        for j in 0..<dh { x[j] = weight[j] * (x[j] * scale) }
                    }
                }
            }
        }
        return Tensor(shape: [n, stride], values: values)
    }

    /// Attends as a bf16 model does (q, k, probabilities and v rounded to bf16, sums in f32) when
    /// the projections are stored in bf16 and the CPU computes bf16 attention, as PyTorch computes
    /// a decoder loaded in its bf16 dtype. Keys and values are then stored as bf16 values: in a
    /// bf16 cache (`LanguageModel.cachePrecision`), or rounded in an f32 one a caller made.
    /// (An f16 cache, for block-quantized weights, is not bf16.)
    public var computesInBF16: Bool { Attention.bf16Rounding && qkv.parts.allSatisfy { $0.weight.dtype == .bf16 } }

    /// `CachedAttention.attend` (or `attendHalf` on a 16-bit cache) for queries at cache rows
    /// `start ..< start + n`, limited to the window: while every query's window still reaches
    /// row 0 it is plain causal attention; otherwise each query attends on its own to the last
    /// `window` rows up to itself.
    private func attend(q: UnsafePointer<Float>, qStride: Int, keys: UnsafeMutableRawPointer, values: UnsafeMutableRawPointer,
                        precision: KVCache.Precision, kvw: Int, start: Int, n: Int, scale: Float,
                        out: UnsafeMutablePointer<Float>, outStride: Int) {
        func run(_ q: UnsafePointer<Float>, first: Int, past: Int, queries: Int, _ out: UnsafeMutablePointer<Float>) {
            if precision == .f32 {
                let k = keys.assumingMemoryBound(to: Float.self), v = values.assumingMemoryBound(to: Float.self)
                CachedAttention.attend(q: q, qStride: qStride, keys: k + first * kvw, values: v + first * kvw, kvStride: kvw,
                                       past: past, queries: queries, heads: heads, kvHeads: kvHeads, headDim: headDim,
                                       scale: scale, out: out, outStride: outStride, bf16: computesInBF16)
            } else {
                let k = keys.assumingMemoryBound(to: UInt16.self), v = values.assumingMemoryBound(to: UInt16.self)
                CachedAttention.attendHalf(q: q, qStride: qStride, keys: k + first * kvw, values: v + first * kvw, kvStride: kvw,
                                           past: past, queries: queries, heads: heads, kvHeads: kvHeads, headDim: headDim,
                                           scale: scale, out: out, outStride: outStride, format: precision == .bf16 ? .bf16 : .f16)
            }
        }
        guard let window, start + n > window else {
            run(q, first: 0, past: start, queries: n, out)
            return
        }
        for i in 0..<n {
            let position = start + i, first = max(0, position - window + 1)
            run(q + i * qStride, first: first, past: position - first, queries: 1, out + i * outStride)
        }
    }

    /// Stores key or value rows (f32, row stride `stride`) at cache rows `start ..< start + n`,
    /// rounded to bf16 values when the block computes in bf16.
    private func store(_ rows: UnsafePointer<Float>, stride: Int, n: Int, into cache: UnsafeMutableRawPointer, start: Int,
                       kvw: Int, precision: KVCache.Precision) {
        let bf16 = computesInBF16
        for i in 0..<n {
            if precision == .f16 {
                HalfPrecision.narrowToF16(rows + i * stride, into: cache.assumingMemoryBound(to: UInt16.self) + (start + i) * kvw, count: kvw)
            } else if precision == .bf16 {
                HalfPrecision.narrowToBF16(rows + i * stride, into: cache.assumingMemoryBound(to: UInt16.self) + (start + i) * kvw, count: kvw)
            } else if bf16 {
                HalfPrecisionKernels.roundToBF16(rows + i * stride, count: kvw,
                                                 into: cache.assumingMemoryBound(to: Float.self) + (start + i) * kvw)
            } else {
                (cache.assumingMemoryBound(to: Float.self) + (start + i) * kvw).update(from: rows + i * stride, count: kvw)
            }
        }
    }

    /// x [n, D] at cache rows `start ..< start + n` of `layer`; `rotary` is the cos/sin table of
    /// the rows' positions (nil: no rotary, positions were added to the input). The cache must
    /// have been made writable (`prepareForWrite`) for this pass. Every row's keys and values are
    /// stored; the attention output [queries.count, D] is computed for rows `queries` only (all by
    /// default): a decoder's last layer needs no more rows than the logits it returns.
    func callAsFunction(_ x: Tensor, cache: KVCache, layer: Int, start: Int,
                        rotary: (cos: [Float], sin: [Float])?, queries: Range<Int>? = nil) -> Tensor {
        let n = x.shape[0], dh = headDim
        let queries = queries ?? 0..<n
        let m = queries.count
        let qw = heads * dh, kvw = kvHeads * dh, qkvw = qw + 2 * kvw
        let scale = Float(1 / Double(dh).squareRoot())
        let halfHead = dh / 2
        let keys = cache.keys(layer: layer), values = cache.values(layer: layer)
        let precision = cache.precision
        let projected = normalizeHeads(qkv(x))
        let attended = projected.withFloats { p in
            Tensor.make(shape: [m, qw], uninitialized: true) { out in
                let rows = p.baseAddress!
                // Rows in parallel chunks (a prompt's rotations and cache stores ran on one core
                // while the other waited: 4 % of SmolVLM2-2.2B's prefill).
                guard let rotary else {
                    ParallelLoop.forEachChunk(n, minimumPerChunk: 16) { r in
                        let row = rows + r.lowerBound * qkvw
                        store(row + qw, stride: qkvw, n: r.count, into: keys, start: start + r.lowerBound, kvw: kvw,
                              precision: precision)
                        store(row + qw + kvw, stride: qkvw, n: r.count, into: values, start: start + r.lowerBound, kvw: kvw,
                              precision: precision)
                    }
                    guard m > 0 else { return }
                    attend(q: rows + queries.lowerBound * qkvw, qStride: qkvw, keys: keys, values: values, precision: precision,
                           kvw: kvw, start: start + queries.lowerBound, n: m, scale: scale, out: out.baseAddress!, outStride: qw)
                    return
                }
                let q = UnsafeMutablePointer<Float>.allocate(capacity: n * qw)
                let k = UnsafeMutablePointer<Float>.allocate(capacity: n * kvw)
                defer { q.deallocate(); k.deallocate() }
                rotary.cos.withUnsafeBufferPointer { cb in
                    rotary.sin.withUnsafeBufferPointer { sb in
                        ParallelLoop.forEachChunk(n, minimumPerChunk: 16) { r in
                            for i in r {
                                let row = rows + i * qkvw
                                let c = cb.baseAddress! + i * halfHead, s = sb.baseAddress! + i * halfHead
                                RotaryEmbedding.rotate(row, into: q + i * qw, heads: heads, headDim: dh, cos: c, sin: s)
                                RotaryEmbedding.rotate(row + qw, into: k + i * kvw, heads: kvHeads, headDim: dh, cos: c, sin: s)
                            }
                            store(k + r.lowerBound * kvw, stride: kvw, n: r.count, into: keys, start: start + r.lowerBound,
                                  kvw: kvw, precision: precision)
                            store(rows + r.lowerBound * qkvw + qw + kvw, stride: qkvw, n: r.count, into: values,
                                  start: start + r.lowerBound, kvw: kvw, precision: precision)
                        }
                    }
                }
                guard m > 0 else { return }
                attend(q: q + queries.lowerBound * qw, qStride: qw, keys: keys, values: values, precision: precision, kvw: kvw,
                       start: start + queries.lowerBound, n: m, scale: scale, out: out.baseAddress!, outStride: qw)
            }
        }
        return m > 0 ? output(attended) : Tensor.zeros([0, output.outputWidth])
    }
}
