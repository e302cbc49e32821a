import CKernels
import Foundation

extension Tensor {
    /// Element-wise `self ⊕ other` with NumPy broadcasting.
    public func broadcast(_ other: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
        let outRank = max(rank, other.rank)
        let a = Array(repeating: 1, count: outRank - rank) + shape
        let b = Array(repeating: 1, count: outRank - other.rank) + other.shape
        var out = [Int](repeating: 0, count: outRank)
        for d in 0..<outRank {
            precondition(a[d] == b[d] || a[d] == 1 || b[d] == 1, "cannot broadcast \(shape) with \(other.shape)")
            out[d] = max(a[d], b[d])
        }
        // Fast path: same shape, or `other` repeats along leading dimensions (bias add).
        return withFloats { x in
            other.withFloats { y in
                Tensor.make(shape: out, uninitialized: true) { z in
                    if a == b {
                        for i in 0..<z.count { z[i] = op(x[i], y[i]) }
                    } else if b.drop(while: { $0 == 1 }).elementsEqual(out.suffix(b.drop(while: { $0 == 1 }).count)) && a == out {
                        let inner = y.count
                        for i in 0..<z.count { z[i] = op(x[i], y[i % inner]) }
                    } else {
                        let strideA = Tensor.strides(a), strideB = Tensor.strides(b), strideO = Tensor.strides(out)
                        for i in 0..<z.count {
                            var rem = i, ia = 0, ib = 0
                            for d in 0..<outRank {
                                let q = rem / strideO[d]
                                rem -= q * strideO[d]
                                if a[d] != 1 { ia += q * strideA[d] }
                                if b[d] != 1 { ib += q * strideB[d] }
                            }
                            z[i] = op(x[ia], y[ib])
                        }
                    }
                }
            }
        }
    }

    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) { s[d] = acc; acc *= shape[d] }
        return s
    }

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        lhs.shape == rhs.shape ? lhs.sameShapeAdd(rhs) : lhs.broadcast(rhs, +)
    }

    /// Residual connections: same-shape addition, vectorised and split across cores.
    func sameShapeAdd(_ other: Tensor) -> Tensor {
        withFloats { x in
            other.withFloats { y in
                Tensor.make(shape: shape, uninitialized: true) { z in
                    let xp = x.baseAddress!, yp = y.baseAddress!, zp = z.baseAddress!
                    ParallelLoop.forEachChunk(x.count, minimumPerChunk: 1 << 16) { r in
                        for i in r { zp[i] = xp[i] + yp[i] }
                    }
                }
            }
        }
    }
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.broadcast(rhs, *) }
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.broadcast(rhs, -) }

    /// `self * s`.
    public func scaled(by s: Float) -> Tensor { map { $0 * s } }

    /// Applies `f` to every element (in parallel for large tensors).
    public func map(_ f: @escaping (Float) -> Float) -> Tensor {
        withFloats { x in
            Tensor.make(shape: shape, uninitialized: true) { y in
                let xp = x.baseAddress!, yp = y.baseAddress!
                ParallelLoop.forEachChunk(x.count, minimumPerChunk: 1 << 15) { r in
                    for i in r { yp[i] = f(xp[i]) }
                }
            }
        }
    }
}

/// Activation functions, as PyTorch defines them.
public enum Activation: String, Sendable, Codable {
    /// `gelu`: exact, x·Φ(x) with erf.
    case gelu
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation.
    case geluTanh = "gelu_pytorch_tanh"
    /// `quick_gelu`: x·σ(1.702x), as CLIP.
    case quickGelu = "quick_gelu"
    case silu
    case relu

    /// Reads transformers' `hidden_act` names.
    public init?(configName: String) {
        switch configName {
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "quick_gelu": self = .quickGelu
        case "silu", "swish": self = .silu
        case "relu": self = .relu
        default: return nil
        }
    }

    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .gelu: return 0.5 * x * (1 + erff(x * 0.70710678118654752))
        case .geluTanh: return 0.5 * x * (1 + tanhf(0.79788456080286536 * (x + 0.044715 * x * x * x)))
        case .quickGelu: return x / (1 + expf(-1.702 * x))
        case .silu: return x / (1 + expf(-x))
        case .relu: return max(x, 0)
        }
    }
}

extension Activation {
    /// The id `vidlm_activation_avx512` knows this activation by.
    var kernelID: Int32 {
        switch self {
        case .gelu: return 0
        case .geluTanh: return 1
        case .quickGelu: return 2
        case .silu: return 3
        case .relu: return 4
        }
    }

    /// The activation on 16 lanes (see `VectorMath`).
    @inline(__always)
    public func apply(_ x: VectorMath.V) -> VectorMath.V {
        switch self {
        case .gelu: return 0.5 * x * (1 + VectorMath.erf(x * 0.70710678118654752))
        case .geluTanh: return 0.5 * x * (1 + VectorMath.tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)))
        case .quickGelu: return x * VectorMath.sigmoid(1.702 * x)
        case .silu: return x * VectorMath.sigmoid(x)
        case .relu: return x.replacing(with: 0, where: x .< 0)
        }
    }
}

extension Tensor {
    /// The activation applied element-wise, vectorised and split across cores.
    /// Where the CPU has AVX-512F the C kernel runs it (same formulas, 16 lanes per instruction).
    public func activated(_ a: Activation) -> Tensor {
        withFloats { x in
            Tensor.make(shape: shape, uninitialized: true) { y in
                let xp = x.baseAddress!, yp = y.baseAddress!
                let kernelID = a.kernelID
                ParallelLoop.forEachChunk(x.count / 16 + 1, minimumPerChunk: 1 << 12) { r in
                    let lo = r.lowerBound * 16, hi = min(r.upperBound * 16, x.count)
                    guard lo < hi else { return }
                    if HalfPrecisionKernels.useAVX512 {
                        vidlm_activation_avx512(kernelID, xp + lo, yp + lo, hi - lo)
                    } else {
                        VectorMath.apply(xp + lo, yp + lo, count: hi - lo) { a.apply($0) }
                    }
                }
            }
        }
    }
}
