import Foundation

/// Rotary position embeddings in the "rotate half" layout LLaMA uses in transformers: within a
/// head of width Dh, element i < Dh/2 pairs with element i + Dh/2, rotated by angle
/// `position · invFreq[i]`.
public struct RotaryEmbedding: Sendable, Equatable {
    /// Frequency scalings, computed exactly as transformers' `ROPE_INIT_FUNCTIONS` do (float32).
    public enum Scaling: Sendable, Equatable {
        case none
        /// Position interpolation: every inverse frequency divided by `factor`.
        case linear(factor: Float)
        /// Llama 3.1: low frequencies divided by `factor`, high ones kept, a smooth ramp between.
        case llama3(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalMaxPositions: Int)
    }

    public let headDim: Int
    public let inverseFrequencies: [Float]
    /// transformers' `attention_scaling` (1 for every supported scaling).
    public let attentionScaling: Float

    public init(headDim: Int, theta: Double, scaling: Scaling = .none) {
        precondition(headDim > 0 && headDim % 2 == 0, "rotary head width must be even, got \(headDim)")
        self.headDim = headDim
        inverseFrequencies = RotaryEmbedding.inverseFrequencies(headDim: headDim, theta: theta, scaling: scaling)
        attentionScaling = 1
    }

    /// `1 / theta^(2i/d)` in float32 as PyTorch computes it, then the scaling.
    public static func inverseFrequencies(headDim dim: Int, theta: Double, scaling: Scaling) -> [Float] {
        let base = Float(theta)
        var inv = (0..<(dim / 2)).map { i -> Float in
            let exponent = Float(2 * i) / Float(dim)
            return 1 / powf(base, exponent)
        }
        switch scaling {
        case .none:
            break
        case .linear(let factor):
            inv = inv.map { $0 / factor }
        case .llama3(let factor, let low, let high, let original):
            let oldContext = Float(original)
            let lowWavelen = oldContext / low
            let highWavelen = oldContext / high
            inv = inv.map { f in
                let wavelen = Float(2 * Double.pi) / f
                // wavelen < high: unchanged; wavelen > low: / factor; otherwise smoothed.
                let scaled = wavelen > lowWavelen ? f / factor : f
                let smooth = (oldContext / wavelen - low) / (high - low)
                let smoothed = (1 - smooth) * scaled / factor + smooth * scaled
                let isMedium = !(wavelen < highWavelen) && !(wavelen > lowWavelen)
                return isMedium ? smoothed : scaled
            }
        }
        return inv
    }

    /// cos and sin tables [positions.count, Dh/2] for consecutive positions (computed once per
    /// forward pass and shared by every layer).
    public func table(positions: Range<Int>) -> (cos: [Float], sin: [Float]) {
        table(positions: Array(positions))
    }

    /// cos/sin rows for arbitrary positions (a visual span may repeat or skip positions).
    public func table(positions: [Int]) -> (cos: [Float], sin: [Float]) {
        let half = headDim / 2
        var c = [Float](repeating: 0, count: positions.count * half)
        var s = c
        for (row, p) in positions.enumerated() {
            for i in 0..<half {
                let angle = Float(p) * inverseFrequencies[i]  // float32 product, as PyTorch
                c[row * half + i] = Float(Foundation.cos(Double(angle))) * attentionScaling
                s[row * half + i] = Float(Foundation.sin(Double(angle))) * attentionScaling
            }
        }
        return (c, s)
    }

    /// M-RoPE (Qwen2-VL): cos/sin rows where frequency i follows the position of the axis whose
    /// `section` span holds it (time for the first section[0] frequencies, then height, then
    /// width); `axes` [axis][row]. Both halves of a head share the angles, as in `table(positions:)`.
    /// `interleaved` (Qwen3-VL): axis a ≥ 1 takes the frequencies i ≡ a (mod 3) below
    /// 3·section[a], time the rest — so every axis spans low and high frequencies.
    public func table(axes: [[Int]], section: [Int], interleaved: Bool = false) -> (cos: [Float], sin: [Float]) {
        let half = headDim / 2, rows = axes.first?.count ?? 0
        var axisOf = [Int](repeating: max(section.count - 1, 0), count: half)
        if interleaved {
            for i in 0..<half {
                axisOf[i] = 0
                for axis in 1..<max(section.count, 1) where i % 3 == axis && i < 3 * section[axis] { axisOf[i] = axis }
            }
        } else {
            var i = 0
            for (axis, width) in section.enumerated() {
                for _ in 0..<width where i < half { axisOf[i] = axis; i += 1 }
            }
        }
        var c = [Float](repeating: 0, count: rows * half)
        var s = c
        for row in 0..<rows {
            for i in 0..<half {
                let angle = Float(axes[axisOf[i]][row]) * inverseFrequencies[i]  // float32 product, as PyTorch
                c[row * half + i] = Float(Foundation.cos(Double(angle))) * attentionScaling
                s[row * half + i] = Float(Foundation.sin(Double(angle))) * attentionScaling
            }
        }
        return (c, s)
    }

    /// Rotates `heads` head vectors of one row from `src` into `dst` (which may be `src`) with
    /// the table row `cos`/`sin` (each Dh/2 long): out = x·cos + rotate_half(x)·sin.
    @inline(__always)
    public static func rotate(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, heads: Int, headDim: Int,
                              cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let half = headDim / 2
        for h in 0..<heads {
            let x = src + h * headDim, y = dst + h * headDim
            for i in 0..<half {
                let a = x[i], b = x[i + half]
                let ca = cos[i], sa = sin[i]
                y[i] = a * ca + (-b) * sa
                y[i + half] = b * ca + a * sa
            }
        }
    }
}
