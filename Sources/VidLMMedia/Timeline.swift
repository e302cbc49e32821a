/// Every frame of the video stream in presentation order, and where decoding can start.
///
/// Frame index `i` is the `i`-th displayed frame: `pts[i]` is its presentation timestamp.
/// Clip time 0 is the first displayed frame: `seconds(i) = (pts[i] - pts[0]) * timeBase`.
///
/// Timestamps never decrease but need not be distinct: a container that rounds times to its
/// time base (Matroska and WebM keep milliseconds) can give two consecutive frames the same pts.
/// Both are frames of the clip, in the order the decoder outputs them; the later one is the one on
/// screen at that time.
public struct Timeline: Sendable, Equatable {
    /// Presentation timestamps, non-decreasing, in stream time base.
    public let pts: [Int64]
    /// Stream time base as seconds per tick.
    public let timeBase: Double
    /// The same time base as the stream states it (num/den), when known: durations are computed
    /// from it as torchcodec computes them (see `durationSeconds`).
    public let timeBaseRational: Rational?

    /// A time base as libav states it.
    public struct Rational: Sendable, Equatable {
        public let num: Int64
        public let den: Int64
        public init(num: Int64, den: Int64) { self.num = num; self.den = den }
        /// `ticks` in seconds, rounded once: (ticks · num) / den.
        public func seconds(_ ticks: Int64) -> Double { Double(ticks) * Double(num) / Double(den) }
    }
    /// Where the clip ends: the last frame's pts plus its duration (stream time base), a frame
    /// without a stated duration lasting as long as the average frame.
    public let endPts: Int64
    /// Where the packets' stated durations end (the latest pts + duration, a packet without one
    /// adding nothing), as torchcodec's exact scan measures the clip. Equal to `endPts` unless
    /// the last frames state no duration (FLV, some MP4 edits).
    public let statedEndPts: Int64
    /// Key frames in decode order: the seek timestamp libav understands (dts or pts) and the
    /// presentation timestamp, which is exact when scanned and estimated otherwise. A key frame
    /// whose pts another frame shares is left out (a decoder landing on it could not tell which
    /// of those frames it is), except the first, where decoding starts from the beginning.
    public let keyframes: [Keyframe]
    /// Whether some frames share a pts (see above).
    public let hasSharedPts: Bool
    /// The container gave decode timestamps only (AVI with B-frames, MPEG-4 ASP "packed"
    /// streams): `pts` are those, sorted, i.e. the frame slots, and a decoded frame is identified
    /// by its place in the decoder's output after the key frame decoding started from.
    public let timestampsFromDecodeOrder: Bool

    /// Compressed bytes of the frames before each index (`count + 1` entries), nil when unknown.
    /// In presentation order where packets were scanned; in decode order from an MP4 sample table
    /// (reordering is local, so sums over a stretch of frames agree). Decoding a stretch costs
    /// about in proportion to its bytes (a key frame often weighs ten other frames).
    public let bytesBefore: [Int64]?

    public struct Keyframe: Sendable, Equatable {
        public let seekTimestamp: Int64
        public let pts: Int64

        public init(seekTimestamp: Int64, pts: Int64) {
            self.seekTimestamp = seekTimestamp
            self.pts = pts
        }
    }

    public init(pts: [Int64], timeBase: Double, endPts: Int64, statedEndPts: Int64? = nil, keyframes: [Keyframe],
                timestampsFromDecodeOrder: Bool = false, packetSizes: [Int]? = nil, timeBaseRational: Rational? = nil) {
        self.pts = pts
        self.timeBaseRational = timeBaseRational.flatMap { $0.num > 0 && $0.den > 0 ? $0 : nil }
        if let packetSizes, packetSizes.count == pts.count {
            var sums = [Int64](repeating: 0, count: pts.count + 1)
            for (i, size) in packetSizes.enumerated() { sums[i + 1] = sums[i] + Int64(max(0, size)) }
            bytesBefore = sums
        } else {
            bytesBefore = nil
        }
        self.timeBase = timeBase
        self.endPts = endPts
        self.statedEndPts = statedEndPts ?? endPts
        self.timestampsFromDecodeOrder = timestampsFromDecodeOrder
        var shared = false
        for i in 1..<max(1, pts.count) where pts[i] == pts[i - 1] { shared = true; break }
        hasSharedPts = shared
        guard shared else { self.keyframes = keyframes; return }
        var kept: [Keyframe] = []
        for (position, k) in keyframes.enumerated() {
            if position == 0 { kept.append(k); continue }
            let lo = Self.lowerBound(pts, k.pts)
            let sharedHere = lo + 1 < pts.count && pts[lo] == k.pts && pts[lo + 1] == k.pts
            if !sharedHere { kept.append(k) }
        }
        self.keyframes = kept
    }

    public var count: Int { pts.count }

    /// Seconds from the first displayed frame.
    public func seconds(ofPts p: Int64) -> Double { Double(p - pts[0]) * timeBase }

    /// From the first frame's pts to the end. With the stream's rational time base, both ends
    /// are converted to seconds first and then subtracted, as torchcodec's scan does (what
    /// transformers' video processors read as the clip's duration, and as its fps = frames /
    /// duration): 39 frames of 1/10 s give 3.9 here, where 39 × 0.1 gives 3.9000000000000004, and
    /// SmolVLM's `int(1 s × fps)` start frame then came out 9 instead of 10.
    public var durationSeconds: Double { seconds(from: pts[0], to: endPts) }

    /// The duration transformers' video processors sample frames by: torchcodec's exact scan,
    /// from the first pts to `statedEndPts` (63 FLV frames at 25 fps: 2.48 s, where
    /// `durationSeconds` counts the last frame's 0.04 s too, and SmolVLM's one frame a second
    /// rounds 2.48 to 2 frames, 2.52 to 3). `durationSeconds` where that would be no time at all.
    public var sampledDurationSeconds: Double {
        statedEndPts > pts[0] ? seconds(from: pts[0], to: statedEndPts) : durationSeconds
    }

    private func seconds(from start: Int64, to end: Int64) -> Double {
        if let r = timeBaseRational { return r.seconds(end) - r.seconds(start) }
        return Double(end - start) * timeBase
    }

    /// Index of the frame on screen at clip time `t` (the last frame whose pts ≤ t).
    public func index(displayedAt t: Double) -> Int {
        // A whisker of tolerance so a time computed from a pts maps back to that same frame.
        let target = pts[0] + Int64((t / timeBase + 1e-6).rounded(.down))
        return index(displayedAtPts: target)
    }

    /// Index of the last frame whose pts ≤ `p` (0 if `p` precedes every frame).
    public func index(displayedAtPts p: Int64) -> Int {
        if p == .max { return pts.count - 1 }
        return max(0, Self.lowerBound(pts, p + 1) - 1)
    }

    /// Index of a frame with exactly this pts (the last of them when frames share it), if any.
    public func index(ofPts p: Int64) -> Int? {
        let i = index(displayedAtPts: p)
        return pts[i] == p ? i : nil
    }

    /// The indices of the frames with exactly this pts (one, or several sharing it); empty if none.
    public func indices(ofPts p: Int64) -> ClosedRange<Int>? {
        let lo = Self.lowerBound(pts, p)
        guard lo < pts.count, pts[lo] == p else { return nil }
        return lo...(Self.lowerBound(pts, p + 1) - 1)
    }

    /// First position in the sorted `values` whose value is ≥ `p`.
    private static func lowerBound(_ values: [Int64], _ p: Int64) -> Int {
        var lo = 0, hi = values.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if values[mid] < p { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Position in `keyframes` of the last key frame that presents at or before `p`.
    public func keyframePosition(before p: Int64) -> Int {
        var best = 0
        for (i, k) in keyframes.enumerated() where k.pts <= p { best = i }
        return best
    }

    /// Position in `keyframes` of the last key frame that presents at or before frame `index`.
    public func keyframePosition(beforeIndex index: Int) -> Int {
        keyframePosition(before: pts[index])
    }

    /// Frames a decoder may decode past rather than seek over: a seek restarts the decoder's
    /// pipeline, which costs about as much as decoding a few frames.
    public static let seekThresholdFrames = 4

    /// Whether a decoder whose last output was frame `from` should seek to reach frame `to`:
    /// yes when the target is not ahead of it, or its key frame is well ahead of it.
    public func shouldSeek(fromIndex from: Int, toIndex to: Int) -> Bool {
        if to <= from { return true }
        let key = index(displayedAtPts: keyframes[keyframePosition(beforeIndex: to)].pts)
        guard key > from else { return false }
        return key - from > Self.seekThresholdFrames
    }

    /// `shouldSeek(fromIndex:toIndex:)` for the frames presenting at `from` and `target`.
    public func shouldSeek(from: Int64, to target: Int64) -> Bool {
        if target <= from { return true }
        return shouldSeek(fromIndex: index(displayedAtPts: from), toIndex: index(displayedAtPts: target))
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
