import COpenBLAS

/// Matrix products through OpenBLAS `cblas_sgemm` (f32).
/// OpenBLAS runs single-threaded (set once by `ThreadBudget`); vidlm splits large products across
/// its own workers. Nothing changes BLAS's thread count per call, so concurrent requests cannot
/// disturb each other, and loops that already run in parallel call `sgemmSerial` directly.
public enum BLAS {
    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major; op = transpose when asked.
    /// `lda`, `ldb`, `ldc` are row strides of the matrices as stored. Large products are split
    /// by columns of C (or rows, when C is tall and narrow) across `ThreadBudget.computeThreads`
    /// workers; every element is still one OpenBLAS dot over the whole of k.
    public static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let threads = ThreadBudget.computeThreads
        // Below ~2 MFLOP the dispatch costs more than it saves.
        guard threads > 1, m * n * k >= 1 << 20 else {
            sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                        a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let shared = UncheckedSendable((a, b, c))
        if n >= 16 * threads || n >= m {
            // Column blocks of 16 (whole SIMD tiles for OpenBLAS's kernels).
            let units = (n + 15) / 16
            ParallelLoop.forEachChunk(units) { range in
                let (a, b, c) = shared.value
                let c0 = range.lowerBound * 16, c1 = min(n, range.upperBound * 16)
                sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: m, n: c1 - c0, k: k, alpha: alpha,
                            a: a, lda: lda, b: transposeB ? b + c0 * ldb : b + c0, ldb: ldb, beta: beta, c: c + c0, ldc: ldc)
            }
        } else {
            ParallelLoop.forEachChunk(m, minimumPerChunk: 4) { range in
                let (a, b, c) = shared.value
                let r0 = range.lowerBound
                sgemmSerial(transposeA: transposeA, transposeB: transposeB, m: range.count, n: n, k: k, alpha: alpha,
                            a: transposeA ? a + r0 : a + r0 * lda, lda: lda, b: b, ldb: ldb, beta: beta,
                            c: c + r0 * ldc, ldc: ldc)
            }
        }
    }

    /// One single-threaded OpenBLAS call (for callers that already split work across cores).
    @inline(__always)
    public static func sgemmSerial(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                                   a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                   beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        ThreadBudget.configureBLAS()
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[rows] = W[rows×k] · x (+ y when `accumulate`), row-major W, rows split across workers.
    public static func sgemv(rows: Int, k: Int, w: UnsafePointer<Float>, ldw: Int, x: UnsafePointer<Float>,
                             y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        ThreadBudget.configureBLAS()
        let shared = UncheckedSendable((w, x, y))
        ParallelLoop.forEachChunk(rows, minimumPerChunk: max(16, (1 << 16) / max(k, 1))) { range in
            let (w, x, y) = shared.value
            let r0 = range.lowerBound
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(range.count), Int32(k), 1, w + r0 * ldw, Int32(ldw), x, 1,
                        accumulate ? 1 : 0, y + r0, 1)
        }
    }
}

extension Tensor {
    /// Matrix product of the last two dimensions, batched over leading ones (which must match,
    /// or one side may be a plain matrix). `transposeA/B` transpose the operands' last two dims.
    public func matmul(_ other: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(rank >= 2 && other.rank >= 2, "matmul needs matrices, got \(shape) and \(other.shape)")
        let (ar, ac) = (shape[rank - 2], shape[rank - 1])
        let (br, bc) = (other.shape[other.rank - 2], other.shape[other.rank - 1])
        let m = transposeA ? ac : ar, k = transposeA ? ar : ac
        let kb = transposeB ? bc : br, n = transposeB ? br : bc
        precondition(k == kb, "matmul inner dimensions differ: \(shape) × \(other.shape)")
        let aBatch = Array(shape.dropLast(2)), bBatch = Array(other.shape.dropLast(2))
        let batch = aBatch.isEmpty ? bBatch : aBatch
        precondition(aBatch.isEmpty || bBatch.isEmpty || aBatch == bBatch, "matmul batch shapes differ: \(shape) × \(other.shape)")
        let batches = Tensor.elementCount(batch)
        let aStride = aBatch.isEmpty ? 0 : ar * ac, bStride = bBatch.isEmpty ? 0 : br * bc
        return withFloats { a in
            other.withFloats { b in
                Tensor.make(shape: batch + [m, n], uninitialized: true) { c in
                    for i in 0..<batches {
                        BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                   a: a.baseAddress! + i * aStride, lda: ac,
                                   b: b.baseAddress! + i * bStride, ldb: bc,
                                   c: c.baseAddress! + i * m * n, ldc: n)
                    }
                }
            }
        }
    }

    /// `self · weightᵀ + bias` over the last dimension, as `torch.nn.Linear` (weight [out, in]).
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let inFeatures = shape[rank - 1]
        precondition(weight.rank == 2 && weight.shape[1] == inFeatures, "linear: input \(shape) vs weight \(weight.shape)")
        let out = weight.shape[0]
        let rows = count / max(inFeatures, 1)
        return withFloats { x in
            weight.withFloats { w in
                Tensor.make(shape: Array(shape.dropLast()) + [out]) { y in
                    if let bias {
                        precondition(bias.count == out, "linear: bias \(bias.shape) vs \(out) outputs")
                        bias.withFloats { b in
                            for r in 0..<rows { (y.baseAddress! + r * out).update(from: b.baseAddress!, count: out) }
                        }
                    }
                    BLAS.sgemm(transposeA: false, transposeB: true, m: rows, n: out, k: inFeatures,
                               a: x.baseAddress!, lda: inFeatures, b: w.baseAddress!, ldb: inFeatures,
                               beta: bias == nil ? 0 : 1, c: y.baseAddress!, ldc: out)
                }
            }
        }
    }
}

extension Tensor {
    /// Several `linear`s of the same input written side by side into one output
    /// [..., Σ outᵢ] (e.g. separate q, k, v projections into one fused qkv), each straight from
    /// its own weight: no stacked copy of the weights is ever made.
    public func linear(parts: [(weight: Tensor, bias: Tensor?)]) -> Tensor {
        let inFeatures = shape[rank - 1]
        let rows = count / max(inFeatures, 1)
        let outs = parts.map { $0.weight.shape[0] }
        let total = outs.reduce(0, +)
        for p in parts {
            precondition(p.weight.rank == 2 && p.weight.shape[1] == inFeatures, "linear: input \(shape) vs weight \(p.weight.shape)")
        }
        return withFloats { x in
            Tensor.make(shape: Array(shape.dropLast()) + [total], uninitialized: true) { y in
                var column = 0
                for (p, out) in zip(parts, outs) {
                    let dst = y.baseAddress! + column
                    if let bias = p.bias {
                        bias.withFloats { b in
                            for r in 0..<rows { (dst + r * total).update(from: b.baseAddress!, count: out) }
                        }
                    }
                    p.weight.withFloats { w in
                        BLAS.sgemm(transposeA: false, transposeB: true, m: rows, n: out, k: inFeatures,
                                   a: x.baseAddress!, lda: inFeatures, b: w.baseAddress!, ldb: inFeatures,
                                   beta: p.bias == nil ? 0 : 1, c: dst, ldc: total)
                    }
                    column += out
                }
            }
        }
    }
}
