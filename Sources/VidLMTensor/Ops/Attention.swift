import CKernels

/// Multi-head scaled-dot-product attention.
public enum Attention {
    /// Whether the fused AVX-512 kernel (`vidlm_attention_avx512`: tiles of query rows against
    /// packed keys and values, no [Lq, Lk] score matrix per head) runs; decided once.
    /// `VIDLM_PORTABLE_KERNELS=1` forces the Swift path (OpenBLAS per head), for comparison and tests.
    public static let useFusedKernel: Bool = HalfPrecisionKernels.useAVX512

    /// Whether `bf16` attention really rounds q, k, the probabilities and v to bf16 (AVX-512 BF16
    /// dot products, as PyTorch's bf16 attention); elsewhere it is computed in f32.
    public static let bf16Rounding: Bool = useFusedKernel && HalfPrecisionKernels.useAVX512BF16

    /// Whether bf16 attention runs on AMX tiles (`vidlm_attention_amx`, the same rounding as the
    /// `vdpbf16ps` kernel) where bf16 GEMMs do (`HalfPrecisionKernels.useAMX`).
    static let bf16OnAMX: Bool = bf16Rounding && HalfPrecisionKernels.useAMX

    /// q [B, Lq, H·Dh], k and v [B, Lk, H·Dh] → [B, Lq, H·Dh]. `causal` masks keys after the
    /// query (aligned to the end when Lk > Lq, i.e. a KV cache); `keyPadding` [B][Lk] is true
    /// for keys to ignore. `scale` defaults to 1/√Dh.
    /// `keyBias` [B][Lk] is added to every query's logit for that key (e.g. log(count) for
    /// merged tokens: proportional attention).
    public static func scaledDotProduct(q: Tensor, k: Tensor, v: Tensor, heads: Int, causal: Bool = false,
                                        keyPadding: [[Bool]]? = nil, keyBias: [[Float]]? = nil,
                                        scale: Float? = nil, bf16: Bool = false) -> Tensor {
        precondition(q.rank == 3 && k.rank == 3 && v.rank == 3, "attention expects [B, L, D] inputs")
        let (b, lq, d) = (q.shape[0], q.shape[1], q.shape[2])
        let lk = k.shape[1]
        precondition(k.shape[0] == b && v.shape[0] == b && k.shape[2] == d && v.shape == k.shape,
                     "attention shapes differ: q \(q.shape) k \(k.shape) v \(v.shape)")
        precondition(d % heads == 0, "width \(d) is not divisible by \(heads) heads")
        return q.withFloats { qp in
            k.withFloats { kp in
                v.withFloats { vp in
                    Tensor.make(shape: [b, lq, d], uninitialized: true) { out in
                        attend(batch: b, queries: lq, keys: lk, width: d, heads: heads,
                               q: qp.baseAddress!, qRow: d, k: kp.baseAddress!, kRow: d, v: vp.baseAddress!, vRow: d,
                               out: out.baseAddress!, causal: causal, keyPadding: keyPadding, keyBias: keyBias, scale: scale, bf16: bf16)
                    }
                }
            }
        }
    }

    /// Self-attention from one fused projection qkv [B, L, 3·D] (q, k, v side by side, as
    /// `nn.Linear(D, 3D)` produces them) → [B, L, D], without splitting copies.
    /// `bf16`: compute as a bf16 model does (see `bf16Rounding`).
    public static func fusedSelfAttention(qkv: Tensor, heads: Int, causal: Bool = false,
                                          keyPadding: [[Bool]]? = nil, scale: Float? = nil, bf16: Bool = false) -> Tensor {
        precondition(qkv.rank == 3 && qkv.shape[2] % 3 == 0, "fused attention expects [B, L, 3D], got \(qkv.shape)")
        let (b, l, d) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
        precondition(d % heads == 0, "width \(d) is not divisible by \(heads) heads")
        return qkv.withFloats { p in
            Tensor.make(shape: [b, l, d], uninitialized: true) { out in
                let base = p.baseAddress!
                attend(batch: b, queries: l, keys: l, width: d, heads: heads,
                       q: base, qRow: 3 * d, k: base + d, kRow: 3 * d, v: base + 2 * d, vRow: 3 * d,
                       out: out.baseAddress!, causal: causal, keyPadding: keyPadding, keyBias: nil, scale: scale, bf16: bf16)
            }
        }
    }

    /// Self-attention within contiguous row ranges of one fused projection qkv [N, 3·D] (q, k, v
    /// side by side) → [N, D]: the rows of a segment attend only to the rows of the same segment
    /// (Qwen2.5-VL's windows and frames); rows in no segment come out zero. Every (segment, head)
    /// pair is one call of the kernel on the rows in place, pairs claimed by the cores, so segments
    /// of any lengths need no gathering. `bf16` as for `fusedSelfAttention`.
    public static func segmentedSelfAttention(qkv: Tensor, segments: [Range<Int>], heads: Int, scale: Float? = nil,
                                              bf16: Bool = false) -> Tensor {
        precondition(qkv.rank == 2 && qkv.shape[1] % 3 == 0, "segmented attention expects [N, 3D], got \(qkv.shape)")
        let (n, d) = (qkv.shape[0], qkv.shape[1] / 3)
        precondition(d % heads == 0, "width \(d) is not divisible by \(heads) heads")
        precondition(segments.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= n }, "a segment lies outside \(n) rows")
        let dh = d / heads
        let s = scale ?? 1 / Float(dh).squareRoot()
        return qkv.withFloats { p in
            Tensor.make(shape: [n, d]) { out in
                let base = p.baseAddress!, o = out.baseAddress!
                guard useFusedKernel else {
                    for seg in segments where !seg.isEmpty {
                        let q = base + seg.lowerBound * 3 * d
                        attend(batch: 1, queries: seg.count, keys: seg.count, width: d, heads: heads, q: q, qRow: 3 * d,
                               k: q + d, kRow: 3 * d, v: q + 2 * d, vRow: 3 * d, out: o + seg.lowerBound * d,
                               causal: false, keyPadding: nil, keyBias: nil, scale: s, bf16: bf16)
                    }
                    return
                }
                let amx = bf16 && bf16OnAMX, rounded = bf16 && bf16Rounding
                let longest = segments.map(\.count).max() ?? 0
                let scratchFloats = amx ? vidlm_attention_amx_scratch_floats(longest, dh)
                                        : vidlm_attention_scratch_floats(longest, longest, dh)
                ParallelLoop.forEachClaimed(segments.count * heads) { claim in
                    let raw = UnsafeMutableRawPointer.allocate(byteCount: scratchFloats * 4, alignment: 64)
                    defer { raw.deallocate() }
                    let scratch = raw.bindMemory(to: Float.self, capacity: scratchFloats)
                    while let pair = claim() {
                        let seg = segments[pair / heads], h = pair % heads
                        guard !seg.isEmpty else { continue }
                        let q = base + seg.lowerBound * 3 * d + h * dh, oh = o + seg.lowerBound * d + h * dh
                        if amx {
                            vidlm_attention_amx(q, 3 * d, q + d, 3 * d, q + 2 * d, 3 * d, seg.count, seg.count, dh, s, 0, nil,
                                                oh, d, scratch)
                        } else {
                            vidlm_attention_avx512(q, 3 * d, q + d, 3 * d, q + 2 * d, 3 * d, seg.count, seg.count, dh, s, 0, nil,
                                                   oh, d, rounded ? 1 : 0, scratch)
                        }
                    }
                }
            }
        }
    }

    /// The kernel: per batch and head, scores = s·Q·Kᵀ (sgemm on strided head views), masked,
    /// softmax per row, then scores·V into the head's columns of `out` [B, Lq, D].
    static func attend(batch b: Int, queries lq: Int, keys lk: Int, width d: Int, heads: Int,
                       q: UnsafePointer<Float>, qRow: Int, k: UnsafePointer<Float>, kRow: Int,
                       v: UnsafePointer<Float>, vRow: Int, out: UnsafeMutablePointer<Float>,
                       causal: Bool, keyPadding: [[Bool]]?, keyBias: [[Float]]?, scale: Float?, bf16: Bool = false) {
        let dh = d / heads
        let s = scale ?? 1 / Float(dh).squareRoot()
        if useFusedKernel {
            attendFused(batch: b, queries: lq, keys: lk, width: d, heads: heads, q: q, qRow: qRow, k: k, kRow: kRow,
                        v: v, vRow: vRow, out: out, causal: causal, keyPadding: keyPadding, keyBias: keyBias, scale: s,
                        bf16: bf16 && bf16Rounding)
            return
        }
        // (batch, head) pairs are independent: split them across cores, each chunk with its own
        // score buffer and serial BLAS calls. The per-pair GEMMs are small (K = head width).
        let pairs = b * heads
        let work = UncheckedSendable((q, k, v, out))
        ParallelLoop.forEachChunk(pairs, minimumPerChunk: 2) { range in
            let (q, k, v, out) = work.value
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(lq * lk, 1))
            defer { scores.deallocate() }
            for pair in range {
                let bi = pair / heads, h = pair % heads
                let pad = keyPadding?[bi]
                let bias = keyBias?[bi]
                let qh = q + bi * lq * qRow + h * dh
                let kh = k + bi * lk * kRow + h * dh
                let vh = v + bi * lk * vRow + h * dh
                BLAS.sgemmSerial(transposeA: false, transposeB: true, m: lq, n: lk, k: dh, alpha: s,
                           a: qh, lda: qRow, b: kh, ldb: kRow, c: scores, ldc: lk)
                for i in 0..<lq {
                    let row = scores + i * lk
                    if causal {
                        let limit = i + (lk - lq)
                        if limit + 1 < lk { for j in (limit + 1)..<lk { row[j] = -.infinity } }
                    }
                    if let bias { for j in 0..<lk { row[j] += bias[j] } }
                    if let pad { for j in 0..<lk where pad[j] { row[j] = -.infinity } }
                    Softmax.row(row, into: row, count: lk)
                }
                BLAS.sgemmSerial(transposeA: false, transposeB: false, m: lq, n: dh, k: lk,
                           a: scores, lda: lk, b: vh, ldb: vRow, c: out + bi * lq * d + h * dh, ldc: d)
            }
        }
    }

    /// The fused kernel per (batch, head) pair, pairs claimed by the cores one at a time; padding
    /// and key biases become one additive row per batch entry (−inf for a padded key).
    static func attendFused(batch b: Int, queries lq: Int, keys lk: Int, width d: Int, heads: Int,
                            q: UnsafePointer<Float>, qRow: Int, k: UnsafePointer<Float>, kRow: Int,
                            v: UnsafePointer<Float>, vRow: Int, out: UnsafeMutablePointer<Float>,
                            causal: Bool, keyPadding: [[Bool]]?, keyBias: [[Float]]?, scale: Float, bf16: Bool) {
        let dh = d / heads
        var biases: [[Float]]? = nil
        if keyPadding != nil || keyBias != nil {
            biases = (0..<b).map { bi in
                (0..<lk).map { j in
                    if let pad = keyPadding?[bi], pad[j] { return -Float.infinity }
                    return keyBias?[bi][j] ?? 0
                }
            }
        }
        let amx = bf16 && bf16OnAMX
        let scratchFloats = amx ? vidlm_attention_amx_scratch_floats(lk, dh) : vidlm_attention_scratch_floats(lq, lk, dh)
        let work = UncheckedSendable((q, k, v, out, biases))
        ParallelLoop.forEachClaimed(b * heads) { claim in
            let (q, k, v, out, biases) = work.value
            let raw = UnsafeMutableRawPointer.allocate(byteCount: scratchFloats * 4, alignment: 64)
            defer { raw.deallocate() }
            let scratch = raw.bindMemory(to: Float.self, capacity: scratchFloats)
            while let pair = claim() {
                let bi = pair / heads, h = pair % heads
                let run = { (bias: UnsafePointer<Float>?) in
                    let (qh, kh, vh, oh) = (q + bi * lq * qRow + h * dh, k + bi * lk * kRow + h * dh,
                                            v + bi * lk * vRow + h * dh, out + bi * lq * d + h * dh)
                    if amx {
                        vidlm_attention_amx(qh, qRow, kh, kRow, vh, vRow, lq, lk, dh, scale, causal ? 1 : 0, bias, oh, d, scratch)
                    } else {
                        vidlm_attention_avx512(qh, qRow, kh, kRow, vh, vRow, lq, lk, dh, scale, causal ? 1 : 0, bias, oh, d,
                                               bf16 ? 1 : 0, scratch)
                    }
                }
                if let biases { biases[bi].withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
            }
        }
    }
}
