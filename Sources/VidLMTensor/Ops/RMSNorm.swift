extension Tensor {
    /// Root-mean-square normalisation over the last dimension, as transformers' `LlamaRMSNorm`:
    /// `weight · x / sqrt(mean(x²) + eps)` (the mean accumulated in double). `weight` is [D] in
    /// any float dtype.
    public func rmsNorm(weight: Tensor, eps: Float) -> Tensor {
        let d = shape[rank - 1]
        let rows = count / max(d, 1)
        precondition(weight.count == d, "rmsNorm weight \(weight.shape) vs width \(d)")
        return withFloats { x in
            weight.withFloats { w in
                Tensor.make(shape: shape, uninitialized: true) { y in
                    let xp = x.baseAddress!, yp = y.baseAddress!, wp = w.baseAddress!
                    ParallelLoop.forEachChunk(rows, minimumPerChunk: max(1, (1 << 15) / max(d, 1))) { range in
                        for r in range {
                            RMSNormKernel.row(xp + r * d, weight: wp, eps: eps, into: yp + r * d, count: d)
                        }
                    }
                }
            }
        }
    }
}

public enum RMSNormKernel {
    /// One row: `y = w · (x · rsqrt(mean(x²) + eps))`, in that order (as PyTorch rounds it).
    @inline(__always)
    public static func row(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, eps: Float,
                           into y: UnsafeMutablePointer<Float>, count d: Int) {
        var acc = SIMD8<Double>()
        var i = 0
        while i + 8 <= d {
            let v = SIMD8<Double>(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self))
            acc += v * v
            i += 8
        }
        var sum = acc.sum()
        while i < d { sum += Double(x[i]) * Double(x[i]); i += 1 }
        let variance = Float(sum / Double(d))
        let inv = 1 / (variance + eps).squareRoot()
        for j in 0..<d { y[j] = w[j] * (x[j] * inv) }
    }
}
