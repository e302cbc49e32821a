import Foundation
import VidLMTensor

/// Video-LLaMA's `video_frame_position_embedding` (`nn.Embedding(max_frame_pos, H)`): row t is
/// added to every query output of frame t before the video Q-Former.
///
/// T ≤ max_frame_pos uses rows 0..<T. More frames resample the table linearly to T rows, as
/// `F.interpolate(table.T[None], size: T, mode: "linear", align_corners: True)`: row i samples
/// s = i·(P−1)/(T−1), (1−w)·table[⌊s⌋] + w·table[⌊s⌋+1] with w = s − ⌊s⌋; a warning goes to
/// stderr once per instance (copies share it).
public struct VideoFramePositions: Sendable {
    public static let weightName = "video_frame_position_embedding.weight"

    /// [max_frame_pos, H]
    public let table: Tensor
    private let warning = WarnOnce()

    public var maxFramePositions: Int { table.shape[0] }
    public var width: Int { table.shape[1] }

    public init(table: Tensor) throws(FramePositionError) {
        guard table.rank == 2, table.shape[0] > 0, table.shape[1] > 0 else { throw .badTable(table.shape) }
        self.table = table.toF32()
    }

    /// Binds `<prefix>video_frame_position_embedding.weight` [maxFramePositions, width].
    public init(weights: ParameterSource, maxFramePositions: Int, width: Int, prefix: String = "") throws {
        guard maxFramePositions > 0 else { throw FramePositionError.badTable([maxFramePositions, width]) }
        try self.init(table: try weights.take(prefix + Self.weightName, shape: [maxFramePositions, width]))
    }

    /// Whether this instance (or a copy) has warned about interpolating.
    public var didWarn: Bool { warning.fired }

    /// The T position rows [T, H] (interpolated when T > max_frame_pos).
    public func rows(frames t: Int) throws(FramePositionError) -> Tensor {
        guard t > 0 else { throw .noFrames }
        let p = maxFramePositions, h = width
        if t <= p { return table.rows(0..<t) }
        warning.fire("vidlm: warning: \(t) frames exceed max_frame_pos \(p); interpolating the frame position table linearly.\n")
        return table.withFloats { src in
            Tensor.make(shape: [t, h], uninitialized: true) { out in
                // PyTorch's upsample_linear1d (align_corners) in float32.
                let scale: Float = t > 1 ? Float(p - 1) / Float(t - 1) : 0
                for i in 0..<t {
                    let s = scale * Float(i)
                    let i0 = Int(s)
                    let step = i0 < p - 1 ? 1 : 0
                    let w1 = min(max(s - Float(i0), 0), 1), w0 = 1 - w1
                    let a = src.baseAddress! + i0 * h, b = src.baseAddress! + (i0 + step) * h
                    let o = out.baseAddress! + i * h
                    for e in 0..<h { o[e] = w0 * a[e] + w1 * b[e] }
                }
            }
        }
    }

    /// The rows for explicit frame position indices [positions.count, H]: rows of the table when
    /// every index fits, else rows of the table interpolated to `max(positions) + 1` entries (the
    /// frame-order control passes all zeros; a clip of T frames passes 0..<T).
    public func rows(positions: [Int]) throws(FramePositionError) -> Tensor {
        guard let highest = positions.max() else { throw .noFrames }
        guard positions.allSatisfy({ $0 >= 0 }) else { throw .badShape([positions.count]) }
        let source = highest < maxFramePositions ? table : try rows(frames: highest + 1)
        return source.withFloats { src in
            let h = width
            return Tensor.make(shape: [positions.count, h], uninitialized: true) { out in
                for (i, p) in positions.enumerated() {
                    (out.baseAddress! + i * h).update(from: src.baseAddress! + p * h, count: h)
                }
            }
        }
    }

    /// Frame query outputs [T, Q, H] or [B, T, Q, H] plus row t on every query of frame t.
    public func callAsFunction(_ frameStates: Tensor) throws(FramePositionError) -> Tensor {
        guard frameStates.rank == 3 || frameStates.rank == 4 else { throw .badShape(frameStates.shape) }
        let r = frameStates.rank
        let (t, q, h) = (frameStates.shape[r - 3], frameStates.shape[r - 2], frameStates.shape[r - 1])
        guard t > 0 else { throw .noFrames }
        guard h == width else { throw .widthMismatch(expected: width, got: h) }
        let positions = try rows(frames: t)
        let batches = r == 4 ? frameStates.shape[0] : 1
        return frameStates.withFloats { x in
            positions.withFloats { pos in
                Tensor.make(shape: frameStates.shape, uninitialized: true) { out in
                    for b in 0..<batches {
                        for f in 0..<t {
                            let row = pos.baseAddress! + f * h
                            for j in 0..<q {
                                let i = ((b * t + f) * q + j) * h
                                for e in 0..<h { out[i + e] = x[i + e] + row[e] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Invalid frame-position inputs, in one sentence naming the field.
public enum FramePositionError: Error, Equatable, Sendable, CustomStringConvertible {
    case noFrames
    case widthMismatch(expected: Int, got: Int)
    case badShape([Int])
    case badTable([Int])

    public var description: String {
        switch self {
        case .noFrames:
            return "The video has zero frames; frame position embeddings need at least one."
        case .widthMismatch(let expected, let got):
            return "The frame query outputs are \(got) wide but 'video_frame_position_embedding' has width \(expected)."
        case .badShape(let shape):
            return "Frame query outputs must be [frames, queries, width] or [batch, frames, queries, width], got \(shape)."
        case .badTable(let shape):
            return "'video_frame_position_embedding.weight' must be [max_frame_pos ≥ 1, width ≥ 1], got \(shape)."
        }
    }
}

/// A warning printed to stderr at most once; shared by copies of its owner.
final class WarnOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false

    var fired: Bool { lock.withLock { done } }

    func fire(_ message: @autoclosure () -> String) {
        let first = lock.withLock { () -> Bool in
            defer { done = true }
            return !done
        }
        if first { FileHandle.standardError.write(Data(message().utf8)) }
    }
}
