import CKernels
import Foundation
import XCTest
@testable import VidLMTensor

/// The fused AVX-512 attention kernel against a scalar reference in double precision: query-tile
/// and key-vector edges (lengths around multiples of 6 and 16, and past one 128 KiB tile), head
/// widths that are not multiples of 16, causal masks with a KV-cache offset, additive key biases
/// with masked keys, rows that see no key, and strided (interleaved) q/k/v rows; the bf16 cases
/// also on the AMX kernel where the CPU has it.
final class AttentionKernelTests: XCTestCase {
    private struct Case {
        let lq, lk, dh: Int
        let causal: Bool
        let bias: Bool
    }

    private let cases: [Case] = [
        Case(lq: 1, lk: 1, dh: 1, causal: false, bias: false),
        Case(lq: 5, lk: 7, dh: 3, causal: false, bias: false),
        Case(lq: 6, lk: 16, dh: 16, causal: true, bias: false),
        Case(lq: 7, lk: 17, dh: 17, causal: false, bias: true),
        Case(lq: 13, lk: 13, dh: 64, causal: true, bias: false),
        Case(lq: 33, lk: 65, dh: 88, causal: false, bias: true),
        Case(lq: 40, lk: 257, dh: 72, causal: false, bias: false),
        Case(lq: 9, lk: 130, dh: 128, causal: true, bias: false),
        Case(lq: 100, lk: 600, dh: 80, causal: false, bias: false),  // several query tiles
        Case(lq: 70, lk: 70, dh: 200, causal: true, bias: true),     // output columns past 4 vectors
        Case(lq: 101, lk: 101, dh: 72, causal: true, bias: false),   // five value vectors, rows in fours
        Case(lq: 23, lk: 45, dh: 96, causal: true, bias: true),      // six value vectors, a last group of 3
        Case(lq: 17, lk: 66, dh: 65, causal: false, bias: true),     // five vectors, one column in the last
        Case(lq: 30, lk: 31, dh: 81, causal: true, bias: false),     // six vectors, one column in the last
    ]

    private func requireAVX512(bf16: Bool) throws {
        if vidlm_avx512_available() != 1 || (bf16 && vidlm_avx512bf16_available() != 1) {
            throw XCTSkip("this CPU lacks AVX-512\(bf16 ? " BF16" : "F"); the Swift path runs instead")
        }
    }

    func testF32KernelMatchesScalarReference() throws {
        try requireAVX512(bf16: false)
        for c in cases { try check(c, bf16: false) }
    }

    func testBF16KernelMatchesScalarBF16Reference() throws {
        try requireAVX512(bf16: true)
        for c in cases { try check(c, bf16: true) }
    }

    /// The AMX kernel (32-query blocks, keys and values padded to 32) with the same rounding.
    func testAMXKernelMatchesScalarBF16Reference() throws {
        if vidlm_amx_bf16_available() != 1 { throw XCTSkip("this CPU (or kernel) offers no AMX-BF16 tiles") }
        for c in cases + [Case(lq: 64, lk: 33, dh: 96, causal: true, bias: true), Case(lq: 31, lk: 32, dh: 32, causal: false, bias: false)] {
            try check(c, bf16: true, mode: Self.amx)
        }
    }

    /// Grouped-query prefill packs a key/value head once and attends each of its query heads
    /// against that packing (`vidlm_attention_amx_pack_kv` + `_packed`): bit for bit what
    /// `vidlm_attention_amx` gives each head alone, with the work scratch poisoned and a stale
    /// packing of other keys left in the buffer beforehand.
    func testAMXPackedKeysServeSeveralHeadsBitForBit() throws {
        if vidlm_amx_bf16_available() != 1 { throw XCTSkip("this CPU (or kernel) offers no AMX-BF16 tiles") }
        for (lq, lk, dh, causal) in [(37, 70, 72, true), (5, 129, 128, true), (64, 64, 40, false), (1, 1, 8, true)] {
            let heads = 3, row = heads * dh
            var rng = SplitMix(seed: UInt64(lq * 1000 + lk))
            let q = (0..<(lq * row)).map { _ in rng.next() }
            let k = (0..<(lk * dh)).map { _ in rng.next() }, v = (0..<(lk * dh)).map { _ in rng.next() }
            let scale = Float(1 / Double(dh).squareRoot())
            var alone = [Float](repeating: 0, count: lq * row), shared = [Float](repeating: .nan, count: lq * row)
            let total = vidlm_attention_amx_scratch_floats(lk, dh), kvFloats = vidlm_attention_amx_kv_floats(lk, dh)
            XCTAssertEqual(total, kvFloats + vidlm_attention_amx_work_floats(lk, dh))
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: total + 16)
            defer { scratch.deallocate() }
            let aligned = UnsafeMutablePointer<Float>(bitPattern: (Int(bitPattern: scratch) + 63) & ~63)!
            q.withUnsafeBufferPointer { qp in
                alone.withUnsafeMutableBufferPointer { out in
                    for h in 0..<heads {
                        vidlm_attention_amx(qp.baseAddress! + h * dh, row, k, dh, v, dh, lq, lk, dh, scale, causal ? 1 : 0, nil,
                                            out.baseAddress! + h * dh, row, aligned)
                    }
                }
            }
            let stale = (0..<(lk * dh)).map { _ in rng.next() }
            vidlm_attention_amx_pack_kv(stale, dh, stale, dh, lk, dh, aligned)
            vidlm_attention_amx_pack_kv(k, dh, v, dh, lk, dh, aligned)
            q.withUnsafeBufferPointer { qp in
                shared.withUnsafeMutableBufferPointer { out in
                    for h in 0..<heads {
                        (aligned + kvFloats).initialize(repeating: .nan, count: total - kvFloats)
                        vidlm_attention_amx_packed(qp.baseAddress! + h * dh, row, aligned, lq, lk, dh, scale, causal ? 1 : 0, nil,
                                                   out.baseAddress! + h * dh, row, aligned + kvFloats)
                    }
                }
            }
            XCTAssertEqual(alone.map(\.bitPattern), shared.map(\.bitPattern), "lq \(lq) lk \(lk) dh \(dh)")
        }
    }

    /// Decoding attention through `CachedAttention.attend` (one to four queries against a cache,
    /// grouped-query heads, and one key/value head shared by all: both of its parallel splits;
    /// the AVX-512 decoding kernel where the CPU has it) against a double-precision reference:
    /// cache lengths around its eight-key blocks, head widths around 16 and past 128 columns.
    func testCachedDecodingAttentionMatchesReference() {
        var rng = SplitMix(seed: 41)
        for (past, queries, heads, kvHeads, dh) in [(0, 1, 1, 1, 1), (6, 1, 4, 2, 16), (7, 2, 6, 3, 17), (8, 1, 8, 1, 64),
                                                    (33, 4, 2, 2, 130), (100, 1, 32, 32, 64), (15, 3, 4, 1, 80),
                                                    // Whole head blocks of the value loop (24 registers: 3 heads of
                                                    // 128, 8 of 40, 24 of 16) and a remainder on each of one or two
                                                    // threads, and a head past 128 columns.
                                                    (20, 1, 8, 8, 128), (9, 2, 24, 6, 40), (40, 1, 52, 52, 16),
                                                    (17, 1, 4, 2, 256)] {
            let total = past + queries, qStride = heads * dh + 3, kvStride = kvHeads * dh + 5, outStride = heads * dh + 1
            let q = (0..<queries * qStride).map { _ in rng.next() * 2 }
            let keys = (0..<total * kvStride).map { _ in rng.next() * 2 }
            let values = (0..<total * kvStride).map { _ in rng.next() }
            var out = [Float](repeating: .nan, count: queries * outStride)
            let scale = 1 / Float(dh).squareRoot()
            CachedAttention.attend(q: q, qStride: qStride, keys: keys, values: values, kvStride: kvStride, past: past,
                                   queries: queries, heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale,
                                   out: &out, outStride: outStride)
            for i in 0..<queries {
                let n = past + i + 1
                for h in 0..<heads {
                    let g = h / (heads / kvHeads)
                    let logits = (0..<n).map { j in
                        Double(scale) * (0..<dh).reduce(0.0) { $0 + Double(q[i * qStride + h * dh + $1]) * Double(keys[j * kvStride + g * dh + $1]) }
                    }
                    let top = logits.max()!
                    let e = logits.map { Foundation.exp($0 - top) }
                    let sum = e.reduce(0, +)
                    for d in 0..<dh {
                        let want = (0..<n).reduce(0.0) { $0 + e[$1] / sum * Double(values[$1 * kvStride + g * dh + d]) }
                        XCTAssertEqual(Double(out[i * outStride + h * dh + d]), want, accuracy: 1e-5,
                                       "past \(past) query \(i) head \(h) column \(d)")
                    }
                }
            }
        }
    }

    /// A bf16 decoder's attention (`bf16: true`) on a cache of bf16 values, as `CausalSelfAttention`
    /// stores them: decoding steps (1-4 queries, both parallel splits) and prompt chunks (the AMX
    /// kernel's 32-row blocks and around them), causal against earlier rows, grouped-query heads,
    /// odd head widths, against a double-precision reference that rounds q, k, the unnormalised
    /// probabilities and v to bf16 where the CPU computes bf16 attention
    /// (`Attention.bf16Rounding`), and rounds nothing where it does not.
    func testCachedAttentionInBF16MatchesBF16Reference() {
        var rng = SplitMix(seed: 47)
        let rounding = Attention.bf16Rounding
        let round: (Float) -> Double = rounding ? { Double(Self.bf16($0)) } : { Double($0) }
        for (past, queries, heads, kvHeads, dh) in [(6, 1, 4, 2, 16), (33, 4, 2, 2, 130), (100, 1, 32, 32, 64), (15, 3, 4, 1, 80),
                                                    (0, 5, 2, 1, 16), (0, 40, 8, 2, 64), (20, 9, 4, 2, 32), (33, 37, 6, 3, 17),
                                                    (100, 70, 2, 1, 130), (31, 33, 4, 4, 128), (20, 1, 8, 8, 128),
                                                    (9, 2, 24, 6, 40)] {
            let total = past + queries, qStride = heads * dh + 3, kvStride = kvHeads * dh + 5, outStride = heads * dh + 1
            let q = (0..<queries * qStride).map { _ in rng.next() * 2 }
            let keys = (0..<total * kvStride).map { _ in Self.bf16(rng.next() * 2) }
            let values = (0..<total * kvStride).map { _ in Self.bf16(rng.next()) }
            var out = [Float](repeating: .nan, count: queries * outStride)
            let scale = 1 / Float(dh).squareRoot()
            CachedAttention.attend(q: q, qStride: qStride, keys: keys, values: values, kvStride: kvStride, past: past,
                                   queries: queries, heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale,
                                   out: &out, outStride: outStride, bf16: true)
            var worst = 0.0, magnitude = 0.0
            for i in 0..<queries {
                let n = past + i + 1
                for h in 0..<heads {
                    let g = h / (heads / kvHeads)
                    let logits = (0..<n).map { j in
                        let dot = (0..<dh).reduce(0.0) { $0 + round(q[i * qStride + h * dh + $1]) * round(keys[j * kvStride + g * dh + $1]) }
                        return Double(Float(dot) * scale)
                    }
                    let top = logits.max()!
                    let e = logits.map { Foundation.exp($0 - top) }
                    let sum = e.reduce(0, +)
                    for d in 0..<dh {
                        let want = (0..<n).reduce(0.0) { $0 + round(Float(e[$1])) * round(values[$1 * kvStride + g * dh + d]) } / sum
                        worst = max(worst, abs(Double(out[i * outStride + h * dh + d]) - want))
                        magnitude = max(magnitude, abs(want))
                    }
                    XCTAssertTrue(out[i * outStride + heads * dh].isNaN, "wrote past the last head")
                }
            }
            // As `check`: a probability's rounding can fall on the other side of a tie where the
            // kernel's exp differs from the reference's in the last bit.
            XCTAssertLessThanOrEqual(worst, (rounding ? 4e-3 : 1e-5) * max(magnitude, 1),
                                     "past \(past) queries \(queries) heads \(heads)/\(kvHeads) dh \(dh) bf16 rounding \(rounding)")
        }
    }

    /// An f16 cache (`attendHalf`): the decoding kernel reads the halves, longer chunks widen them
    /// first; both give exactly what `attend` gives on the same values widened to f32, for every
    /// split (several and one key/value head), decoding and prefill lengths, odd head widths.
    func testHalfCacheEqualsF32AttentionOnTheRoundedValuesBitForBit() {
        var rng = SplitMix(seed: 43)
        for (past, queries, heads, kvHeads, dh) in [(0, 1, 1, 1, 16), (6, 1, 4, 2, 16), (7, 2, 6, 3, 17), (8, 1, 8, 1, 64),
                                                    (33, 4, 2, 2, 130), (100, 1, 32, 32, 64), (15, 3, 4, 1, 80), (20, 9, 4, 2, 32),
                                                    (0, 40, 8, 8, 64)] {
            let total = past + queries, qStride = heads * dh + 3, kvw = kvHeads * dh, outStride = heads * dh + 1
            let q = (0..<queries * qStride).map { _ in rng.next() * 2 }
            let keys = (0..<total * kvw).map { _ in rng.next() * 2 }, values = (0..<total * kvw).map { _ in rng.next() }
            var halfKeys = [UInt16](repeating: 0, count: keys.count), halfValues = [UInt16](repeating: 0, count: values.count)
            HalfPrecision.narrowToF16(keys, into: &halfKeys, count: keys.count)
            HalfPrecision.narrowToF16(values, into: &halfValues, count: values.count)
            XCTAssertEqual(halfKeys, keys.map(HalfPrecision.floatToF16), "vector and scalar rounding")
            let roundedKeys = halfKeys.map(HalfPrecision.f16ToFloat), roundedValues = halfValues.map(HalfPrecision.f16ToFloat)
            var want = [Float](repeating: .nan, count: queries * outStride), got = want
            let scale = 1 / Float(dh).squareRoot()
            CachedAttention.attend(q: q, qStride: qStride, keys: roundedKeys, values: roundedValues, kvStride: kvw, past: past,
                                   queries: queries, heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale,
                                   out: &want, outStride: outStride)
            CachedAttention.attendHalf(q: q, qStride: qStride, keys: halfKeys, values: halfValues, kvStride: kvw, past: past,
                                       queries: queries, heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale,
                                       out: &got, outStride: outStride)
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "past \(past) queries \(queries) heads \(heads)/\(kvHeads) dh \(dh)")
        }
    }

    /// A bf16 cache (`attendHalf(format: .bf16)`, bf16 decoders): exactly what `attend(bf16: true)`
    /// gives on the same bf16 values held in f32, decoding steps and prompt chunks; the narrowing
    /// equals the scalar rounding bit for bit (ties, NaN, infinities, values past the largest bf16).
    func testBF16CacheEqualsBF16AttentionOnF32RowsBitForBit() {
        var rng = SplitMix(seed: 53)
        for (past, queries, heads, kvHeads, dh) in [(0, 1, 1, 1, 16), (6, 1, 4, 2, 16), (7, 2, 6, 3, 17), (8, 1, 8, 1, 64),
                                                    (33, 4, 2, 2, 130), (15, 3, 4, 1, 80), (20, 9, 4, 2, 32), (0, 40, 8, 8, 64)] {
            let total = past + queries, qStride = heads * dh + 3, kvw = kvHeads * dh, outStride = heads * dh + 1
            let q = (0..<queries * qStride).map { _ in rng.next() * 2 }
            let keys = (0..<total * kvw).map { _ in rng.next() * 2 }, values = (0..<total * kvw).map { _ in rng.next() }
            var bf16Keys = [UInt16](repeating: 0, count: keys.count), bf16Values = [UInt16](repeating: 0, count: values.count)
            HalfPrecision.narrowToBF16(keys, into: &bf16Keys, count: keys.count)
            HalfPrecision.narrowToBF16(values, into: &bf16Values, count: values.count)
            let roundedKeys = bf16Keys.map(HalfPrecision.bf16ToFloat), roundedValues = bf16Values.map(HalfPrecision.bf16ToFloat)
            var want = [Float](repeating: .nan, count: queries * outStride), got = want
            let scale = 1 / Float(dh).squareRoot()
            CachedAttention.attend(q: q, qStride: qStride, keys: roundedKeys, values: roundedValues, kvStride: kvw, past: past,
                                   queries: queries, heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale,
                                   out: &want, outStride: outStride, bf16: true)
            CachedAttention.attendHalf(q: q, qStride: qStride, keys: bf16Keys, values: bf16Values, kvStride: kvw, past: past,
                                       queries: queries, heads: heads, kvHeads: kvHeads, headDim: dh, scale: scale,
                                       out: &got, outStride: outStride, format: .bf16)
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "past \(past) queries \(queries) heads \(heads)/\(kvHeads) dh \(dh)")
        }
        let edges: [Float] = [0, -0, 1, 1.00390625, 1.01171875, -3.5e38, .greatestFiniteMagnitude, .infinity, -.infinity, .nan,
                              Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0x0000_8000), Float(bitPattern: 0x3F80_8000)]
        let values = edges + (0..<1000).map { _ in rng.next() * 1e4 }
        var bits = [UInt16](repeating: 0, count: values.count)
        HalfPrecision.narrowToBF16(values, into: &bits, count: values.count)
        for (v, b) in zip(values, bits) {
            if v.isNaN { XCTAssertTrue(HalfPrecision.bf16ToFloat(b).isNaN, "NaN \(v.bitPattern) stays NaN"); continue }
            XCTAssertEqual(b, HalfPrecision.floatToBF16(v), "\(v)")
        }
    }

    /// Attention within row ranges of one fused qkv (Qwen2.5-VL's windows): each segment equals
    /// `fusedSelfAttention` over that segment's rows alone, rows in no segment are zero, in f32
    /// and with bf16 rounding (the AMX kernel where the CPU has it).
    func testSegmentedSelfAttentionMatchesEachSegmentAlone() {
        var rng = SplitMix(seed: 5)
        let heads = 2, d = 2 * 24, n = 40
        let qkv = Tensor(shape: [n, 3 * d], values: (0..<n * 3 * d).map { _ in rng.next() * 2 })
        let segments = [0..<16, 16..<23, 23..<24, 30..<40]  // 24..<30 belongs to none
        for bf16 in [false, true] {
            let got = Attention.segmentedSelfAttention(qkv: qkv, segments: segments, heads: heads, bf16: bf16).floats()
            for seg in segments {
                let alone = Attention.fusedSelfAttention(qkv: qkv.rows(seg).reshaped([1, seg.count, 3 * d]), heads: heads,
                                                         bf16: bf16).floats()
                for i in 0..<(seg.count * d) {
                    XCTAssertEqual(got[seg.lowerBound * d + i], alone[i], accuracy: 1e-6, "segment \(seg) bf16 \(bf16) [\(i)]")
                }
            }
            for i in (24 * d)..<(30 * d) { XCTAssertEqual(got[i], 0, "a row in no segment") }
        }
    }

    /// `mode` value that runs `vidlm_attention_amx` instead of `vidlm_attention_avx512`.
    private static let amx: Int32 = -1

    func testRowsThatSeeNoKeyAreZero() throws {
        try requireAVX512(bf16: false)
        let lq = 3, lk = 5, dh = 8
        var rng = SplitMix(seed: 7)
        let q = (0..<lq * dh).map { _ in rng.next() }, k = (0..<lk * dh).map { _ in rng.next() }
        let v = (0..<lk * dh).map { _ in rng.next() }
        let bias = [Float](repeating: -.infinity, count: lk)
        var out = [Float](repeating: .nan, count: lq * dh)
        run(q: q, qRow: dh, k: k, kRow: dh, v: v, vRow: dh, lq: lq, lk: lk, dh: dh, causal: false, bias: bias,
            out: &out, outRow: dh, mode: 0)
        XCTAssertEqual(out, [Float](repeating: 0, count: lq * dh))
    }

    func testSoftmaxRowMatchesReference() throws {
        try requireAVX512(bf16: false)
        var rng = SplitMix(seed: 3)
        for n in [1, 5, 16, 17, 33, 1000] {
            let x = (0..<n).map { _ in rng.next() * 30 }
            var y = [Float](repeating: 0, count: n)
            vidlm_softmax_row_avx512(x, &y, n)
            let m = Double(x.max()!)
            let e = x.map { Foundation.exp(Double($0) - m) }
            let s = e.reduce(0, +)
            for i in 0..<n { XCTAssertEqual(Double(y[i]), e[i] / s, accuracy: 1e-6, "n \(n) i \(i)") }
        }
        var y = [Float](repeating: 1, count: 3)
        vidlm_softmax_row_avx512([-.infinity, -.infinity, -.infinity], &y, 3)
        XCTAssertEqual(y, [0, 0, 0])
    }

    /// The exponential of bf16 attention's softmax (`vidlm_exp2_16`): within 2e-7 of 2^t
    /// relative over the whole normal range, exact at integers, 0 from −150 down and at −inf,
    /// NaN kept.
    func testBF16SoftmaxExponentialIsAccurate() throws {
        try requireAVX512(bf16: false)
        var t = (0..<20_000).map { -126 * Float($0) / 19_999 }  // [−126, 0]
        t += (-126...0).map(Float.init) + [-150, -200, -.infinity, .nan, 0.5, -0.5, 1e-8]
        var y = [Float](repeating: 0, count: t.count)
        vidlm_exp2_avx512(t, &y, t.count)
        var worst = 0.0
        for (ti, yi) in zip(t, y) {
            if ti.isNaN { XCTAssertTrue(yi.isNaN, "NaN in, NaN out"); continue }
            if ti <= -150 { XCTAssertEqual(yi, 0, "2^\(ti)"); continue }
            let want = Foundation.exp2(Double(ti))
            if ti == ti.rounded() { XCTAssertEqual(Double(yi), want, "2^\(ti) is a power of two") }
            worst = max(worst, abs(Double(yi) - want) / want)
        }
        XCTAssertLessThanOrEqual(worst, 2e-7)
    }

    // MARK: - helpers

    private func check(_ c: Case, bf16: Bool, mode: Int32 = 1) throws {
        var rng = SplitMix(seed: UInt64(c.lq * 1000 + c.lk * 10 + c.dh))
        // q, k and v interleaved in one buffer of rows [q | k | v | pad], as a fused projection.
        let row = 3 * c.dh + 5
        let n = max(c.lq, c.lk)
        let fused = (0..<n * row).map { _ in rng.next() * 2 }
        let q = Array(fused), k = Array(fused), v = Array(fused)
        var bias: [Float]? = nil
        if c.bias {
            bias = (0..<c.lk).map { j in j % 5 == 3 ? -.infinity : rng.next() }
        }
        var out = [Float](repeating: .nan, count: c.lq * (c.dh + 3))
        let scale = Float(1 / Double(c.dh).squareRoot())
        run(q: q, qRow: row, k: Array(k.dropFirst(c.dh)), kRow: row, v: Array(v.dropFirst(2 * c.dh)), vRow: row,
            lq: c.lq, lk: c.lk, dh: c.dh, causal: c.causal, bias: bias, out: &out, outRow: c.dh + 3, mode: bf16 ? mode : 0)
        let round: (Float) -> Double = bf16 ? { Double(Self.bf16($0)) } : { Double($0) }
        var worst = 0.0, magnitude = 0.0
        for i in 0..<c.lq {
            let visible = c.causal ? min(c.lk, i + (c.lk - min(c.lq, c.lk)) + 1) : c.lk
            var logits = [Double](repeating: -.infinity, count: c.lk)
            for j in 0..<visible {
                var dot = 0.0
                for d in 0..<c.dh { dot += round(fused[i * row + d]) * round(fused[j * row + c.dh + d]) }
                logits[j] = Double(Float(dot) * scale) + Double(bias?[j] ?? 0)
            }
            let m = logits.max()!
            for d in 0..<c.dh {
                var expected = 0.0
                if m > -.infinity {
                    // bf16: the kernel rounds the unnormalised probabilities, then divides by the f32 sum.
                    let e = logits.map { Foundation.exp($0 - m) }
                    let sum = e.reduce(0, +)
                    for j in 0..<c.lk where e[j] > 0 {
                        expected += round(Float(e[j])) * round(fused[j * row + 2 * c.dh + d])
                    }
                    expected /= sum
                }
                let got = Double(out[i * (c.dh + 3) + d])
                worst = max(worst, abs(got - expected))
                magnitude = max(magnitude, abs(expected))
            }
            for d in c.dh..<(c.dh + 3) { XCTAssertTrue(out[i * (c.dh + 3) + d].isNaN, "wrote past the head's columns") }
        }
        // f32: sums in another order and a polynomial exp; bf16: the probabilities' rounding can
        // fall on the other side of a tie where the kernel's exp differs in the last bit.
        let tolerance = (bf16 ? 4e-3 : 2e-5) * max(magnitude, 1)
        XCTAssertLessThanOrEqual(worst, tolerance, "lq \(c.lq) lk \(c.lk) dh \(c.dh) causal \(c.causal) bias \(c.bias) bf16 \(bf16) mode \(mode)")
    }

    private func run(q: [Float], qRow: Int, k: [Float], kRow: Int, v: [Float], vRow: Int, lq: Int, lk: Int, dh: Int,
                     causal: Bool, bias: [Float]?, out: inout [Float], outRow: Int, mode: Int32) {
        let count = mode == Self.amx ? vidlm_attention_amx_scratch_floats(lk, dh) : vidlm_attention_scratch_floats(lq, lk, dh)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
        defer { raw.deallocate() }
        // Poison the scratch so anything read before it is written shows up as NaN.
        let scratch = raw.bindMemory(to: Float.self, capacity: count)
        scratch.initialize(repeating: .nan, count: count)
        let scale = Float(1 / Double(dh).squareRoot())
        func call(_ b: UnsafePointer<Float>?) {
            if mode == Self.amx {
                vidlm_attention_amx(q, qRow, k, kRow, v, vRow, lq, lk, dh, scale, causal ? 1 : 0, b, &out, outRow, scratch)
            } else {
                vidlm_attention_avx512(q, qRow, k, kRow, v, vRow, lq, lk, dh, scale, causal ? 1 : 0, b, &out, outRow, mode, scratch)
            }
        }
        if let bias { bias.withUnsafeBufferPointer { call($0.baseAddress!) } } else { call(nil) }
    }

    private static func bf16(_ x: Float) -> Float {
        let bits = x.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
        return Float(bitPattern: rounded)
    }
}

/// A small deterministic generator (values in [-1, 1)).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 24) * 2 - 1
    }
}
