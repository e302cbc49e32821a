import CKernels
import Foundation

/// Kernels for `y = x · Wᵀ` with W kept in bf16 or f16 and widened to f32 on the fly, in
/// registers (matrix-vector, for decoding) or a block of rows at a time (for prefill GEMMs).
///
/// The inner loop reads 32 halves (64 bytes) as 16 `UInt32` lanes: lane t holds element 2t in
/// its low half and element 2t+1 in its high half. bf16 → f32 is then one shift (even elements)
/// and one mask (odd elements), with no shuffles; `x` is rearranged once per call so that each
/// 32-element block holds its 16 even elements followed by its 16 odd ones (`deinterleave`).
/// f16 → f32 moves the exponent/mantissa bits into place and multiplies by 2¹¹² (exact for
/// normal and subnormal values). That path does not handle Inf/NaN weights: f16 matrices are
/// scanned in full at load (`Tensor.firstNonFiniteElement`) so none reach it.
///
/// Only baseline x86-64 SIMD (SSE2) is assumed: the package is built without `-target-cpu`.
/// Where the CPU has AVX-512F, bf16 `matvec` runs the C kernel in CKernels instead (same
/// layout and arithmetic, with FMAs and software prefetch): TinyLlama-shape bf16 decoding went
/// from 14.2 to 17.7 tok/s on 2 cores (docs/benchmarks/text.md).
public enum HalfPrecisionKernels {
    public typealias V = SIMD16<Float>
    typealias U = SIMD16<UInt32>
    typealias I = SIMD16<Int32>

    /// Whether the AVX-512 bf16 kernel runs (decided once; `VIDLM_PORTABLE_KERNELS=1` forces
    /// the Swift kernels, for comparison and tests).
    public static let useAVX512: Bool =
        vidlm_avx512_available() == 1 && ProcessInfo.processInfo.environment["VIDLM_PORTABLE_KERNELS"] != "1"

    /// Whether bf16 GEMMs (prefill) run the AVX-512 BF16 dot-product kernel
    /// (`vidlm_bf16_gemm_avx512bf16`, activations rounded to bf16) instead of widening weight blocks
    /// for sgemm; `VIDLM_PORTABLE_KERNELS=1` turns it off too.
    public static let useAVX512BF16: Bool =
        vidlm_avx512bf16_available() == 1 && ProcessInfo.processInfo.environment["VIDLM_PORTABLE_KERNELS"] != "1"

    /// Whether bf16 GEMMs run on Intel AMX tiles (`vidlm_amx_bf16_gemm`: the same bf16 products
    /// with f32 sums, several times the AVX-512 BF16 rate) where the CPU has them and Linux lets
    /// the process use them. `VIDLM_NO_AMX=1` keeps the AVX-512 BF16 kernel (for comparison);
    /// `VIDLM_PORTABLE_KERNELS=1` turns both off.
    public static let useAMX: Bool =
        useAVX512BF16 && vidlm_amx_bf16_available() == 1 && ProcessInfo.processInfo.environment["VIDLM_NO_AMX"] != "1"

    /// Whether bf16 matrix-vector products (decoding) run the AVX-512 BF16 dot-product kernel
    /// (`vidlm_bf16_matvec_avx512bf16`) on x already rounded to bf16, instead of widening the
    /// weights to f32; `VIDLM_PORTABLE_KERNELS=1` turns it off too.
    public static let useAVX512BF16Matvec: Bool =
        vidlm_avx512bf16_matvec_available() == 1 && ProcessInfo.processInfo.environment["VIDLM_PORTABLE_KERNELS"] != "1"

    /// Whether f16 matrix-vector products run the AVX-512 kernel (`vidlm_f16_matvec_avx512`:
    /// vcvtph2ps widening, x in its own order); `VIDLM_PORTABLE_KERNELS=1` turns it off too.
    public static let useAVX512F16Matvec: Bool =
        vidlm_f16_matvec_available() == 1 && ProcessInfo.processInfo.environment["VIDLM_PORTABLE_KERNELS"] != "1"

    /// `out[i]` = `x[i]` rounded to the nearest bf16 (ties to even), kept as f32: what enters a
    /// matmul with bf16 weights, here as in PyTorch, whichever kernel runs. NaN stays NaN; values
    /// that round past the largest bf16 become ±Inf. `out` may be `x`.
    public static func roundToBF16(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        // CKernels (AVX-512 where the CPU has it): Swift's SIMD16 runs four lanes at a time at
        // the package's SSE2 baseline, and decoding rounds every layer's inputs on one thread.
        vidlm_round_bf16(x, out, count)
    }

    /// Elements per kernel step.
    public static let block = 32

    /// Rearranges `x[0..<k]` for the kernels: block b (elements 32b..<32b+32) becomes its 16 even
    /// elements then its 16 odd ones. Only whole blocks are written (k rounded down to 32).
    /// `includingTail` also copies the last k mod 32 elements, in order.
    @inline(__always)
    public static func deinterleave(_ x: UnsafePointer<Float>, count k: Int, into out: UnsafeMutablePointer<Float>,
                                    includingTail: Bool = false) {
        let blocks = k / 32
        for b in 0..<blocks {
            let src = x + b * 32, dst = out + b * 32
            for t in 0..<16 {
                dst[t] = src[2 &* t]
                dst[16 &+ t] = src[2 &* t &+ 1]
            }
        }
        if includingTail { for i in (blocks * 32)..<k { out[i] = x[i] } }
    }

    /// Σ W[i]·x[i] for one bf16 row of `k` elements. `xs` is `x` after `deinterleave`, 64-byte
    /// aligned (aligned loads fold into the multiplies: ~15% faster).
    @inline(__always)
    public static func dotBF16(_ w: UnsafeRawPointer, _ xs: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ k: Int) -> Float {
        var a0 = V(), a1 = V()
        let blocks = k / 32
        var b = 0
        while b < blocks {
            let u = w.loadUnaligned(fromByteOffset: b &* 64, as: U.self)
            let xp = UnsafeRawPointer(xs + b &* 32)
            a0 += unsafeBitCast(u &<< 16, to: V.self) * xp.load(as: V.self)
            a1 += unsafeBitCast(u & 0xFFFF_0000, to: V.self) * xp.load(fromByteOffset: 64, as: V.self)
            b &+= 1
        }
        var s = (a0 + a1).sum()
        var i = blocks &* 32
        while i < k {
            s += HalfPrecision.bf16ToFloat(w.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)) * x[i]
            i &+= 1
        }
        return s
    }

    /// The even and odd f16 elements of 16 lanes as f32 (finite values only; see the type's note).
    @inline(__always)
    static func widenF16Pairs(_ u: U) -> (even: V, odd: V) {
        // Sign stays at bit 31; exponent/mantissa move from bits 10..14/0..9 of the half to
        // bits 23..27/13..22 (an arithmetic shift by 3, then clearing the sign copies). ×2¹¹²
        // rebiases the exponent (15 → 127) and normalises subnormals exactly.
        let s = unsafeBitCast(u, to: I.self)
        let even = unsafeBitCast(((s &<< 16) &>> 3) & I(repeating: Int32(bitPattern: 0x8FFF_E000)), to: V.self)
        let odd = unsafeBitCast((s &>> 3) & I(repeating: Int32(bitPattern: 0x8FFF_E000)), to: V.self)
        let scale = V(repeating: 0x1p112)
        return (even * scale, odd * scale)
    }

    /// Σ W[i]·x[i] for one f16 row (finite weights); `xs` as for `dotBF16`.
    @inline(__always)
    public static func dotF16(_ w: UnsafeRawPointer, _ xs: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ k: Int) -> Float {
        var a0 = V(), a1 = V()
        let blocks = k / 32
        var b = 0
        while b < blocks {
            let (e, o) = widenF16Pairs(w.loadUnaligned(fromByteOffset: b &* 64, as: U.self))
            let xp = UnsafeRawPointer(xs + b &* 32)
            a0 += e * xp.load(as: V.self)
            a1 += o * xp.load(fromByteOffset: 64, as: V.self)
            b &+= 1
        }
        var s = (a0 + a1).sum()
        var i = blocks &* 32
        while i < k {
            s += HalfPrecision.f16ToFloat(w.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)) * x[i]
            i &+= 1
        }
        return s
    }

    /// Widens `count` bf16 or f16 values at `src` into `dst` in the `deinterleave` order (each
    /// whole 32-element block as its 16 even elements then its 16 odd ones; the tail in order),
    /// which needs no shuffles. A GEMM over k is order-independent, so widened weight rows and
    /// x rows rearranged by `deinterleave(_:count:into:includingTail:)` multiply as the
    /// originals (only the summation order differs). f16: finite values (see the type's note).
    @inline(__always)
    public static func widenDeinterleaved(_ src: UnsafeRawPointer, dtype: DType, count: Int, into dst: UnsafeMutablePointer<Float>) {
        let blocks = count / 32
        let out = UnsafeMutableRawPointer(dst)
        var b = 0
        if dtype == .bf16 {
            while b < blocks {
                let u = src.loadUnaligned(fromByteOffset: b &* 64, as: U.self)
                out.storeBytes(of: unsafeBitCast(u &<< 16, to: V.self), toByteOffset: b &* 128, as: V.self)
                out.storeBytes(of: unsafeBitCast(u & 0xFFFF_0000, to: V.self), toByteOffset: b &* 128 &+ 64, as: V.self)
                b &+= 1
            }
        } else {
            while b < blocks {
                let (e, o) = widenF16Pairs(src.loadUnaligned(fromByteOffset: b &* 64, as: U.self))
                out.storeBytes(of: e, toByteOffset: b &* 128, as: V.self)
                out.storeBytes(of: o, toByteOffset: b &* 128 &+ 64, as: V.self)
                b &+= 1
            }
        }
        widenTail(src, dtype: dtype, from: blocks &* 32, count: count, into: dst)
    }

    /// Widens `count` bf16 or f16 values at `src` into `dst` in order (f16: finite values).
    @inline(__always)
    public static func widen(_ src: UnsafeRawPointer, dtype: DType, count: Int, into dst: UnsafeMutablePointer<Float>) {
        let blocks = count / 32
        var b = 0
        while b < blocks {
            let u = src.loadUnaligned(fromByteOffset: b &* 64, as: U.self)
            let e: V, o: V
            if dtype == .bf16 {
                e = unsafeBitCast(u &<< 16, to: V.self)
                o = unsafeBitCast(u & 0xFFFF_0000, to: V.self)
            } else {
                (e, o) = widenF16Pairs(u)
            }
            let d = dst + b &* 32
            for t in 0..<16 {
                d[2 &* t] = e[t]
                d[2 &* t &+ 1] = o[t]
            }
            b &+= 1
        }
        widenTail(src, dtype: dtype, from: blocks &* 32, count: count, into: dst)
    }

    @inline(__always)
    static func widenTail(_ src: UnsafeRawPointer, dtype: DType, from start: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
        var i = start
        while i < count {
            let h = src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)
            dst[i] = dtype == .bf16 ? HalfPrecision.bf16ToFloat(h) : HalfPrecision.f16ToFloat(h)
            i &+= 1
        }
    }

    /// y[m·ldy + r] = Σᵢ W[r, i]·x[m·ldx + i] for rows r in `rows`, m in 0..<M, W [·, k] in
    /// bf16/f16 at `weight` (row stride k). `xs` holds every x row after `deinterleave`
    /// (row stride `xsStride`, a multiple of 16 floats; 64-byte aligned). Each weight row is read from memory once and reused from L1 for all M.
    @inline(__always)
    public static func matvec(weight: UnsafeRawPointer, dtype: DType, k: Int, rows: Range<Int>,
                              x: UnsafePointer<Float>, ldx: Int, xs: UnsafePointer<Float>, xsStride: Int, m: Int,
                              y: UnsafeMutablePointer<Float>, ldy: Int, allowAVX512: Bool = true) {
        let rowBytes = k &* 2
        if dtype == .bf16 && useAVX512 && allowAVX512 {
            vidlm_bf16_matvec_avx512(weight.assumingMemoryBound(to: UInt16.self), k, rows.lowerBound, rows.upperBound,
                                     x, ldx, xs, xsStride, m, y, ldy)
        } else if dtype == .f16 && useAVX512F16Matvec && allowAVX512 {
            vidlm_f16_matvec_avx512(weight.assumingMemoryBound(to: UInt16.self), k, rows.lowerBound, rows.upperBound,
                                    x, ldx, m, y, ldy)
        } else if dtype == .bf16 {
            for r in rows {
                let w = weight + r &* rowBytes
                for j in 0..<m { y[j &* ldy &+ r] = dotBF16(w, xs + j &* xsStride, x + j &* ldx, k) }
            }
        } else {
            for r in rows {
                let w = weight + r &* rowBytes
                for j in 0..<m { y[j &* ldy &+ r] = dotF16(w, xs + j &* xsStride, x + j &* ldx, k) }
            }
        }
    }
}
