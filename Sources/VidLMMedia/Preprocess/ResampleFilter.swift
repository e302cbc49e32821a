import Foundation

/// The resampling filters of Pillow's `Image.resize`, with their PIL integer codes as raw values
/// (the `resample` field of a Hugging Face `preprocessor_config.json` stores these codes).
///
/// The kernels are transcribed from Pillow 13's `libImaging/Resample.c` term by term, in the same
/// evaluation order and with the same float-literal quirks, because the fixed-point coefficients are
/// rounded from these doubles: a different last bit can move a coefficient by one unit and then an
/// output byte by one.
public enum ResampleFilter: Int, Sendable, CaseIterable, Codable {
    case nearest = 0
    case lanczos = 1
    case bilinear = 2
    case bicubic = 3
    case box = 4
    case hamming = 5

    /// The PIL code, as in `PIL.Image.Resampling` and `preprocessor_config.json`.
    public var pilCode: Int { rawValue }

    /// Half-width of the kernel at scale 1 (Pillow's `struct filter.support`).
    /// `nearest` has none: Pillow routes it to an affine nearest-neighbour copy instead.
    var support: Double {
        switch self {
        case .nearest: return 0
        case .box: return 0.5
        case .bilinear, .hamming: return 1.0
        case .bicubic: return 2.0
        case .lanczos: return 3.0
        }
    }

    /// The kernel value at `x` (Pillow's `*_filter(double x)`).
    @inline(__always)
    func weight(_ x: Double) -> Double {
        switch self {
        case .nearest, .box:
            return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0
        case .bilinear:
            let ax = x < 0 ? -x : x
            return ax < 1.0 ? 1.0 - ax : 0.0
        case .bicubic:
            // Keys' cubic convolution with a = -0.5. Written exactly as the C source:
            // ((a + 2) * x - (a + 3)) * x * x + 1 and (((x - 5) * x + 8) * x - 4) * a.
            let a = -0.5
            let ax = x < 0 ? -x : x
            if ax < 1.0 { return ((a + 2.0) * ax - (a + 3.0)) * ax * ax + 1 }
            if ax < 2.0 { return (((ax - 5) * ax + 8) * ax - 4) * a }
            return 0.0
        case .hamming:
            var ax = x < 0 ? -x : x
            if ax == 0.0 { return 1.0 }
            if ax >= 1.0 { return 0.0 }
            ax = ax * Double.pi
            // C writes `0.54f + 0.46f * cos(x)`: the literals are floats widened to double.
            return sin(ax) / ax * (Double(Float(0.54)) + Double(Float(0.46)) * cos(ax))
        case .lanczos:
            // Truncated sinc, support 3.
            if -3.0 <= x && x < 3.0 { return Self.sinc(x) * Self.sinc(x / 3) }
            return 0.0
        }
    }

    @inline(__always)
    private static func sinc(_ x: Double) -> Double {
        if x == 0.0 { return 1.0 }
        let px = x * Double.pi
        return sin(px) / px
    }
}
