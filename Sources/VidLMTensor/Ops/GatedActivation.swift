import CKernels
extension Tensor {
    /// For x [..., 2I] holding a gate and an up projection side by side (as
    /// `mixedLinear(parts: [gate, up])` writes them): `act(gate) · up` → [..., I]
    /// (LLaMA's SwiGLU MLP with `act` = SiLU). Vectorised and split across cores.
    public func gatedActivation(_ act: Activation) -> Tensor {
        let w = shape[rank - 1]
        precondition(w % 2 == 0, "gated activation needs an even last dimension, got \(shape)")
        let inner = w / 2
        let rows = count / max(w, 1)
        return withFloats { x in
            Tensor.make(shape: Array(shape.dropLast()) + [inner], uninitialized: true) { y in
                let xp = x.baseAddress!, yp = y.baseAddress!
                // Chunks over (row, 16-lane block) pairs so one long row still splits across cores.
                let blocksPerRow = (inner + 15) / 16
                let kernelID = act.kernelID
                ParallelLoop.forEachChunk(rows * blocksPerRow, minimumPerChunk: 1 << 10) { range in
                    if HalfPrecisionKernels.useAVX512 {
                        // The C kernel on each run of blocks within a row, then the product with
                        // `up` (SiLU through Swift's SIMD types, which compile to SSE2 here, was 4-5 %
                        // of the CPU samples of SmolVLM2-2.2B's prefill).
                        var index = range.lowerBound
                        while index < range.upperBound {
                            let r = index / blocksPerRow, b = index % blocksPerRow
                            let end = min(range.upperBound, (r + 1) * blocksPerRow)
                            let lo = b * 16, hi = min(inner, (end - r * blocksPerRow) * 16)
                            let out = yp + r * inner
                            vidlm_activation_avx512(kernelID, xp + r * w + lo, out + lo, hi - lo)
                            let up = xp + r * w + inner
                            for j in lo..<hi { out[j] *= up[j] }
                            index = end
                        }
                        return
                    }
                    for index in range {
                        let r = index / blocksPerRow, b = index % blocksPerRow
                        let lo = b * 16, n = min(16, inner - lo)
                        let gate = xp + r * w + lo, up = gate + inner, out = yp + r * inner + lo
                        if n == 16 {
                            let g = UnsafeRawPointer(gate).loadUnaligned(as: VectorMath.V.self)
                            let u = UnsafeRawPointer(up).loadUnaligned(as: VectorMath.V.self)
                            UnsafeMutableRawPointer(out).storeBytes(of: act.apply(g) * u, as: VectorMath.V.self)
                        } else {
                            var g = VectorMath.V(repeating: 0), u = VectorMath.V(repeating: 0)
                            for j in 0..<n { g[j] = gate[j]; u[j] = up[j] }
                            let v = act.apply(g) * u
                            for j in 0..<n { out[j] = v[j] }
                        }
                    }
                }
            }
        }
    }
}
