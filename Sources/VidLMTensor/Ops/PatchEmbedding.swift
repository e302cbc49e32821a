extension Tensor {
    /// Non-overlapping patch convolution (kernel = stride = `patch`) as ViTs use it:
    /// images [B, C, H, W], weight [D, C, P, P], bias [D] → [B, (H/P)·(W/P), D], patches in
    /// row-major order. im2col into [patches, C·P·P], then one GEMM against the weight.
    public func patchEmbedding(weight: Tensor, bias: Tensor?, patch p: Int) -> Tensor {
        precondition(rank == 4 && weight.rank == 4, "patchEmbedding needs [B,C,H,W] and [D,C,P,P]")
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        precondition(weight.shape[1] == c && weight.shape[2] == p && weight.shape[3] == p,
                     "patch weight \(weight.shape) does not match \(c) channels and patch \(p)")
        let gh = h / p, gw = w / p, n = gh * gw, k = c * p * p
        let columns = withFloats { img in
            Tensor.make(shape: [b * n, k], uninitialized: true) { col in
                let src = img.baseAddress!, dst = col.baseAddress!
                ParallelLoop.forEachChunk(b * gh, minimumPerChunk: 4) { range in
                    for bgy in range {
                        let bi = bgy / gh, gy = bgy % gh
                        for gx in 0..<gw {
                            var o = ((bi * n) + gy * gw + gx) * k
                            for ch in 0..<c {
                                for py in 0..<p {
                                    let row = src + ((bi * c + ch) * h + gy * p + py) * w + gx * p
                                    (dst + o).update(from: row, count: p)
                                    o += p
                                }
                            }
                        }
                    }
                }
            }
        }
        // Through the projections' GEMM (vidlm's own kernels where the CPU has them): OpenBLAS's
        // `sgemm` runs whatever kernel it picks for the CPU, its generic Prescott one on a Xeon it
        // does not know.
        let flatWeight = weight.reshaped([weight.shape[0], k])
        return columns.mixedLinear(weight: flatWeight, bias: bias).reshaped([b, n, weight.shape[0]])
    }
}
