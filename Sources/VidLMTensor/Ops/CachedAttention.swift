import CKernels

/// Causal attention of new positions against a key/value cache, with grouped-query heads (several
/// query heads sharing one key/value head, as LLaMA's `num_key_value_heads`).
public enum CachedAttention {
    /// Queries up to which the decoding kernel (parallel over key/value heads, or over query heads
    /// when there are fewer key/value heads than threads; `vidlm_attention_decode_avx512` where
    /// the CPU has AVX-512, else Swift) is used; longer chunks use the fused kernel (or two
    /// single-threaded `sgemm`s) per head, heads split across cores.
    public static let vectorQueryLimit = 4

    /// q [queries, heads·Dh] (row stride `qStride`) for positions `past ..< past + queries`;
    /// `keys`/`values` hold rows 0 ..< past + queries of [·, kvHeads·Dh] (row stride `kvStride`),
    /// the new positions included. Writes out [queries, heads·Dh] (row stride `outStride`).
    /// Query head h reads key/value head h / (heads / kvHeads). Scores are `scale · q·k`.
    /// `bf16`: computed as a bf16 model is where the CPU computes bf16 attention
    /// (`Attention.bf16Rounding`): q, k, the unnormalised probabilities and v rounded to bf16, sums
    /// in f32, as PyTorch runs a decoder loaded in bf16. The cache must then hold bf16 values
    /// (rows rounded by `HalfPrecisionKernels.roundToBF16`, or a bf16 cache read through
    /// `attendHalf`), so decoding steps (which round q and the probabilities) and prompt chunks
    /// (AMX tiles where the CPU has them) compute the same products and chunking changes only the
    /// order of the sums.
    public static func attend(q: UnsafePointer<Float>, qStride: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                              kvStride: Int, past: Int, queries: Int, heads: Int, kvHeads: Int, headDim dh: Int,
                              scale: Float, out: UnsafeMutablePointer<Float>, outStride: Int, bf16: Bool = false) {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "\(heads) query heads cannot share \(kvHeads) key/value heads")
        let rounding = bf16 && Attention.bf16Rounding
        if queries <= vectorQueryLimit && rounding {
            // The decoding kernel reads q as given: round the query rows first.
            let qw = heads * dh
            let rounded = UnsafeMutablePointer<Float>.allocate(capacity: queries * qw)
            defer { rounded.deallocate() }
            for i in 0..<queries { HalfPrecisionKernels.roundToBF16(q + i * qStride, count: qw, into: rounded + i * qw) }
            attendDecoding(q: rounded, qStride: qw, keys: keys, values: values, kvStride: kvStride, past: past,
                           queries: queries, heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale, out: out,
                           outStride: outStride, kernel: vidlm_attention_decode_bf16_avx512)
            return
        }
        if queries <= vectorQueryLimit {
            attendDecoding(q: q, qStride: qStride, keys: keys, values: values, kvStride: kvStride, past: past,
                           queries: queries, heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale, out: out,
                           outStride: outStride, kernel: vidlm_attention_decode_avx512)
            return
        }
        attendChunk(q: q, qStride: qStride, keys: keys, values: values, kvStride: kvStride, past: past, queries: queries,
                    heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale, out: out, outStride: outStride,
                    rounding: rounding)
    }

    /// The decoding kernel's signature (`vidlm_attention_decode_avx512` and its bf16 form).
    typealias DecodeKernel = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, UnsafePointer<Float>?,
                                             UnsafePointer<Float>?, Int, Int, Float, UnsafeMutablePointer<Float>?,
                                             UnsafeMutablePointer<Float>?) -> Void

    /// Splits the query heads of a decoding step across the cores: whole key/value groups where
    /// they divide evenly among the threads (each cached row is then read by one thread for all
    /// the query heads sharing it), else query heads in equal runs (multi-query, or 3 key/value
    /// heads on 2 threads: whole groups would give one thread twice the other's work; a group
    /// split between two threads is read by both). `body` gets each thread's range of query heads.
    static func forEachDecodingHeadRange(heads: Int, kvHeads: Int, _ body: (Range<Int>) -> Void) {
        let group = heads / kvHeads
        if kvHeads % ThreadBudget.computeThreads == 0 {
            ParallelLoop.forEachChunk(kvHeads) { body(($0.lowerBound * group)..<($0.upperBound * group)) }
        } else {
            ParallelLoop.forEachChunk(heads, body)
        }
    }

    /// Up to `vectorQueryLimit` queries: `kernel` where the CPU has AVX-512, else Swift loops.
    private static func attendDecoding(q: UnsafePointer<Float>, qStride: Int, keys: UnsafePointer<Float>,
                                       values: UnsafePointer<Float>, kvStride: Int, past: Int, queries: Int, heads: Int,
                                       kvHeads: Int, headDim dh: Int, scale: Float, out: UnsafeMutablePointer<Float>,
                                       outStride: Int, kernel: DecodeKernel) {
        let group = heads / kvHeads
        let width = (past + queries + 15) / 16 * 16
        let work = UncheckedSendable((q, keys, values, out))
        forEachDecodingHeadRange(heads: heads, kvHeads: kvHeads) { range in
            let (q, keys, values, out) = work.value
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: range.count * width)
            defer { scores.deallocate() }
            let h0 = range.lowerBound, column = h0 / group * dh
            for i in 0..<queries {
                let n = past + i + 1
                if Attention.useFusedKernel {
                    // The call's rows: every head of the range, row by row (the kernel's comment).
                    kernel(q + i * qStride + h0 * dh, range.count, group, h0, dh, keys + column, values + column,
                           kvStride, n, scale, out + i * outStride + h0 * dh, scores)
                    continue
                }
                for h in range {
                    let g = h / group
                    let qh = q + i * qStride + h * dh
                    for j in 0..<n { scores[j] = scale * dot(qh, keys + j * kvStride + g * dh, dh) }
                    Softmax.row(scores, into: scores, count: n)
                    let o = out + i * outStride + h * dh
                    for d in 0..<dh { o[d] = 0 }
                    for j in 0..<n { axpy(scores[j], values + j * kvStride + g * dh, o, dh) }
                }
            }
        }
    }

    /// More than `vectorQueryLimit` queries (prompt chunks).
    private static func attendChunk(q: UnsafePointer<Float>, qStride: Int, keys: UnsafePointer<Float>,
                                    values: UnsafePointer<Float>, kvStride: Int, past: Int, queries: Int, heads: Int,
                                    kvHeads: Int, headDim dh: Int, scale: Float, out: UnsafeMutablePointer<Float>,
                                    outStride: Int, rounding: Bool) {
        let group = heads / kvHeads
        let total = past + queries
        // The fused kernel per query head, heads claimed by the cores. On
        // a 7241-position prompt (Qwen2.5-VL's head width 128) the f32 kernel ran at about 40
        // GFLOP/s per core and the AMX kernel at 180-210: the f32 kernel had been two thirds of
        // that prefill.
        if Attention.useFusedKernel {
            let amx = rounding && Attention.bf16OnAMX
            let scratchFloats = amx ? vidlm_attention_amx_scratch_floats(total, dh) : vidlm_attention_scratch_floats(queries, total, dh)
            let work = UncheckedSendable((q, keys, values, out))
            // Query heads claimed one at a time, in order (a core slowed by the VM's other tenant
            // takes fewer). AMX packs a key/value head when a thread's next head needs another
            // one, so each thread packs a shared head once (grouped-query attention: Qwen2.5-VL-3B's
            // 16 heads share 2), not once per query head.
            ParallelLoop.forEachClaimed(heads) { claim in
                let (q, keys, values, out) = work.value
                let raw = UnsafeMutableRawPointer.allocate(byteCount: scratchFloats * 4, alignment: 64)
                defer { raw.deallocate() }
                let scratch = raw.bindMemory(to: Float.self, capacity: scratchFloats)
                let kvFloats = amx ? vidlm_attention_amx_kv_floats(total, dh) : 0
                var packedHead = -1
                while let h = claim() {
                    let g = h / group
                    if amx {
                        if g != packedHead {
                            vidlm_attention_amx_pack_kv(keys + g * dh, kvStride, values + g * dh, kvStride, total, dh, scratch)
                            packedHead = g
                        }
                        vidlm_attention_amx_packed(q + h * dh, qStride, scratch, queries, total, dh, scale, 1, nil,
                                                   out + h * dh, outStride, scratch + kvFloats)
                    } else {
                        vidlm_attention_avx512(q + h * dh, qStride, keys + g * dh, kvStride, values + g * dh, kvStride,
                                               queries, total, dh, scale, 1, nil, out + h * dh, outStride, rounding ? 1 : 0, scratch)
                    }
                }
            }
            return
        }
        // Without it: heads split across cores, each worker with its own score buffer and
        // serial BLAS calls (the per-head GEMMs are small; K = head width).
        let work = UncheckedSendable((q, keys, values, out))
        ParallelLoop.forEachChunk(heads) { range in
            let (q, keys, values, out) = work.value
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: queries * total)
            defer { scores.deallocate() }
            for h in range {
                let g = h / group
                BLAS.sgemmSerial(transposeA: false, transposeB: true, m: queries, n: total, k: dh, alpha: scale,
                                 a: q + h * dh, lda: qStride, b: keys + g * dh, ldb: kvStride, c: scores, ldc: total)
                for i in 0..<queries {
                    let row = scores + i * total
                    let n = past + i + 1
                    for j in n..<total { row[j] = -.infinity }
                    Softmax.row(row, into: row, count: total)
                }
                BLAS.sgemmSerial(transposeA: false, transposeB: false, m: queries, n: dh, k: total,
                                 a: scores, lda: total, b: values + g * dh, ldb: kvStride, c: out + h * dh, ldc: outStride)
            }
        }
    }

    /// Whether decoding steps read an f16 cache with the fused kernel (AVX-512 F, BW and VL).
    static let halfDecodeKernel = Attention.useFusedKernel && vidlm_f16_matvec_available() == 1

    /// The 16-bit element formats a cache can hold.
    public enum HalfFormat: Sendable {
        /// IEEE half: the cache of block-quantized decoders (attended in f32).
        case f16
        /// bf16: the cache of bf16 decoders, whose keys and values are bf16 values anyway
        /// (attended as `attend(…, bf16: true)`).
        case bf16
    }

    /// `attend` on a 16-bit cache (`keys` / `values` rows of `format` elements, row stride
    /// `kvStride` elements). Decoding steps read the rows in the kernel; longer chunks (and CPUs
    /// without the kernel) widen rows 0 ..< past + queries to f32 once and attend on those. A bf16
    /// cache gives exactly what `attend(…, bf16: true)` gives on the same values in f32.
    public static func attendHalf(q: UnsafePointer<Float>, qStride: Int, keys: UnsafePointer<UInt16>, values: UnsafePointer<UInt16>,
                                  kvStride: Int, past: Int, queries: Int, heads: Int, kvHeads: Int, headDim dh: Int,
                                  scale: Float, out: UnsafeMutablePointer<Float>, outStride: Int, format: HalfFormat = .f16) {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "\(heads) query heads cannot share \(kvHeads) key/value heads")
        let total = past + queries
        let bf16 = format == .bf16
        guard queries <= vectorQueryLimit && halfDecodeKernel && (!bf16 || Attention.bf16Rounding) else {
            let widened = UnsafeMutablePointer<Float>.allocate(capacity: max(2 * total * kvStride, 1))
            defer { widened.deallocate() }
            let rows = UncheckedSendable((keys, values, widened))
            ParallelLoop.forEachChunk(total, minimumPerChunk: 64) { range in
                let (k, v, w) = rows.value
                for r in range {
                    if bf16 {
                        vidlm_bf16_to_f32(k + r * kvStride, w + r * kvStride, kvStride)
                        vidlm_bf16_to_f32(v + r * kvStride, w + (total + r) * kvStride, kvStride)
                    } else {
                        vidlm_f16_to_f32(k + r * kvStride, w + r * kvStride, kvStride)
                        vidlm_f16_to_f32(v + r * kvStride, w + (total + r) * kvStride, kvStride)
                    }
                }
            }
            attend(q: q, qStride: qStride, keys: widened, values: widened + total * kvStride, kvStride: kvStride, past: past,
                   queries: queries, heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale, out: out, outStride: outStride,
                   bf16: bf16)
            return
        }
        // The bf16 decoding kernel reads q as given: round the query rows first (as `attend`).
        var q = q, qStride = qStride
        let rounded = bf16 ? UnsafeMutablePointer<Float>.allocate(capacity: queries * heads * dh) : nil
        defer { rounded?.deallocate() }
        if let rounded {
            for i in 0..<queries {
                HalfPrecisionKernels.roundToBF16(q + i * qStride, count: heads * dh, into: rounded + i * heads * dh)
            }
            (q, qStride) = (UnsafePointer(rounded), heads * dh)
        }
        let kernel = bf16 ? vidlm_attention_decode_bf16_cache_avx512 : vidlm_attention_decode_f16_avx512
        let group = heads / kvHeads
        let width = (total + 15) / 16 * 16
        let work = UncheckedSendable((q, keys, values, out))
        forEachDecodingHeadRange(heads: heads, kvHeads: kvHeads) { range in
            let (q, keys, values, out) = work.value
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: range.count * width)
            defer { scores.deallocate() }
            let h0 = range.lowerBound, column = h0 / group * dh
            for i in 0..<queries {
                kernel(q + i * qStride + h0 * dh, range.count, group, h0, dh, keys + column, values + column, kvStride,
                       past + i + 1, scale, out + i * outStride + h0 * dh, scores)
            }
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// y += a·x
    @inline(__always)
    static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let av = SIMD8<Float>(repeating: a)
        while i + 8 <= n {
            let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: yv + av * xv, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { y[i] += a * x[i]; i += 1 }
    }
}
