import COpenBLAS
import CKernels
import Synchronization

/// `x · Wᵀ + b` with W used in the dtype it was stored in: f32 weights go, on a CPU with AVX-512,
/// to vidlm's matrix-vector kernel up to `matvecRowLimit` rows (`vidlm_f32_matvec_avx512`) and to
/// its GEMM above (`vidlm_f32_gemm_avx512`), elsewhere to OpenBLAS (`sgemv` for one row, `sgemm`
/// for more); bf16/f16 weights are never widened as a whole — up to
/// `matvecRowLimit` input rows use the matrix-vector kernels (`HalfPrecisionKernels`, output rows
/// shared among `ThreadBudget.computeThreads` workers). More rows with bf16 weights run the
/// AVX-512 BF16 GEMM kernel where the CPU has it, or the AMX one on Xeons with AMX (x rounded to
/// bf16, f32 sums, as PyTorch's bf16 matmul); otherwise (f16, or no AVX-512 BF16) a block of
/// weight rows at a time is widened into a scratch buffer (≤ 4 MiB) and multiplied with `sgemm`.
public enum MixedPrecisionLinear {
    /// Input rows up to which half-precision weights use the matrix-vector kernel (each weight
    /// row read once, dotted with every x row from L1). Above it the blocked GEMM wins: widening
    /// is shared by all rows and sgemm's FLOP rate is higher. Measured crossover on a
    /// TinyLlama-shaped bf16 model, 2 cores: between 8 and 16 rows — against widen + sgemm; not
    /// yet re-measured against the AVX-512 BF16 GEMM, whose crossover is probably lower.
    public static let matvecRowLimit = 8
    /// Floats in the widened weight block of the GEMM path.
    static let blockFloats = 1 << 20

    public static func isSupported(_ dtype: DType) -> Bool {
        dtype == .f32 || dtype == .bf16 || dtype == .f16 || dtype.isBlockQuantized
    }
}

extension Tensor {
    /// `self · weightᵀ + bias` over the last dimension (as `torch.nn.Linear`), weight [out, in]
    /// in f32, bf16 or f16, kept in that dtype. Returns f32. With bf16 weights the input is
    /// rounded to bf16 first on every path (sums stay f32), as PyTorch's bf16 matmul does: the
    /// AVX-512 BF16 kernel needs it, and doing it everywhere keeps prefill, chunked prefill and
    /// decoding consistent with each other and across CPUs. f16 weights must be finite (the
    /// f16 kernels do not propagate Inf/NaN): check them once at load with
    /// `firstNonFiniteElement()`.
    public func mixedLinear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        mixedLinear(parts: [(weight, bias)])
    }

    /// `mixedLinear(weight:bias:).activated(activation)`, the same values. Where the product runs
    /// on vidlm's bf16 GEMMs (AMX or AVX-512 BF16) or its f32 GEMM, the GEMM applies the
    /// activation to each block of the output as it finishes it, while the block is in registers
    /// or cache, instead of a separate pass over the whole output.
    public func mixedLinear(weight: Tensor, bias: Tensor? = nil, activation: Activation) -> Tensor {
        let m = count / max(shape[rank - 1], 1)
        let fuses = switch weight.dtype {
        case .bf16: m > MixedPrecisionLinear.matvecRowLimit && MixedPrecisionLinear.usesBF16GEMM(.bf16)
        case .f32: m > MixedPrecisionLinear.matvecRowLimit && MixedPrecisionLinear.usesF32GEMM(m: m)
        default: false
        }
        if fuses {
            return mixedLinear(parts: [(weight, bias)], fusedActivation: activation.kernelID)
        }
        return mixedLinear(parts: [(weight, bias)]).activated(activation)
    }

    /// `residual + mixedLinear(weight:bias:)` (a skip connection), the same values. Where the
    /// product runs on vidlm's f32 or bf16 GEMMs, the residual is added as each block of the
    /// output is stored, instead of a pass of its own over three tensors (0.8 % of
    /// SmolVLM2-256M's f32 request).
    public func mixedLinear(weight: Tensor, bias: Tensor? = nil, adding residual: Tensor) -> Tensor {
        let k = shape[rank - 1], m = count / max(k, 1)
        let fuses = switch weight.dtype {
        case .f32: MixedPrecisionLinear.usesF32GEMM(m: m)
        case .bf16: MixedPrecisionLinear.usesBF16GEMM(.bf16)
        default: false
        }
        guard fuses, weight.rank == 2, weight.shape[1] == k, m > MixedPrecisionLinear.matvecRowLimit,
              bias.map({ $0.count == weight.shape[0] }) ?? true,
              residual.shape == Array(shape.dropLast()) + [weight.shape[0]] else {
            return residual + mixedLinear(weight: weight, bias: bias)
        }
        let out = weight.shape[0]
        return withFloats { xb in
            residual.withFloats { rb in
                Tensor.make(shape: residual.shape, uninitialized: true) { yb in
                    optionalPointer(bias?.floats()) { b in
                        if weight.dtype == .bf16 {
                            MixedPrecisionLinear.bf16GEMM(weight: weight, x: xb.baseAddress!, m: m, k: k, out: out,
                                                          y: yb.baseAddress!, ldy: out, accumulate: false, bias: b,
                                                          residual: rb.baseAddress!)
                            return
                        }
                        weight.withFloats { wb in
                            MixedPrecisionLinear.f32GEMM(wb.baseAddress!, x: xb.baseAddress!, m: m, k: k, out: out,
                                                         y: yb.baseAddress!, ldy: out, accumulate: false, bias: b,
                                                         residual: rb.baseAddress!)
                        }
                    }
                }
            }
        }
    }

    /// Several projections of the same input side by side in one output [..., Σ outᵢ] (e.g. q, k,
    /// v or gate, up), each straight from its own weight in its own dtype.
    public func mixedLinear(parts: [(weight: Tensor, bias: Tensor?)]) -> Tensor {
        mixedLinear(parts: parts, fusedActivation: -1)
    }

    /// `fusedActivation` (an `Activation.kernelID`, or −1): only for parts that all take vidlm's
    /// bf16 or f32 GEMMs, which apply it (see `mixedLinear(weight:bias:activation:)`).
    private func mixedLinear(parts: [(weight: Tensor, bias: Tensor?)], fusedActivation: Int32) -> Tensor {
        if parts.contains(where: { $0.weight.dtype.isBlockQuantized }) { return quantizedLinear(parts: parts) }
        let k = shape[rank - 1]
        let m = count / max(k, 1)
        let outs = parts.map { $0.weight.shape[0] }
        let total = outs.reduce(0, +)
        for p in parts {
            precondition(p.weight.rank == 2 && p.weight.shape[1] == k, "linear: input \(shape) vs weight \(p.weight.shape)")
            precondition(MixedPrecisionLinear.isSupported(p.weight.dtype), "linear: weights in \(p.weight.dtype) are not supported")
            precondition(p.bias == nil || p.bias!.count == p.weight.shape[0], "linear: bias \(p.bias!.shape) vs weight \(p.weight.shape)")
        }
        return withFloats { xb in
            Tensor.make(shape: Array(shape.dropLast()) + [total], uninitialized: true) { yb in
                let x = xb.baseAddress!, y = yb.baseAddress!
                guard m > 0 else { return }
                let halfParts = parts.indices.filter { parts[$0].weight.dtype != .f32 }
                let useMatvec = m <= MixedPrecisionLinear.matvecRowLimit
                // f32 parts with few rows on AVX-512: one parallel pass of vidlm's matrix-vector kernel.
                let f32MatvecParts = useMatvec && HalfPrecisionKernels.useAVX512
                    ? parts.indices.filter { parts[$0].weight.dtype == .f32 } : []
                if !f32MatvecParts.isEmpty {
                    MixedPrecisionLinear.f32Matvec(parts: parts, outs: outs, only: f32MatvecParts, x: x, m: m, k: k, y: y, ldy: total)
                }
                // Half-precision parts with few rows: one parallel matrix-vector pass over all of them.
                if useMatvec {
                    let f16Parts = halfParts.filter { parts[$0].weight.dtype == .f16 }
                    let bf16Parts = halfParts.filter { parts[$0].weight.dtype == .bf16 }
                    if !f16Parts.isEmpty {
                        MixedPrecisionLinear.halfMatvec(parts: parts, outs: outs, only: f16Parts, x: x, m: m, k: k, y: y, ldy: total)
                    }
                    if !bf16Parts.isEmpty {
                        let xr = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
                        defer { xr.deallocate() }
                        HalfPrecisionKernels.roundToBF16(x, count: m * k, into: xr)
                        MixedPrecisionLinear.halfMatvec(parts: parts, outs: outs, only: bf16Parts, x: xr, m: m, k: k, y: y, ldy: total)
                    }
                }
                // Parts on vidlm's AVX-512 GEMMs share one packed x (a tower's q, k and v).
                let packedX = MixedPrecisionLinear.PackedInput(x, m: m, k: k)
                var column = 0
                for (p, out) in zip(parts, outs) {
                    defer { column += out }
                    let dst = y + column
                    let isHalf = p.weight.dtype != .f32
                    if useMatvec && (isHalf || !f32MatvecParts.isEmpty) { continue }
                    // vidlm's GEMMs add the bias as they store; other paths start from it.
                    let fusesBias = isHalf ? MixedPrecisionLinear.usesBF16GEMM(p.weight.dtype) : MixedPrecisionLinear.usesF32GEMM(m: m)
                    let biasValues = p.bias?.floats()
                    if let biasValues, !fusesBias {
                        for r in 0..<m { (dst + r * total).update(from: biasValues, count: out) }
                    }
                    let accumulate = biasValues != nil && !fusesBias
                    optionalPointer(fusesBias ? biasValues : nil) { bias in
                        if isHalf && p.weight.dtype == .bf16 && fusesBias && !HalfPrecisionKernels.useAMX {
                            MixedPrecisionLinear.bf16GEMM(packedX: packedX.forBF16GEMM, weight: p.weight, m: m, k: k, out: out,
                                                          y: dst, ldy: total, accumulate: accumulate, bias: bias,
                                                          activation: fusedActivation)
                        } else if isHalf {
                            MixedPrecisionLinear.halfGEMM(weight: p.weight, x: x, m: m, k: k, out: out, y: dst, ldy: total,
                                                          accumulate: accumulate, bias: bias, activation: fusedActivation)
                        } else if fusesBias {
                            p.weight.withFloats { w in
                                MixedPrecisionLinear.f32GEMM(packedX: packedX.forF32GEMM, w.baseAddress!, m: m, k: k, out: out,
                                                             y: dst, ldy: total, accumulate: accumulate, bias: bias,
                                                             activation: fusedActivation)
                            }
                        } else {
                            p.weight.withFloats { w in
                                MixedPrecisionLinear.f32Linear(w.baseAddress!, x: x, m: m, k: k, out: out, y: dst, ldy: total,
                                                               accumulate: accumulate, bias: bias, activation: fusedActivation)
                            }
                        }
                    }
                }
                // Biases of matvec parts are added afterwards.
                if useMatvec {
                    var col = 0
                    for (p, out) in zip(parts, outs) {
                        defer { col += out }
                        guard p.weight.dtype != .f32 || !f32MatvecParts.isEmpty, let bias = p.bias else { continue }
                        bias.withFloats { b in
                            for r in 0..<m {
                                let row = y + r * total + col
                                for j in 0..<out { row[j] += b[j] }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension MixedPrecisionLinear {
    /// Input rows from which f32 weights use vidlm's own AVX-512 GEMM (`f32GEMM`) instead of
    /// OpenBLAS: x is packed once and shared by the workers, where splitting one OpenBLAS call
    /// by columns made every worker pack all of x again (13 % of the EVA tower's time).
    static let f32GEMMRowMinimum = matvecRowLimit + 1

    /// Whether f32 weights with `m` input rows take vidlm's GEMM (which adds the bias itself).
    static func usesF32GEMM(m: Int) -> Bool { m >= f32GEMMRowMinimum && HalfPrecisionKernels.useAVX512 }

    /// Whether half-precision weights of `dtype` (beyond the matrix-vector rows) take the BF16 GEMM.
    static func usesBF16GEMM(_ dtype: DType) -> Bool { dtype == .bf16 && HalfPrecisionKernels.useAVX512BF16 }

    /// f32 weights: OpenBLAS `sgemv` for one row, vidlm's GEMM for many rows where the CPU has
    /// AVX-512, else OpenBLAS `sgemm`. `bias` and `activation` (a kernel id, −1: none) are only
    /// for vidlm's GEMM (`usesF32GEMM`).
    static func f32Linear(_ w: UnsafePointer<Float>, x: UnsafePointer<Float>, m: Int, k: Int, out: Int,
                          y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil,
                          activation: Int32 = -1) {
        if usesF32GEMM(m: m) {
            f32GEMM(w, x: x, m: m, k: k, out: out, y: y, ldy: ldy, accumulate: accumulate, bias: bias, activation: activation)
            return
        }
        precondition(activation < 0, "a fused activation needs vidlm's f32 GEMM")
        if m == 1 {
            BLAS.sgemv(rows: out, k: k, w: w, ldw: k, x: x, y: y, accumulate: accumulate)
        } else {
            BLAS.sgemm(transposeA: false, transposeB: true, m: m, n: out, k: k, a: x, lda: k, b: w, ldb: k,
                       beta: accumulate ? 1 : 0, c: y, ldc: ldy)
        }
    }

    /// vidlm's f32 matrix-vector kernel over the output rows of every part in `only` (all f32),
    /// taken as one range of rows like `halfMatvec`; biases are added by the caller.
    static func f32Matvec(parts: [(weight: Tensor, bias: Tensor?)], outs: [Int], only: [Int],
                          x: UnsafePointer<Float>, m: Int, k: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        var columns: [Int] = []
        var c = 0
        for o in outs { columns.append(c); c += o }
        let bases = parts.map { ($0.weight.storage.base + $0.weight.byteOffset).assumingMemoryBound(to: Float.self) }
        // Units of ~128K weights (512 KiB), as for bf16: claimed dynamically, long enough to stream.
        let unitRows = max(8, (1 << 17) / max(k, 1) / 8 * 8)
        ParallelLoop.forEachPartRows(outs: outs, only: only, unitRows: unitRows) { part, rows in
            vidlm_f32_matvec_avx512(bases[part], k, rows.lowerBound, rows.upperBound, x, k, m, y + columns[part], ldy, 0)
        }
    }

    /// The matrix-vector kernel over the output rows of every half-precision part in `only`,
    /// taken as one range of rows (so q, k and v, or gate and up, cost one parallel dispatch).
    static func halfMatvec(parts: [(weight: Tensor, bias: Tensor?)], outs: [Int], only: [Int],
                           x: UnsafePointer<Float>, m: Int, k: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        var columns: [Int] = []
        var c = 0
        for o in outs { columns.append(c); c += o }
        let bases = parts.map { $0.weight.storage.base + $0.weight.byteOffset }
        let dtypes = parts.map { $0.weight.dtype }
        // bf16 weights with x already rounded to bf16 (the caller does) go to the BF16 dot-product
        // kernel where the CPU has it, with x as bf16 (exact: the top half of each float); the
        // widening kernels take x rows rearranged, 64-byte aligned (they use aligned loads).
        let dot = HalfPrecisionKernels.useAVX512BF16Matvec && only.allSatisfy { dtypes[$0] == .bf16 }
        let stride = (k + 15) / 16 * 16
        let count = max(dot ? (m * k + 1) / 2 : m * stride, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
        defer { raw.deallocate() }
        let xbp: UnsafePointer<UInt16>?, xsp: UnsafePointer<Float>?
        if dot {
            let xb = raw.bindMemory(to: UInt16.self, capacity: 2 * count)
            for i in 0..<(m * k) { xb[i] = UInt16(truncatingIfNeeded: x[i].bitPattern >> 16) }
            (xbp, xsp) = (UnsafePointer(xb), nil)
        } else {
            let xs = raw.bindMemory(to: Float.self, capacity: count)
            for j in 0..<m { HalfPrecisionKernels.deinterleave(x + j * k, count: k, into: xs + j * stride) }
            (xbp, xsp) = (nil, UnsafePointer(xs))
        }
        // Work units of ~256K weights (512 KiB of bf16), claimed dynamically by `computeThreads`
        // workers: a worker slowed by another process on its core does not hold the others up at
        // the end, and each unit is long enough for the hardware prefetchers to stream it.
        let unitRows = max(1, (1 << 18) / max(k, 1))
        ParallelLoop.forEachPartRows(outs: outs, only: only, unitRows: unitRows) { part, rows in
            if let xbp {
                vidlm_bf16_matvec_avx512bf16(bases[part].assumingMemoryBound(to: UInt16.self), k, rows.lowerBound,
                                             rows.upperBound, xbp, k, m, y + columns[part], ldy)
            } else if let xsp {
                HalfPrecisionKernels.matvec(weight: bases[part], dtype: dtypes[part], k: k, rows: rows,
                                            x: x, ldx: k, xs: xsp, xsStride: stride, m: m, y: y + columns[part], ldy: ldy)
            }
        }
    }

    /// bf16 weights on a CPU with AVX-512 BF16: `bf16GEMM`. Otherwise widens blocks of weight rows
    /// into scratch (in parallel), then multiplies each block with vidlm's f32 GEMM (AVX-512) or
    /// OpenBLAS's `sgemm`. Rows are widened in the shuffle-free
    /// `deinterleave` order and x's rows rearranged to match.
    /// `bias` and `activation` (a kernel id, −1: none) are only for the BF16 GEMM (`usesBF16GEMM`).
    static func halfGEMM(weight: Tensor, x: UnsafePointer<Float>, m: Int, k: Int, out: Int,
                         y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil,
                         activation: Int32 = -1) {
        if usesBF16GEMM(weight.dtype) {
            bf16GEMM(weight: weight, x: x, m: m, k: k, out: out, y: y, ldy: ldy, accumulate: accumulate, bias: bias,
                     activation: activation)
            return
        }
        precondition(activation < 0, "a fused activation needs vidlm's bf16 GEMM")
        let xs = UnsafeMutablePointer<Float>.allocate(capacity: max(m * k, 1))
        defer { xs.deallocate() }
        for j in 0..<m { HalfPrecisionKernels.deinterleave(x + j * k, count: k, into: xs + j * k, includingTail: true) }
        if weight.dtype == .bf16 { HalfPrecisionKernels.roundToBF16(xs, count: m * k, into: xs) }
        let blockRows = max(1, min(out, blockFloats / max(k, 1)))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * k)
        defer { scratch.deallocate() }
        let base = weight.storage.base + weight.byteOffset
        let dtype = weight.dtype
        // Widens each block of weight rows [r0, r0 + n) into scratch, then `multiply(r0, n)`.
        func forEachWidenedBlock(_ multiply: (Int, Int) -> Void) {
            var r0 = 0
            while r0 < out {
                let n = min(blockRows, out - r0)
                ParallelLoop.forEachChunk(n, minimumPerChunk: max(1, (1 << 15) / max(k, 1))) { rows in
                    for r in rows {
                        HalfPrecisionKernels.widenDeinterleaved(base + (r0 + r) * k * 2, dtype: dtype, count: k, into: scratch + r * k)
                    }
                }
                multiply(r0, n)
                r0 += n
            }
        }
        // vidlm's f32 GEMM where it runs (x packed once for all blocks): OpenBLAS's sgemm speed
        // depends on the kernel it picks for the CPU.
        if usesF32GEMM(m: m) {
            withPackedF32X(xs, m: m, k: k) { xp in
                forEachWidenedBlock { r0, n in
                    f32GEMM(packedX: xp, scratch, m: m, k: k, out: n, y: y + r0, ldy: ldy, accumulate: accumulate, bias: nil)
                }
            }
        } else {
            forEachWidenedBlock { r0, n in
                BLAS.sgemm(transposeA: false, transposeB: true, m: m, n: n, k: k, a: xs, lda: k, b: scratch, ldb: k,
                           beta: accumulate ? 1 : 0, c: y + r0, ldc: ldy)
            }
        }
    }
}

extension MixedPrecisionLinear {
    /// Runs `body(scratch, rows)` over units of `out` output rows claimed dynamically by
    /// `computeThreads` workers (a worker slowed by another process does not hold the others up
    /// at the end), each worker with its own 64-byte aligned scratch of `scratchBytes`. Units are
    /// a multiple of the kernel's tile of `tileRows` weight rows, between `minimumRows` and
    /// `maximumRows` (the AVX-512 kernels: 6-row tiles, 24-96 rows; AMX: 32-row tile pairs, up to
    /// the 256 rows its scratch holds), and shrink as the rows run out (guided scheduling), so
    /// the workers finish together: with fixed units the last one of a long product
    /// (SmolVLM2-2.2B's down projection, 256 rows × k 8192 of an 812-row prompt, about 4 ms) kept
    /// one core waiting for the other. Every unit streams all of x (`xBytes`, as the kernel reads
    /// it) past its rows: an x that stays in L2 (a short prompt) is cheap to stream again, and each
    /// claim takes a quarter of what is left per worker; a larger one (towers, long prompts) is
    /// read from L3 by every unit, and each claim takes all that is left per worker, which keeps
    /// units of under 128 rows to the last few hundred rows.
    static func forEachRowUnit(out: Int, scratchBytes: Int, tileRows: Int = 6, minimumRows: Int = 24, maximumRows: Int = 96,
                               xBytes: Int, _ body: (UnsafeMutableRawPointer, Range<Int>) -> Void) {
        let threads = max(1, ThreadBudget.computeThreads)
        let lowest = max(1, min(minimumRows, maximumRows)), highest = max(lowest, maximumRows)
        let parts = xBytes <= 1 << 21 ? 4 * threads : threads
        func unitRows(left: Int) -> Int {
            let share = (left + parts - 1) / parts
            return min(highest, max(lowest, (share + tileRows - 1) / tileRows * tileRows))
        }
        let next = Atomic<Int>(0)
        ParallelLoop.forEachChunk(min(threads, (out + lowest - 1) / lowest)) { _ in
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
            defer { scratch.deallocate() }
            var start = next.load(ordering: .relaxed)
            while start < out {
                let end = min(out, start + unitRows(left: out - start))
                let (exchanged, seen) = next.compareExchange(expected: start, desired: end, ordering: .relaxed)
                if exchanged {
                    body(scratch, start..<end)
                    start = end
                } else {
                    start = seen
                }
            }
        }
    }

    /// x packed once (shared read-only), then `vidlm_f32_gemm_avx512` over units of output rows,
    /// each worker packing its weight blocks into its own scratch.
    /// `residual` (row stride `ldy`): added to the outputs as they are stored.
    static func f32GEMM(_ w: UnsafePointer<Float>, x: UnsafePointer<Float>, m: Int, k: Int, out: Int,
                        y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, bias: UnsafePointer<Float>?,
                        activation: Int32 = -1, residual: UnsafePointer<Float>? = nil) {
        withPackedF32X(x, m: m, k: k) { xp in
            f32GEMM(packedX: xp, w, m: m, k: k, out: out, y: y, ldy: ldy, accumulate: accumulate, bias: bias,
                    activation: activation, residual: residual)
        }
    }

    /// x packed for `vidlm_f32_gemm_avx512` by all workers (a single thread packing a tower's x
    /// left the other idle for 3 % of the tower's time), alive during `body`.
    static func withPackedF32X(_ x: UnsafePointer<Float>, m: Int, k: Int, _ body: (UnsafePointer<Float>) -> Void) {
        let packed = PackedInput(x, m: m, k: k)
        withExtendedLifetime(packed) { body(packed.forF32GEMM) }
    }

    /// x packed for vidlm's AVX-512 GEMMs, each form (f32, bf16) made by all workers on first use
    /// and kept for the products that follow: the q, k and v projections of a tower read one
    /// packed x instead of packing it three times. Valid while x is; freed with this object.
    final class PackedInput {
        private let x: UnsafePointer<Float>
        private let m: Int, k: Int
        private var f32: UnsafeMutableRawPointer?, bf16: UnsafeMutableRawPointer?

        init(_ x: UnsafePointer<Float>, m: Int, k: Int) {
            (self.x, self.m, self.k) = (x, m, k)
        }

        deinit {
            f32?.deallocate()
            bf16?.deallocate()
        }

        /// x as `vidlm_f32_gemm_avx512` reads it.
        var forF32GEMM: UnsafePointer<Float> {
            let count = vidlm_f32_packed_x_count(m, k)
            if let f32 { return UnsafePointer(f32.assumingMemoryBound(to: Float.self)) }
            let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
            f32 = raw
            let xp = raw.bindMemory(to: Float.self, capacity: count)
            let (x, m, k) = (x, m, k)
            packInParallel(block: vidlm_f32_pack_x_block_rows(m)) { vidlm_f32_pack_x_avx512(x, k, m, k, $0, $1, xp) }
            return UnsafePointer(xp)
        }

        /// x rounded to bf16 as `vidlm_bf16_gemm_avx512bf16` reads it.
        var forBF16GEMM: UnsafePointer<UInt16> {
            let count = vidlm_bf16_packed_x_count(m, k)
            if let bf16 { return UnsafePointer(bf16.assumingMemoryBound(to: UInt16.self)) }
            let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 2, alignment: 64)
            bf16 = raw
            let xp = raw.bindMemory(to: UInt16.self, capacity: count)
            let (x, m, k) = (x, m, k)
            packInParallel(block: vidlm_bf16_pack_x_block_rows(m)) { vidlm_bf16_pack_x_avx512bf16(x, k, m, k, $0, $1, xp) }
            return UnsafePointer(xp)
        }

        /// `pack(rowBegin, rowEnd)` over x's rows in blocks of `block` rows, shared among the
        /// workers (one thread packing a tower's x left the other idle for 3 % of its time).
        private func packInParallel(block: Int, _ pack: (Int, Int) -> Void) {
            ParallelLoop.forEachChunk((m + block - 1) / block, minimumPerChunk: max(1, (1 << 16) / max(block * k, 1))) { range in
                pack(range.lowerBound * block, range.upperBound * block)
            }
        }
    }

    /// `vidlm_f32_gemm_avx512` over units of the `out` weight rows, x already packed.
    static func f32GEMM(packedX xp: UnsafePointer<Float>, _ w: UnsafePointer<Float>, m: Int, k: Int, out: Int,
                        y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, bias: UnsafePointer<Float>?,
                        activation: Int32 = -1, residual: UnsafePointer<Float>? = nil) {
        forEachF32RowUnit(out: out, m: m, k: k) { scratch, rows in
            vidlm_f32_gemm_add_avx512(xp, m, w, k, rows.lowerBound, rows.upperBound, y, ldy, accumulate ? 1 : 0, bias,
                                      activation, residual, ldy, scratch)
        }
    }

    /// `forEachRowUnit` as vidlm's f32 GEMM splits `out` weight rows for m × k x: units of whole
    /// weight panels (64 rows from 256 x rows), up to four of them (every unit streams all of x
    /// again, so units of 96 rows, the earlier kernel's, left the outer-product kernel no faster
    /// end to end than the one it replaced), each worker with the kernel's weight scratch.
    static func forEachF32RowUnit(out: Int, m: Int, k: Int, _ body: (UnsafeMutablePointer<Float>, Range<Int>) -> Void) {
        forEachPanelUnit(out: out, tileRows: vidlm_f32_gemm_tile_rows(m), scratchCount: vidlm_f32_gemm_scratch_count(),
                         xBytes: m * k * 4, body)
    }

    /// `forEachRowUnit` in units of whole kernel tiles of `tileRows` weight rows, up to four of
    /// them, each worker with a scratch of `scratchCount` elements of T.
    private static func forEachPanelUnit<T>(out: Int, tileRows tile: Int, scratchCount: Int, xBytes: Int,
                                            _ body: (UnsafeMutablePointer<T>, Range<Int>) -> Void) {
        forEachRowUnit(out: out, scratchBytes: scratchCount * MemoryLayout<T>.stride, tileRows: tile, minimumRows: max(24, tile),
                       maximumRows: max(96, 4 * tile), xBytes: xBytes) { scratch, rows in
            body(scratch.bindMemory(to: T.self, capacity: scratchCount), rows)
        }
    }

    /// x rounded to bf16 and packed once by all workers (shared read-only), then
    /// `vidlm_bf16_gemm_add_avx512bf16` over units of whole weight tiles or panels (see
    /// `forEachF32RowUnit`: the outer-product kernel's 64-row panels from 256 x rows), or AMX
    /// where the CPU has it. `activation` (a kernel id, −1: none) is applied and `residual` (row
    /// stride `ldy`) added as the outputs are stored.
    static func bf16GEMM(weight: Tensor, x: UnsafePointer<Float>, m: Int, k: Int, out: Int,
                         y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, bias: UnsafePointer<Float>?,
                         activation: Int32 = -1, residual: UnsafePointer<Float>? = nil) {
        if HalfPrecisionKernels.useAMX {
            amxGEMM(weight: weight, x: x, m: m, k: k, out: out, y: y, ldy: ldy, accumulate: accumulate, bias: bias,
                    activation: activation, residual: residual)
            return
        }
        let packed = PackedInput(x, m: m, k: k)
        withExtendedLifetime(packed) {
            bf16GEMM(packedX: packed.forBF16GEMM, weight: weight, m: m, k: k, out: out, y: y, ldy: ldy, accumulate: accumulate,
                     bias: bias, activation: activation, residual: residual)
        }
    }

    /// `vidlm_bf16_gemm_add_avx512bf16` over units of the `out` weight rows, x already packed.
    static func bf16GEMM(packedX xp: UnsafePointer<UInt16>, weight: Tensor, m: Int, k: Int, out: Int,
                         y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, bias: UnsafePointer<Float>?,
                         activation: Int32 = -1, residual: UnsafePointer<Float>? = nil) {
        let w = (weight.storage.base + weight.byteOffset).assumingMemoryBound(to: UInt16.self)
        forEachBF16RowUnit(out: out, m: m, k: k) { scratch, rows in
            vidlm_bf16_gemm_add_avx512bf16(xp, m, w, k, rows.lowerBound, rows.upperBound, y, ldy, accumulate ? 1 : 0, bias,
                                           activation, residual, ldy, scratch)
        }
    }

    /// `forEachRowUnit` as the AVX-512 BF16 GEMM splits `out` weight rows for m × k x (whole
    /// tiles or 64-row panels, see `forEachF32RowUnit`), each worker with the kernel's scratch.
    static func forEachBF16RowUnit(out: Int, m: Int, k: Int, _ body: (UnsafeMutablePointer<UInt16>, Range<Int>) -> Void) {
        forEachPanelUnit(out: out, tileRows: vidlm_bf16_gemm_tile_rows(m), scratchCount: vidlm_bf16_gemm_scratch_count(),
                         xBytes: m * k * 2, body)
    }
}

extension MixedPrecisionLinear {
    /// bf16 weights on Intel AMX: x rounded to bf16 and packed into tiles by all workers (32-row
    /// blocks), then `vidlm_amx_bf16_gemm` over units of whole 32-row tile pairs. From 9 x rows
    /// (the matrix-vector kernel's limit) AMX beats the AVX-512 BF16 GEMM: 1.5× at 16 rows, 8×
    /// at a thousand (TinyLlama gate shape, one core, Xeon with AMX).
    static func amxGEMM(weight: Tensor, x: UnsafePointer<Float>, m: Int, k: Int, out: Int,
                        y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, bias: UnsafePointer<Float>?,
                        activation: Int32 = -1, residual: UnsafePointer<Float>? = nil) {
        withAMXPackedX(count: vidlm_amx_packed_x_count(m, k)) { xp in
            let blocks = (m + 31) / 32
            ParallelLoop.forEachChunk(blocks, minimumPerChunk: max(1, (1 << 16) / max(32 * k, 1))) { range in
                vidlm_amx_pack_x(x, k, m, k, range.lowerBound * 32, range.upperBound * 32, xp)
            }
            amxGEMM(packedX: xp, weight: weight, m: m, k: k, out: out, y: y, ldy: ldy, accumulate: accumulate, bias: bias,
                    activation: activation, residual: residual)
        }
    }

    /// A 64-byte aligned buffer of `count` bf16 for packed x, alive during `body`.
    static func withAMXPackedX<R>(count: Int, _ body: (UnsafeMutablePointer<UInt16>) -> R) -> R {
        let packed = UnsafeMutableRawPointer.allocate(byteCount: count * 2, alignment: 64)
        defer { packed.deallocate() }
        return body(packed.bindMemory(to: UInt16.self, capacity: count))
    }

    /// `vidlm_amx_bf16_gemm` over units of whole 32-row tile pairs, x already packed; with a
    /// `residual` (row stride `ldy`) y = residual + the product (`vidlm_amx_bf16_gemm_add`).
    static func amxGEMM(packedX xp: UnsafePointer<UInt16>, weight: Tensor, m: Int, k: Int, out: Int,
                        y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, bias: UnsafePointer<Float>?,
                        activation: Int32 = -1, residual: UnsafePointer<Float>? = nil) {
        let w = (weight.storage.base + weight.byteOffset).assumingMemoryBound(to: UInt16.self)
        let scratchCount = vidlm_amx_gemm_scratch_count()
        forEachRowUnit(out: out, scratchBytes: scratchCount * 2, tileRows: 32, minimumRows: 32,
                       maximumRows: vidlm_amx_gemm_unit_rows(), xBytes: m * k * 2) { scratch, rows in
            vidlm_amx_bf16_gemm_add(xp, m, w, k, rows.lowerBound, rows.upperBound, y, ldy, accumulate ? 1 : 0, bias, activation,
                                    residual, ldy, scratch.bindMemory(to: UInt16.self, capacity: scratchCount))
        }
    }
}

extension Tensor {
    /// Rows `ids` of a [V, D] table in any float dtype, as f32 [ids.count, D]; only those rows
    /// are converted (a bf16 embedding matrix is never widened whole).
    public func gatherRows(_ ids: [Int]) -> Tensor {
        precondition(rank == 2, "gatherRows needs a [rows, width] table, got \(shape)")
        let d = shape[1]
        let base = storage.base + byteOffset
        return Tensor.make(shape: [ids.count, d], uninitialized: true) { out in
            for (r, id) in ids.enumerated() {
                precondition(id >= 0 && id < shape[0], "row \(id) outside a table of \(shape[0])")
                let dst = out.baseAddress! + r * d
                switch dtype {
                case .f32:
                    dst.update(from: (base + id * d * 4).assumingMemoryBound(to: Float.self), count: d)
                case .bf16, .f16:
                    HalfPrecisionKernels.widen(base + id * d * 2, dtype: dtype, count: d, into: dst)
                default:
                    let row = self.slice(id).toF32()
                    row.withFloats { dst.update(from: $0.baseAddress!, count: d) }
                }
            }
        }
    }
}

extension Tensor {
    /// `second(activation(first(self)))` (plus `residual`), bit for bit as
    /// `mixedLinear(weight:bias:activation:)` then `mixedLinear(weight:bias:adding:)` compute it,
    /// or nil where this does not apply: where both weights are f32 on vidlm's GEMM and the first
    /// product's k fits one slice (towers' MLPs, e.g. SigLIP-B's 768 → 3072 → 768), the first
    /// product writes its outputs straight into the second's packed x
    /// (`vidlm_f32_gemm_to_packed`): the hidden state is never stored as rows and packed again.
    public func f32ChainedLinear(first: (weight: Tensor, bias: Tensor?), activation: Activation,
                                 second: (weight: Tensor, bias: Tensor?), adding residual: Tensor? = nil) -> Tensor? {
        let k = shape[rank - 1], m = count / max(k, 1)
        guard first.weight.dtype == .f32, second.weight.dtype == .f32, MixedPrecisionLinear.usesF32GEMM(m: m),
              vidlm_f32_chain_supported(m, k) == 1 else { return nil }
        return chainedProducts(first: first, second: second, residual: residual, packedBytes: 4 * vidlm_f32_packed_x_count(m, first.weight.shape[0])) {
            x, hidden, n, out, y, r in
            let hp = hidden.bindMemory(to: Float.self, capacity: vidlm_f32_packed_x_count(m, n))
            first.weight.withFloats { wb in
                optionalPointer(first.bias?.floats()) { bias in
                    MixedPrecisionLinear.withPackedF32X(x, m: m, k: k) { xp in
                        MixedPrecisionLinear.forEachF32RowUnit(out: n, m: m, k: k) { scratch, rows in
                            vidlm_f32_gemm_to_packed(xp, m, wb.baseAddress!, k, rows.lowerBound, rows.upperBound, bias,
                                                     activation.kernelID, hp, n, scratch)
                        }
                    }
                }
            }
            second.weight.withFloats { wb in
                optionalPointer(second.bias?.floats()) { bias in
                    MixedPrecisionLinear.f32GEMM(packedX: hp, wb.baseAddress!, m: m, k: n, out: out, y: y, ldy: out,
                                                 accumulate: false, bias: bias, residual: r)
                }
            }
        }
    }

    /// `f32ChainedLinear` for bf16 weights on the AVX-512 BF16 GEMM (CPUs without AMX, where
    /// `amxChainedLinear` does this): from 256 x rows with the first k within one 2048-element
    /// slice, the first product rounds its outputs into the second's packed x
    /// (`vidlm_bf16_gemm_to_packed`), bit for bit as the two products one after the other.
    public func bf16ChainedLinear(first: (weight: Tensor, bias: Tensor?), activation: Activation,
                                  second: (weight: Tensor, bias: Tensor?), adding residual: Tensor? = nil) -> Tensor? {
        let k = shape[rank - 1], m = count / max(k, 1)
        guard first.weight.dtype == .bf16, second.weight.dtype == .bf16, MixedPrecisionLinear.usesBF16GEMM(.bf16),
              !HalfPrecisionKernels.useAMX, vidlm_bf16_chain_supported(m, k) == 1 else { return nil }
        return chainedProducts(first: first, second: second, residual: residual, packedBytes: 2 * vidlm_bf16_packed_x_count(m, first.weight.shape[0])) {
            x, hidden, n, out, y, r in
            let hp = hidden.bindMemory(to: UInt16.self, capacity: vidlm_bf16_packed_x_count(m, n))
            let packed = MixedPrecisionLinear.PackedInput(x, m: m, k: k)
            let w1 = (first.weight.storage.base + first.weight.byteOffset).assumingMemoryBound(to: UInt16.self)
            withExtendedLifetime(packed) {
                let xp = packed.forBF16GEMM
                optionalPointer(first.bias?.floats()) { bias in
                    MixedPrecisionLinear.forEachBF16RowUnit(out: n, m: m, k: k) { scratch, rows in
                        vidlm_bf16_gemm_to_packed(xp, m, w1, k, rows.lowerBound, rows.upperBound, bias, activation.kernelID, hp, n, scratch)
                    }
                }
            }
            optionalPointer(second.bias?.floats()) { bias in
                MixedPrecisionLinear.bf16GEMM(packedX: hp, weight: second.weight, m: m, k: n, out: out, y: y, ldy: out,
                                              accumulate: false, bias: bias, residual: r)
            }
        }
    }

    /// LLaMA's gated MLP `down(activation(gate(self)) · up(self))` (plus `residual`) on the AVX-512
    /// BF16 GEMM (CPUs without AMX, where `amxGatedChainedLinear` does this), bit for bit as the
    /// gate and up products, `gatedActivation` and the down product one after the other: from 256
    /// x rows with k within one 2048-element slice, gate and up panels are summed side by side and
    /// act(g) · u rounded straight into the down projection's packed x
    /// (`vidlm_bf16_gated_to_packed`); nil where this does not apply.
    public func bf16GatedChainedLinear(gate: (weight: Tensor, bias: Tensor?), up: (weight: Tensor, bias: Tensor?),
                                       activation: Activation, down: (weight: Tensor, bias: Tensor?),
                                       adding residual: Tensor? = nil) -> Tensor? {
        let k = shape[rank - 1], m = count / max(k, 1)
        guard gate.weight.dtype == .bf16, up.weight.dtype == .bf16, down.weight.dtype == .bf16,
              MixedPrecisionLinear.usesBF16GEMM(.bf16), !HalfPrecisionKernels.useAMX, vidlm_bf16_chain_supported(m, k) == 1,
              up.weight.shape == gate.weight.shape, up.bias.map({ $0.count == up.weight.shape[0] }) ?? true else { return nil }
        return chainedProducts(first: gate, second: down, residual: residual, packedBytes: 2 * vidlm_bf16_packed_x_count(m, gate.weight.shape[0])) {
            x, hidden, n, out, y, r in
            let hp = hidden.bindMemory(to: UInt16.self, capacity: vidlm_bf16_packed_x_count(m, n))
            let packed = MixedPrecisionLinear.PackedInput(x, m: m, k: k)
            let wg = (gate.weight.storage.base + gate.weight.byteOffset).assumingMemoryBound(to: UInt16.self)
            let wu = (up.weight.storage.base + up.weight.byteOffset).assumingMemoryBound(to: UInt16.self)
            withExtendedLifetime(packed) {
                let xp = packed.forBF16GEMM
                optionalPointer(gate.bias?.floats()) { gb in
                    optionalPointer(up.bias?.floats()) { ub in
                        MixedPrecisionLinear.forEachBF16RowUnit(out: n, m: m, k: k) { scratch, rows in
                            vidlm_bf16_gated_to_packed(xp, m, wg, wu, k, rows.lowerBound, rows.upperBound, gb, ub, activation.kernelID,
                                                       hp, n, scratch)
                        }
                    }
                }
            }
            optionalPointer(down.bias?.floats()) { bias in
                MixedPrecisionLinear.bf16GEMM(packedX: hp, weight: down.weight, m: m, k: n, out: out, y: y, ldy: out,
                                              accumulate: false, bias: bias, residual: r)
            }
        }
    }

    /// The checks and buffers the chained MLPs share: nil unless the weights are [n, k] and
    /// [out, n] matrices with matching biases and the residual (if any) has the output's shape;
    /// otherwise `run(x, hidden, n, out, y, residual)` with a 64-byte aligned buffer of
    /// `packedBytes` for the packed hidden state, writing the [..., out] result into y.
    private func chainedProducts(first: (weight: Tensor, bias: Tensor?), second: (weight: Tensor, bias: Tensor?),
                                 residual: Tensor?, packedBytes: @autoclosure () -> Int,
                                 run: (UnsafePointer<Float>, UnsafeMutableRawPointer, Int, Int, UnsafeMutablePointer<Float>,
                                       UnsafePointer<Float>?) -> Void) -> Tensor? {
        let k = shape[rank - 1]
        guard first.weight.rank == 2, second.weight.rank == 2, first.weight.shape[1] == k,
              second.weight.shape[1] == first.weight.shape[0],
              first.bias.map({ $0.count == first.weight.shape[0] }) ?? true,
              second.bias.map({ $0.count == second.weight.shape[0] }) ?? true else { return nil }
        let n = first.weight.shape[0], out = second.weight.shape[0]
        let outShape = Array(shape.dropLast()) + [out]
        if let residual, residual.shape != outShape { return nil }
        let hidden = UnsafeMutableRawPointer.allocate(byteCount: packedBytes(), alignment: 64)
        defer { hidden.deallocate() }
        return withFloats { xb in
            Tensor.make(shape: outShape, uninitialized: true) { yb in
                guard let residual else { return run(xb.baseAddress!, hidden, n, out, yb.baseAddress!, nil) }
                residual.withFloats { run(xb.baseAddress!, hidden, n, out, yb.baseAddress!, $0.baseAddress!) }
            }
        }
    }
}
