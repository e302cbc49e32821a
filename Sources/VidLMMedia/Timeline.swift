/// Every frame of the video stream in presentation order, and where decoding can start.
///
/// Frame index `i` is the `i`-th displayed frame: `pts[i]` is its presentation timestamp.
/// Clip time 0 is the first displayed frame: `seconds(i) = (pts[i] - pts[0]) * timeBase`.
public struct Timeline: Sendable, Equatable {
    /// Presentation timestamps, strictly increasing, in stream time base.
    public let pts: [Int64]
    /// Stream time base as seconds per tick.
    public let timeBase: Double
    /// Where the clip ends: the last frame's pts plus its duration (stream time base).
    public let endPts: Int64
    /// Key frames in decode order: the seek timestamp libav understands (dts or pts) and the
    /// presentation timestamp, which is exact when scanned and estimated otherwise.
    public let keyframes: [Keyframe]

    public struct Keyframe: Sendable, Equatable {
        public let seekTimestamp: Int64
        public let pts: Int64
    }

    public init(pts: [Int64], timeBase: Double, endPts: Int64, keyframes: [Keyframe]) {
        self.pts = pts
        self.timeBase = timeBase
        self.endPts = endPts
        self.keyframes = keyframes
    }

    public var count: Int { pts.count }

    /// Seconds from the first displayed frame.
    public func seconds(ofPts p: Int64) -> Double { Double(p - pts[0]) * timeBase }

    public var durationSeconds: Double { seconds(ofPts: endPts) }

    /// Index of the frame on screen at clip time `t` (the last frame whose pts ≤ t).
    public func index(displayedAt t: Double) -> Int {
        // A whisker of tolerance so a time computed from a pts maps back to that same frame.
        let target = pts[0] + Int64((t / timeBase + 1e-6).rounded(.down))
        return index(displayedAtPts: target)
    }

    /// Index of the last frame whose pts ≤ `p` (0 if `p` precedes every frame).
    public func index(displayedAtPts p: Int64) -> Int {
        var lo = 0, hi = pts.count - 1
        if p <= pts[0] { return 0 }
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if pts[mid] <= p { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Index of the frame with exactly this pts, if any.
    public func index(ofPts p: Int64) -> Int? {
        let i = index(displayedAtPts: p)
        return pts[i] == p ? i : nil
    }

    /// Position in `keyframes` of the last key frame that presents at or before `p`.
    public func keyframePosition(before p: Int64) -> Int {
        var best = 0
        for (i, k) in keyframes.enumerated() where k.pts <= p { best = i }
        return best
    }

    /// Frames a decoder may decode past rather than seek over: a seek restarts the decoder's
    /// pipeline, which costs about as much as decoding a few frames.
    public static let seekThresholdFrames = 4

    /// Whether a decoder whose last output presented at `from` should seek to reach `target`:
    /// yes when the target is behind it, or its key frame is well ahead of it.
    public func shouldSeek(from: Int64, to target: Int64) -> Bool {
        if target <= from { return true }
        let key = keyframes[keyframePosition(before: target)].pts
        guard key > from else { return false }
        return index(displayedAtPts: key) - index(displayedAtPts: from) > Self.seekThresholdFrames
    }

    /// Position in `keyframes` of the key frame whose pts is nearest to `p`.
    public func nearestKeyframePosition(to p: Int64) -> Int {
        var best = 0
        var bestDistance = Int64.max
        for (i, k) in keyframes.enumerated() {
            let d = abs(k.pts - p)
            if d < bestDistance { best = i; bestDistance = d }
        }
        return best
    }
}
