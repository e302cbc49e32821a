/// Vectorised exp/erf/tanh/sigmoid on 16 floats at a time. Scalar libm calls dominated the
/// vision tower's non-GEMM time (hundreds of millions of erf/exp per batch); these keep relative
/// error near 2e-7 (exp) and absolute error under 2e-7 (erf), far inside the parity tolerance.
public enum VectorMath {
    public typealias V = SIMD16<Float>

    /// e^x (Cephes-style: range reduction by ln 2, degree-6 polynomial, scale by 2^n).
    /// Written with plain float/integer lane operations only (rounding via the 1.5·2²³ magic
    /// constant, 2^n by exponent bits) so the compiler keeps all 16 lanes in vector registers.
    @inline(__always)
    public static func exp(_ x: V) -> V {
        let lo = V(repeating: -87.33654), hi = V(repeating: 88.72283)
        // (pointwiseMin/Max are scalarised by the compiler; masked selects stay vectorised.)
        let c = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
        let magic = V(repeating: 12582912)                       // 1.5 · 2^23
        let shifted = c * 1.44269504088896341 + magic
        let n = shifted - magic                                    // round(c / ln 2)
        var r = c - n * 0.693359375
        r = r - n * -2.12194440e-4
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * r * r + r + 1
        let k = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let scale = unsafeBitCast((k &+ 127) &<< 23, to: V.self)
        // Below the clamp the true value underflows to 0 (matters for masked softmax logits).
        return (p * scale).replacing(with: 0, where: x .< lo)
    }

    /// erf(x), Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7).
    @inline(__always)
    public static func erf(_ x: V) -> V {
        let signBits = unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x8000_0000
        let a = unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: V.self)
        let t = 1 / (1 + 0.3275911 * a)
        var poly = V(repeating: 1.061405429)
        poly = poly * t - 1.453152027
        poly = poly * t + 1.421413741
        poly = poly * t - 0.284496736
        poly = poly * t + 0.254829592
        poly = poly * t
        let y: V = 1 - poly * exp(-(a * a))
        return unsafeBitCast(unsafeBitCast(y, to: SIMD16<UInt32>.self) | signBits, to: V.self)
    }

    @inline(__always)
    public static func tanh(_ x: V) -> V {
        let limit = V(repeating: 9)
        let c = x.replacing(with: -limit, where: x .< -limit).replacing(with: limit, where: x .> limit)
        let e = exp(2 * c)
        return (e - 1) / (e + 1)
    }

    @inline(__always)
    public static func sigmoid(_ x: V) -> V { 1 / (1 + exp(-x)) }

    /// Applies `f` to `count` floats from `src` into `dst` (same or disjoint), 16 at a time,
    /// the tail padded through the same vector path so every element gets identical maths.
    @inline(__always)
    public static func apply(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, _ f: (V) -> V) {
        var i = 0
        while i + 16 <= count {
            let v = UnsafeRawPointer(src + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: f(v), as: V.self)
            i += 16
        }
        if i < count {
            var v = V(repeating: 0)
            for j in 0..<(count - i) { v[j] = src[i + j] }
            let r = f(v)
            for j in 0..<(count - i) { dst[i + j] = r[j] }
        }
    }
}
