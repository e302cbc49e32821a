import VidLMTensor

/// Idefics3 / SmolVLM's connector: pixel shuffle (each s×s block of a frame's patch grid becomes
/// one token with s² times the width) then a bias-free linear projection into the decoder's width.
/// [N, g², D] → [N, (g/s)², D_text].
public struct PixelShuffleConnector: Sendable {
    public let scaleFactor: Int
    /// [D_text, D·s²], in the stored dtype (the shared linear block: a bf16 checkpoint's projection
    /// runs on the bf16 kernels; widened to f32 through OpenBLAS it took 0.8 s of SmolVLM2-2.2B's
    /// time to first token on 8 frames, transformers 0.05 s).
    let projection: Linear

    /// Binds `modality_projection.proj.weight` under `prefix` (e.g. "model.connector.").
    public init(scaleFactor: Int, visionWidth: Int, textWidth: Int, weights: ParameterSource, prefix: String) throws {
        self.scaleFactor = scaleFactor
        projection = try Linear(weights, prefix + "modality_projection.proj", input: visionWidth * scaleFactor * scaleFactor,
                                output: textWidth, bias: false)
    }

    public func callAsFunction(_ features: Tensor) throws(BridgeShapeError) -> Tensor {
        projection(try Self.pixelShuffle(features, scale: scaleFactor))
    }

    /// transformers' `pixel_shuffle`: token (i', j') of the (g/s)² grid, channel l·(s·D) + k·D + c,
    /// holds patch (i'·s + l, j'·s + k), channel c of the g×g grid.
    public static func pixelShuffle(_ x: Tensor, scale s: Int) throws(BridgeShapeError) -> Tensor {
        guard x.rank == 3 else { throw BridgeShapeError("pixel shuffle expects [images, tokens, width], got \(x.shape)") }
        let (n, seq, d) = (x.shape[0], x.shape[1], x.shape[2])
        let g = Int(Double(seq).squareRoot().rounded())
        guard g * g == seq, s > 0, g % s == 0 else {
            throw BridgeShapeError("pixel shuffle needs a square grid divisible by \(s), got \(seq) tokens")
        }
        let gs = g / s, width = d * s * s
        return x.withFloats { src in
            Tensor.make(shape: [n, gs * gs, width], uninitialized: true) { out in
                // Rows of output tokens split across the cores (a memory-bound copy of every
                // feature: 25 MB for SmolVLM2-256M's 8 frames, 10 ms on one core).
                let (src, out) = (src.baseAddress!, out.baseAddress!)
                ParallelLoop.forEachChunk(n * gs, minimumPerChunk: 4) { range in
                    for row in range {
                        let b = row / gs, i2 = row % gs
                        let frame = src + b * seq * d
                        for j2 in 0..<gs {
                            let o = out + ((b * gs + i2) * gs + j2) * width
                            for l in 0..<s {
                                for k in 0..<s {
                                    let patch = frame + ((i2 * s + l) * g + (j2 * s + k)) * d
                                    (o + l * s * d + k * d).update(from: patch, count: d)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Features whose shape a bridge cannot take.
public struct BridgeShapeError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "Invalid visual features: \(message)." }
}
