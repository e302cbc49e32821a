import CKernels

/// The integer kernels for block-quantized weights (Sources/CKernels/quant_kernels.c), the
/// path chosen once per process, and the scalar reference they all agree with bit for bit.
public enum QuantizedKernels {
    /// Which implementation runs the products.
    public enum Path: Int32, Sendable, CaseIterable {
        case portable = 0, avx512bw = 1, avx512vnni = 2

        /// Whether this CPU runs `self`.
        public var isAvailable: Bool { rawValue <= QuantizedKernels.best.rawValue }
    }

    /// The fastest path this CPU runs (VNNI's vpdpbusd where present).
    public static let best: Path = Path(rawValue: vidlm_quant_best_path()) ?? .portable

    static func code(_ format: DType) -> Int32 {
        switch format {
        case .q8_0: Int32(VIDLM_Q8_0)
        case .q8_0r16: Int32(VIDLM_Q8_0_R16)
        case .q4_0r16: Int32(VIDLM_Q4_0_R16)
        default: Int32(VIDLM_Q4_0)
        }
    }

    /// x rows quantized per 32-block to int8 (what the kernels multiply).
    public struct QuantizedRows {
        public let m: Int, k: Int
        public var values: [Int8]
        public var scales: [Float]
        /// −128 · the sum of each 4 consecutive values (the VNNI path's starting point).
        public var sums: [Int32]
        /// −128 · the sum of each block (the panel kernels' starting point).
        public var blockSums: [Int32]
        /// −(the sum of each block), as a float (exact; q4_k's min term; empty unless asked for).
        public var negatedBlockSums: [Float]

        /// Quantizes `m` rows of `k` floats (k a multiple of 32) with `path`; `negatedSums`: also
        /// `negatedBlockSums` (what q4_k weights need).
        public init(_ x: UnsafePointer<Float>, m: Int, k: Int, path: Path = QuantizedKernels.best, negatedSums: Bool = true) {
            precondition(k % 32 == 0, "quantized rows need whole blocks of 32")
            self.m = m
            self.k = k
            values = [Int8](repeating: 0, count: max(m * k, 1))
            scales = [Float](repeating: 0, count: max(m * k / 32, 1))
            sums = [Int32](repeating: 0, count: max(m * k / 4, 1))
            blockSums = []
            negatedBlockSums = []
            values.withUnsafeMutableBufferPointer { q in
                scales.withUnsafeMutableBufferPointer { d in
                    sums.withUnsafeMutableBufferPointer { s in
                        let (qp, dp, sp) = (q.baseAddress!, d.baseAddress!, s.baseAddress!)
                        ParallelLoop.forEachChunk(m, minimumPerChunk: max(1, (1 << 16) / max(k, 1))) { rows in
                            for i in rows {
                                vidlm_quantize_x_row(x + i * k, k, qp + i * k, dp + i * (k / 32), sp + i * (k / 4), path.rawValue)
                            }
                        }
                    }
                }
            }
            let blocks = k / 32
            var totals = [Int32](repeating: 0, count: max(m * blocks, 1))
            for i in 0..<(m * blocks) {
                var total: Int32 = 0
                for j in 0..<8 { total &+= sums[i * 8 + j] }
                totals[i] = total
            }
            blockSums = totals
            negatedBlockSums = negatedSums ? totals.map { Float($0 >> 7) } : []
        }
    }

    /// y[i·ldy + r] = row r of `weight` (a block table) · x row i, for r in `rows`, i in 0..<m.
    public static func matmul(weight: UnsafeRawPointer, format: DType, k: Int, rows: Range<Int>, x: QuantizedRows,
                              y: UnsafeMutablePointer<Float>, ldy: Int, path: Path = QuantizedKernels.best) {
        x.values.withUnsafeBufferPointer { q in
            x.scales.withUnsafeBufferPointer { d in
                x.sums.withUnsafeBufferPointer { s in
                    x.blockSums.withUnsafeBufferPointer { c in
                        if format.isKQuant {
                            precondition(x.negatedBlockSums.count == x.blockSums.count, "q4_k products need the x rows' negated sums")
                            let done = x.negatedBlockSums.withUnsafeBufferPointer { n in
                                vidlm_q4k_matmul(format.isInterleaved ? 1 : 0, path.rawValue, weight.assumingMemoryBound(to: UInt8.self), k,
                                                 rows.lowerBound, rows.upperBound, q.baseAddress!, d.baseAddress!, n.baseAddress!, x.m, y, ldy)
                            }
                            // Row-layout q4_k repacks 16 rows at a time into a scratch panel (2.3 KiB
                            // per 256 columns); without one, the scalar reference computes the same floats.
                            if done == 0 { matmulReference(weight: weight, k: k, rows: rows, x: x, y: y, ldy: ldy) }
                            return
                        }
                        vidlm_quant_matmul(code(format), path.rawValue, weight.assumingMemoryBound(to: UInt8.self), k,
                                           rows.lowerBound, rows.upperBound, q.baseAddress!, d.baseAddress!, s.baseAddress!,
                                           c.baseAddress!, x.m, y, ldy)
                    }
                }
            }
        }
    }
}

extension QuantizedKernels {
    /// Row-layout q4_k rows through the scalar reference (when the kernels' scratch cannot be had).
    static func matmulReference(weight: UnsafeRawPointer, k: Int, rows: Range<Int>, x: QuantizedRows,
                                y: UnsafeMutablePointer<Float>, ldy: Int) {
        let rowBytes = DType.q4_k.byteCount(elements: k)
        for r in rows {
            for i in 0..<x.m {
                let values = Array(x.values[(i * k)..<(i * k + k)]), scales = Array(x.scales[(i * k / 32)..<((i + 1) * k / 32)])
                y[i * ldy + r] = QuantizedReference.kDot(weightRow: weight + r * rowBytes, k: k, values: values, scales: scales)
            }
        }
    }
}

/// The scalar reference every path must equal bit for bit (see quant_kernels.h for the order).
public enum QuantizedReference {
    /// One q4_k weight row (k/256 super-blocks) · one quantized x row, in quant_k_kernels.h's
    /// order (the same for every m): per sub-block, the level dot and then −Σx times the min.
    public static func kDot(weightRow w: UnsafeRawPointer, k: Int, values: [Int8], scales: [Float]) -> Float {
        var acc: Float = 0
        for s in 0..<(k / KQuantization.superBlock) {
            let blk = w + s * KQuantization.blockBytes
            let d = KQuantization.half(blk, 0), dmin = KQuantization.half(blk, 2)
            let packed = KQuantization.packedScales(blk)
            for j in 0..<8 {
                let b = s * 8 + j
                let (sc, m) = KQuantization.scaleAndMin(packed, j)
                var p: Int32 = 0, sum: Int32 = 0
                for t in 0..<32 {
                    p += KQuantization.level(blk, 32 * j + t) * Int32(values[b * 32 + t])
                    sum += Int32(values[b * 32 + t])
                }
                var t = Float(p) * (d * Float(sc))
                t = t.addingProduct(Float(-sum), dmin * Float(m))
                acc = acc.addingProduct(t, scales[b])
            }
        }
        return acc
    }

    /// One row quantized: values, scale per block (amax/127, round to nearest even).
    public static func quantizeRow(_ x: [Float]) -> (values: [Int8], scales: [Float]) {
        var values: [Int8] = [], scales: [Float] = []
        for b in 0..<(x.count / 32) {
            let block = x[(b * 32)..<(b * 32 + 32)]
            let amax = block.reduce(Float(0)) { max($0, abs($1)) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            scales.append(d)
            for v in block { values.append(Int8((v * id).rounded(.toNearestOrEven))) }
        }
        return (values, scales)
    }

    /// x rows from which the kernels run the panel GEMM, whose order `gemmDot` gives.
    public static let gemmMinimumRows = Int(VIDLM_QGEMM_MIN_ROWS)

    /// `dot` in the panel GEMM's order (m ≥ `gemmMinimumRows`): one FMA chain over the blocks,
    /// each block's exact integer dot times the product of the two scales.
    public static func gemmDot(weightRow w: UnsafeRawPointer, format: DType, k: Int, values: [Int8], scales: [Float]) -> Float {
        var acc: Float = 0
        for b in 0..<(k / 32) {
            let blk = w + b * format.byteSize
            var p: Int32 = 0
            for t in 0..<32 { p += BlockQuantization.value(blk, format: format, t) * Int32(values[b * 32 + t]) }
            acc = acc.addingProduct(Float(p), BlockQuantization.scale(blk) * scales[b])
        }
        return acc
    }

    /// One weight row (a block table of k/32 blocks) · one quantized x row (fewer than
    /// `gemmMinimumRows` rows).
    public static func dot(weightRow w: UnsafeRawPointer, format: DType, k: Int, values: [Int8], scales: [Float]) -> Float {
        var acc = [Float](repeating: 0, count: 64)
        for b in 0..<(k / 32) {
            let blk = w + b * format.byteSize
            let scale = BlockQuantization.scale(blk) * scales[b]
            for j in 0..<8 {
                var p: Int32 = 0
                for t in (4 * j)..<(4 * j + 4) {
                    p += BlockQuantization.value(blk, format: format, t) * Int32(values[b * 32 + t])
                }
                let lane = (b / 2 % 4) * 16 + (b % 2) * 8 + j
                acc[lane] = acc[lane].addingProduct(Float(p), scale)
            }
        }
        let t: [Float] = (0..<16).map { i in
            let low: Float = acc[i] + acc[16 + i]
            let high: Float = acc[32 + i] + acc[48 + i]
            return low + high
        }
        let h8 = (0..<8).map { t[$0] + t[$0 + 8] }
        let h4 = (0..<4).map { h8[$0] + h8[$0 + 4] }
        let h2 = (0..<2).map { h4[$0] + h4[$0 + 2] }
        return h2[0] + h2[1]
    }
}
