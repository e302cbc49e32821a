extension Tensor {
    /// `mixedLinear` when at least one weight is block-quantized: x is quantized once per call
    /// (per 32-block int8, as llama.cpp does) and every quantized part's output rows are one
    /// range of work units claimed by `computeThreads` workers — decoding (m = 1) and prefill
    /// (each weight row read once and multiplied with every x row from cache) alike. Parts with
    /// other dtypes go through `mixedLinear` one by one.
    func quantizedLinear(parts: [(weight: Tensor, bias: Tensor?)]) -> Tensor {
        let k = shape[rank - 1]
        let m = count / max(k, 1)
        let outs = parts.map { $0.weight.shape[0] }
        let total = outs.reduce(0, +)
        var columns: [Int] = []
        var c = 0
        for o in outs { columns.append(c); c += o }
        let quantized = parts.indices.filter { parts[$0].weight.dtype.isBlockQuantized }
        for i in quantized {
            precondition(parts[i].weight.rank == 2 && parts[i].weight.shape[1] == k, "linear: input \(shape) vs weight \(parts[i].weight.shape)")
        }
        return withFloats { xb in
            Tensor.make(shape: Array(shape.dropLast()) + [total], uninitialized: true) { yb in
                guard m > 0 else { return }
                let x = xb.baseAddress!, y = yb.baseAddress!
                let xq = QuantizedKernels.QuantizedRows(x, m: m, k: k, negatedSums: quantized.contains { parts[$0].weight.dtype.isKQuant })
                QuantizedLinearDispatch.run(parts: parts, outs: outs, columns: columns, only: quantized, x: xq, y: y, ldy: total)
                for (i, p) in parts.enumerated() {
                    if p.weight.dtype.isBlockQuantized {
                        guard let bias = p.bias else { continue }
                        bias.withFloats { b in
                            for r in 0..<m {
                                let row = y + r * total + columns[i]
                                for j in 0..<outs[i] { row[j] += b[j] }
                            }
                        }
                    } else {
                        let part = self.mixedLinear(parts: [p])
                        part.withFloats { src in
                            for r in 0..<m { (y + r * total + columns[i]).update(from: src.baseAddress! + r * outs[i], count: outs[i]) }
                        }
                    }
                }
            }
        }
    }
}

enum QuantizedLinearDispatch {
    /// Work units per worker when decoding (m ≤ 4): two, so a worker slowed by another process
    /// can hand half its share to the other.
    static let decodeUnitsPerWorker = 2

    /// The output rows of the parts in `only`, as one range, in units of about 512 KiB of
    /// blocks (fewer when m is large, so that every worker gets several units).
    static func run(parts: [(weight: Tensor, bias: Tensor?)], outs: [Int], columns: [Int], only: [Int],
                    x: QuantizedKernels.QuantizedRows, y: UnsafeMutablePointer<Float>, ldy: Int) {
        let rowsTotal = only.reduce(0) { $0 + outs[$1] }
        guard rowsTotal > 0 else { return }
        let bases = parts.map { $0.weight.storage.base + $0.weight.byteOffset }
        let formats = parts.map { $0.weight.dtype }
        let k = x.k
        let rowBytes = max(1, k / 32 * 34)
        let threads = max(1, ThreadBudget.computeThreads)
        let bySpread = max(1, (rowsTotal + 8 * threads - 1) / (8 * threads))
        // Decoding streams the weights from memory: each worker gets long contiguous runs (its
        // share in `decodeUnitsPerWorker` pieces, at least 512 KiB each) so the hardware prefetchers keep
        // streaming; 64 KiB units had them restart often enough to cost a third of the rate
        // (docs/benchmarks/quant.md).
        let streamRows = max((1 << 19) / rowBytes, (rowsTotal + decodeUnitsPerWorker * threads - 1) / (decodeUnitsPerWorker * threads))
        var unitRows = x.m > 4 ? bySpread : max(1, streamRows)
        // The panel kernels take 16 weight rows at a time (interleaved tables are only split on
        // panels): whole panels per unit.
        if x.m >= QuantizedReference.gemmMinimumRows || formats.contains(where: \.isInterleaved) {
            unitRows = (unitRows + 15) / 16 * 16
        }
        ParallelLoop.forEachPartRows(outs: outs, only: only, unitRows: unitRows) { part, rows in
            QuantizedKernels.matmul(weight: bases[part], format: formats[part], k: k, rows: rows, x: x, y: y + columns[part], ldy: ldy)
        }
    }
}
