/// Vectorised exp/erf/tanh/sigmoid on 16 floats at a time. Scalar libm calls dominated the
/// vision tower's non-GEMM time (hundreds of millions of erf/exp per batch); these keep relative
/// error near 2e-7 (exp) and absolute error under 2e-7 (erf), far inside the parity tolerance.
public enum VectorMath {
    public typealias V = SIMD16<Float>

    /// e^x (Cephes-style: range reduction by ln 2, degree-6 polynomial, scale by 2^n).
    @inline(__always)
    public static func exp(_ x: V) -> V {
        let clamped = x.clamped(lowerBound: V(repeating: -87.33654), upperBound: V(repeating: 88.72283))
        let n = (clamped * 1.44269504088896341).rounded(.toNearestOrEven)
        var r = clamped - n * 0.693359375
        r = r - n * -2.12194440e-4
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * r * r + r + 1
        let bits = (SIMD16<Int32>(n) &+ 127) &<< 23
        var result = p * unsafeBitCast(bits, to: V.self)
        // Below the clamp the true value underflows to 0 (matters for masked softmax logits).
        result.replace(with: 0, where: x .< -87.33654)
        return result
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
        let c = x.clamped(lowerBound: V(repeating: -9), upperBound: V(repeating: 9))
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
