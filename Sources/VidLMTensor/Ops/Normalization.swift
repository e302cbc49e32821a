import CKernels
import Foundation

extension Tensor {
    /// Layer normalisation over the last dimension (biased variance, as PyTorch). With AVX-512F
    /// the C kernel (two f32 passes per row); otherwise in double precision here.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let d = shape[rank - 1]
        let rows = count / max(d, 1)
        let w = weight?.floats(), b = bias?.floats()
        precondition(w == nil || w!.count == d, "layerNorm weight \(weight!.shape) vs width \(d)")
        precondition(b == nil || b!.count == d, "layerNorm bias \(bias!.shape) vs width \(d)")
        return withFloats { x in
            Tensor.make(shape: shape, uninitialized: true) { y in
                let xp = x.baseAddress!, yp = y.baseAddress!
                ParallelLoop.forEachChunk(rows, minimumPerChunk: 16) { range in
                    if HalfPrecisionKernels.useAVX512 {
                        optionalPointer(w) { wp in
                            optionalPointer(b) { bp in
                                vidlm_layernorm_avx512(xp + range.lowerBound * d, yp + range.lowerBound * d, range.count, d, wp, bp, eps)
                            }
                        }
                        return
                    }
                    for r in range {
                        let row = xp + r * d, out = yp + r * d
                        var mean: Double = 0
                        for i in 0..<d { mean += Double(row[i]) }
                        mean /= Double(d)
                        var variance: Double = 0
                        for i in 0..<d { let c = Double(row[i]) - mean; variance += c * c }
                        variance /= Double(d)
                        let inv = Float(1 / (variance + Double(eps)).squareRoot())
                        let m = Float(mean)
                        for i in 0..<d {
                            var v = (row[i] - m) * inv
                            if let w { v *= w[i] }
                            if let b { v += b[i] }
                            out[i] = v
                        }
                    }
                }
            }
        }
    }

    /// Softmax over the last dimension, max-subtracted so large logits cannot overflow.
    public func softmax() -> Tensor {
        let d = shape[rank - 1]
        let rows = count / max(d, 1)
        return withFloats { x in
            Tensor.make(shape: shape, uninitialized: true) { y in
                let xp = x.baseAddress!, yp = y.baseAddress!
                ParallelLoop.forEachChunk(rows, minimumPerChunk: 16) { range in
                    for r in range { Softmax.row(xp + r * d, into: yp + r * d, count: d) }
                }
            }
        }
    }
}

enum Softmax {
    /// In-place-safe softmax of one row; a row of all -inf (fully masked) becomes zeros.
    @inline(__always)
    static func row(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count d: Int) {
        if Attention.useFusedKernel {
            vidlm_softmax_row_avx512(x, y, d)
            return
        }
        var m = -Float.infinity
        for i in 0..<d { m = max(m, x[i]) }
        if m == -Float.infinity {
            for i in 0..<d { y[i] = 0 }
            return
        }
        var sum: Float = 0
        let shift = VectorMath.V(repeating: m)
        VectorMath.apply(x, y, count: d) { VectorMath.exp($0 - shift) }
        for i in 0..<d { sum += y[i] }
        let inv = 1 / sum
        for i in 0..<d { y[i] *= inv }
    }
}

/// `body` with the array's base address, or nil for no array.
func optionalPointer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let a else { return body(nil) }
    return a.withUnsafeBufferPointer { body($0.baseAddress) }
}
